//! The workloads read back from the default spec's rendered prod objects: every long-running
//! workload of the spec is there with its autoscaler, PDB, priority and sidecar.

use cerverus_simulate::objects::{AutoscalerKind, OwnerKind, Release, Workloads};

fn prod() -> (cerverus_model::Platform, cerverus_bundle::Bundle) {
    let loaded = cerverus_spec::load("cerverus.yaml", cerverus_spec::DEFAULT_SPEC).expect("loads");
    let platform = cerverus_model::resolve(&loaded).expect("resolves");
    let bundle = cerverus_render::render(&platform, &["prod".to_string()]).expect("renders");
    (platform, bundle)
}

#[test]
fn every_spec_workload_is_read_back_with_what_acts_on_it() {
    let (platform, bundle) = prod();
    let env = platform.env("prod").expect("prod");
    let inputs = cerverus_simulate::Inputs::from_bundle(&platform, env, &bundle).expect("inputs");
    let ws = Workloads::from_inputs(&inputs).expect("workloads");
    for w in &env.workloads {
        let id = format!("{}/{}", w.namespace(), w.name());
        let got = ws.get(&id).unwrap_or_else(|| panic!("{id} not read back"));
        // The sidecar's requests (istiod values: 100m / 128Mi) are added in meshed namespaces.
        let (cpu, mem, gpu) = cerverus_model::capacity::pod_requests(w);
        let (pcpu, pmem) = cerverus_model::capacity::mesh_proxy_requests(env, w);
        assert!((got.requests.cpu - (cpu + pcpu)).abs() < 1e-6, "{id}: {:?} vs {cpu}+{pcpu}", got.requests);
        assert!((got.requests.memory_gib - (mem + pmem)).abs() < 1e-6, "{id}: {:?}", got.requests);
        assert_eq!(got.requests.gpu, gpu, "{id}");
        assert_eq!(got.mesh_sidecar, env.in_mesh(w), "{id}");
        if let Some(a) = &w.spec.autoscaling
            && w.spec.kind.is_long_running()
        {
            let s = got.autoscaler.as_ref().unwrap_or_else(|| panic!("{id}: no autoscaler"));
            assert_eq!(s.kind, AutoscalerKind::KedaScaledObject);
            assert_eq!((s.min, s.max), (a.min, a.max), "{id}");
            assert!(s.polling_interval_seconds.is_some() && !s.metrics.is_empty(), "{id}");
        }
        if w.spec.kind.is_long_running() {
            assert!(got.priority > 0, "{id}: tier PriorityClass");
            assert!(got.tier.is_some(), "{id}");
        }
    }
    let inference = ws.get("cerverus-ml/inference-service").expect("inference");
    assert_eq!((inference.kind, inference.release), (OwnerKind::Rollout, Release::BlueGreen));
    assert_eq!(inference.requests.gpu, 1);
    let api = ws.get("cerverus-system/alerts-api").expect("alerts-api");
    let budget = api.budget.as_ref().expect("alerts-api has a PDB");
    assert!(budget.min_available_of(api.min_replicas()) >= 1);
}

#[test]
fn builtin_priority_classes_and_expression_selected_budgets_are_read() {
    // A pod of `system-cluster-critical` (no manifest: kube-apiserver creates the class) has its
    // value, and a PDB that selects by matchExpressions only still covers the pods it matches.
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: { name: dns, namespace: kube-system }
spec:
  replicas: 2
  selector: { matchLabels: { app: dns } }
  template:
    metadata: { labels: { app: dns } }
    spec:
      priorityClassName: system-cluster-critical
      containers: [{ name: dns, image: dns, resources: { requests: { cpu: 100m, memory: 70Mi } } }]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: { name: dns, namespace: kube-system }
spec:
  maxUnavailable: 1
  selector:
    matchExpressions: [{ key: app, operator: In, values: [dns] }]
"#;
    let mut inv = cerverus_check::inventory::Inventory::default();
    cerverus_check::inventory::load_text(&mut inv, "dns.yaml", yaml);
    let ws = Workloads::from_objects(&inv.k8s, Default::default()).expect("workloads");
    let dns = ws.get("kube-system/dns").expect("dns");
    assert_eq!(dns.priority, 2_000_000_000);
    let budget = dns.budget.as_ref().expect("the expression-selected PDB covers it");
    assert_eq!(budget.min_available_of(2), 1);
}
