//! The run-time rules (egress cut, runtime contracts, pod fit, GPU device plugin, escalation,
//! quotas) on fixtures of the old, broken shape and of the fixed one
//! (`tests/fixtures/runtime/<case>/{bad,good}/`, laid out as a bundle: `kubernetes/<env>/`,
//! `terraform/envs/<env>/`, `helm/addons/`). A failing fixture must be reported under the rule's
//! ID at the named file and line; a passing fixture must draw no finding of any run-time rule.

use std::path::{Path, PathBuf};

use cerverus_check::Finding;
use cerverus_check::inventory::load;

/// Every rule this suite covers.
const RUNTIME_RULES: &[&str] = &[
    "CV-NET-003",
    "CV-NET-004",
    "CV-NET-005",
    "CV-NET-006",
    "CV-NET-007",
    "CV-K8S-023",
    "CV-HA-005",
    "CV-QUOTA-001",
    "CV-QUOTA-002",
    "CV-RT-001",
    "CV-RT-002",
    "CV-RT-003",
    "CV-GPU-001",
];

fn dir(case: &str, which: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runtime").join(case).join(which)
}

/// Unwaived findings of the run-time rules on one fixture tree.
fn findings(case: &str, which: &str) -> Vec<Finding> {
    let inv = load(&[dir(case, which)]).unwrap_or_else(|e| panic!("{case}/{which}: {e}"));
    assert!(inv.errors.is_empty(), "{case}/{which} does not parse: {:?}", inv.errors);
    cerverus_check::check_inventory(&inv)
        .findings
        .into_iter()
        .filter(|f| f.waived.is_none() && RUNTIME_RULES.contains(&f.rule.as_str()))
        .collect()
}

/// 1-based line of the `nth` (from 0) line of `file` (under the bad fixture) containing `needle`.
/// Findings point at a field's value: for a list or a map, its first entry.
fn line(case: &str, file: &str, needle: &str, nth: usize) -> usize {
    let path = dir(case, "bad").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut hits = text.lines().enumerate().filter(|(_, l)| l.contains(needle)).map(|(i, _)| i + 1);
    hits.nth(nth).unwrap_or_else(|| panic!("{needle:?} #{nth} not in {file}"))
}

/// The failing fixture reports `rule` at `file`:`line`; the passing one reports nothing.
fn case(case: &str, rule: &str, file: &str, needle: &str) -> Finding {
    case_nth(case, rule, file, needle, 0)
}

fn case_nth(case: &str, rule: &str, file: &str, needle: &str, nth: usize) -> Finding {
    let bad = findings(case, "bad");
    let want = line(case, file, needle, nth);
    let hit = bad
        .iter()
        .find(|f| f.rule == rule && f.file.ends_with(file) && f.line == want)
        .unwrap_or_else(|| panic!("{case}: {rule} not reported at {file}:{want}; found {bad:#?}"));
    let good = findings(case, "good");
    assert!(good.is_empty(), "{case}: the fixed shape is flagged: {good:#?}");
    hit.clone()
}

#[test]
fn irsa_pod_needs_443_inside_the_vpc() {
    let f = case("net-irsa", "CV-NET-003", "kubernetes/prod/app.yaml", "apiVersion: apps/v1");
    assert!(f.message.contains("arn:aws:iam::111122223333:role/ingestor"), "{}", f.message);
}

#[test]
fn token_mounting_pod_bound_to_a_role_needs_the_api_server() {
    case("net-api", "CV-NET-004", "kubernetes/prod/app.yaml", "apiVersion: apps/v1");
    // The old shape is not an IRSA pod: only the API server rule speaks.
    let bad = findings("net-api", "bad");
    assert!(!bad.iter().any(|f| f.rule == "CV-NET-003"), "no IRSA here: {bad:#?}");
    // 443 to the cluster's Service range (EKS's default when the files do not say) counts too.
    let service_range = findings("net-api", "service-range");
    assert!(service_range.is_empty(), "{service_range:#?}");
}

#[test]
fn restricted_egress_needs_dns_over_udp_and_tcp() {
    let f = case("net-dns", "CV-NET-005", "kubernetes/prod/app.yaml", "apiVersion: apps/v1");
    assert!(f.message.contains("53/TCP") && !f.message.contains("53/UDP"), "{}", f.message);
}

#[test]
fn scraped_pods_admit_prometheus_on_the_scraped_port() {
    let f = case("net-scrape", "CV-NET-006", "kubernetes/prod/app.yaml", "apiVersion: apps/v1");
    assert!(f.message.contains("port 9102") && f.message.contains("monitoring"), "{}", f.message);
}

#[test]
fn connections_a_runtime_contract_needs_are_open_at_both_ends() {
    let file = "kubernetes/prod/airflow.yaml";
    let f = case("net-contract", "CV-NET-007", file, "apiVersion: apps/v1");
    assert!(f.message.contains("airflow-worker:8793"), "{}", f.message);
    let f = case_nth("net-contract", "CV-NET-007", file, "apiVersion: apps/v1", 1);
    assert!(f.message.contains("kube-apiserver:443"), "{}", f.message);
}

#[test]
fn settings_as_files_writable_paths_and_probe_timeouts_follow_the_contract() {
    let file = "kubernetes/prod/webserver.yaml";
    let f = case("airflow", "CV-RT-001", file, "- {name: tmp, mountPath: /tmp}");
    assert!(f.message.contains("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"), "{}", f.message);
    let f = case("airflow", "CV-RT-002", file, "readOnlyRootFilesystem: true");
    assert!(f.message.contains("/opt/airflow/logs") && f.message.contains("/opt/airflow/run"), "{}", f.message);
    let probe = "httpGet: {path: /health, port: 8080}";
    let f = case_nth("airflow", "CV-RT-003", file, probe, 0);
    assert!(f.message.contains("livenessProbe times out after 3s"), "{}", f.message);
    let f = case_nth("airflow", "CV-RT-003", file, probe, 1);
    assert!(f.message.contains("readinessProbe"), "{}", f.message);
}

#[test]
fn a_pod_must_fit_the_first_instance_type_of_its_group() {
    let f = case("pod-fit", "CV-HA-005", "kubernetes/prod/training.yaml", "- name: train");
    assert!(f.message.contains("g4dn.xlarge"), "{}", f.message);
}

#[test]
fn gpu_pods_land_where_the_device_plugin_runs() {
    let f = case("gpu", "CV-GPU-001", "kubernetes/prod/inference.yaml", "- name: inference");
    assert!(f.message.contains("nvidia-device-plugin 0.17.1"), "{}", f.message);
    // The same placement from a DaemonSet in the input.
    let f = case("gpu-daemonset", "CV-GPU-001", "kubernetes/prod/inference.yaml", "- name: inference");
    assert!(f.message.contains("DaemonSet/kube-system/nvidia-device-plugin"), "{}", f.message);
}

#[test]
fn pod_creation_next_to_a_cluster_admin_account_is_escalation() {
    let f = case("escalation", "CV-K8S-023", "kubernetes/prod/rbac.yaml", "# what the operators may do");
    assert!(f.message.contains("cerverus:platform-operators") && f.message.contains("batch/jobs"), "{}", f.message);
}

#[test]
fn quotas_hold_a_max_scale_rollout_and_the_load_balancers() {
    let f = case("quota", "CV-QUOTA-001", "kubernetes/prod/ml.yaml", "requests.nvidia.com/gpu");
    assert!(f.message.contains("needs 8"), "{}", f.message);
    case("quota-lb", "CV-QUOTA-002", "kubernetes/prod/istio.yaml", "services.loadbalancers");
}

#[test]
fn every_runtime_rule_is_catalogued() {
    for id in RUNTIME_RULES {
        assert!(cerverus_check::rules::rule(id).is_some(), "{id} is not in RULES");
    }
}

/// `n` workloads in two namespaces, each with what the run-time rules relate — an IRSA service
/// account bound to a role, an egress policy allowing the VPC and DNS, a quota and a LimitRange
/// per namespace — all correct: the rules must stay quiet and grow linearly.
fn many(n: usize) -> cerverus_check::Inventory {
    use cerverus_check::inventory::load_text;
    let mut inv = cerverus_check::Inventory::default();
    for ns in 0..2 {
        load_text(
            &mut inv,
            &format!("kubernetes/prod/ns{ns}.yaml"),
            &format!(
                "apiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: q, namespace: ns-{ns}}}\nspec: {{hard: {{requests.cpu: \"100000\", pods: \"100000\"}}}}\n---\napiVersion: v1\nkind: LimitRange\nmetadata: {{name: l, namespace: ns-{ns}}}\nspec: {{limits: [{{type: Container, defaultRequest: {{cpu: 100m}}}}]}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: dns, namespace: ns-{ns}}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress: [{{ports: [{{port: 53, protocol: UDP}}, {{port: 53, protocol: TCP}}], to: [{{namespaceSelector: {{}}, podSelector: {{matchLabels: {{k8s-app: kube-dns}}}}}}]}}]\n"
            ),
        );
    }
    for i in 0..n {
        let ns = i % 2;
        let text = format!(
            r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: app-{i}, namespace: ns-{ns}, annotations: {{eks.amazonaws.com/role-arn: "arn:aws:iam::1:role/app-{i}"}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: app-{i}, namespace: ns-{ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}
subjects: [{{kind: ServiceAccount, name: app-{i}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: app-{i}}}}}
  template:
    metadata: {{labels: {{app: app-{i}, tier: web}}}}
    spec:
      serviceAccountName: app-{i}
      containers: [{{name: app, image: "registry.example/app:1", resources: {{requests: {{cpu: 100m}}}}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  podSelector: {{matchLabels: {{app: app-{i}}}}}
  policyTypes: [Egress]
  egress: [{{ports: [{{port: 443}}], to: [{{ipBlock: {{cidr: 10.0.0.0/16}}}}]}}]
"#
        );
        load_text(&mut inv, &format!("kubernetes/prod/m{i}.yaml"), &text);
    }
    inv
}

#[test]
fn runtime_rules_grow_linearly() {
    let time = |inv: &cerverus_check::Inventory| {
        (0..3)
            .map(|_| {
                let start = std::time::Instant::now();
                let report = cerverus_check::check_inventory(inv);
                let took = start.elapsed();
                let ours: Vec<_> =
                    report.findings.iter().filter(|f| RUNTIME_RULES.contains(&f.rule.as_str())).collect();
                assert!(ours.is_empty(), "a correct input draws run-time findings: {:?}", &ours[..ours.len().min(3)]);
                took
            })
            .min()
            .unwrap_or_default()
    };
    let (small, large) = (many(150), many(1200));
    let (t_small, t_large) = (time(&small), time(&large));
    let ratio = t_large.as_secs_f64() / t_small.as_secs_f64().max(1e-6);
    // 8× the input: linear is ~8×; a per-pod scan of the policies, accounts or bindings is ~64×.
    assert!(ratio < 24.0, "8× the input took {ratio:.1}× the time ({t_small:?} → {t_large:?})");
}
