//! Time to scale under the surge: hand-computed HPA steps and replica counts on small objects,
//! and the default spec's prod results.

use cerverus_check::inventory::K8sObject;
use cerverus_simulate::objects::{Requests, Workloads};
use cerverus_simulate::scaling;

fn prod() -> (cerverus_model::Platform, cerverus_bundle::Bundle) {
    prod_from(cerverus_spec::DEFAULT_SPEC)
}

/// The default spec's prod override of the inference service: a fixed 5 replicas (min = max).
const PROD_INFERENCE_FIXED: &str = "inference-service: { replicas: 5, min: 5, max: 5 }";

/// The default spec with prod's inference service scaling 2 → 5 again (its GPU pool left at
/// min 5 warm nodes), so a GPU-utilisation autoscaler has room to act and its timeline can be checked.
fn prod_inference_scaling_2_to_5() -> String {
    let spec = cerverus_spec::DEFAULT_SPEC;
    assert!(spec.contains(PROD_INFERENCE_FIXED), "the default spec's prod inference override changed");
    spec.replace(PROD_INFERENCE_FIXED, "inference-service: { replicas: 2, min: 2, max: 5 }")
}

fn prod_from(spec: &str) -> (cerverus_model::Platform, cerverus_bundle::Bundle) {
    let loaded = cerverus_spec::load("cerverus.yaml", spec).expect("loads");
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
    // inference-service: fixed at 5 in prod (min = max = 5).
    assert_eq!(got("cerverus-ml/inference-service"), 5);
    // … and scaling 2 → 5: avg GPU util, Value 70, bounded at 100/70 per step, still settles at
    // 2 × 10 = 20 pods at target → max 5.
    let (platform, bundle) = prod_from(&prod_inference_scaling_2_to_5());
    let env = platform.env("prod").expect("prod");
    let inputs = cerverus_simulate::Inputs::from_bundle(&platform, env, &bundle).expect("inputs");
    let ws = Workloads::from_inputs(&inputs).expect("workloads");
    let inf = ws.get("cerverus-ml/inference-service").expect("inference");
    assert_eq!(inf.autoscaler.as_ref().map(|a| (a.min, a.max)), Some((2, 5)));
    assert_eq!(scaling::surge_replicas(inf, 10.0), 5);
    // ×2: demand 4 pods at target. 2 → ⌈2 × min(4/2, 100/70)⌉ = ⌈2.86⌉ = 3 → ⌈3 × 4/3⌉ = 4 → 4/4 = 1, fixed.
    assert_eq!(scaling::surge_replicas(inf, 2.0), 4);
    // market-data-ingestor: cron 6 in market hours, cpu → 60 → max 10.
    assert_eq!(got("cerverus-data/market-data-ingestor"), 10);
}

mod uncapped_demand {
    use cerverus_simulate::scaling::demand::demand;
    use cerverus_simulate::scaling::metric::Response;

    const CPU: Response = Response::Resource { cap: None, load_share: 1.0 };

    #[test]
    fn max_that_covers_the_surge() {
        // Steady 2, max 10, ×3: 6 pods at target ≤ 10; max serves 10/2 = ×5. At 10 pods CPU is
        // 6/10 = 0.6 of target (|1 − 0.6| > 0.1) → ⌈0.6 × 10⌉ = 6.
        let d = demand(2, 10, 3.0, &[("cpu".into(), CPU)], 0.1, 100.0);
        assert_eq!((d.pods_at_target, d.pods_needed, d.max_covers), (6.0, 6, true));
        assert_eq!((d.max_serves_traffic, d.recommendation_at_max), (5.0, 6));
        assert!(d.summary.contains("max covers the surge"), "{}", d.summary);
    }

    #[test]
    fn min_equal_max_does_not_hide_the_surge() {
        // min = max = 4, ×2.5: 10 pods at target > 4, max serves ×1. CPU at 4 pods: 10/4 = 2.5×
        // target → ⌈2.5 × 4⌉ = 10, the HPA keeps asking for 10.
        let d = demand(4, 4, 2.5, &[("cpu".into(), CPU)], 0.1, 100.0);
        assert_eq!((d.pods_needed, d.max_covers, d.max_serves_traffic, d.recommendation_at_max), (10, false, 1.0, 10));
        assert!(d.summary.contains("at max 4 it serves about ×1 of normal traffic"), "{}", d.summary);
        assert!(d.summary.contains("keeps asking for 10 replicas at max 4"), "{}", d.summary);
        // A bounded GPU utilisation (target 80, bound 100 → cap 1.25): 10/4 = 2.5 ≥ 1.25, at its
        // bound; the HPA asks ⌈4 × 1.25⌉ = 5 — more than max, far less than the 10 the load needs.
        let gpu = Response::PerPodValue { cap: Some(1.25) };
        let d = demand(4, 4, 2.5, &[("gpu".into(), gpu)], 0.1, 100.0);
        assert_eq!((d.recommendation_at_max, d.saturated_bounded_metrics.clone()), (5, vec!["gpu".to_string()]));
        assert!(d.summary.contains("gpu sits at its bound (100)"), "{}", d.summary);
        // ×1.2: 4.8 pods at target → 5 > 4, GPU 4.8/4 = 1.2 < 1.25: not at its bound; ratio 1.2 >
        // 1.1 → ⌈1.2 × 4⌉ = 5.
        let d = demand(4, 4, 1.2, &[("gpu".into(), gpu)], 0.1, 100.0);
        assert_eq!((d.pods_needed, d.max_covers, d.recommendation_at_max), (5, false, 5));
        assert!(d.saturated_bounded_metrics.is_empty());
    }
}

mod hpa_steps {
    use cerverus_simulate::scaling::constants;
    use cerverus_simulate::scaling::hpa::{Controller, Policy, PolicyKind, ScaleUp, Select};

    fn rules(select: Select, policies: &[(PolicyKind, u32, u32)], window: u32) -> ScaleUp {
        ScaleUp {
            stabilization_window_seconds: window,
            select,
            policies: policies
                .iter()
                .map(|&(kind, value, period_seconds)| Policy { kind, value, period_seconds })
                .collect(),
            down_window_seconds: 300,
        }
    }

    /// Replicas after each 15 s sync, the raw recommendation being `raw[i]` at sync i.
    fn steps(r: &ScaleUp, start: u32, raw: &[u32], max: u32) -> Vec<u32> {
        let mut c = Controller::default();
        let mut cur = start;
        raw.iter()
            .enumerate()
            .map(|(i, d)| {
                cur = c.normalize(r, 15.0 * (i as f64 + 1.0), cur, *d, 1, max);
                cur
            })
            .collect()
    }

    #[test]
    fn pods_4_per_30s_takes_five_periods_from_2_to_20() {
        // Pods 4 / 30 s: a scale-up event counts while it is less than 30 s old.
        // t=15: start 2 → limit 6. t=30: the +4 at 15 is 15 s old → start 6−4 = 2 → 6.
        // t=45: the event is 30 s old, no longer counted → start 6 → 10. t=75: 14. t=105: 18.
        // t=135: limit 22, max 20 → 20.
        let r = rules(Select::Max, &[(PolicyKind::Pods, 4, 30)], 0);
        assert_eq!(steps(&r, 2, &[20; 9], 20), vec![6, 6, 10, 10, 14, 14, 18, 18, 20]);
    }

    #[test]
    fn percent_100_with_select_max_doubles_past_the_pods_policy() {
        // Percent 100 / 30 s and Pods 4 / 30 s, selectPolicy Max (the rendered ScaledObjects):
        // t=15: max(2+4, ⌈2×2⌉) = 6. t=45: start 6: max(10, 12) = 12. t=75: max(16, 24) → max 20.
        let r = rules(Select::Max, &[(PolicyKind::Percent, 100, 30), (PolicyKind::Pods, 4, 30)], 0);
        assert_eq!(steps(&r, 2, &[20; 5], 20), vec![6, 6, 12, 12, 20]);
        // selectPolicy Min takes the smaller limit: t=15: min(6, 4) = 4; t=45: min(8, 8) = 8;
        // t=75: min(12, 16) = 12; t=105: min(16, 24) = 16; t=135: min(20, 32) = 20.
        let r = rules(Select::Min, &[(PolicyKind::Percent, 100, 30), (PolicyKind::Pods, 4, 30)], 0);
        assert_eq!(steps(&r, 2, &[20; 9], 20), vec![4, 4, 8, 8, 12, 12, 16, 16, 20]);
        // Disabled: never scales up.
        let r = rules(Select::Disabled, &[(PolicyKind::Pods, 4, 30)], 0);
        assert_eq!(steps(&r, 2, &[20; 3], 20), vec![2, 2, 2]);
    }

    #[test]
    fn kubernetes_default_scale_up_doubles_every_sync() {
        // No behaviour: Percent 100 / 15 s and Pods 4 / 15 s, Max (data file). Each event is
        // out of its 15 s period by the next sync: 2 → max(6, 4) = 6 → max(10, 12) = 12 → 24 → max 20.
        let data = constants::load().expect("data");
        let r = ScaleUp::from_behavior(None, &data.hpa.default_scale_up, 300);
        assert_eq!(steps(&r, 2, &[20; 3], 20), vec![6, 12, 20]);
    }

    #[test]
    fn a_scale_up_stabilisation_window_waits_for_the_window_minimum() {
        // Window 30 s, generous policy. Raw 5, 10, 10, 10 at t = 15, 30, 45, 60:
        // t=15: min{5} = 5. t=30: the 5 of t=15 is inside (15 > 30−30) → min{5, 10} = 5.
        // t=45: the 5 is out (15 ≯ 15) → min{10, 10} = 10.
        let r = rules(Select::Max, &[(PolicyKind::Pods, 100, 15)], 30);
        assert_eq!(steps(&r, 2, &[5, 10, 10, 10], 20), vec![5, 5, 10, 10]);
        // Without the window it follows the raw recommendation at once.
        let r = rules(Select::Max, &[(PolicyKind::Pods, 100, 15)], 0);
        assert_eq!(steps(&r, 2, &[5, 10, 10, 10], 20), vec![5, 10, 10, 10]);
    }
}

mod proposals {
    use cerverus_simulate::scaling::metric::{Observed, Response, proposal};

    const TOL: f64 = 0.1;

    #[test]
    fn cpu_with_unready_pods_counts_them_at_zero() {
        // 7 pods, 3 Ready, demand 30 pods at target, cap 2.857 (limit 1 / (70 % × 500m)):
        // usage over the ready ones = min(2.857, 30/3) = 2.857 → sum 8.57; with the 4 unready at
        // 0 %: ratio 8.57/7 = 1.22 > 1.1 → ⌈8.57⌉ = 9.
        let o = Observed { current: 7, ready: 3, seen_ready: 3, demand: 30.0, steady: 3.0 };
        assert_eq!(proposal(Response::Resource { cap: Some(1.0 / 0.35), load_share: 1.0 }, o, TOL), 9);
        // Demand 7.5 over 3 ready, 7 pods: ratio 7.5/7 = 1.07 ≤ 1.1 → stays 7.
        let o = Observed { demand: 7.5, ..o };
        assert_eq!(proposal(Response::Resource { cap: None, load_share: 1.0 }, o, TOL), 7);
        // Memory taken as flat (share 0): usage stays at target → current count.
        let o = Observed { demand: 30.0, ..o };
        assert_eq!(proposal(Response::Resource { cap: None, load_share: 0.0 }, o, TOL), 7);
    }

    #[test]
    fn value_targets_multiply_the_ready_pods() {
        // Value on a per-pod figure, 2 ready of 3: value/target = 20/2 = 10 → ⌈10 × 2⌉ = 20.
        let o = Observed { current: 3, ready: 2, seen_ready: 2, demand: 20.0, steady: 2.0 };
        assert_eq!(proposal(Response::PerPodValue { cap: None }, o, TOL), 20);
        // Bounded at 100/70: ⌈1.4286 × 2⌉ = 3 — no further until more pods are Ready.
        assert_eq!(proposal(Response::PerPodValue { cap: Some(100.0 / 70.0) }, o, TOL), 3);
        // Value on a total: the total (10× steady) does not fall with pods: ⌈10 × 2⌉ = 20.
        assert_eq!(proposal(Response::TotalValue, o, TOL), 20);
        // AverageValue on a total: ⌈20⌉ = 20, independent of readiness.
        assert_eq!(proposal(Response::Total, o, TOL), 20);
        // Cron: its 6 inside the window.
        assert_eq!(proposal(Response::Schedule { replicas: 6 }, o, TOL), 6);
    }
}

mod timelines {
    use cerverus_simulate::scaling::hpa::{Policy, PolicyKind, ScaleUp, Select};
    use cerverus_simulate::scaling::metric::Response;
    use cerverus_simulate::scaling::timeline::{Plan, simulate};

    fn plan(nodes_at: Vec<u32>) -> Plan {
        Plan {
            min: 2,
            max: 10,
            steady: 2,
            needed: 6,
            traffic: 3.0,
            metrics: vec![(Response::Resource { cap: None, load_share: 1.0 }, 15.0, 0.0)],
            rules: ScaleUp {
                stabilization_window_seconds: 0,
                select: Select::Max,
                policies: vec![
                    Policy { kind: PolicyKind::Percent, value: 100, period_seconds: 15 },
                    Policy { kind: PolicyKind::Pods, value: 4, period_seconds: 15 },
                ],
                down_window_seconds: 300,
            },
            sync_seconds: 15.0,
            tolerance: 0.1,
            pod_start_seconds: 20.0,
            ordered: false,
            node_seconds: 100.0,
            nodes_at,
            placeable: 10,
            horizon_seconds: 600.0,
        }
    }

    #[test]
    fn a_workload_that_needs_a_node_is_slower_than_one_that_fits() {
        // Steady 2 at target, ×3 → 6. CPU sample lags 15 s: at t=15 it still shows the steady
        // state (ratio 1); at t=30 it shows demand 6 over 2 ready pods → ⌈6⌉ = 6, allowed
        // (max(2+4, 2×2) = 6). Pods 3–6 created at 30.
        // Room for all: Ready at 30 + 20 = 50 — first and full capacity at 50 s.
        let fits = simulate(&plan(vec![]));
        assert_eq!(fits.first_scale_up_seconds, Some(30.0));
        assert_eq!(fits.first_capacity_seconds, Some(50.0));
        assert_eq!(fits.full_capacity_seconds, Some(50.0));
        assert_eq!(fits.nodes_added, 0);
        // Room for pod 3 only; pods 4–6 need one node requested at 30, Ready at 130; they are
        // Ready at 130 + 20 = 150. First capacity still 50 s, full capacity 150 s.
        let partly = simulate(&plan(vec![0, 1, 1, 1]));
        assert_eq!(partly.first_capacity_seconds, Some(50.0));
        assert_eq!(partly.full_capacity_seconds, Some(150.0));
        assert_eq!((partly.nodes_added, partly.first_node_ready_seconds), (1, Some(130.0)));
        // No room at all: the first new pod waits for the node too → 150 s, past 120 s.
        let none = simulate(&plan(vec![1, 1, 1, 1]));
        assert_eq!(none.first_capacity_seconds, Some(150.0));
        assert!(none.first_capacity_seconds > fits.first_capacity_seconds);
    }

    #[test]
    fn an_ordered_statefulset_starts_its_replicas_one_after_another() {
        // OrderedReady: pods 3–6 created at 30; pod 3 Ready at 50, pod 4 at 50 + 20 = 70,
        // pod 5 at 90, pod 6 at 110 → full capacity 110 s instead of 50 s.
        let t = simulate(&Plan { ordered: true, ..plan(vec![]) });
        assert_eq!(t.first_capacity_seconds, Some(50.0));
        assert_eq!(t.full_capacity_seconds, Some(110.0));
    }

    #[test]
    fn pods_that_can_never_be_placed_never_reach_full_capacity() {
        // Only 4 replicas placeable: pods 5 and 6 stay pending.
        let p = Plan { placeable: 4, ..plan(vec![]) };
        let t = simulate(&p);
        assert_eq!(t.first_capacity_seconds, Some(50.0));
        assert_eq!(t.full_capacity_seconds, None);
    }
}

mod prod_runs {
    use cerverus_simulate::objects::Workloads;
    use cerverus_simulate::scaling::{self, ScalingReport};
    use cerverus_simulate::{Inputs, Options};

    fn run_with(edit: impl FnOnce(&mut Workloads), traffic: f64) -> ScalingReport {
        run_spec(cerverus_spec::DEFAULT_SPEC, edit, traffic)
    }

    fn run_spec(spec: &str, edit: impl FnOnce(&mut Workloads), traffic: f64) -> ScalingReport {
        let (platform, bundle) = super::prod_from(spec);
        let env = platform.env("prod").expect("prod");
        let inputs = Inputs::from_bundle(&platform, env, &bundle).expect("inputs");
        let mut ws = Workloads::from_inputs(&inputs).expect("workloads");
        edit(&mut ws);
        scaling::run(&inputs, &ws, &Options { scenarios: Vec::new(), traffic }).expect("runs")
    }

    fn find<'a>(r: &'a ScalingReport, id: &str) -> &'a scaling::WorkloadScaling {
        r.workloads.iter().find(|w| w.id == id).unwrap_or_else(|| panic!("{id}"))
    }

    #[test]
    fn prod_surge_timelines() {
        let r = run_with(|_| {}, 10.0);
        assert!(r.placement_error.is_none(), "{:?}", r.placement_error);
        let ids: Vec<&str> = r.workloads.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "cerverus-data/airflow-worker",
                "cerverus-data/market-data-ingestor",
                "cerverus-data/stream-processor",
                "cerverus-ml/inference-service",
                "cerverus-system/alerts-api"
            ]
        );
        // inference-service runs at a fixed 5 replicas in prod (min = max = 5): no scale-up.
        let inf = find(&r, "cerverus-ml/inference-service");
        assert!(inf.follows_load);
        assert_eq!((inf.min, inf.max, inf.steady_replicas, inf.surge_replicas), (5, 5, 5, 5));
        assert!(inf.pass, "{}", inf.detail);
        assert!(inf.detail.contains("no scale-up needed"), "{}", inf.detail);
        assert_eq!(inf.timeline.first_scale_up_seconds, None);
        // … but the surge's uncapped demand is visible: ×10 × 5 steady = 50 pods at target; max 5
        // serves 5/5 = ×1 of normal traffic. GPU utilisation per pod would be 50/5 = 10× target,
        // so it sits at 100 %: the HPA keeps asking for ⌈5 × 100/70⌉ = ⌈7.14⌉ = 8. Not a failure.
        let d = &inf.demand;
        assert_eq!((d.pods_at_target, d.pods_needed, d.max, d.max_covers), (50.0, 50, 5, false));
        assert_eq!((d.max_serves_traffic, d.recommendation_at_max), (1.0, 8));
        assert_eq!(d.saturated_bounded_metrics.len(), 1);
        assert!(
            inf.detail.contains("at max 5 it serves about ×1 of normal traffic under the baseline assumption"),
            "{}",
            inf.detail
        );
        assert!(inf.detail.contains("keeps asking for 8 replicas at max 5"), "{}", inf.detail);
        assert!(r.judged.contains("not judged"), "{}", r.judged);
        for w in r.workloads.iter().filter(|w| w.min < w.max) {
            assert_surge_timeline(w);
        }
        // alerts-api: CPU (limit 1 / (70 % × 500m) = 2.86× target per pod) and sum(rate[2m])
        // both follow load; 3 → 20. Its CPU sample lags 15 s (metrics-server), the request rate 15 s
        // (its PodMonitor) and ramps over the 2 m rate window.
        let api = find(&r, "cerverus-system/alerts-api");
        assert_eq!((api.steady_replicas, api.surge_replicas), (3, 20));
        assert_eq!(api.metrics.iter().map(|m| m.lag_seconds).collect::<Vec<_>>(), vec![15.0, 15.0, 15.0]);
        assert_eq!(api.metrics[2].ramp_seconds, 120.0);
        assert!(!api.metrics[1].follows_load, "memory is taken as flat");
        // First sync at 15 s still sees the steady state (15 s lag); at 30 s: CPU ⌈3 × 2.86⌉ = 9,
        // rate ramped 15/120: 3 + 27 × 0.125 = 6.4 → 7; policies allow max(3+4, 6) = 7.
        assert_eq!(api.timeline.first_scale_up_seconds, Some(30.0));
        assert_eq!(api.timeline.points.iter().find(|p| p.t == 30.0).map(|p| p.desired), Some(7));
        // Uncapped: 3 × 10 = 30 pods at target > max 20 (×20/3 = 6.7 of normal traffic): at 20
        // pods CPU is 30/20 = 1.5× target (under its 2.86 cap) → ⌈1.5 × 20⌉ = 30; the request
        // rate total → ⌈30⌉ = 30. Reported; the verdict still passes on its response time.
        assert_eq!((api.demand.pods_needed, api.demand.max_covers, api.demand.recommendation_at_max), (30, false, 30));
        assert!(api.demand.saturated_bounded_metrics.is_empty());
        assert!(api.pass, "{}", api.detail);
        // One verdict per workload, scenario `surge`.
        let v = r.verdicts();
        assert_eq!(v.len(), 5);
        assert!(v.iter().all(|v| v.scenario == "surge"));
    }

    #[test]
    fn prod_inference_timeline_when_it_scales_2_to_5() {
        // The default spec with prod's inference service at min 2, max 5 (GPU pool still 5 warm nodes).
        let r = run_spec(&super::prod_inference_scaling_2_to_5(), |_| {}, 10.0);
        assert!(r.placement_error.is_none(), "{:?}", r.placement_error);
        let inf = find(&r, "cerverus-ml/inference-service");
        assert_eq!((inf.min, inf.max, inf.steady_replicas, inf.surge_replicas), (2, 5, 2, 5));
        assert_surge_timeline(inf);
        // GPU utilisation (DCGM 30 s collection + 15 s ServiceMonitor = 45 s lag), bounded at
        // 100 % over 70 %: the sample at t = 45 still shows the steady state; at t = 60 the first
        // step 2 → ⌈2 × 100/70⌉ = ⌈2.86⌉ = 3.
        assert_eq!(inf.metrics[0].lag_seconds, 45.0);
        assert_eq!(inf.timeline.first_scale_up_seconds, Some(60.0));
        assert_eq!(inf.timeline.points.iter().find(|p| p.t == 60.0).map(|p| p.desired), Some(3));
    }

    /// The checks every workload that scales up under the surge must satisfy.
    fn assert_surge_timeline(w: &scaling::WorkloadScaling) {
        {
            let t = &w.timeline;
            assert!(w.follows_load, "{}", w.id);
            assert!(w.surge_replicas > w.steady_replicas, "{}", w.id);
            let first = t.first_capacity_seconds.expect("responds");
            let scaled = t.first_scale_up_seconds.expect("scales");
            // The first new pod is Ready one pod start after the HPA's first scale-up — plus a
            // node's provisioning when the steady-state nodes have no room for it.
            let first_needs_node = w.needs_nodes_from == Some(w.steady_replicas + 1);
            let expect =
                scaled + w.pod_start_seconds + if first_needs_node { w.node_provisioning_seconds } else { 0.0 };
            assert!((first - expect).abs() < 1e-6, "{}: {first} vs {expect}", w.id);
            // The verdict is the response against 120 s (full capacity reached).
            assert_eq!(w.pass, first <= 120.0 && t.full_capacity_seconds.is_some() && w.pending == 0, "{}", w.id);
            assert!(t.full_capacity_seconds.is_some_and(|f| f >= first), "{}", w.id);
            // The chart's series: starts at steady state, ends with the needed replicas Ready.
            let p0 = t.points.first().expect("points");
            assert_eq!((p0.t, p0.ready), (0.0, w.steady_replicas), "{}", w.id);
            assert!(t.points.last().is_some_and(|p| p.ready >= w.surge_replicas), "{}", w.id);
        }
    }

    #[test]
    fn a_value_metric_that_cannot_follow_load_fails() {
        // Inference scaling 2 → 5 with a GPU utilisation target of 95 %: 100/95 = 1.05 is within
        // the 0.1 tolerance, so the HPA never scales up: 2 replicas however large the surge.
        let r = run_spec(
            &super::prod_inference_scaling_2_to_5(),
            |ws| {
                let w = ws.items.iter_mut().find(|w| w.name == "inference-service").expect("inference");
                let a = w.autoscaler.as_mut().expect("autoscaler");
                a.metrics[0].target = 95.0;
            },
            10.0,
        );
        let inf = find(&r, "cerverus-ml/inference-service");
        assert!(!inf.follows_load);
        assert_eq!(inf.surge_replicas, 2);
        assert!(!inf.pass);
        assert!(inf.detail.contains("do not follow load"), "{}", inf.detail);
    }

    #[test]
    fn a_disabled_scale_up_fails() {
        let r = run_with(
            |ws| {
                let w = ws.items.iter_mut().find(|w| w.name == "alerts-api").expect("alerts-api");
                let a = w.autoscaler.as_mut().expect("autoscaler");
                let b = a.behavior.as_mut().expect("behavior");
                b.scale_up.as_mut().expect("scaleUp").select_policy = Some("Disabled".into());
            },
            10.0,
        );
        let api = find(&r, "cerverus-system/alerts-api");
        assert_eq!(api.timeline.first_capacity_seconds, None);
        assert!(!api.pass, "{}", api.detail);
    }

    #[test]
    fn an_hpa_max_beyond_the_pool_leaves_pods_pending_and_fails() {
        // alerts-api max 400 at ×100: 300 replicas of ~0.6 CPU cannot fit the general pool's max.
        let r = run_with(
            |ws| {
                let w = ws.items.iter_mut().find(|w| w.name == "alerts-api").expect("alerts-api");
                w.autoscaler.as_mut().expect("autoscaler").max = 400;
            },
            100.0,
        );
        let api = find(&r, "cerverus-system/alerts-api");
        assert_eq!(api.surge_replicas, 300);
        assert!(api.pending > 0);
        assert_eq!(api.timeline.full_capacity_seconds, None);
        assert!(!api.pass, "{}", api.detail);
        assert!(api.detail.contains("never be placed"), "{}", api.detail);
    }
}

#[test]
fn durations_and_rate_windows() {
    use cerverus_simulate::scaling::pipeline::{duration_seconds, range_window};
    assert_eq!(duration_seconds("15s"), Some(15.0));
    assert_eq!(duration_seconds("1m30s"), Some(90.0));
    assert_eq!(duration_seconds("500ms"), Some(0.5));
    assert_eq!(duration_seconds("soon"), None);
    assert_eq!(range_window(r#"sum(rate(http_requests_total{pod=~"a-.*"}[2m]))"#), Some(120.0));
    // A subquery's range, not its resolution; the longest range wins.
    assert_eq!(range_window("max_over_time(rate(x[1m])[5m:30s])"), Some(300.0));
    assert_eq!(range_window("max(lag_seconds)"), None);
}
