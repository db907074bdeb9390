//! Time to scale under the surge: hand-computed HPA steps and replica counts on small objects,
//! and the default spec's prod results.

use cerverus_check::inventory::K8sObject;
use cerverus_simulate::objects::{Requests, Workloads};
use cerverus_simulate::scaling;

fn prod() -> (cerverus_model::Platform, cerverus_bundle::Bundle) {
    let loaded = cerverus_spec::load("cerverus.yaml", cerverus_spec::DEFAULT_SPEC).expect("loads");
    let platform = cerverus_model::resolve(&loaded).expect("resolves");
    let bundle = cerverus_render::render(&platform, &["prod".to_string()]).expect("renders");
    (platform, bundle)
}

/// Objects from YAML documents (`---`-separated), as the inventory loads them.
fn objects(yaml: &str) -> Vec<K8sObject> {
    let mut inv = cerverus_check::inventory::Inventory::default();
    cerverus_check::inventory::load_text(&mut inv, "test.yaml", yaml);
    assert!(inv.errors.is_empty(), "{:?}", inv.errors.first().map(|e| &e.message));
    inv.k8s
}

/// A Deployment `app` (cpu request 500m, limit `limit`) with a ScaledObject of `triggers`.
fn keda_app(min: u32, max: u32, limit: &str, triggers: &str) -> Workloads {
    let yaml = format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: ns}}
spec:
  replicas: {min}
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      containers:
        - name: app
          image: 111122223333.dkr.ecr.us-east-1.amazonaws.com/cerverus/app:1.0.0
          resources:
            requests: {{cpu: 500m, memory: 512Mi}}
            limits: {{cpu: "{limit}", memory: 1Gi}}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: app, namespace: ns}}
spec:
  scaleTargetRef: {{name: app}}
  minReplicaCount: {min}
  maxReplicaCount: {max}
  pollingInterval: 15
  triggers:
{triggers}
"#
    );
    Workloads::from_objects(&objects(&yaml), Requests::default()).expect("workloads")
}

const CPU_70: &str = "    - {type: cpu, metricType: Utilization, metadata: {value: \"70\"}}";

#[test]
fn cpu_utilisation_follows_load_up_to_max() {
    // cpu request 500m, limit 4: one pod can use 4 / (0.7 × 0.5) = 11.4× its target, so the
    // limit does not bind. Steady 2 pods at 70 %; ×10 → demand 20 pods at target → 20 (max 30).
    let ws = keda_app(2, 30, "4", CPU_70);
    let w = &ws.items[0];
    assert_eq!(scaling::surge_replicas(w, 10.0), 20);
    // Capped at max: 2 × 10 = 20 > 12.
    let ws = keda_app(2, 12, "4", CPU_70);
    assert_eq!(scaling::surge_replicas(&ws.items[0], 10.0), 12);
    // Tolerance: ×1.1 → ratio 1.1, |1 − 1.1| ≤ 0.1 → stays at 2. ×1.2 → ⌈2 × 1.2⌉ = ⌈2.4⌉ = 3.
    let ws = keda_app(2, 30, "4", CPU_70);
    assert_eq!(scaling::surge_replicas(&ws.items[0], 1.1), 2);
    assert_eq!(scaling::surge_replicas(&ws.items[0], 1.2), 3);
}

#[test]
fn a_bounded_value_metric_does_not_follow_load() {
    // GPU utilisation (avg, ≤ 100 %) with a Value target of 95: the most the HPA can see is
    // 100/95 = 1.053, within the 0.1 tolerance, so 2 replicas stay 2 however large the surge.
    let gpu95 = r#"    - type: prometheus
      metricType: Value
      metadata: {query: 'avg(DCGM_FI_DEV_GPU_UTIL{pod=~"app-.*"})', threshold: "95"}"#;
    let ws = keda_app(2, 10, "4", gpu95);
    assert_eq!(scaling::surge_replicas(&ws.items[0], 10.0), 2);
    // At a target of 70 it does follow, ×100/70 = 1.43 per step: 2 → ⌈2 × 1.43⌉ = 3 → ⌈4.29⌉ = 5
    // → ⌈7.14⌉ = 8 → ⌈11.4⌉ = 12 → ⌈17.1⌉ = 18 → 20 is the fixed point (demand 2 × 10 = 20:
    // value/target = 20/20 = 1). Max 30.
    let gpu70 = gpu95.replace("\"95\"", "\"70\"");
    let ws = keda_app(2, 30, "4", &gpu70);
    assert_eq!(scaling::surge_replicas(&ws.items[0], 10.0), 20);
}

#[test]
fn average_value_on_a_per_pod_query_does_not_follow_load() {
    // avg(...) with AverageValue: desired = ⌈value/target⌉, value/target = demand / pods =
    // 2 × 10 / n. From n = 2: ⌈20/2⌉ = 10 → ⌈20/10⌉ = 2 → 10 → … a cycle {2, 10}: settles on
    // the cycle's largest value, 10, not the 20 the load needs.
    let avg = r#"    - type: prometheus
      metricType: AverageValue
      metadata: {query: 'avg(rate(http_requests_total{pod=~"app-.*"}[1m]))', threshold: "50"}"#;
    let ws = keda_app(2, 30, "4", avg);
    assert_eq!(scaling::surge_replicas(&ws.items[0], 10.0), 10);
}

#[test]
fn cron_sets_the_floor_and_cpu_scales_from_it() {
    // Steady state in the cron window: max(min 2, cron 6) = 6 pods at target; ×10 → 60, max 10.
    let t = r#"    - {type: cpu, metricType: Utilization, metadata: {value: "70"}}
    - {type: cron, metadata: {desiredReplicas: "6", start: "0 9 * * 1-5", end: "30 16 * * 1-5", timezone: America/New_York}}"#;
    let ws = keda_app(2, 10, "4", t);
    assert_eq!(scaling::surge_replicas(&ws.items[0], 10.0), 10);
    // ×1: the cron's 6.
    assert_eq!(scaling::surge_replicas(&ws.items[0], 1.0), 6);
}

#[test]
fn prod_surge_replicas() {
    let (platform, bundle) = prod();
    let env = platform.env("prod").expect("prod");
    let inputs = cerverus_simulate::Inputs::from_bundle(&platform, env, &bundle).expect("inputs");
    let ws = Workloads::from_inputs(&inputs).expect("workloads");
    let got = |id: &str| scaling::surge_replicas(ws.get(id).expect(id), 10.0);
    // alerts-api: cpu 70 %, memory 80 %, sum(rate) AverageValue: all follow load; 3 × 10 = 30 → max 20.
    assert_eq!(got("cerverus-system/alerts-api"), 20);
    // inference-service: avg GPU util, Value 70, bounded → still reaches 2 × 10 = 20 → max 5.
    assert_eq!(got("cerverus-ml/inference-service"), 5);
    // market-data-ingestor: cron 6 in market hours, cpu → 60 → max 10.
    assert_eq!(got("cerverus-data/market-data-ingestor"), 10);
}
