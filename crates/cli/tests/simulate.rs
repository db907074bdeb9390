//! `cerverus simulate` through the binary: exit codes, formats, `--output`, the default spec's
//! prod passing every scenario, and a spec that must fail each kind of verdict.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cerverus(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cerverus")).args(args).output().expect("run")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON report: {e}\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn failing(report: &serde_json::Value) -> Vec<String> {
    report["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .filter(|v| v["pass"] == false)
        .map(|v| format!("{} {} {}", v["scenario"], v["subject"], v["detail"]))
        .collect()
}

/// The default spec with `edit` applied to its text, written to a temporary file.
fn edited_spec(dir: &Path, edit: impl Fn(&str) -> String) -> PathBuf {
    let path = dir.join("spec.yaml");
    std::fs::write(&path, edit(cerverus_spec::DEFAULT_SPEC)).expect("write spec");
    path
}

#[test]
fn the_default_spec_passes_every_scenario_in_prod() {
    let out = cerverus(&["simulate", "--env", "prod", "--format", "json"]);
    let report = json(&out);
    assert_eq!(failing(&report), Vec::<String>::new());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report["model"]["environment"], "prod");
    assert_eq!(report["model"]["traffic_multiplier"], 10.0);
    // Every section ran, and the report says it is a model and where its constants come from.
    for section in ["capacity", "scaling", "provisioning", "cost", "recovery"] {
        assert!(report[section].is_object(), "section {section} missing");
    }
    assert!(report["model"]["disclaimer"].as_str().is_some_and(|d| d.contains("model")));
    let constants = report["model"]["constants"].as_array().expect("constants");
    assert_eq!(constants.len(), 5, "one data file per model");
    for c in constants {
        assert!(c["sources"].as_array().is_some_and(|s| !s.is_empty()), "{c}");
        assert!(c["as_of"].as_str().is_some_and(|d| d.len() == 10), "{c}");
    }
    // Each HA scenario judged something, and every AZ was lost in turn.
    let scenarios: std::collections::BTreeSet<&str> =
        report["verdicts"].as_array().expect("verdicts").iter().filter_map(|v| v["scenario"].as_str()).collect();
    for s in ["steady", "node-loss", "spot-loss", "surge", "provisioning", "cost"] {
        assert!(scenarios.contains(s), "no verdict for {s}: {scenarios:?}");
    }
    assert!(scenarios.iter().any(|s| s.starts_with("recovery:")), "{scenarios:?}");
    assert_eq!(scenarios.iter().filter(|s| s.starts_with("az-loss:")).count(), 3, "{scenarios:?}");
}

#[test]
fn the_default_text_report_is_prod_and_says_it_is_a_model() {
    let out = cerverus(&["simulate"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("prod"), "{text}");
    assert!(text.contains("model"), "{text}");
}

#[test]
fn one_scenario_runs_only_its_section() {
    let out = cerverus(&["simulate", "--scenario", "cost", "--format", "json"]);
    let report = json(&out);
    assert!(report["cost"].is_object());
    for other in ["capacity", "scaling", "provisioning", "recovery"] {
        assert!(report[other].is_null(), "{other} ran: {}", report[other]);
    }
    assert_eq!(report["model"]["constants"].as_array().map(Vec::len), Some(1));
}

#[test]
fn html_goes_to_the_output_file_and_nothing_to_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("report.html");
    let out = cerverus(&["simulate", "--format", "html", "--output", file.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    let html = std::fs::read_to_string(&file).expect("report written");
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..html.len().min(80)]);
    assert!(html.matches("<svg").count() >= 4, "charts: {}", html.matches("<svg").count());
    assert!(!html.contains("http://") || !html.contains("<script"), "self-contained: no scripts");
    // Only the report is left in the directory: the temporary file was renamed.
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}

#[test]
fn bad_usage_and_bad_input_exit_2_with_a_hint() {
    for (args, says) in [
        (&["simulate", "--scenario", "meteor"][..], "unknown scenario `meteor`"),
        (&["simulate", "--traffic", "0.5"][..], "at least 1"),
        (&["simulate", "--env", "qa"][..], "no environment `qa`"),
        (&["simulate", "--spec", "/nonexistent/spec.yaml"][..], "cannot read spec"),
    ] {
        let out = cerverus(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn an_invalid_spec_is_located_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = edited_spec(dir.path(), |s| s.replacen("azCount: 3", "azCount: three", 1));
    let out = cerverus(&["simulate", "--spec", spec.to_str().expect("utf8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("spec.yaml:"), "located: {err}");
}

#[test]
fn a_max_no_pool_can_hold_is_refused_before_any_simulation() {
    let dir = tempfile::tempdir().expect("tempdir");
    // alerts-api may scale to 200 replicas on a general pool of at most 10 nodes (prod keeps the
    // base's autoscaling block, the first `max: 20` of the spec). The spec's own capacity check
    // (sums of requests) refuses that; the surge scenario judges what sums cannot see — bin
    // packing, spread and zones (`crates/simulate/tests/scenarios.rs`).
    let spec = edited_spec(dir.path(), |s| s.replacen("      max: 20\n", "      max: 200\n", 1));
    assert_ne!(std::fs::read_to_string(&spec).expect("spec"), cerverus_spec::DEFAULT_SPEC, "edit applied");
    let out = cerverus(&["simulate", "--spec", spec.to_str().expect("utf8"), "--scenario", "surge"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot hold its workloads at maximum scale"), "{err}");
}

#[test]
fn the_readme_shows_the_current_prod_summary() {
    // The README's summary block is the text report's first line and its "At a glance" table,
    // verbatim: a spec or model change that moves a number must update the README.
    let out = cerverus(&["simulate"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).expect("README");
    let first = text.lines().next().expect("summary line");
    assert!(readme.contains(first), "README lacks `{first}`");
    let glance: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("At a glance"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(glance.len() >= 7, "{glance:?}");
    for line in glance {
        assert!(readme.contains(line), "README lacks the summary line `{line}`");
    }
}
