//! Reachability: which workload may open a TCP connection to which workload, on which port,
//! under the Kubernetes NetworkPolicies *and* the Istio AuthorizationPolicies of an inventory.
//!
//! NetworkPolicy semantics (networking.k8s.io/v1): a pod is isolated for ingress (egress) when a
//! policy in its namespace selects it and lists `Ingress` (`Egress`) in `policyTypes` (`Ingress`
//! is implied; `Egress` is implied when the policy has egress rules). An isolated direction
//! allows exactly the union of the selecting policies' rules. A connection needs the source's
//! egress and the destination's ingress. Peers: `podSelector` (in the policy's namespace),
//! `namespaceSelector`, both (pods matching in matching namespaces), or `ipBlock` (addresses
//! outside the cluster's pods: pods are never matched by an ipBlock here, because pod IPs are
//! not known statically). Ports: numbers, named container ports of the destination, `endPort`
//! ranges; protocol TCP unless stated.
//!
//! Istio (security.istio.io/v1): for the destination workload, any matching DENY policy denies;
//! otherwise if any ALLOW policy applies, one must match; otherwise the request is allowed.
//! Policies in `istio-system` (the root namespace) apply mesh-wide. Sources are identified by
//! `cluster.local/ns/<ns>/sa/<serviceaccount>` principals and by namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::Value;

use crate::inventory::{Inventory, K8sObject};
use crate::rules::k8s::{pod_labels, pod_spec};

/// A workload's pods, as reachability sees them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Endpoint {
    pub namespace: String,
    pub name: String,
    pub kind: String,
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
    pub service_account: String,
    /// Container port name → number.
    #[serde(skip)]
    pub named_ports: BTreeMap<String, u16>,
    pub ports: BTreeSet<u16>,
}

/// One allowed connection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub port: u16,
}

/// The endpoints and policies of an inventory.
pub struct Network<'a> {
    pub endpoints: Vec<Endpoint>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// NetworkPolicies by namespace.
    policies: BTreeMap<String, Vec<&'a K8sObject>>,
    /// Per endpoint (aligned with `endpoints`): the policy specs that select it for ingress and
    /// for egress, computed once — the matrix asks for them for every pair.
    selected: Vec<[Vec<&'a Value>; 2]>,
    authz: Vec<&'a K8sObject>,
}

/// The specs of the policies in `e`'s namespace that select it for `direction`.
fn select<'a>(policies: &BTreeMap<String, Vec<&'a K8sObject>>, e: &Endpoint, direction: &str) -> Vec<&'a Value> {
    policies
        .get(&e.namespace)
        .into_iter()
        .flatten()
        .map(|p| &p.value["spec"])
        .filter(|spec| selects(&spec["podSelector"], &e.labels))
        .filter(|spec| {
            let types: Vec<&str> =
                spec["policyTypes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if types.is_empty() {
                direction == "Ingress" || (direction == "Egress" && spec["egress"].is_array())
            } else {
                types.contains(&direction)
            }
        })
        .collect()
}

/// Labels given as a JSON object (`metadata.labels`, a pod template's labels), as the map
/// selectors are matched against; non-string values are dropped.
pub fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// Does `selector` (a LabelSelector) select `labels`? An empty selector selects everything.
/// The first `key: value` pair of a selector's `matchLabels` (keys in order): an object the
/// selector selects must carry it, so it is the key to index selectors under.
pub fn first_match_label(selector: &Value) -> Option<(&str, &str)> {
    selector["matchLabels"].as_object()?.iter().next().and_then(|(k, v)| Some((k.as_str(), v.as_str()?)))
}

pub fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    if selector.is_null() {
        return true;
    }
    let ok_labels = selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str()));
    let ok_exprs = selector["matchExpressions"].as_array().is_none_or(|es| {
        es.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let values: Vec<&str> = e["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let have = labels.get(key).map(String::as_str);
            match e["operator"].as_str().unwrap_or("") {
                "In" => have.is_some_and(|h| values.contains(&h)),
                "NotIn" => have.is_none_or(|h| !values.contains(&h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        })
    });
    ok_labels && ok_exprs
}

impl<'a> Network<'a> {
    pub fn new(inv: &'a Inventory) -> Network<'a> {
        let mut namespaces: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for o in inv.k8s.iter().filter(|o| o.kind() == "Namespace") {
            let mut l = labels_of(&o.value["metadata"]["labels"]);
            l.insert("kubernetes.io/metadata.name".into(), o.name().to_string());
            namespaces.insert(o.name().to_string(), l);
        }
        let mut endpoints = Vec::new();
        for o in &inv.k8s {
            let Some((pod, _)) = pod_spec(o) else { continue };
            let labels_v = pod_labels(o).unwrap_or(&Value::Null);
            let ns = o.namespace().unwrap_or("default").to_string();
            namespaces
                .entry(ns.clone())
                .or_insert_with(|| BTreeMap::from([("kubernetes.io/metadata.name".to_string(), ns.clone())]));
            let mut named_ports = BTreeMap::new();
            let mut ports = BTreeSet::new();
            for c in pod["containers"].as_array().into_iter().flatten() {
                for p in c["ports"].as_array().into_iter().flatten() {
                    let Some(n) = p["containerPort"].as_u64().and_then(|n| u16::try_from(n).ok()) else { continue };
                    ports.insert(n);
                    if let Some(name) = p["name"].as_str() {
                        named_ports.insert(name.to_string(), n);
                    }
                }
            }
            endpoints.push(Endpoint {
                namespace: ns,
                name: o.name().to_string(),
                kind: o.kind().to_string(),
                labels: labels_of(labels_v),
                service_account: pod["serviceAccountName"].as_str().unwrap_or("default").to_string(),
                named_ports,
                ports,
            });
        }
        endpoints.sort();
        let mut policies: BTreeMap<String, Vec<&K8sObject>> = BTreeMap::new();
        for p in inv.k8s.iter().filter(|o| o.kind() == "NetworkPolicy") {
            policies.entry(p.namespace().unwrap_or("default").to_string()).or_default().push(p);
        }
        let selected =
            endpoints.iter().map(|e| [select(&policies, e, "Ingress"), select(&policies, e, "Egress")]).collect();
        Network {
            endpoints,
            namespaces,
            policies,
            selected,
            authz: inv
                .k8s
                .iter()
                .filter(|o| {
                    o.kind() == "AuthorizationPolicy"
                        && o.value["apiVersion"].as_str().is_some_and(|a| a.starts_with("security.istio.io/"))
                })
                .collect(),
        }
    }

    fn ns_labels(&self, ns: &str) -> BTreeMap<String, String> {
        self.namespaces
            .get(ns)
            .cloned()
            .unwrap_or_else(|| BTreeMap::from([("kubernetes.io/metadata.name".to_string(), ns.to_string())]))
    }

    /// Policies in `e`'s namespace that select it for `direction` ("Ingress" or "Egress").
    fn selecting(&self, e: &Endpoint, direction: &str) -> Vec<&'a Value> {
        match self.endpoints.binary_search(e) {
            Ok(i) => self.selected[i][usize::from(direction == "Egress")].clone(),
            Err(_) => select(&self.policies, e, direction),
        }
    }

    /// Does a NetworkPolicy peer match pod `e`? `policy_ns` is the policy's namespace.
    fn peer_matches(&self, peer: &Value, policy_ns: &str, e: &Endpoint) -> bool {
        if peer["ipBlock"].is_object() {
            return false;
        }
        let pod_ok = peer["podSelector"].is_null() || selects(&peer["podSelector"], &e.labels);
        let ns_ok = if peer["namespaceSelector"].is_null() {
            e.namespace == policy_ns
        } else {
            selects(&peer["namespaceSelector"], &self.ns_labels(&e.namespace))
        };
        pod_ok && ns_ok
    }

    /// Does a rule's `ports` list admit `port` on destination `dst`?
    fn port_matches(ports: &Value, port: u16, dst: &Endpoint) -> bool {
        let Some(list) = ports.as_array().filter(|l| !l.is_empty()) else { return true };
        list.iter().any(|p| {
            if p["protocol"].as_str().is_some_and(|proto| proto != "TCP") {
                return false;
            }
            let start = match &p["port"] {
                Value::Null => return true,
                Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                Value::String(name) => dst.named_ports.get(name).copied(),
                _ => None,
            };
            let Some(start) = start else { return false };
            let end = p["endPort"].as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(start);
            (start..=end).contains(&port)
        })
    }

    fn netpol_allows(&self, src: &Endpoint, dst: &Endpoint, port: u16) -> bool {
        let ingress = self.selecting(dst, "Ingress");
        let ingress_ok = ingress.is_empty()
            || ingress.iter().any(|spec| {
                spec["ingress"].as_array().into_iter().flatten().any(|rule| {
                    let from_ok = rule["from"].as_array().is_none_or(|peers| {
                        peers.is_empty() || peers.iter().any(|peer| self.peer_matches(peer, &dst.namespace, src))
                    });
                    from_ok && Self::port_matches(&rule["ports"], port, dst)
                })
            });
        let egress = self.selecting(src, "Egress");
        let egress_ok = egress.is_empty()
            || egress.iter().any(|spec| {
                spec["egress"].as_array().into_iter().flatten().any(|rule| {
                    let to_ok = rule["to"].as_array().is_none_or(|peers| {
                        peers.is_empty() || peers.iter().any(|peer| self.peer_matches(peer, &src.namespace, dst))
                    });
                    to_ok && Self::port_matches(&rule["ports"], port, dst)
                })
            });
        ingress_ok && egress_ok
    }

    /// May `src` send to the external address `ip` on `port` under its egress policies?
    pub fn egress_to_ip_allowed(&self, src: &Endpoint, ip: Ipv4Addr, port: u16) -> bool {
        let egress = self.selecting(src, "Egress");
        egress.is_empty()
            || egress.iter().any(|spec| {
                spec["egress"].as_array().into_iter().flatten().any(|rule| {
                    let to_ok = rule["to"].as_array().is_none_or(|peers| {
                        peers.is_empty() || peers.iter().any(|peer| ip_block_matches(&peer["ipBlock"], ip))
                    });
                    let ports_ok = rule["ports"].as_array().is_none_or(|l| {
                        l.is_empty()
                            || l.iter().any(|p| {
                                let start = p["port"].as_u64().unwrap_or(0) as u16;
                                let end = p["endPort"].as_u64().map_or(start, |e| e as u16);
                                p["port"].is_null() || (start..=end).contains(&port)
                            })
                    });
                    to_ok && ports_ok
                })
            })
    }

    fn principal(e: &Endpoint) -> String {
        format!("cluster.local/ns/{}/sa/{}", e.namespace, e.service_account)
    }

    fn istio_allows(&self, src: &Endpoint, dst: &Endpoint, port: u16) -> bool {
        let applies: Vec<&Value> = self
            .authz
            .iter()
            .filter(|p| {
                let ns = p.namespace().unwrap_or("default");
                ns == dst.namespace || ns == "istio-system"
            })
            .map(|p| &p.value["spec"])
            .filter(|spec| spec["selector"].is_null() || selects(&spec["selector"], &dst.labels))
            .collect();
        let matches = |spec: &Value| -> bool {
            let Some(rules) = spec["rules"].as_array() else {
                // ALLOW with no rules matches nothing; DENY with no rules matches nothing.
                return false;
            };
            rules.iter().any(|r| {
                let from_ok = r["from"].as_array().is_none_or(|froms| {
                    froms.iter().any(|f| {
                        let s = &f["source"];
                        let principals_ok = s["principals"].as_array().is_none_or(|ps| {
                            ps.iter().filter_map(Value::as_str).any(|p| glob(p, &Self::principal(src)))
                        });
                        let ns_ok = s["namespaces"]
                            .as_array()
                            .is_none_or(|ns| ns.iter().filter_map(Value::as_str).any(|n| glob(n, &src.namespace)));
                        let not_ns_ok = s["notNamespaces"]
                            .as_array()
                            .is_none_or(|ns| !ns.iter().filter_map(Value::as_str).any(|n| glob(n, &src.namespace)));
                        principals_ok && ns_ok && not_ns_ok
                    })
                });
                let to_ok = r["to"].as_array().is_none_or(|tos| {
                    tos.iter().any(|t| {
                        t["operation"]["ports"]
                            .as_array()
                            .is_none_or(|ps| ps.iter().filter_map(Value::as_str).any(|p| p == port.to_string()))
                    })
                });
                from_ok && to_ok
            })
        };
        let action = |spec: &Value| spec["action"].as_str().unwrap_or("ALLOW").to_string();
        if applies.iter().any(|s| action(s) == "DENY" && matches(s)) {
            return false;
        }
        let allows: Vec<&&Value> = applies.iter().filter(|s| action(s) == "ALLOW").collect();
        allows.is_empty() || allows.iter().any(|s| matches(s))
    }

    /// Whether `src` may connect to `dst` on `port`.
    pub fn allowed(&self, src: &Endpoint, dst: &Endpoint, port: u16) -> bool {
        self.netpol_allows(src, dst, port) && self.istio_allows(src, dst, port)
    }

    /// Every allowed connection between distinct workloads, on the destination's container ports.
    pub fn matrix(&self) -> Vec<Edge> {
        let mut out = Vec::new();
        for d in &self.endpoints {
            for port in &d.ports {
                for s in &self.endpoints {
                    if s == d {
                        continue;
                    }
                    if self.allowed(s, d, *port) {
                        out.push(Edge {
                            from: format!("{}/{}", s.namespace, s.name),
                            to: format!("{}/{}", d.namespace, d.name),
                            port: *port,
                        });
                    }
                }
            }
        }
        out.sort();
        out
    }
}

fn ip_block_matches(block: &Value, ip: Ipv4Addr) -> bool {
    let Some(cidr) = block["cidr"].as_str() else { return false };
    let inside = |c: &str| -> bool {
        let Some((net, len)) = c.split_once('/') else { return false };
        let (Ok(net), Ok(len)) = (net.parse::<Ipv4Addr>(), len.parse::<u32>()) else { return false };
        if len > 32 {
            return false;
        }
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        (u32::from(net) & mask) == (u32::from(ip) & mask)
    };
    inside(cidr) && !block["except"].as_array().into_iter().flatten().filter_map(Value::as_str).any(inside)
}

/// Istio-style patterns: `*` alone, `prefix*` or `*suffix`.
fn glob(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        true
    } else if let Some(p) = pattern.strip_suffix('*') {
        value.starts_with(p)
    } else if let Some(s) = pattern.strip_prefix('*') {
        value.ends_with(s)
    } else {
        pattern == value
    }
}

/// Render the matrix.
pub fn render(edges: &[Edge], format: &str) -> String {
    let mut out = String::new();
    match format {
        "json" => {
            out = serde_json::to_string_pretty(&serde_json::json!({ "edges": edges })).unwrap_or_default();
            out.push('\n');
        }
        "dot" => {
            out.push_str("digraph reachability {\n  rankdir=LR;\n");
            for e in edges {
                out.push_str(&format!("  \"{}\" -> \"{}\" [label=\"{}\"];\n", e.from, e.to, e.port));
            }
            out.push_str("}\n");
        }
        "mermaid" => {
            out.push_str("graph LR\n");
            let id = |s: &str| s.replace(['/', '-', '.'], "_");
            for e in edges {
                out.push_str(&format!(
                    "  {}[\"{}\"] -->|{}| {}[\"{}\"]\n",
                    id(&e.from),
                    e.from,
                    e.port,
                    id(&e.to),
                    e.to
                ));
            }
        }
        _ => {
            for e in edges {
                out.push_str(&format!("{} -> {} :{}\n", e.from, e.to, e.port));
            }
            out.push_str(&format!("{} allowed connection(s)\n", edges.len()));
        }
    }
    out
}
