//! `cerverus check` and `cerverus explain` through the binary: the committed bundle is clean,
//! exit codes, formats (SARIF validated against the SARIF 2.1.0 schema), stdin.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cerverus(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cerverus")).args(args).output().expect("run")
}

const PRIVILEGED: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  containers:\n    - name: c\n      image: nginx\n      securityContext: {privileged: true}\n";

#[test]
fn the_committed_bundle_passes_with_no_unwaived_finding() {
    let deploy = repo().join("deploy");
    let out = cerverus(&["check", deploy.to_str().expect("utf8"), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(report["summary"]["findings"], 0);
    assert!(report["summary"]["objects"].as_u64().unwrap_or(0) > 500, "{}", report["summary"]);
    // The waived ones are the documented exceptions, each with its reason: the Airflow
    // scheduler's API token, the break-glass binding, and the two add-on charts pinned past the
    // stored reference data (their values are still judged against the nearest stored version).
    for f in report["findings"].as_array().expect("findings") {
        assert!(f["waived"].as_str().is_some_and(|r| r.len() > 20), "{f}");
        let rule = f["rule"].as_str();
        assert!(matches!(rule, Some("CV-K8S-013") | Some("CV-K8S-017") | Some("CV-HELM-002")), "{f}");
        if rule == Some("CV-HELM-002") {
            let file = f["file"].as_str().unwrap_or_default();
            // …and Istio's CNI chart, of which no version is stored (`addons::UNSTORED_PINS`).
            assert!(file.contains("cluster-autoscaler") || file.contains("keda") || file.contains("istio-cni"), "{f}");
        }
    }
}

#[test]
fn exit_codes_follow_the_threshold_and_parse_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("pod.yaml");
    std::fs::write(&bad, PRIVILEGED).expect("write");
    let p = bad.to_str().expect("utf8");
    let out = cerverus(&["check", p]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{p}:8")) && text.contains("CV-K8S-001"), "{text}");

    // Only the critical finding remains at --severity critical; the check still fails on it.
    let out = cerverus(&["check", p, "--severity", "critical", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    // A non-Kubernetes YAML file has nothing to judge.
    let values = tmp.path().join("values.yaml");
    std::fs::write(&values, "replicaCount: 2\n").expect("write");
    assert_eq!(cerverus(&["check", values.to_str().expect("utf8")]).status.code(), Some(0));

    let broken = tmp.path().join("broken.tf");
    std::fs::write(&broken, "resource \"x\" \"y\" {\n").expect("write");
    let out = cerverus(&["check", broken.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("CV-META-000"));

    assert_eq!(cerverus(&["check", "/no/such/path"]).status.code(), Some(2));
    assert_eq!(cerverus(&["check", p, "--severity", "extreme"]).status.code(), Some(2));
}

#[test]
fn stdin_is_read_with_a_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cerverus"))
        .args(["check", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(PRIVILEGED.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        report["findings"].as_array().expect("findings").iter().any(|f| f["rule"] == "CV-K8S-001" && f["file"] == "-")
    );
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("pod.yaml");
    std::fs::write(&bad, PRIVILEGED).expect("write");
    let out = cerverus(&["check", bad.to_str().expect("utf8"), "--format", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    // The published rtm.5 schema has one malformed regex (`language`: an unbalanced `]`); it is
    // corrected here, in memory, exactly as later SARIF errata corrected it.
    let text = std::fs::read_to_string(repo().join("data/sarif/sarif-2.1.0-rtm.5.json"))
        .expect("schema")
        .replace("^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$", "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(&sarif).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(results.iter().any(|r| r["ruleId"] == "CV-K8S-001" && r["level"] == "error"));
    // And a report with waivers carries them as in-source suppressions.
    let out = cerverus(&[
        "check",
        repo().join("deploy/kubernetes/prod/cluster").to_str().expect("utf8"),
        "--format",
        "sarif",
    ]);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(validator.iter_errors(&sarif).next().is_none());
    assert!(
        sarif["runs"][0]["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|r| r["suppressions"][0]["kind"] == "inSource")
    );
    // The schema check itself rejects a broken document.
    let mut broken = sarif.clone();
    broken["version"] = serde_json::json!("9.9");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn junit_and_output_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("pod.yaml");
    std::fs::write(&bad, PRIVILEGED).expect("write");
    let report = tmp.path().join("junit.xml");
    let out = cerverus(&[
        "check",
        bad.to_str().expect("utf8"),
        "--format",
        "junit",
        "--output",
        report.to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "the report goes to the file");
    let xml = std::fs::read_to_string(&report).expect("report written");
    assert!(xml.starts_with("<?xml"));
    let failures = xml.matches("<failure ").count();
    assert!(failures >= 1 && xml.contains(&format!("failures=\"{failures}\"")), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), xml.matches("</testcase>").count());
}

#[test]
fn explain_describes_a_rule_and_rejects_unknown_ones() {
    let out = cerverus(&["explain", "CV-K8S-005"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["CV-K8S-005 (high)", "Why:", "Fix:", "checkov: CKV_K8S_23"] {
        assert!(text.contains(needle), "{text}");
    }
    let out = cerverus(&["explain", "CV-NOPE-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CV-K8S-001"));
}

#[test]
fn graph_matches_the_spec_and_catches_a_missing_policy() {
    let prod = repo().join("deploy/kubernetes/prod");
    let out = cerverus(&["graph", prod.to_str().expect("utf8"), "--spec", "default", "--env", "prod"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // The spec declares three edges between workloads of prod: alerts-api → inference-service
    // (dependsOn) and the Airflow webserver → the log servers of the worker (8793) and the
    // triggerer (8794), from which it fetches task logs (runtime contract). The policies allow
    // exactly those.
    assert!(text.contains("3 declared, 3 allowed"), "{text}");

    let out = cerverus(&["graph", prod.to_str().expect("utf8"), "--format", "json"]);
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut edges: Vec<(String, String, u64)> = g["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap_or_default().to_string(),
                e["to"].as_str().unwrap_or_default().to_string(),
                e["port"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        [
            ("cerverus-data/airflow-webserver".to_string(), "cerverus-data/airflow-triggerer".to_string(), 8794),
            ("cerverus-data/airflow-webserver".to_string(), "cerverus-data/airflow-worker".to_string(), 8793),
            ("cerverus-system/alerts-api".to_string(), "cerverus-ml/inference-service".to_string(), 8080),
        ],
        "allowed edges of prod"
    );

    // Without any policy (network or authorization) in the ML and data namespaces, data workloads may call the inference
    // service although none declares it: extra edges. (Removing only the inference service's
    // policies adds none: the callers' own egress policies still hold them back.)
    let tmp = tempfile::tempdir().expect("tempdir");
    let copy = tmp.path().join("prod");
    copy_dir(&prod, &copy);
    for ns in ["cerverus-ml", "cerverus-data"] {
        for e in std::fs::read_dir(copy.join(ns)).expect("read_dir") {
            let p = e.expect("entry").path();
            // Both layers: the AuthorizationPolicies would still hold the callers back alone.
            let layer = |n: &std::ffi::OsStr| {
                let n = n.to_string_lossy();
                n.starts_with("networkpolicy-") || n.starts_with("authorizationpolicy-")
            };
            if p.file_name().is_some_and(layer) {
                std::fs::remove_file(p).expect("rm");
            }
        }
    }
    let out = cerverus(&["graph", copy.to_str().expect("utf8"), "--spec", "default", "--env", "prod"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("extra    cerverus-data/stream-processor -> cerverus-ml/inference-service :8080"), "{text}");

    // Without the caller's egress rule the declared edge is missing.
    let copy2 = tmp.path().join("prod2");
    copy_dir(&prod, &copy2);
    std::fs::remove_file(copy2.join("cerverus-system/networkpolicy-alerts-api.yaml")).expect("rm");
    let out = cerverus(&["graph", copy2.to_str().expect("utf8"), "--spec", "default", "--env", "prod"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("missing  cerverus-system/alerts-api -> cerverus-ml/inference-service :8080"), "{text}");

    // Without the worker's policy (default deny still holds) the webserver cannot fetch task
    // logs: the declared Airflow edge is missing, and only that one.
    let copy3 = tmp.path().join("prod3");
    copy_dir(&prod, &copy3);
    std::fs::remove_file(copy3.join("cerverus-data/networkpolicy-airflow-worker.yaml")).expect("rm");
    let out = cerverus(&["graph", copy3.to_str().expect("utf8"), "--spec", "default", "--env", "prod"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("missing  cerverus-data/airflow-webserver -> cerverus-data/airflow-worker :8793"), "{text}");
    assert!(!text.contains("alerts-api"), "{text}");

    // `check --spec` reports the same as findings.
    let out =
        cerverus(&["check", copy2.to_str().expect("utf8"), "--spec", "default", "--env", "prod", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(report["findings"].as_array().expect("findings").iter().any(|f| f["rule"] == "CV-NET-001"
        && f["object"] == "cerverus-system/alerts-api -> cerverus-ml/inference-service:8080"));
    let out = cerverus(&["check", prod.to_str().expect("utf8"), "--spec", "default", "--env", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let p = e.expect("entry").path();
        let dest = to.join(p.file_name().expect("name"));
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

#[test]
fn diff_reports_changed_fields_added_and_removed_objects() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(cerverus(&["build", "--out", a.to_str().expect("utf8"), "--env", "staging"]).status.success());
    let spec = cerverus_spec::DEFAULT_SPEC
        .replacen(
            "      alerts-api: { replicas: 2, min: 2, max: 8 }",
            "      alerts-api: { replicas: 3, min: 3, max: 8 }",
            1,
        )
        .replacen("    efsFileSystemId: fs-0a1b2c3d4e5f60020\n", "", 1);
    let spec_file = tmp.path().join("spec.yaml");
    std::fs::write(&spec_file, spec).expect("write");
    assert!(
        cerverus(&[
            "build",
            "--spec",
            spec_file.to_str().expect("utf8"),
            "--out",
            b.to_str().expect("utf8"),
            "--env",
            "staging"
        ])
        .status
        .success()
    );
    let (ka, kb) = (a.join("kubernetes/staging"), b.join("kubernetes/staging"));
    let out = cerverus(&["diff", ka.to_str().expect("utf8"), kb.to_str().expect("utf8"), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let changed = d["changed"].as_array().expect("changed");
    // The Deployment leaves its count to the autoscaler (no spec.replicas): the floor moves there.
    let scaler =
        changed.iter().find(|c| c["object"] == "ScaledObject/cerverus-system/alerts-api").expect("autoscaler changed");
    assert_eq!(scaler["fields"], serde_json::json!([{"path": "spec.minReplicaCount", "old": 2, "new": 3}]));
    assert!(
        d["removed"]
            .as_array()
            .expect("removed")
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains("StorageClass/cerverus-efs")))
    );
    let same = cerverus(&["diff", ka.to_str().expect("utf8"), ka.to_str().expect("utf8")]);
    assert_eq!(same.status.code(), Some(0));
}

#[test]
fn gatekeeper_policies_join_the_report() {
    let gk = repo().join("crates/check/tests/gatekeeper/allowedrepos");
    let out = cerverus(&[
        "check",
        gk.join("dockerhub.yaml").to_str().expect("utf8"),
        "--policy",
        gk.join("template.yaml").to_str().expect("utf8"),
        "--policy",
        gk.join("constraint.yaml").to_str().expect("utf8"),
        "--format",
        "sarif",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let gk_results: Vec<_> = results.iter().filter(|r| r["ruleId"] == "K8sAllowedReposCv").collect();
    assert_eq!(gk_results.len(), 2);
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"].as_array().expect("rules");
    let idx = gk_results[0]["ruleIndex"].as_u64().expect("index") as usize;
    assert_eq!(rules[idx]["id"], "K8sAllowedReposCv");
    // The committed bundle satisfies the repository policy (every image comes from the platform's ECR).
    let deploy = repo().join("deploy/kubernetes");
    let out = cerverus(&[
        "check",
        deploy.to_str().expect("utf8"),
        "--policy",
        gk.join("template.yaml").to_str().expect("utf8"),
        "--policy",
        gk.join("constraint.yaml").to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}
