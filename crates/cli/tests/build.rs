//! End-to-end behaviour of `cerverus build` and `cerverus schema` on the default spec.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cerverus(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cerverus")).args(args).output().expect("run cerverus")
}

/// Every file under `dir`, relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).expect("prefix").to_string_lossy().into_owned();
                out.insert(rel, fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn two_builds_produce_byte_identical_trees() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("A"), tmp.path().join("B"));
    for dir in [&a, &b] {
        let out = cerverus(&["build", "--out", dir.to_str().expect("utf8")]);
        assert!(out.status.success(), "build failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let (ta, tb) = (tree(&a), tree(&b));
    assert!(ta.len() > 50, "bundle suspiciously small: {} files", ta.len());
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (path, bytes) in &ta {
        assert!(tb[path] == *bytes, "{path} differs between builds");
    }
}

#[test]
fn in_process_builds_are_identical() {
    let (_, first) = cerverus::build_default_uncached().expect("build");
    let (_, second) = cerverus::build_default_uncached().expect("build");
    assert_eq!(first, second);
}

#[test]
fn committed_deploy_is_what_the_spec_builds() {
    let out = cerverus(&["build", "--check", "--out", repo().join("deploy").to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "deploy/ is stale; run `cargo run -- build` and commit.\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_reports_drift_with_exit_1_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("deploy");
    let d = dir.to_str().expect("utf8");
    assert!(cerverus(&["build", "--out", d]).status.success());
    let victim = dir.join("terraform/envs/prod/versions.tf");
    fs::write(&victim, "# edited by hand\n").expect("edit");
    let stray = dir.join("kubernetes/prod/cluster/namespace-cerverus-ml.yaml");
    fs::remove_file(&stray).expect("remove");
    let before = tree(&dir);
    let out = cerverus(&["build", "--check", "--out", d]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("changed  terraform/envs/prod/versions.tf"), "{stdout}");
    assert!(stdout.contains("missing  kubernetes/prod/cluster/namespace-cerverus-ml.yaml"), "{stdout}");
    assert_eq!(tree(&dir), before, "--check must not write");
    // A real build repairs it.
    assert!(cerverus(&["build", "--out", d]).status.success());
    assert!(cerverus(&["build", "--check", "--out", d]).status.success());
}

#[test]
fn building_one_environment_leaves_the_others_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("deploy");
    let d = dir.to_str().expect("utf8");
    assert!(cerverus(&["build", "--out", d]).status.success());
    let full = tree(&dir);
    let out = cerverus(&["build", "--out", d, "--env", "dev"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tree(&dir), full);
    assert!(cerverus(&["build", "--check", "--out", d, "--env", "prod"]).status.success());
    let unknown = cerverus(&["build", "--out", d, "--env", "qa"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown environment `qa`"));
}

#[test]
fn the_default_spec_validates_against_the_printed_schema() {
    let out = cerverus(&["schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let spec: serde_json::Value = serde_saphyr::from_str(cerverus_spec::DEFAULT_SPEC).expect("spec as JSON value");
    let errors: Vec<String> = validator.iter_errors(&spec).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "default spec violates its schema: {errors:#?}");

    // The schema is strict: a misspelt field is a schema violation too.
    let mut bad = spec.clone();
    bad["cluster"]["kubernetesVersoin"] = serde_json::json!("1.35");
    assert!(!validator.is_valid(&bad), "schema accepted an unknown field");
    let mut wrong_type = spec;
    wrong_type["network"]["azCount"] = serde_json::json!("three");
    assert!(!validator.is_valid(&wrong_type), "schema accepted a string for azCount");
}

#[test]
fn committed_schema_matches_the_types_and_the_spec_points_at_it() {
    let committed = fs::read_to_string(repo().join("schemas/platform.schema.json")).expect("committed schema");
    assert!(
        committed == cerverus_spec::json_schema_text(),
        "schemas/platform.schema.json is stale: run `cargo run -- schema > schemas/platform.schema.json`"
    );
    let first = cerverus_spec::DEFAULT_SPEC.lines().next().unwrap_or_default();
    assert_eq!(first, "# yaml-language-server: $schema=../schemas/platform.schema.json");
}

#[test]
fn help_documents_exit_codes() {
    for args in [&["--help"][..], &["build", "--help"][..]] {
        let out = cerverus(args);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Exit codes:") && text.contains("2  usage error"), "{text}");
    }
    let usage = cerverus(&["build", "--no-such-flag"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for args in [vec!["build", "--out", tmp.path().to_str().expect("utf8")], vec!["schema"], vec!["spec"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cerverus"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}
