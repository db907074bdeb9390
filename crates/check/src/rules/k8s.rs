//! Kubernetes rules: pod security, resources and probes, images, tokens, RBAC, exposure, and
//! NetworkPolicy coverage.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::{Sink, Waivers, parse_annotation_waivers};
use crate::inventory::{Inventory, K8sObject};
use crate::reach::{first_match_label, labels_of};

/// Path to the pod template (the object whose `metadata` and `spec` describe the pods) of every
/// kind that carries one. The one place that knows where each kind keeps it: every pod rule
/// goes through `pod_spec`/`pod_labels`, so a kind missing here is silently never judged.
fn pod_template_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&[]),
        // PodTemplate (core/v1) holds the template directly at `.template`.
        "PodTemplate" => Some(&["template"]),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" | "Job" | "Rollout" => {
            Some(&["spec", "template"])
        }
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

/// The pod spec of an object that runs pods (a Pod or a controller) and the path to it. A
/// PodTemplate runs nothing, so reachability, wiring and egress leave it out; the pod rules
/// judge it through [`template_spec`].
pub fn pod_spec(o: &K8sObject) -> Option<(&Value, Vec<&'static str>)> {
    if o.kind() == "PodTemplate" {
        return None;
    }
    template_spec(o)
}

/// The pod spec of every object that describes pods, PodTemplate included, and the path to it.
pub fn template_spec(o: &K8sObject) -> Option<(&Value, Vec<&'static str>)> {
    let base = pod_template_path(o.kind())?;
    let mut path = base.to_vec();
    path.push("spec");
    Some((at(&o.value, &path), path)).filter(|(s, _)| s.is_object())
}

/// Labels of the pods a workload object creates.
pub(crate) fn pod_labels(o: &K8sObject) -> Option<&Value> {
    let base = pod_template_path(o.kind())?;
    // A Pod's labels are its own; a template's pods carry the template's labels (a controller
    // without a pod spec creates no pods, so it has no pod labels either).
    if o.kind() != "Pod" && pod_spec(o).is_none() {
        return None;
    }
    Some(&at(&o.value, base)["metadata"]["labels"])
}

fn long_running(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet" | "Rollout" | "ReplicaSet" | "ReplicationController")
}

pub fn waivers(o: &K8sObject) -> Waivers {
    o.annotation("cerverus.io/skip").map(parse_annotation_waivers).unwrap_or_default()
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    for o in &inv.k8s {
        let w = waivers(o);
        sink.check_waivers(&o.file, o.line, &o.id(), &w);
        if let Some((pod, path)) = template_spec(o) {
            check_pod(o, pod, &path, &w, sink);
        }
        match o.kind() {
            "Role" | "ClusterRole" => check_role(o, &w, sink),
            "RoleBinding" | "ClusterRoleBinding" if o.value["roleRef"]["name"] == "cluster-admin" => {
                sink.report(
                    "CV-K8S-017",
                    &o.file,
                    o.line_of(&["roleRef", "name"]),
                    &o.id(),
                    "binds cluster-admin".into(),
                    &w,
                );
            }
            "Service" => {
                let t = o.value["spec"]["type"].as_str().unwrap_or("ClusterIP");
                if t == "NodePort" || t == "LoadBalancer" {
                    sink.report(
                        "CV-K8S-018",
                        &o.file,
                        o.line_of(&["spec", "type"]),
                        &o.id(),
                        format!("Service of type {t}"),
                        &w,
                    );
                }
            }
            "Ingress" if o.value["spec"]["tls"].as_array().is_none_or(|t| t.is_empty()) => {
                sink.report(
                    "CV-K8S-019",
                    &o.file,
                    o.line_of(&["spec"]),
                    &o.id(),
                    "Ingress has no tls section".into(),
                    &w,
                );
            }
            _ => {}
        }
    }
    for o in inv.k8s.iter().filter(|o| {
        o.kind() == "Gateway" && o.value["apiVersion"].as_str().is_some_and(|a| a.starts_with("networking.istio.io/"))
    }) {
        let w = waivers(o);
        for (i, server) in o.value["spec"]["servers"].as_array().into_iter().flatten().enumerate() {
            let proto = server["port"]["protocol"].as_str().unwrap_or("").to_ascii_uppercase();
            let tls = &server["tls"];
            let plain_http = proto == "HTTP" && tls["httpsRedirect"] != true;
            let https_without_cert =
                (proto == "HTTPS" || proto == "TLS") && tls["mode"].is_null() && tls["credentialName"].is_null();
            if plain_http || https_without_cert {
                let idx = i.to_string();
                let what = if plain_http {
                    "serves plain HTTP without redirecting to HTTPS"
                } else {
                    "serves HTTPS without TLS settings"
                };
                sink.report(
                    "CV-K8S-019",
                    &o.file,
                    o.line_of(&["spec", "servers", &idx]),
                    &o.id(),
                    format!("server {i} {what}"),
                    &w,
                );
            }
        }
    }
    check_network_policy_coverage(inv, sink);
}

fn check_pod(o: &K8sObject, pod: &Value, path: &[&str], w: &Waivers, sink: &mut Sink<'_>) {
    let id = o.id();
    let at = |rest: &[&str]| {
        let mut p: Vec<&str> = path.to_vec();
        p.extend_from_slice(rest);
        o.line_of(&p)
    };
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod[host] == true {
            sink.report("CV-K8S-002", &o.file, at(&[host]), &id, format!("{host} is true"), w);
        }
    }
    for (i, vol) in pod["volumes"].as_array().into_iter().flatten().enumerate() {
        if vol["hostPath"].is_object() {
            let idx = i.to_string();
            sink.report(
                "CV-K8S-003",
                &o.file,
                at(&["volumes", &idx]),
                &id,
                format!("volume `{}` is a hostPath", vol["name"].as_str().unwrap_or("?")),
                w,
            );
        }
    }
    let psc = &pod["securityContext"];
    if pod["automountServiceAccountToken"] != false {
        sink.report("CV-K8S-013", &o.file, at(&[]), &id, "automountServiceAccountToken is not false".into(), w);
    }
    let mut containers: Vec<(&str, usize, &Value)> = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in pod[list].as_array().into_iter().flatten().enumerate() {
            containers.push((list, i, c));
        }
    }
    for (list, i, c) in containers {
        let idx = i.to_string();
        let cat = |rest: &[&str]| {
            let mut p: Vec<&str> = vec![list, &idx];
            p.extend_from_slice(rest);
            at(&p)
        };
        let name = c["name"].as_str().unwrap_or("?");
        let sc = &c["securityContext"];
        if sc["privileged"] == true {
            sink.report(
                "CV-K8S-001",
                &o.file,
                cat(&["securityContext", "privileged"]),
                &id,
                format!("container `{name}` is privileged"),
                w,
            );
        }
        let drops_all = sc["capabilities"]["drop"].as_array().is_some_and(|d| d.iter().any(|x| x == "ALL"));
        let added: Vec<&str> = sc["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str())
            .filter(|x| *x != "NET_BIND_SERVICE")
            .collect();
        if !drops_all || !added.is_empty() {
            let msg = if added.is_empty() {
                format!("container `{name}` does not drop ALL capabilities")
            } else {
                format!("container `{name}` adds {}", added.join(", "))
            };
            sink.report("CV-K8S-004", &o.file, cat(&["securityContext"]), &id, msg, w);
        }
        let non_root = sc["runAsNonRoot"] == true || (sc["runAsNonRoot"].is_null() && psc["runAsNonRoot"] == true);
        let root_uid = sc["runAsUser"] == 0 || (sc["runAsUser"].is_null() && psc["runAsUser"] == 0);
        if !non_root || root_uid {
            sink.report(
                "CV-K8S-005",
                &o.file,
                cat(&["securityContext"]),
                &id,
                format!("container `{name}` may run as root"),
                w,
            );
        }
        if sc["allowPrivilegeEscalation"] != false {
            sink.report(
                "CV-K8S-006",
                &o.file,
                cat(&["securityContext"]),
                &id,
                format!("container `{name}` allows privilege escalation"),
                w,
            );
        }
        let seccomp = sc["seccompProfile"]["type"].as_str().or(psc["seccompProfile"]["type"].as_str());
        if !matches!(seccomp, Some("RuntimeDefault") | Some("Localhost")) {
            sink.report(
                "CV-K8S-007",
                &o.file,
                cat(&["securityContext"]),
                &id,
                format!("container `{name}` has no RuntimeDefault or Localhost seccomp profile"),
                w,
            );
        }
        if sc["readOnlyRootFilesystem"] != true {
            sink.report(
                "CV-K8S-008",
                &o.file,
                cat(&["securityContext"]),
                &id,
                format!("container `{name}` has a writable root filesystem"),
                w,
            );
        }
        let r = &c["resources"];
        let mut missing = Vec::new();
        for (k, label) in [
            (&r["requests"]["cpu"], "cpu request"),
            (&r["requests"]["memory"], "memory request"),
            (&r["limits"]["memory"], "memory limit"),
        ] {
            if k.is_null() {
                missing.push(label);
            }
        }
        if !missing.is_empty() {
            sink.report(
                "CV-K8S-009",
                &o.file,
                cat(&["resources"]),
                &id,
                format!("container `{name}` has no {}", missing.join(", ")),
                w,
            );
        }
        if list == "containers" && long_running(o.kind()) {
            let mut missing = Vec::new();
            for p in ["livenessProbe", "readinessProbe"] {
                if c[p].is_null() {
                    missing.push(p);
                }
            }
            if !missing.is_empty() {
                sink.report(
                    "CV-K8S-010",
                    &o.file,
                    cat(&[]),
                    &id,
                    format!("container `{name}` has no {}", missing.join(", ")),
                    w,
                );
            }
        }
        let image = c["image"].as_str().unwrap_or("");
        let (repo_tag, digest) = image.split_once('@').map_or((image, None), |(a, d)| (a, Some(d)));
        let last = repo_tag.rsplit('/').next().unwrap_or(repo_tag);
        let tag = last.split_once(':').map(|(_, t)| t);
        if digest.is_none() && (tag.is_none() || tag == Some("latest")) {
            sink.report(
                "CV-K8S-011",
                &o.file,
                cat(&["image"]),
                &id,
                format!("container `{name}` image `{image}` has no version"),
                w,
            );
        } else if digest.is_none() {
            sink.report(
                "CV-K8S-012",
                &o.file,
                cat(&["image"]),
                &id,
                format!("container `{name}` image `{image}` is not pinned by digest"),
                w,
            );
        }
    }
}

fn check_role(o: &K8sObject, w: &Waivers, sink: &mut Sink<'_>) {
    for (i, rule) in o.value["rules"].as_array().into_iter().flatten().enumerate() {
        let idx = i.to_string();
        let line = o.line_of(&["rules", &idx]);
        let list = |k: &str| -> Vec<String> {
            rule[k].as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect()
        };
        let (verbs, resources, groups) = (list("verbs"), list("resources"), list("apiGroups"));
        for (k, items) in [("verbs", &verbs), ("resources", &resources), ("apiGroups", &groups)] {
            if items.iter().any(|x| x.contains('*')) {
                sink.report("CV-K8S-014", &o.file, line, &o.id(), format!("rule {i} has a wildcard in {k}"), w);
            }
        }
        let escalating: Vec<&str> =
            verbs.iter().map(String::as_str).filter(|v| matches!(*v, "escalate" | "bind" | "impersonate")).collect();
        if !escalating.is_empty() {
            sink.report("CV-K8S-015", &o.file, line, &o.id(), format!("rule {i} grants {}", escalating.join(", ")), w);
        }
        // `*` grants every verb, resource or group, reading Secrets (core group "") included.
        let reads = verbs.iter().any(|v| matches!(v.as_str(), "get" | "list" | "watch" | "*"));
        let secrets = resources.iter().any(|r| r == "secrets" || r == "*");
        if reads && secrets && groups.iter().any(|g| g.is_empty() || g == "*") {
            sink.report("CV-K8S-016", &o.file, line, &o.id(), format!("rule {i} reads secrets"), w);
        }
    }
}

/// A label selector against labels given as a JSON object (the shared implementation lives
/// in [`crate::reach::selects`]).
fn selects(selector: &Value, labels: &Value) -> bool {
    crate::reach::selects(selector, &labels_of(labels))
}

/// The NetworkPolicies of one (environment scope, namespace), indexed so that finding the ones
/// that select a pod costs what it finds: by the first `matchLabels` pair of their pod selector,
/// with the policies that have none (empty selector, expressions only) kept apart and always tried.
#[derive(Default)]
struct NamespacePolicies<'a> {
    default_deny: bool,
    by_label: HashMap<(&'a str, &'a str), Vec<&'a K8sObject>>,
    unindexed: Vec<&'a K8sObject>,
}

impl NamespacePolicies<'_> {
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        let selects_pod = |p: &&K8sObject| crate::reach::selects(&p.value["spec"]["podSelector"], labels);
        self.unindexed.iter().any(selects_pod)
            || labels
                .iter()
                .filter_map(|(k, v)| self.by_label.get(&(k.as_str(), v.as_str())))
                .any(|ps| ps.iter().any(selects_pod))
    }
}

fn check_network_policy_coverage(inv: &Inventory, sink: &mut Sink<'_>) {
    let mut policies: HashMap<(String, &str), NamespacePolicies<'_>> = HashMap::new();
    for p in inv.k8s.iter().filter(|o| o.kind() == "NetworkPolicy") {
        let entry = policies.entry((p.scope(), p.namespace().unwrap_or("default"))).or_default();
        let spec = &p.value["spec"];
        entry.default_deny |=
            spec["podSelector"].as_object().is_none_or(|m| m.is_empty() || selects(&spec["podSelector"], &Value::Null))
                && spec["policyTypes"].as_array().is_some_and(|t| t.iter().any(|x| x == "Ingress"))
                && spec["ingress"].as_array().is_none_or(|i| i.is_empty());
        match first_match_label(&spec["podSelector"]) {
            Some(pair) => entry.by_label.entry(pair).or_default().push(p),
            None => entry.unindexed.push(p),
        }
    }
    let none = NamespacePolicies::default();
    let mut reported_ns = BTreeSet::new();
    for o in &inv.k8s {
        let Some(labels) = pod_labels(o) else { continue };
        let ns = o.namespace().unwrap_or("default");
        let w = waivers(o);
        let scope = o.scope();
        let in_ns = policies.get(&(scope.clone(), ns)).unwrap_or(&none);
        if !in_ns.default_deny && reported_ns.insert((scope, ns)) {
            sink.report(
                "CV-K8S-020",
                &o.file,
                o.line,
                &format!("Namespace/{ns}"),
                format!("namespace `{ns}` has workloads but no default-deny NetworkPolicy"),
                &w,
            );
        }
        if !in_ns.selects(&labels_of(labels)) {
            sink.report("CV-K8S-021", &o.file, o.line, &o.id(), "no NetworkPolicy selects its pods".into(), &w);
        }
    }
}
