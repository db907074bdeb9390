//! Reachability on hand-built scenarios, each with its expected matrix.

use std::net::Ipv4Addr;

use cerverus_check::inventory::{Inventory, load_text};
use cerverus_check::reach::{Edge, Network};

/// Two namespaces (`a` labelled team=red, `b` labelled team=blue), three workloads.
fn base() -> String {
    r#"apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {team: blue}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: a}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers: [{name: c, image: x:1, ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: a}
spec:
  template:
    metadata: {labels: {app: api}}
    spec:
      serviceAccountName: api
      containers: [{name: c, image: x:1, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: job, namespace: b}
spec:
  template:
    metadata: {labels: {app: job}}
    spec:
      serviceAccountName: job
      containers: [{name: c, image: x:1, ports: [{name: http, containerPort: 8080}]}]
"#
    .to_string()
}

fn matrix(extra: &str) -> Vec<(String, String, u16)> {
    let mut inv = Inventory::default();
    load_text(&mut inv, "s.yaml", &format!("{}---\n{extra}", base()));
    Network::new(&inv).matrix().into_iter().map(|Edge { from, to, port }| (from, to, port)).collect()
}

fn e(from: &str, to: &str, port: u16) -> (String, String, u16) {
    (from.to_string(), to.to_string(), port)
}

const DENY_A: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: a}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n";

#[test]
fn no_policy_means_everything_is_reachable() {
    let m = matrix("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: a}\n");
    // 3 workloads, web has 2 ports, the others 1: each port reachable from the 2 other workloads.
    assert_eq!(m.len(), (2 + 1 + 1) * 2, "{m:?}");
    assert!(m.contains(&e("b/job", "a/web", 9090)));
}

#[test]
fn default_deny_isolates_the_namespace_both_ways() {
    let m = matrix(DENY_A);
    // Nothing reaches a/*, and a/* reaches nothing (egress isolated); b/job is reachable by nobody
    // because its only possible callers are egress-isolated.
    assert_eq!(m, Vec::<(String, String, u16)>::new());
}

#[test]
fn pod_and_namespace_selectors_and_named_ports() {
    let allow = format!(
        "{DENY_A}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: web-in, namespace: a}}\nspec:\n  podSelector: {{matchLabels: {{app: web}}}}\n  ingress:\n    - from: [{{podSelector: {{matchLabels: {{app: api}}}}}}]\n      ports: [{{port: http}}]\n    - from: [{{namespaceSelector: {{matchLabels: {{team: blue}}}}}}]\n      ports: [{{port: 9090}}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: api-out, namespace: a}}\nspec:\n  podSelector: {{matchLabels: {{app: api}}}}\n  policyTypes: [Egress]\n  egress: [{{to: [{{podSelector: {{matchLabels: {{app: web}}}}}}], ports: [{{port: 8080}}]}}]\n"
    );
    let m = matrix(&allow);
    assert_eq!(m, vec![e("a/api", "a/web", 8080), e("b/job", "a/web", 9090)]);
}

#[test]
fn a_pod_selector_alone_does_not_reach_into_other_namespaces() {
    let allow = format!(
        "{DENY_A}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: web-in, namespace: a}}\nspec:\n  podSelector: {{matchLabels: {{app: web}}}}\n  policyTypes: [Ingress]\n  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: job}}}}}}]}}]\n"
    );
    // `job` lives in b; a bare podSelector means "pods in the policy's namespace".
    assert_eq!(matrix(&allow), Vec::<(String, String, u16)>::new());
}

#[test]
fn ip_blocks_with_except_govern_egress_to_addresses() {
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: out, namespace: b}\nspec:\n  podSelector: {matchLabels: {app: job}}\n  policyTypes: [Egress]\n  egress:\n    - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]\n      ports: [{port: 443}]\n";
    let mut inv = Inventory::default();
    load_text(&mut inv, "s.yaml", &format!("{}---\n{policy}", base()));
    let net = Network::new(&inv);
    let job = net.endpoints.iter().find(|e| e.name == "job").expect("job");
    assert!(net.egress_to_ip_allowed(job, Ipv4Addr::new(8, 8, 8, 8), 443));
    assert!(!net.egress_to_ip_allowed(job, Ipv4Addr::new(10, 1, 2, 3), 443), "except");
    assert!(!net.egress_to_ip_allowed(job, Ipv4Addr::new(8, 8, 8, 8), 80), "port");
    // ipBlocks never stand for pods: job can no longer reach the other workloads.
    assert!(net.matrix().iter().all(|e| e.from != "b/job"));
}

#[test]
fn istio_deny_overrides_and_allow_narrows() {
    let deny = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: no-blue, namespace: a}\nspec:\n  selector: {matchLabels: {app: web}}\n  action: DENY\n  rules: [{from: [{source: {namespaces: [b]}}]}]\n";
    let m = matrix(deny);
    assert!(!m.contains(&e("b/job", "a/web", 8080)), "DENY overrides the open NetworkPolicy view");
    assert!(m.contains(&e("a/api", "a/web", 8080)));

    let allow = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: only-api, namespace: a}\nspec:\n  selector: {matchLabels: {app: web}}\n  action: ALLOW\n  rules: [{from: [{source: {principals: [cluster.local/ns/a/sa/api]}}], to: [{operation: {ports: [\"8080\"]}}]}]\n";
    let into_web: Vec<_> = matrix(allow).into_iter().filter(|x| x.1 == "a/web").collect();
    assert_eq!(into_web, vec![e("a/api", "a/web", 8080)]);

    // A mesh-wide DENY in the root namespace applies everywhere.
    let root = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-b, namespace: istio-system}\nspec:\n  action: DENY\n  rules: [{from: [{source: {namespaces: [b]}}]}]\n";
    assert!(matrix(root).iter().all(|x| x.0 != "b/job"));
}
