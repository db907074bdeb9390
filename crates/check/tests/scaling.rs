//! The checker's evaluation grows linearly with its input, even when one namespace holds
//! thousands of workloads: every cross-resource rule (Service selectors, PDBs, autoscaler
//! minimums, Secret/ConfigMap references) must look objects up through an index, never by
//! scanning the whole input once per object.

use std::time::{Duration, Instant};

use cerverus_check::check_inventory;
use cerverus_check::inventory::{Inventory, load_text};

/// `n` workloads in two namespaces, each a Deployment with a Service, a PDB, an HPA, a
/// NetworkPolicy and a ConfigMap, all wired correctly, behind a default-deny policy per
/// namespace: a well-formed input with no cross-resource finding.
fn inventory(n: usize) -> Inventory {
    let mut inv = Inventory::default();
    for i in 0..n {
        let ns = i % 2;
        let text = format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: app-{i}}}}}
  template:
    metadata: {{labels: {{app: app-{i}, tier: web}}}}
    spec:
      topologySpreadConstraints: [{{topologyKey: topology.kubernetes.io/zone, maxSkew: 1, whenUnsatisfiable: DoNotSchedule, labelSelector: {{matchLabels: {{app: app-{i}}}}}}}]
      containers:
        - name: app
          image: registry.example/app@sha256:0000000000000000000000000000000000000000000000000000000000000000
          envFrom: [{{configMapRef: {{name: app-{i}}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  selector: {{app: app-{i}}}
  ports: [{{port: 80}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  maxUnavailable: 1
  selector: {{matchLabels: {{app: app-{i}}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: app-{i}}}
  minReplicas: 2
  maxReplicas: 4
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  podSelector: {{matchLabels: {{app: app-{i}}}}}
  policyTypes: [Ingress]
  ingress: [{{from: [{{podSelector: {{matchLabels: {{tier: web}}}}}}]}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: app-{i}, namespace: ns-{ns}}}
"#
        );
        if i < 2 {
            let deny = format!(
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny, namespace: ns-{ns}}}\nspec: {{podSelector: {{}}, policyTypes: [Ingress]}}\n"
            );
            load_text(&mut inv, &format!("deny{i}.yaml"), &deny);
        }
        load_text(&mut inv, &format!("m{i}.yaml"), &text);
    }
    inv
}

/// The best of five evaluations: noise from other tests only ever adds time.
fn best_time(inv: &Inventory) -> Duration {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            let report = check_inventory(inv);
            let took = start.elapsed();
            let cross: Vec<_> = report
                .findings
                .iter()
                .filter(|f| {
                    f.rule.starts_with("CV-WIRE")
                        || f.rule.starts_with("CV-HA")
                        || f.rule == "CV-K8S-020"
                        || f.rule == "CV-K8S-021"
                })
                .collect();
            assert!(cross.is_empty(), "a well-wired input has cross-resource findings: {cross:?}");
            took
        })
        .min()
        .unwrap_or_default()
}

#[test]
fn evaluation_grows_linearly_with_workloads_in_one_namespace() {
    let small = inventory(250);
    let large = inventory(2000);
    assert_eq!(large.k8s.len() - 2, 8 * (small.k8s.len() - 2));
    let (t_small, t_large) = (best_time(&small), best_time(&large));
    let ratio = t_large.as_secs_f64() / t_small.as_secs_f64().max(1e-6);
    // 8× the input: linear is ~8×, the quadratic scans this test guards against were ~64×.
    assert!(ratio < 24.0, "8× the input took {ratio:.1}× the time ({t_small:?} → {t_large:?})");
}

#[test]
fn indexed_lookups_still_find_what_is_missing() {
    // The same shape with every reference broken: the indexes must not hide a finding.
    let mut inv = Inventory::default();
    load_text(
        &mut inv,
        "broken.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: a}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: app, image: x:1, envFrom: [{configMapRef: {name: missing}}]}]
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: a}
spec: {selector: {app: other}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: missing, namespace: b}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: app, namespace: b}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: app}}}
"#,
    );
    let report = check_inventory(&inv);
    let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    for expected in ["CV-WIRE-001", "CV-WIRE-003", "CV-HA-002", "CV-HA-003", "CV-K8S-020", "CV-K8S-021"] {
        assert!(rules.contains(&expected), "{expected} missing from {rules:?}");
    }
}

#[test]
fn a_default_deny_covers_its_own_environment_only() {
    // The same namespace in two environments' directories: dev's policies do not protect prod.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a, labels: {app: p}}\nspec: {containers: [{name: c, image: x:1}]}\n";
    let deny = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: a}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n";
    let mut inv = Inventory::default();
    load_text(&mut inv, "kubernetes/dev/pod.yaml", pod);
    load_text(&mut inv, "kubernetes/dev/deny.yaml", deny);
    load_text(&mut inv, "kubernetes/prod/pod.yaml", pod);
    let report = check_inventory(&inv);
    let uncovered: Vec<&str> =
        report.findings.iter().filter(|f| f.rule == "CV-K8S-020").map(|f| f.file.as_str()).collect();
    assert_eq!(uncovered, ["kubernetes/prod/pod.yaml"]);
}
