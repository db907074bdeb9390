//! CV-NET-003..007: traffic a pod needs at run time that the NetworkPolicies cut.
//!
//! - CV-NET-003: a pod whose ServiceAccount carries the IRSA annotation
//!   (`eks.amazonaws.com/role-arn`) exchanges its token at STS on TCP 443. With an STS interface
//!   endpoint (what private node groups use) that address is inside the VPC.
//! - CV-NET-004: a pod that mounts a service-account token and whose account is bound to a role
//!   calls the API server on TCP 443. EKS places the control plane's endpoints (ENIs) inside the
//!   VPC; depending on the CNI, policies judge either that address or the `kubernetes` Service
//!   address before translation, so 443 to the VPC or to the cluster's Service range (from the
//!   files, else EKS's defaults 10.100.0.0/16 and 172.20.0.0/16) counts.
//! - CV-NET-005: a pod whose egress is restricted, but not denied entirely, resolves names through
//!   kube-dns (`kube-system`, `k8s-app: kube-dns`) — or NodeLocal DNSCache at 169.254.20.10 — on
//!   53 UDP *and* TCP (large answers use TCP).
//! - CV-NET-006: a pod a ServiceMonitor or PodMonitor scrapes must admit the Prometheus pods on
//!   the scraped port.
//! - CV-NET-007: what a container's runtime contract (`cerverus-contracts`) says the program must
//!   reach — database, cache, API server, AWS APIs, another component at both ends.
//!
//! "Inside the VPC": the cluster's VPC CIDR when the files say it (`vpc_cidr` in a `.tfvars` or an
//! `aws_vpc` `cidr_block` of the same environment scope); otherwise the private ranges (10/8,
//! 172.16/12, 192.168/16) the pod's policies name in an ipBlock — how their author described
//! the internal network — or, when they name none, any private range.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::Sink;
use super::k8s::{pod_labels, pod_spec, waivers};
use super::netpol::{self, Dest, PRIVATE, Place, Policies, Port, Range, cidr, place};
use crate::inventory::{Inventory, K8sObject, body_value, scope};
use crate::reach::{first_match_label, labels_of, selects};

const IRSA: &str = "eks.amazonaws.com/role-arn";

/// NodeLocal DNSCache's link-local address (169.254.20.10): DNS allowed there counts as DNS.
const NODE_LOCAL_DNS: Range = (0xA9FE_140A, 0xA9FE_140A);

/// Where Prometheus pods run: (namespace, pod labels).
type Scraper = (String, BTreeMap<String, String>);

/// What the egress rules look up, built in one pass.
struct Index<'a> {
    service_accounts: HashMap<(Place, &'a str), &'a K8sObject>,
    /// ServiceAccounts that are subjects of a RoleBinding or ClusterRoleBinding; a namespace
    /// (or "*") whose service accounts are bound as a group.
    bound: HashSet<(Place, String)>,
    bound_groups: HashSet<(String, String)>,
    /// The VPC's ranges by environment scope, when the files say them.
    vpc: HashMap<String, Vec<Range>>,
    /// The cluster's Service ranges by environment scope, when the files say them.
    services: HashMap<String, Vec<Range>>,
    /// Pod-bearing objects by (scope, namespace, label, value) of their pod template.
    pods_by_label: HashMap<(Place, &'a str, &'a str), Vec<&'a K8sObject>>,
    /// Services by (scope, label, value) of their own labels.
    services_by_label: HashMap<(String, &'a str, &'a str), Vec<&'a K8sObject>>,
    /// Where Prometheus runs, by scope: (namespace, pod labels).
    prometheus: HashMap<String, Vec<Scraper>>,
    monitors: Vec<&'a K8sObject>,
}

impl<'a> Index<'a> {
    fn new(inv: &'a Inventory) -> Self {
        let mut ix = Index {
            service_accounts: HashMap::new(),
            bound: HashSet::new(),
            bound_groups: HashSet::new(),
            vpc: HashMap::new(),
            services: HashMap::new(),
            pods_by_label: HashMap::new(),
            services_by_label: HashMap::new(),
            prometheus: HashMap::new(),
            monitors: Vec::new(),
        };
        for o in &inv.k8s {
            match o.kind() {
                "ServiceAccount" => {
                    ix.service_accounts.insert((place(o), o.name()), o);
                }
                "RoleBinding" | "ClusterRoleBinding" => {
                    for s in o.value["subjects"].as_array().into_iter().flatten() {
                        let name = s["name"].as_str().unwrap_or("");
                        match s["kind"].as_str() {
                            Some("ServiceAccount") => {
                                let ns = s["namespace"].as_str().or(o.namespace()).unwrap_or("default");
                                ix.bound.insert(((o.scope(), ns.to_string()), name.to_string()));
                            }
                            Some("Group") if name == "system:serviceaccounts" => {
                                ix.bound_groups.insert((o.scope(), "*".into()));
                            }
                            Some("Group") => {
                                if let Some(ns) = name.strip_prefix("system:serviceaccounts:") {
                                    ix.bound_groups.insert((o.scope(), ns.to_string()));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                "Service" => {
                    for (k, v) in o.value["metadata"]["labels"].as_object().into_iter().flatten() {
                        if let Some(v) = v.as_str() {
                            ix.services_by_label.entry((o.scope(), k.as_str(), v)).or_default().push(o);
                        }
                    }
                }
                "ServiceMonitor" | "PodMonitor" => ix.monitors.push(o),
                "Prometheus"
                    if o.value["apiVersion"].as_str().is_some_and(|a| a.starts_with("monitoring.coreos.com/")) =>
                {
                    let labels = BTreeMap::from([
                        ("app.kubernetes.io/name".to_string(), "prometheus".to_string()),
                        ("prometheus".to_string(), o.name().to_string()),
                    ]);
                    ix.prometheus.entry(o.scope()).or_default().push((place(o).1, labels));
                }
                "NetworkPolicy" => {
                    // A policy written for the Prometheus pods tells where they run and how they
                    // are labelled even when Prometheus itself is installed by a chart.
                    let sel = &o.value["spec"]["podSelector"]["matchLabels"];
                    if sel["app.kubernetes.io/name"] == "prometheus" || sel["app"] == "prometheus" {
                        ix.prometheus.entry(o.scope()).or_default().push((place(o).1, labels_of(sel)));
                    }
                }
                _ => {}
            }
            if pod_spec(o).is_some() {
                let labels = pod_labels(o).and_then(Value::as_object);
                for (k, v) in labels.into_iter().flatten() {
                    if let Some(v) = v.as_str() {
                        ix.pods_by_label.entry((place(o), k.as_str(), v)).or_default().push(o);
                    }
                }
                let l = pod_labels(o).map(labels_of).unwrap_or_default();
                if l.get("app.kubernetes.io/name").is_some_and(|n| n == "prometheus") {
                    ix.prometheus.entry(o.scope()).or_default().push((place(o).1, l));
                }
            }
        }
        for tv in &inv.tfvars {
            if let Some(r) = tv.value["vpc_cidr"].as_str().and_then(cidr) {
                ix.vpc.entry(scope(&tv.file)).or_default().push(r);
            }
        }
        for tv in &inv.tfvars {
            let keys = ["service_ipv4_cidr", "cluster_service_ipv4_cidr", "service_cidr"];
            for r in keys.iter().filter_map(|k| tv.value[*k].as_str()).filter_map(cidr) {
                ix.services.entry(scope(&tv.file)).or_default().push(r);
            }
        }
        for b in inv.terraform.iter().filter(|b| b.kind == "resource") {
            let v = body_value(&b.body);
            let found = match b.ty() {
                "aws_vpc" => (&mut ix.vpc, v["cidr_block"].as_str().and_then(cidr)),
                "aws_eks_cluster" => {
                    let net = &v["kubernetes_network_config"];
                    let net = if net.is_array() { &net[0] } else { net };
                    (&mut ix.services, net["service_ipv4_cidr"].as_str().and_then(cidr))
                }
                _ => continue,
            };
            if let (map, Some(r)) = found {
                map.entry(scope(&b.file)).or_default().push(r);
            }
        }
        ix
    }

    fn service_account(&self, at: &Place, name: &str) -> Option<&'a K8sObject> {
        self.service_accounts.get(&(at.clone(), name)).copied()
    }

    fn is_bound(&self, at: &Place, sa: &str) -> bool {
        self.bound.contains(&(at.clone(), sa.to_string()))
            || self.bound_groups.contains(&(at.0.clone(), "*".to_string()))
            || self.bound_groups.contains(&(at.0.clone(), at.1.clone()))
    }

    /// Where the API server answers a pod: the VPC (its endpoints' ENIs) or the cluster's Service
    /// range (the `kubernetes` Service address, for CNIs that judge it before translation): the
    /// range the files give, else EKS's defaults (10.100.0.0/16, 172.20.0.0/16).
    fn api_server(&self, at: &Place, egress: &[&K8sObject]) -> Vec<Range> {
        let mut out = self.in_vpc(at, egress);
        match self.services.get(&at.0) {
            Some(s) => out.extend(s),
            None => out.extend([(0x0A64_0000, 0x0A64_FFFF), (0xAC14_0000, 0xAC14_FFFF)]),
        }
        out
    }

    /// The in-VPC ranges for a pod at `at` governed by `egress` policies (see the module docs).
    fn in_vpc(&self, at: &Place, egress: &[&K8sObject]) -> Vec<Range> {
        if let Some(v) = self.vpc.get(&at.0) {
            return v.clone();
        }
        let named = netpol::private_ranges_named(egress);
        if named.is_empty() { PRIVATE.to_vec() } else { named }
    }
}

/// Does the pod get a service-account token? The pod's setting wins over its account's.
fn token_mounted(pod: &Value, sa: Option<&K8sObject>) -> bool {
    pod["automountServiceAccountToken"]
        .as_bool()
        .or_else(|| sa.and_then(|s| s.value["automountServiceAccountToken"].as_bool()))
        .unwrap_or(true)
}

fn names(p: &[&K8sObject]) -> String {
    p.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let policies = Policies::new(inv);
    let ix = Index::new(inv);
    for o in &inv.k8s {
        let Some((pod, _)) = pod_spec(o) else { continue };
        // NetworkPolicies do not apply to pods on the node's network.
        if pod["hostNetwork"] == true {
            continue;
        }
        let at = place(o);
        let labels = pod_labels(o).map(labels_of).unwrap_or_default();
        let egress = policies.selecting(&at, &labels, "Egress");
        if egress.is_empty() {
            continue;
        }
        let w = waivers(o);
        let sa_name = pod["serviceAccountName"].as_str().unwrap_or("default");
        let sa = ix.service_account(&at, sa_name);
        let vpc = ix.in_vpc(&at, &egress);
        let https = Port { number: 443, protocol: "TCP", names: &["https"] };
        let to_vpc = netpol::allows(&egress, "Egress", &Dest::Addresses(&vpc), &https);
        if let Some(role) = sa.and_then(|s| s.annotation(IRSA)).filter(|_| !to_vpc) {
            sink.report(
                "CV-NET-003",
                &o.file,
                o.line,
                &o.id(),
                format!(
                    "ServiceAccount `{sa_name}` assumes `{role}` through STS, but egress policies [{}] allow no TCP 443 to an address inside the VPC (where the STS interface endpoint answers)",
                    names(&egress)
                ),
                &w,
            );
        }
        let to_api = netpol::allows(&egress, "Egress", &Dest::Addresses(&ix.api_server(&at, &egress)), &https);
        if !to_api && token_mounted(pod, sa) && ix.is_bound(&at, sa_name) {
            sink.report(
                "CV-NET-004",
                &o.file,
                o.line,
                &o.id(),
                format!(
                    "mounts the token of `{sa_name}`, which is bound to a role, but egress policies [{}] allow no TCP 443 to the API server (an address inside the VPC, where its endpoints are, or the cluster's Service range)",
                    names(&egress)
                ),
                &w,
            );
        }
        if netpol::allows_some_egress(&egress) {
            let ns_labels = policies.namespace_labels(&at.0, "kube-system");
            let dns_labels = BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]);
            let dns = Dest::Pod { namespace: "kube-system", namespace_labels: &ns_labels, labels: &dns_labels };
            let missing: Vec<&str> = [("UDP", "dns"), ("TCP", "dns-tcp")]
                .into_iter()
                .filter(|(proto, name)| {
                    let port = Port { number: 53, protocol: proto, names: &[name] };
                    !netpol::allows(&egress, "Egress", &dns, &port)
                        && !netpol::allows(&egress, "Egress", &Dest::Addresses(&[NODE_LOCAL_DNS]), &port)
                })
                .map(|(proto, _)| proto)
                .collect();
            if !missing.is_empty() {
                sink.report(
                    "CV-NET-005",
                    &o.file,
                    o.line,
                    &o.id(),
                    format!(
                        "egress is restricted by [{}] but port 53/{} to kube-dns (kube-system, k8s-app=kube-dns) is not allowed: name resolution fails",
                        names(&egress),
                        missing.join(" and 53/")
                    ),
                    &w,
                );
            }
        }
    }
    check_scrapes(&policies, &ix, sink);
    check_contracts(inv, &policies, &ix, sink);
}

/// The runtime contract of each container of a pod-bearing object.
fn contracts_of(o: &K8sObject) -> Vec<&'static cerverus_contracts::Contract> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
    };
    let Some((pod, _)) = pod_spec(o) else { return Vec::new() };
    pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            cerverus_contracts::for_container(c["image"].as_str()?, &strings(&c["command"]), &strings(&c["args"]))
        })
        .collect()
}

/// CV-NET-007: what a component's runtime contract says it must reach, against the policies of
/// both ends. Databases, caches, EFS and kubelets are addresses inside the VPC; AWS APIs any
/// address (public or an interface endpoint); another component its pods in the input (the
/// source's egress *and* the destination's ingress); Prometheus the located Prometheus pods. DNS,
/// STS and (for pods CV-NET-004 judges) the API server have their own rules.
fn check_contracts(inv: &Inventory, policies: &Policies<'_>, ix: &Index<'_>, sink: &mut Sink<'_>) {
    let mut pods: Vec<(&K8sObject, Vec<&'static cerverus_contracts::Contract>)> = Vec::new();
    // (scope, component) → its pods.
    let mut by_component: HashMap<(String, &str), Vec<&K8sObject>> = HashMap::new();
    for o in &inv.k8s {
        let cs = contracts_of(o);
        if cs.is_empty() || pod_spec(o).is_some_and(|(p, _)| p["hostNetwork"] == true) {
            continue;
        }
        for c in &cs {
            by_component.entry((o.scope(), c.name.as_str())).or_default().push(o);
        }
        pods.push((o, cs));
    }
    const ANY: [Range; 1] = [(0, u32::MAX)];
    for (o, cs) in pods {
        let at = place(o);
        let labels = pod_labels(o).map(labels_of).unwrap_or_default();
        let egress = policies.selecting(&at, &labels, "Egress");
        let vpc = ix.in_vpc(&at, &egress);
        let (pod, _) = pod_spec(o).unwrap_or((&Value::Null, Vec::new()));
        let sa_name = pod["serviceAccountName"].as_str().unwrap_or("default");
        let api_judged = token_mounted(pod, ix.service_account(&at, sa_name)) && ix.is_bound(&at, sa_name);
        let mut cut: Vec<String> = Vec::new();
        for c in cs {
            for e in &c.egress {
                let port = Port { number: e.port, protocol: "TCP", names: &[] };
                let to_addresses =
                    |ranges: &[Range]| netpol::allows(&egress, "Egress", &Dest::Addresses(ranges), &port);
                let ok = match e.to.as_str() {
                    "dns" | "sts" => true,
                    "kube-apiserver" => api_judged || to_addresses(&ix.api_server(&at, &egress)),
                    "postgresql" | "redis" | "efs" | "kubelet" => to_addresses(&vpc),
                    "aws-api" => to_addresses(&ANY),
                    "prometheus" => match ix.prometheus.get(&at.0) {
                        None => true,
                        Some(scrapers) => scrapers.iter().any(|(ns, prom)| {
                            let ns_labels = policies.namespace_labels(&at.0, ns);
                            let d = Dest::Pod { namespace: ns, namespace_labels: &ns_labels, labels: prom };
                            netpol::allows(&egress, "Egress", &d, &port)
                        }),
                    },
                    other => {
                        let Some(dsts) = by_component.get(&(at.0.clone(), other)) else { continue };
                        dsts.iter().any(|d| reaches(policies, o, &labels, &egress, d, e.port))
                    }
                };
                if !ok {
                    cut.push(format!("{} {}:{} ({})", c.name, e.to, e.port, e.why));
                }
            }
        }
        if !cut.is_empty() {
            sink.report(
                "CV-NET-007",
                &o.file,
                o.line,
                &o.id(),
                format!("its runtime contract needs connections the NetworkPolicies cut: {}", cut.join("; ")),
                &waivers(o),
            );
        }
    }
}

/// May pod `src` (its labels and egress policies) open `port` on pod `dst` — its own egress and
/// the destination's ingress?
fn reaches(
    policies: &Policies<'_>,
    src: &K8sObject,
    src_labels: &BTreeMap<String, String>,
    egress: &[&K8sObject],
    dst: &K8sObject,
    port: u16,
) -> bool {
    let (src_at, dst_at) = (place(src), place(dst));
    let dst_labels = pod_labels(dst).map(labels_of).unwrap_or_default();
    let names: Vec<&str> = container_ports(dst).filter(|(_, n)| *n == port).map(|(name, _)| name).collect();
    let p = Port { number: port, protocol: "TCP", names: &names };
    let dst_ns_labels = policies.namespace_labels(&dst_at.0, &dst_at.1);
    let to = Dest::Pod { namespace: &dst_at.1, namespace_labels: &dst_ns_labels, labels: &dst_labels };
    let src_ns_labels = policies.namespace_labels(&src_at.0, &src_at.1);
    let from = Dest::Pod { namespace: &src_at.1, namespace_labels: &src_ns_labels, labels: src_labels };
    let ingress = policies.selecting(&dst_at, &dst_labels, "Ingress");
    netpol::allows(egress, "Egress", &to, &p) && netpol::allows(&ingress, "Ingress", &from, &p)
}

/// CV-NET-006: every pod a monitor scrapes admits Prometheus on the scraped port.
fn check_scrapes(policies: &Policies<'_>, ix: &Index<'_>, sink: &mut Sink<'_>) {
    for m in &ix.monitors {
        let Some(scrapers) = ix.prometheus.get(&m.scope()) else { continue };
        for (pod, port) in scraped(ix, m) {
            let at = place(pod);
            let labels = pod_labels(pod).map(labels_of).unwrap_or_default();
            let ingress = policies.selecting(&at, &labels, "Ingress");
            let names: Vec<&str> = container_ports(pod).filter(|(_, n)| *n == port).map(|(name, _)| name).collect();
            let p = Port { number: port, protocol: "TCP", names: &names };
            let admitted = scrapers.iter().any(|(ns, prom_labels)| {
                let ns_labels = policies.namespace_labels(&at.0, ns);
                let d = Dest::Pod { namespace: ns, namespace_labels: &ns_labels, labels: prom_labels };
                netpol::allows(&ingress, "Ingress", &d, &p)
            });
            if !admitted {
                let from: Vec<&str> = scrapers.iter().map(|(ns, _)| ns.as_str()).collect();
                sink.report(
                    "CV-NET-006",
                    &pod.file,
                    pod.line,
                    &pod.id(),
                    format!(
                        "{} `{}` scrapes port {port}, but ingress policies [{}] do not admit Prometheus (namespace {}) on it",
                        m.kind(),
                        m.name(),
                        self::names(&ingress),
                        from.join(", ")
                    ),
                    &waivers(pod),
                );
            }
        }
    }
}

/// Container ports of a pod-bearing object: (name, number).
fn container_ports(o: &K8sObject) -> impl Iterator<Item = (&str, u16)> {
    let pod = pod_spec(o).map(|(p, _)| p);
    pod.into_iter().flat_map(|p| p["containers"].as_array().into_iter().flatten()).flat_map(|c| {
        c["ports"].as_array().into_iter().flatten().filter_map(|p| {
            let n = u16::try_from(p["containerPort"].as_u64()?).ok()?;
            Some((p["name"].as_str().unwrap_or(""), n))
        })
    })
}

/// A container port of `pod` given as a number or a name.
fn resolve_port(pod: &K8sObject, port: &Value) -> Option<u16> {
    match port {
        Value::Number(n) => u16::try_from(n.as_u64()?).ok(),
        Value::String(s) => match s.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) => container_ports(pod).find(|(name, _)| name == s).map(|(_, n)| n),
        },
        _ => None,
    }
}

/// The pods a monitor scrapes at `place`, by selector, through the index.
fn pods_selected<'a>(ix: &Index<'a>, at: &Place, selector: &Value) -> Vec<&'a K8sObject> {
    let Some((k, v)) = first_match_label(selector) else { return Vec::new() };
    ix.pods_by_label
        .get(&(at.clone(), k, v))
        .into_iter()
        .flatten()
        .copied()
        .filter(|p| selects(selector, &pod_labels(p).map(labels_of).unwrap_or_default()))
        .collect()
}

/// Does a monitor's `namespaceSelector` include namespace `ns`?
fn watches(m: &K8sObject, ns: &str) -> bool {
    let sel = &m.value["spec"]["namespaceSelector"];
    if sel["any"] == true {
        return true;
    }
    match sel["matchNames"].as_array() {
        Some(names) => names.iter().any(|n| n == ns),
        None => m.namespace().unwrap_or("default") == ns,
    }
}

/// (pod-bearing object, port) pairs a ServiceMonitor or PodMonitor scrapes.
fn scraped<'a>(ix: &Index<'a>, m: &K8sObject) -> Vec<(&'a K8sObject, u16)> {
    let spec = &m.value["spec"];
    let mut out = Vec::new();
    if m.kind() == "PodMonitor" {
        // A PodMonitor selects pods directly; only its own namespace unless told otherwise. Pods
        // in other namespaces are found through the namespaces it names.
        let namespaces: Vec<String> = match spec["namespaceSelector"]["matchNames"].as_array() {
            Some(n) => n.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            None => vec![m.namespace().unwrap_or("default").to_string()],
        };
        for ns in namespaces {
            for pod in pods_selected(ix, &(m.scope(), ns), &spec["selector"]) {
                for ep in spec["podMetricsEndpoints"].as_array().into_iter().flatten() {
                    let port = [&ep["portNumber"], &ep["port"], &ep["targetPort"]]
                        .into_iter()
                        .find_map(|p| resolve_port(pod, p));
                    out.extend(port.map(|n| (pod, n)));
                }
            }
        }
        return out;
    }
    let Some((k, v)) = first_match_label(&spec["selector"]) else { return out };
    let services = ix.services_by_label.get(&(m.scope(), k, v)).into_iter().flatten();
    for svc in services.filter(|s| watches(m, s.namespace().unwrap_or("default"))) {
        if !selects(&spec["selector"], &labels_of(&svc.value["metadata"]["labels"])) {
            continue;
        }
        let Some(svc_sel) = svc.value["spec"]["selector"].as_object().filter(|s| !s.is_empty()) else { continue };
        let svc_sel = serde_json::json!({ "matchLabels": svc_sel });
        for pod in pods_selected(ix, &place(svc), &svc_sel) {
            for ep in spec["endpoints"].as_array().into_iter().flatten() {
                let port = match ep["port"].as_str() {
                    // A named Service port: its targetPort (or its own number) on the pod.
                    Some(name) => svc.value["spec"]["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|p| p["name"] == name)
                        .and_then(|p| {
                            if p["targetPort"].is_null() {
                                resolve_port(pod, &p["port"])
                            } else {
                                resolve_port(pod, &p["targetPort"])
                            }
                        }),
                    None => resolve_port(pod, &ep["targetPort"]),
                };
                out.extend(port.map(|n| (pod, n)));
            }
        }
    }
    out.sort_by_key(|(p, n)| (p.file.clone(), p.line, *n));
    out.dedup_by_key(|(p, n)| (p.file.clone(), p.line, *n));
    out
}
