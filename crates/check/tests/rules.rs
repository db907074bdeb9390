//! Every rule has a failing and a passing fixture; waivers and parse errors behave.

use cerverus_check::inventory::{Inventory, load_text};
use cerverus_check::rules::RULES;

/// Unwaived rule IDs found in one file.
fn findings(file: &str, text: &str) -> Vec<String> {
    let mut inv = Inventory::default();
    load_text(&mut inv, file, text);
    cerverus_check::check_inventory(&inv).findings.into_iter().filter(|f| f.waived.is_none()).map(|f| f.rule).collect()
}

const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// A Deployment that passes every Kubernetes rule, with its default-deny policy.
fn good_pod() -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: x}}
spec:
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      automountServiceAccountToken: false
      securityContext: {{runAsNonRoot: true, runAsUser: 10001, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
        - name: app
          image: registry.example/app:1.0@{DIGEST}
          securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
          resources: {{requests: {{cpu: 100m, memory: 64Mi}}, limits: {{memory: 128Mi}}}}
          livenessProbe: {{tcpSocket: {{port: 8080}}}}
          readinessProbe: {{tcpSocket: {{port: 8080}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: default-deny, namespace: x}}
spec: {{podSelector: {{}}, policyTypes: [Ingress, Egress]}}
"#
    )
}

fn bad_pod(from: &str, to: &str) -> String {
    let good = good_pod();
    assert!(good.contains(from), "fixture edit {from:?} does not apply");
    good.replacen(from, to, 1)
}

fn svc(selector: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: app, namespace: x, labels: {{app: app}}}}\nspec: {{selector: {{app: {selector}}}, ports: [{{port: 80}}]}}\n"
    )
}

fn monitor(selector: &str) -> String {
    format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {{name: app, namespace: x}}\nspec: {{selector: {{matchLabels: {{app: {selector}}}}}, endpoints: [{{port: http}}]}}\n"
    )
}

fn pdb(budget: &str) -> String {
    format!(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: app, namespace: x}}\nspec: {{{budget}, selector: {{matchLabels: {{app: app}}}}}}\n"
    )
}

/// The good Deployment at 3 replicas, with `extra` objects, spread across zones or not.
fn replicated(extra: &str, spread: bool) -> String {
    let mut d =
        bad_pod("  selector: {matchLabels: {app: app}}", "  replicas: 3\n  selector: {matchLabels: {app: app}}");
    if spread {
        d = d.replacen(
            "      automountServiceAccountToken: false",
            "      automountServiceAccountToken: false\n      topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: app}}}]",
            1,
        );
    }
    if extra.is_empty() { d } else { format!("{d}---\n{extra}") }
}

const ROLLOUT: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r, namespace: x}\nspec:\n  template:\n    metadata: {labels: {app: r}}\n    spec: {containers: [{name: c, image: x:1}]}\n  strategy:\n    canary:\n      steps: [{setWeight: 20}, {analysis: {templates: [{templateName: success-rate}]}}]\n";

const GOOD_TF: &str = r#"
resource "aws_s3_bucket" "b" {
  bucket = "x"
}
resource "aws_s3_bucket_public_access_block" "b" {
  bucket                  = aws_s3_bucket.b.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
resource "aws_s3_bucket_server_side_encryption_configuration" "b" {
  bucket = aws_s3_bucket.b.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
  }
}
resource "aws_vpc_security_group_ingress_rule" "web" {
  security_group_id = "sg-1"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}
resource "aws_launch_template" "n" {
  metadata_options {
    http_tokens = "required"
  }
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      encrypted = true
    }
  }
}
resource "aws_db_instance" "d" {
  publicly_accessible = false
  storage_encrypted   = true
}
data "aws_iam_policy_document" "p" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["*"]
  }
}
resource "aws_eks_cluster" "c" {
  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
}
resource "aws_cloudtrail" "t" {
  is_multi_region_trail = true
}
"#;

fn bad_tf(from: &str, to: &str) -> String {
    assert!(GOOD_TF.contains(from), "fixture edit {from:?} does not apply");
    GOOD_TF.replacen(from, to, 1)
}

const GOOD_DOCKER: &str = "FROM python:3.12-slim AS build\nRUN pip install --no-cache-dir app\nFROM gcr.io/distroless/python3:nonroot\nCOPY --from=build /app /app\nUSER 10001\n";
const GOOD_GHA: &str = "name: ci\non: [push]\npermissions:\n  contents: read\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@0123456789abcdef0123456789abcdef01234567\n      - run: echo \"$TITLE\"\n        env:\n          TITLE: ${{ github.event.pull_request.title }}\n";

/// (rule, file name, failing text, passing text).
fn cases() -> Vec<(&'static str, &'static str, String, String)> {
    let k = "app.yaml";
    vec![
        ("CV-META-000", k, "apiVersion: v1\nkind: [\n".into(), good_pod()),
        ("CV-META-002", k, bad_pod("metadata: {name: app, namespace: x}", "metadata: {name: app, namespace: x}\nkind: Deployment"), good_pod()),
        ("CV-META-001", k, bad_pod("metadata: {name: app, namespace: x}", "metadata: {name: app, namespace: x, annotations: {cerverus.io/skip: CV-K8S-012=}}"), good_pod()),
        ("CV-K8S-001", k, bad_pod("allowPrivilegeEscalation: false,", "allowPrivilegeEscalation: false, privileged: true,"), good_pod()),
        ("CV-K8S-002", k, bad_pod("automountServiceAccountToken: false", "automountServiceAccountToken: false\n      hostNetwork: true"), good_pod()),
        ("CV-K8S-003", k, bad_pod("automountServiceAccountToken: false", "automountServiceAccountToken: false\n      volumes: [{name: h, hostPath: {path: /}}]"), good_pod()),
        ("CV-K8S-004", k, bad_pod("capabilities: {drop: [ALL]}", "capabilities: {drop: [ALL], add: [NET_ADMIN]}"), good_pod()),
        ("CV-K8S-005", k, bad_pod("runAsNonRoot: true, runAsUser: 10001,", ""), good_pod()),
        ("CV-K8S-006", k, bad_pod("allowPrivilegeEscalation: false,", ""), good_pod()),
        ("CV-K8S-007", k, bad_pod(", seccompProfile: {type: RuntimeDefault}", ""), good_pod()),
        ("CV-K8S-008", k, bad_pod(" readOnlyRootFilesystem: true,", ""), good_pod()),
        ("CV-K8S-009", k, bad_pod(", limits: {memory: 128Mi}", ""), good_pod()),
        ("CV-K8S-010", k, bad_pod("          readinessProbe: {tcpSocket: {port: 8080}}\n", ""), good_pod()),
        ("CV-K8S-011", k, bad_pod(&format!("app:1.0@{DIGEST}"), "app:latest"), good_pod()),
        ("CV-K8S-012", k, bad_pod(&format!("app:1.0@{DIGEST}"), "app:1.0"), good_pod()),
        ("CV-K8S-013", k, bad_pod("      automountServiceAccountToken: false\n", ""), good_pod()),
        (
            "CV-K8S-014",
            k,
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: x}\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"*\"]\n    verbs: [get]\n".into(),
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: x}\nrules:\n  - apiGroups: [\"\"]\n    resources: [pods]\n    verbs: [get]\n".into(),
        ),
        (
            "CV-K8S-015",
            k,
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules:\n  - apiGroups: [rbac.authorization.k8s.io]\n    resources: [clusterroles]\n    verbs: [bind, escalate]\n".into(),
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules:\n  - apiGroups: [rbac.authorization.k8s.io]\n    resources: [clusterroles]\n    verbs: [get]\n".into(),
        ),
        (
            "CV-K8S-016",
            k,
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: x}\nrules:\n  - apiGroups: [\"\"]\n    resources: [secrets]\n    verbs: [list]\n".into(),
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: x}\nrules:\n  - apiGroups: [\"\"]\n    resources: [configmaps]\n    verbs: [list]\n".into(),
        ),
        (
            "CV-K8S-017",
            k,
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]\n".into(),
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]\n".into(),
        ),
        (
            "CV-K8S-018",
            k,
            "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: x}\nspec: {type: NodePort, ports: [{port: 80}]}\n".into(),
            "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: x}\nspec: {type: ClusterIP, ports: [{port: 80}]}\n".into(),
        ),
        (
            "CV-K8S-019",
            k,
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: x}\nspec: {rules: [{host: a.example}]}\n".into(),
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: x}\nspec: {tls: [{hosts: [a.example], secretName: t}], rules: [{host: a.example}]}\n".into(),
        ),
        (
            "CV-K8S-019",
            "gw.yaml",
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g, namespace: x}\nspec:\n  servers:\n    - {port: {number: 80, name: http, protocol: HTTP}, hosts: [a.example]}\n".into(),
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g, namespace: x}\nspec:\n  servers:\n    - {port: {number: 80, name: http, protocol: HTTP}, hosts: [a.example], tls: {httpsRedirect: true}}\n    - {port: {number: 443, name: https, protocol: HTTPS}, hosts: [a.example], tls: {mode: SIMPLE, credentialName: a-cert}}\n".into(),
        ),
        ("CV-K8S-020", k, bad_pod("spec: {podSelector: {}, policyTypes: [Ingress, Egress]}", "spec: {podSelector: {matchLabels: {app: app}}, policyTypes: [Ingress], ingress: [{}]}"), good_pod()),
        ("CV-K8S-021", k, bad_pod("metadata: {name: default-deny, namespace: x}", "metadata: {name: default-deny, namespace: other}"), good_pod()),
        ("CV-WIRE-001", k, format!("{}---\n{}", good_pod(), svc("other")), format!("{}---\n{}", good_pod(), svc("app"))),
        (
            "CV-WIRE-002",
            k,
            format!("{}---\n{}---\n{}", good_pod(), svc("app"), monitor("nothing")),
            format!("{}---\n{}---\n{}", good_pod(), svc("app"), monitor("app")),
        ),
        (
            "CV-WIRE-003",
            k,
            bad_pod("automountServiceAccountToken: false", "automountServiceAccountToken: false\n      volumes: [{name: s, secret: {secretName: db}}]"),
            format!(
                "{}---\napiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: db, namespace: x}}\nspec: {{target: {{name: db}}}}\n",
                bad_pod("automountServiceAccountToken: false", "automountServiceAccountToken: false\n      volumes: [{name: s, secret: {secretName: db}}]")
            ),
        ),
        // A cert-manager Certificate creates the Secret it names, as an ExternalSecret does.
        (
            "CV-WIRE-003",
            k,
            bad_pod("automountServiceAccountToken: false", "automountServiceAccountToken: false\n      volumes: [{name: s, secret: {secretName: tls}}]"),
            format!(
                "{}---\napiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {{name: client, namespace: x}}\nspec: {{secretName: tls}}\n",
                bad_pod("automountServiceAccountToken: false", "automountServiceAccountToken: false\n      volumes: [{name: s, secret: {secretName: tls}}]")
            ),
        ),
        (
            "CV-WIRE-004",
            k,
            ROLLOUT.to_string(),
            format!("{ROLLOUT}---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: success-rate, namespace: x}}\nspec: {{metrics: []}}\n"),
        ),
        ("CV-HA-001", k, replicated(&pdb("maxUnavailable: 0"), true), replicated(&pdb("maxUnavailable: 1"), true)),
        ("CV-HA-002", k, replicated("", true), replicated(&pdb("maxUnavailable: 1"), true)),
        ("CV-HA-003", k, replicated(&pdb("maxUnavailable: 1"), false), replicated(&pdb("maxUnavailable: 1"), true)),
        ("CV-TF-001", "main.tf", bad_tf("  restrict_public_buckets = true", "  restrict_public_buckets = false"), GOOD_TF.into()),
        ("CV-TF-002", "main.tf", bad_tf("resource \"aws_s3_bucket_server_side_encryption_configuration\" \"b\" {\n  bucket = aws_s3_bucket.b.id", "resource \"aws_s3_bucket_server_side_encryption_configuration\" \"other\" {\n  bucket = aws_s3_bucket.other.id"), GOOD_TF.into()),
        ("CV-TF-003", "main.tf", bad_tf("  from_port         = 443\n  to_port           = 443", "  from_port         = 22\n  to_port           = 22"), GOOD_TF.into()),
        ("CV-TF-004", "main.tf", bad_tf("http_tokens = \"required\"", "http_tokens = \"optional\""), GOOD_TF.into()),
        ("CV-TF-005", "main.tf", bad_tf("publicly_accessible = false", "publicly_accessible = true"), GOOD_TF.into()),
        ("CV-TF-006", "main.tf", bad_tf("storage_encrypted   = true", "storage_encrypted   = false"), GOOD_TF.into()),
        ("CV-TF-007", "main.tf", bad_tf("actions   = [\"s3:GetObject\"]", "actions   = [\"*\"]"), GOOD_TF.into()),
        ("CV-TF-008", "main.tf", bad_tf("is_multi_region_trail = true", "is_multi_region_trail = false"), GOOD_TF.into()),
        ("CV-DOCKER-001", "Dockerfile", GOOD_DOCKER.replace("USER 10001\n", ""), GOOD_DOCKER.into()),
        ("CV-DOCKER-002", "Dockerfile", GOOD_DOCKER.replace("COPY --from=build /app /app", "ADD https://example.com/app.tgz /app"), GOOD_DOCKER.into()),
        ("CV-DOCKER-003", "Dockerfile", GOOD_DOCKER.replace("python:3.12-slim", "python:latest"), GOOD_DOCKER.into()),
        ("CV-GHA-001", ".github/workflows/ci.yml", GOOD_GHA.replace("@0123456789abcdef0123456789abcdef01234567", "@v4"), GOOD_GHA.into()),
        ("CV-GHA-002", ".github/workflows/ci.yml", GOOD_GHA.replace("permissions:\n  contents: read\n", ""), GOOD_GHA.into()),
        (
            "CV-GHA-003",
            ".github/workflows/ci.yml",
            GOOD_GHA.replace("- run: echo \"$TITLE\"", "- run: echo \"${{ github.event.pull_request.title }}\""),
            GOOD_GHA.into(),
        ),
    ]
}

#[test]
fn every_rule_fails_its_failing_fixture_and_passes_its_passing_one() {
    for (rule, file, bad, good) in cases() {
        let got = findings(file, &bad);
        assert!(got.iter().any(|r| r == rule), "{rule}: failing fixture not caught, found {got:?}\n{bad}");
        let got = findings(file, &good);
        assert!(!got.iter().any(|r| r == rule), "{rule}: passing fixture flagged, found {got:?}\n{good}");
    }
}

#[test]
fn the_passing_fixtures_are_clean_on_every_rule() {
    for (name, text) in [
        ("app.yaml", good_pod()),
        ("main.tf", GOOD_TF.to_string()),
        ("Dockerfile", GOOD_DOCKER.into()),
        (".github/workflows/ci.yml", GOOD_GHA.into()),
    ] {
        assert_eq!(findings(name, &text), Vec::<String>::new(), "{name}");
    }
}

/// Rules that need input beyond the files: a configuration (tested below) or a spec (tested
/// through the CLI in crates/cli/tests/check.rs).
const NOT_FROM_FILES_ALONE: &[&str] = &["CV-K8S-022", "CV-NET-001", "CV-NET-002", "CV-HA-004"];

/// Run-time rules (egress cut, runtime contracts, pod fit, GPU, escalation, quotas): their failing
/// and passing fixtures are directories under `tests/fixtures/runtime/`, run by `tests/rules_runtime.rs`.
const FIXTURES_IN_RULES_RUNTIME: &[&str] = &[
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

/// Rules whose fixtures need several files (a chart list and values files) or whole fixture
/// directories: their failing and passing fixtures are in `tests/rules_metrics.rs`.
const FIXTURES_IN_RULES_METRICS: &[&str] =
    &["CV-PROM-001", "CV-PROM-002", "CV-SCALE-001", "CV-SCALE-002", "CV-HELM-001", "CV-HELM-002", "CV-HELM-003"];

/// Terraform/AWS rules across files and modules: their failing (old shape) and passing fixture
/// trees are under `tests/fixtures/terraform/`, run by `tests/rules_terraform.rs`.
const FIXTURES_IN_RULES_TERRAFORM: &[&str] =
    &["CV-TF-009", "CV-TF-010", "CV-TF-011", "CV-IAM-001", "CV-IAM-002", "CV-CNI-001"];

#[test]
fn every_rule_has_fixtures() {
    let covered: Vec<&str> = cases()
        .iter()
        .map(|c| c.0)
        .chain(NOT_FROM_FILES_ALONE.iter().copied())
        .chain(FIXTURES_IN_RULES_RUNTIME.iter().copied())
        .chain(FIXTURES_IN_RULES_METRICS.iter().copied())
        .chain(FIXTURES_IN_RULES_TERRAFORM.iter().copied())
        .collect();
    for r in RULES {
        assert!(covered.contains(&r.id), "rule {} has no fixtures", r.id);
        assert!(
            !r.title.is_empty() && !r.rationale.is_empty() && !r.remediation.is_empty(),
            "{} is undocumented",
            r.id
        );
    }
}

#[test]
fn waivers_with_reasons_waive_and_only_their_rule() {
    let text = bad_pod(
        "metadata: {name: app, namespace: x}",
        "metadata: {name: app, namespace: x, annotations: {cerverus.io/skip: \"CV-K8S-001=needs the GPU driver; audited\"}}",
    )
    .replacen("allowPrivilegeEscalation: false,", "allowPrivilegeEscalation: false, privileged: true,", 1);
    let mut inv = Inventory::default();
    load_text(&mut inv, "w.yaml", &text);
    let report = cerverus_check::check_inventory(&inv);
    let f = report.findings.iter().find(|f| f.rule == "CV-K8S-001").expect("still reported");
    assert_eq!(f.waived.as_deref(), Some("needs the GPU driver; audited"));
    assert_eq!(report.summary.findings, 0, "{:?}", report.findings);

    let public = bad_tf("publicly_accessible = false", "publicly_accessible = true");
    let waive = |comment: &str| {
        public.replacen("resource \"aws_db_instance\"", &format!("{comment}\nresource \"aws_db_instance\""), 1)
    };
    let tf = waive("# cerverus:skip=CV-TF-005 reachable only through a private link");
    assert!(!findings("main.tf", &tf).contains(&"CV-TF-005".to_string()));
    // A waiver above another block does not reach this one.
    let elsewhere = format!("# cerverus:skip=CV-TF-005 misplaced\n{}", public.trim_start());
    assert!(findings("main.tf", &elsewhere).contains(&"CV-TF-005".to_string()));
    let tf_no_reason = waive("# cerverus:skip=CV-TF-005");
    let got = findings("main.tf", &tf_no_reason);
    assert!(got.contains(&"CV-TF-005".to_string()) && got.contains(&"CV-META-001".to_string()), "{got:?}");
}

#[test]
fn configuration_enables_disables_and_reweighs_rules() {
    use cerverus_check::config::Config;
    let mut inv = Inventory::default();
    load_text(&mut inv, "app.yaml", &bad_pod(&format!("app:1.0@{DIGEST}"), "app:1.0"));
    let config = Config::parse(
        "allowedRegistries: [111122223333.dkr.ecr.us-east-1.amazonaws.com/]\nseverity: {CV-K8S-012: high}\n",
    )
    .expect("config");
    let report = cerverus_check::check_configured(&inv, None, &config);
    assert!(report.findings.iter().any(|f| f.rule == "CV-K8S-022"), "{:?}", report.findings);
    assert!(report.findings.iter().any(|f| f.rule == "CV-K8S-012" && f.severity == cerverus_check::Severity::High));
    let allowed = Config::parse("allowedRegistries: [registry.example/]\ndisable: [CV-K8S-012]\n").expect("config");
    let report = cerverus_check::check_configured(&inv, None, &allowed);
    assert!(report.findings.iter().all(|f| f.rule != "CV-K8S-022" && f.rule != "CV-K8S-012"), "{:?}", report.findings);
    assert!(Config::parse("disable: [CV-NOPE]\n").is_err());
    assert!(Config::parse("severity: {CV-K8S-012: severe}\n").is_err());
    assert!(Config::parse("unknownKey: 1\n").is_err());
}

#[test]
fn the_committed_rule_catalogue_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == cerverus_check::rules::markdown(),
        "docs/rules.md is stale: regenerate it from cerverus_check::rules::markdown()"
    );
}

#[test]
fn every_reported_rule_is_in_the_catalogue() {
    for (_, file, bad, good) in cases() {
        for text in [bad, good] {
            let mut inv = Inventory::default();
            load_text(&mut inv, file, &text);
            for f in cerverus_check::check_inventory(&inv).findings {
                assert!(cerverus_check::rules::rule(&f.rule).is_some(), "{} is reported but not in RULES", f.rule);
            }
        }
    }
}

#[test]
fn autoscaling_ceilings_are_checked_against_the_node_groups_they_land_on() {
    let workload = |max: u32| {
        format!(
            "{}---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: app, namespace: x}}\nspec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: app}}, minReplicas: 2, maxReplicas: {max}}}\n",
            bad_pod(
                "automountServiceAccountToken: false",
                "automountServiceAccountToken: false\n      nodeSelector: {pool: gpu}"
            )
            .replace("requests: {cpu: 100m, memory: 64Mi}", "requests: {cpu: \"2\", memory: 8Gi}")
        )
    };
    // Two m5.xlarge-class nodes at most: about 3 CPU allocatable each.
    let tfvars = "node_groups = {\n  gpu = {\n    instance_types = [\"m5.xlarge\"]\n    max_size       = 2\n    labels = {\n      pool = \"gpu\"\n    }\n  }\n  other = {\n    instance_types = [\"m5.4xlarge\"]\n    max_size       = 10\n    labels = {\n      pool = \"general\"\n    }\n  }\n}\n";
    let run = |max: u32| {
        let mut inv = Inventory::default();
        load_text(&mut inv, "terraform.tfvars", tfvars);
        load_text(&mut inv, "app.yaml", &workload(max));
        cerverus_check::check_inventory(&inv).findings.into_iter().filter(|f| f.rule == "CV-HA-004").collect::<Vec<_>>()
    };
    let over = run(5);
    assert_eq!(over.len(), 1, "{over:?}");
    assert!(
        over[0].message.contains("request 10.0 CPU") && over[0].object == "Deployment/x/app",
        "{}",
        over[0].message
    );
    assert!(run(2).is_empty(), "4 CPU fits two nodes");
    // Scopes: a node group of another environment does not count.
    let mut inv = Inventory::default();
    load_text(&mut inv, "terraform/envs/dev/terraform.tfvars", tfvars);
    load_text(&mut inv, "kubernetes/prod/app.yaml", &workload(5));
    assert!(cerverus_check::check_inventory(&inv).findings.iter().all(|f| f.rule != "CV-HA-004"));
}

/// A workload that leaves `replicas` to its autoscaler runs at least the autoscaler's minimum:
/// with minReplicas 3 it needs a budget (CV-HA-002), and `minAvailable: 1` still allows a drain
/// (no CV-HA-001) — counting it as one replica would get both wrong.
#[test]
fn an_autoscaled_workload_without_replicas_counts_its_autoscalers_minimum() {
    let hpa = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: app, namespace: x}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app}\n  minReplicas: 3\n  maxReplicas: 6\n  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}]\n";
    let without_replicas = |extra: &str| replicated(extra, true).replacen("  replicas: 3\n", "", 1);
    let unprotected = without_replicas(hpa);
    assert!(!unprotected.contains("replicas: 3\n  selector"), "fixture still sets replicas");
    assert!(findings("d.yaml", &unprotected).contains(&"CV-HA-002".to_string()));
    let protected = without_replicas(&format!("{hpa}---\n{}", pdb("minAvailable: 1")));
    let found = findings("d.yaml", &protected);
    assert!(!found.iter().any(|r| r == "CV-HA-001" || r == "CV-HA-002"), "{found:?}");
}

/// IMDSv1 is a risk only while the metadata endpoint answers: a launch template or instance with
/// `http_endpoint = "disabled"` has none to steal from (issue 12: CV-TF-004 fired on it).
#[test]
fn imds_turned_off_is_not_imdsv1() {
    let tf = |options: &str| bad_tf("http_tokens = \"required\"", options);
    let imds = |text: &str| findings("main.tf", text).iter().filter(|r| *r == "CV-TF-004").count();
    assert_eq!(imds(&tf("http_endpoint = \"disabled\"")), 0);
    assert_eq!(imds(&tf("http_endpoint = \"disabled\"\n    http_tokens   = \"optional\"")), 0);
    let instance = "resource \"aws_instance\" \"i\" {\n  metadata_options {\n    http_endpoint = \"disabled\"\n  }\n  root_block_device {\n    encrypted = true\n  }\n}\n";
    assert_eq!(imds(&format!("{GOOD_TF}{instance}")), 0, "{:?}", findings("main.tf", &format!("{GOOD_TF}{instance}")));
    // An endpoint that answers still needs tokens.
    assert_eq!(imds(&tf("http_endpoint = \"enabled\"")), 1);
    assert_eq!(imds(&tf("http_endpoint = \"enabled\"\n    http_tokens   = \"optional\"")), 1);
    assert_eq!(imds(&format!("{GOOD_TF}{}", instance.replace("disabled", "enabled"))), 1);
}

/// A `*` grants reading Secrets as surely as `get` does (issue 12: only CV-K8S-014 fired).
#[test]
fn wildcards_that_cover_reading_secrets_are_reading_secrets() {
    let role = |groups: &str, resources: &str, verbs: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: r, namespace: x}}\nrules:\n  - apiGroups: [{groups}]\n    resources: [{resources}]\n    verbs: [{verbs}]\n"
        )
    };
    let reads = |text: &str| findings("app.yaml", text).contains(&"CV-K8S-016".to_string());
    for (groups, resources, verbs) in [
        ("\"\"", "secrets", "\"*\""),
        ("\"\"", "\"*\"", "get"),
        ("\"*\"", "secrets", "watch"),
        ("\"*\"", "\"*\"", "\"*\""),
    ] {
        let text = role(groups, resources, verbs);
        assert!(reads(&text), "{text}");
    }
    // Neither secrets nor every resource, not a reading verb, or another API group's `secrets`.
    for (groups, resources, verbs) in
        [("\"\"", "configmaps", "\"*\""), ("\"\"", "secrets", "create"), ("example.com", "secrets", "\"*\"")]
    {
        let text = role(groups, resources, verbs);
        assert!(!reads(&text), "{text}");
    }
}
