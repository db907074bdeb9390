//! NetworkPolicy evaluation for the egress rules: the same semantics as [`crate::reach`]
//! (selection, peers, ports, `endPort`, named ports), with two things reach does not need and
//! these rules do: policies are related per environment scope (a dev policy never governs a prod
//! pod of the same namespace), and protocols other than TCP count (DNS is UDP first). Destinations
//! may be pods described by labels only (kube-dns, Prometheus) when they are not in the input, or
//! address ranges.
//!
//! Policies are indexed once by (scope, namespace) and the first `matchLabels` pair of their
//! `podSelector`, so finding the policies of one pod costs what it finds.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::inventory::{Inventory, K8sObject};
use crate::reach::{first_match_label, labels_of, selects};

/// (environment scope, namespace).
pub type Place = (String, String);

/// An inclusive IPv4 address range.
pub type Range = (u32, u32);

/// The RFC 1918 private ranges.
pub const PRIVATE: [Range; 3] = [
    (0x0A00_0000, 0x0AFF_FFFF), // 10.0.0.0/8
    (0xAC10_0000, 0xAC1F_FFFF), // 172.16.0.0/12
    (0xC0A8_0000, 0xC0A8_FFFF), // 192.168.0.0/16
];

/// `a.b.c.d/n` as a range.
pub fn cidr(s: &str) -> Option<Range> {
    let (net, len) = s.split_once('/')?;
    let (net, len) = (net.parse::<std::net::Ipv4Addr>().ok()?, len.parse::<u32>().ok()?);
    if len > 32 {
        return None;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let start = u32::from(net) & mask;
    Some((start, start | !mask))
}

/// `ranges` minus `cut`.
fn subtract(ranges: Vec<Range>, cut: Range) -> Vec<Range> {
    let mut out = Vec::new();
    for (a, b) in ranges {
        if cut.1 < a || cut.0 > b {
            out.push((a, b));
            continue;
        }
        if cut.0 > a {
            out.push((a, cut.0 - 1));
        }
        if cut.1 < b {
            out.push((cut.1 + 1, b));
        }
    }
    out
}

fn overlaps(a: Range, b: Range) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// What a connection goes to.
pub enum Dest<'d> {
    /// Any address in one of these ranges (the question is whether *some* address is allowed).
    Addresses(&'d [Range]),
    /// Pods with these labels in a namespace with these labels.
    Pod { namespace: &'d str, namespace_labels: &'d BTreeMap<String, String>, labels: &'d BTreeMap<String, String> },
}

/// One port and protocol; `names` are the container port names the destination gives it (for
/// rules that name ports rather than number them).
pub struct Port<'p> {
    pub number: u16,
    pub protocol: &'p str,
    pub names: &'p [&'p str],
}

/// The NetworkPolicies of an inventory, by place and selector.
pub struct Policies<'a> {
    keyed: HashMap<(Place, &'a str, &'a str), Vec<&'a K8sObject>>,
    unkeyed: HashMap<Place, Vec<&'a K8sObject>>,
    /// Namespace labels by place (`kubernetes.io/metadata.name` always present).
    namespaces: HashMap<Place, BTreeMap<String, String>>,
}

pub fn place(o: &K8sObject) -> Place {
    (o.scope(), o.namespace().unwrap_or("default").to_string())
}

impl<'a> Policies<'a> {
    pub fn new(inv: &'a Inventory) -> Self {
        let mut p = Policies { keyed: HashMap::new(), unkeyed: HashMap::new(), namespaces: HashMap::new() };
        for o in &inv.k8s {
            match o.kind() {
                "NetworkPolicy" => match first_match_label(&o.value["spec"]["podSelector"]) {
                    Some((k, v)) => p.keyed.entry((place(o), k, v)).or_default().push(o),
                    None => p.unkeyed.entry(place(o)).or_default().push(o),
                },
                "Namespace" => {
                    let mut l = labels_of(&o.value["metadata"]["labels"]);
                    l.insert("kubernetes.io/metadata.name".into(), o.name().to_string());
                    p.namespaces.insert((o.scope(), o.name().to_string()), l);
                }
                _ => {}
            }
        }
        p
    }

    /// Labels of namespace `ns` in `scope` (its Namespace object's, or the automatic name label).
    pub fn namespace_labels(&self, scope: &str, ns: &str) -> BTreeMap<String, String> {
        self.namespaces
            .get(&(scope.to_string(), ns.to_string()))
            .cloned()
            .unwrap_or_else(|| BTreeMap::from([("kubernetes.io/metadata.name".to_string(), ns.to_string())]))
    }

    /// The policies at `at` that select pods with `labels` for `direction` ("Ingress"/"Egress").
    pub fn selecting(&self, at: &Place, labels: &BTreeMap<String, String>, direction: &str) -> Vec<&'a K8sObject> {
        let keyed = labels.iter().filter_map(|(k, v)| self.keyed.get(&(at.clone(), k.as_str(), v.as_str())));
        let mut out: Vec<&K8sObject> = keyed
            .chain(self.unkeyed.get(at))
            .flatten()
            .copied()
            .filter(|p| selects(&p.value["spec"]["podSelector"], labels) && applies(&p.value["spec"], direction))
            .collect();
        out.sort_by_key(|p| (p.file.as_str(), p.line));
        out.dedup_by_key(|p| (p.file.as_str(), p.line));
        out
    }
}

/// Does a policy spec govern `direction`? `Ingress` is implied; `Egress` when it has egress rules.
fn applies(spec: &Value, direction: &str) -> bool {
    let types: Vec<&str> = spec["policyTypes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if types.is_empty() {
        direction == "Ingress" || (direction == "Egress" && spec["egress"].is_array())
    } else {
        types.contains(&direction)
    }
}

/// Does a rule's `ports` list admit `port`?
fn port_matches(ports: &Value, port: &Port<'_>) -> bool {
    let Some(list) = ports.as_array().filter(|l| !l.is_empty()) else { return true };
    list.iter().any(|p| {
        if p["protocol"].as_str().unwrap_or("TCP") != port.protocol {
            return false;
        }
        match &p["port"] {
            Value::Null => true,
            Value::Number(n) => {
                let start = n.as_u64().unwrap_or(u64::MAX);
                let end = p["endPort"].as_u64().unwrap_or(start);
                (start..=end).contains(&u64::from(port.number))
            }
            Value::String(name) => port.names.contains(&name.as_str()),
            _ => false,
        }
    })
}

/// Does a peer admit the destination (egress) or source (ingress) `d`? `policy_ns` is the
/// policy's namespace. Pods are never matched by an `ipBlock` (pod addresses are not known from
/// files, and the API documents ipBlock as meant for addresses outside the cluster).
fn peer_matches(peer: &Value, policy_ns: &str, d: &Dest<'_>) -> bool {
    match d {
        Dest::Addresses(targets) => {
            let Some(allowed) = peer["ipBlock"]["cidr"].as_str().and_then(cidr) else { return false };
            let excepts = peer["ipBlock"]["except"].as_array().into_iter().flatten().filter_map(Value::as_str);
            let left = excepts.filter_map(cidr).fold(vec![allowed], subtract);
            left.iter().any(|r| targets.iter().any(|t| overlaps(*r, *t)))
        }
        Dest::Pod { namespace, namespace_labels, labels } => {
            if peer["ipBlock"].is_object() {
                return false;
            }
            let pod_ok = peer["podSelector"].is_null() || selects(&peer["podSelector"], labels);
            let ns_ok = if peer["namespaceSelector"].is_null() {
                *namespace == policy_ns
            } else {
                selects(&peer["namespaceSelector"], namespace_labels)
            };
            pod_ok && ns_ok
        }
    }
}

/// Do the policies (all selecting one pod for `direction`) allow traffic with `d` on `port`?
/// No policy means the direction is not isolated: everything is allowed.
pub fn allows(policies: &[&K8sObject], direction: &str, d: &Dest<'_>, port: &Port<'_>) -> bool {
    let (rules_key, peers_key) = if direction == "Egress" { ("egress", "to") } else { ("ingress", "from") };
    policies.is_empty()
        || policies.iter().any(|p| {
            let ns = p.namespace().unwrap_or("default");
            p.value["spec"][rules_key].as_array().into_iter().flatten().any(|rule| {
                let peers_ok = rule[peers_key]
                    .as_array()
                    .is_none_or(|peers| peers.is_empty() || peers.iter().any(|peer| peer_matches(peer, ns, d)));
                peers_ok && port_matches(&rule["ports"], port)
            })
        })
}

/// Whether the policies allow any egress at all (a pod under deny-all egress talks to nobody and
/// needs neither DNS nor anything else).
pub fn allows_some_egress(policies: &[&K8sObject]) -> bool {
    policies.is_empty() || policies.iter().any(|p| p.value["spec"]["egress"].as_array().is_some_and(|r| !r.is_empty()))
}

/// Private ranges the policies name in an `ipBlock` (as `cidr` narrower than the whole range,
/// or as `except`): how the author described the internal network when the files do not say.
pub fn private_ranges_named(policies: &[&K8sObject]) -> Vec<Range> {
    let mut named = Vec::new();
    for p in policies {
        for rule in p.value["spec"]["egress"].as_array().into_iter().flatten() {
            for peer in rule["to"].as_array().into_iter().flatten() {
                let block = &peer["ipBlock"];
                let cidrs = block["cidr"]
                    .as_str()
                    .into_iter()
                    .chain(block["except"].as_array().into_iter().flatten().filter_map(Value::as_str));
                for r in cidrs.filter_map(cidr) {
                    for private in PRIVATE {
                        // A block wider than a private range (0.0.0.0/0) names nothing.
                        let within = r.0 >= private.0 && r.1 <= private.1;
                        if within && !named.contains(&private) {
                            named.push(private);
                        }
                    }
                }
            }
        }
    }
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let all = cidr("0.0.0.0/0");
        assert_eq!(all, Some((0, u32::MAX)));
        let left = subtract(vec![(0, u32::MAX)], PRIVATE[0]);
        assert!(!left.iter().any(|r| overlaps(*r, (0x0A00_0005, 0x0A00_0005))));
        assert!(left.iter().any(|r| overlaps(*r, PRIVATE[1])));
        assert_eq!(cidr("10.0.0.0/16"), Some((0x0A00_0000, 0x0A00_FFFF)));
        assert_eq!(cidr("10.0.0.0/33"), None);
    }
}

#[cfg(test)]
mod evaluation {
    use super::*;
    use crate::inventory::load_text;

    fn policies(text: &str) -> Inventory {
        let mut inv = Inventory::default();
        load_text(&mut inv, "p.yaml", text);
        inv
    }

    #[test]
    fn protocols_named_ports_and_ranges() {
        let inv = policies(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n    - ports: [{port: 53, protocol: UDP}, {port: dns-tcp}]\n    - ports: [{port: 8000, endPort: 8100}]\n      to: [{ipBlock: {cidr: 10.0.0.0/16}}]\n",
        );
        let p = Policies::new(&inv);
        let sel = p.selecting(&("".into(), "a".into()), &BTreeMap::new(), "Egress");
        assert_eq!(sel.len(), 1);
        let ns = BTreeMap::new();
        let labels = BTreeMap::new();
        let pod = Dest::Pod { namespace: "kube-system", namespace_labels: &ns, labels: &labels };
        assert!(allows(&sel, "Egress", &pod, &Port { number: 53, protocol: "UDP", names: &[] }));
        assert!(allows(&sel, "Egress", &pod, &Port { number: 53, protocol: "TCP", names: &["dns-tcp"] }));
        assert!(!allows(&sel, "Egress", &pod, &Port { number: 53, protocol: "TCP", names: &[] }));
        let vpc = [(0x0A00_0000, 0x0A00_FFFF)];
        let other = [(0xAC10_0000, 0xAC1F_FFFF)];
        let port = Port { number: 8050, protocol: "TCP", names: &[] };
        assert!(allows(&sel, "Egress", &Dest::Addresses(&vpc), &port));
        assert!(!allows(&sel, "Egress", &Dest::Addresses(&other), &port));
        assert_eq!(private_ranges_named(&sel), vec![PRIVATE[0]]);
    }
}
