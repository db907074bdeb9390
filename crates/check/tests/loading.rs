//! One bad file never hides the others: encodings are read, an undecodable file is a finding with
//! its reason, files that are not infrastructure are skipped and counted, and a duplicate mapping
//! key is a finding of its own while the document is still judged. Binary fixtures (UTF-16, bytes
//! that are no text) are written from the tests; the text ones live in `tests/fixtures/loading/`.

use std::path::{Path, PathBuf};

use cerverus_check::inventory::load;
use cerverus_check::report::{Format, render};
use cerverus_check::{Report, Severity, check_paths};

const PRIVILEGED: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  containers:\n    - name: c\n      image: nginx:1.27\n      securityContext: {privileged: true}\n";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/loading")
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
    for u in text.encode_utf16() {
        out.extend(if big_endian { u.to_be_bytes() } else { u.to_le_bytes() });
    }
    out
}

fn rules_in<'a>(report: &'a Report, file: &Path) -> Vec<&'a str> {
    let file = file.display().to_string();
    report.findings.iter().filter(|f| f.file == file).map(|f| f.rule.as_str()).collect()
}

#[test]
fn utf8_with_bom_and_utf16_manifests_are_decoded_and_judged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let le = tmp.path().join("le.yaml");
    let be = tmp.path().join("be.yaml");
    let bom = tmp.path().join("bom.yaml");
    let plain = tmp.path().join("plain.yaml");
    std::fs::write(&le, utf16(PRIVILEGED, false)).expect("write");
    std::fs::write(&be, utf16(PRIVILEGED, true)).expect("write");
    std::fs::write(&bom, [b"\xEF\xBB\xBF".as_slice(), PRIVILEGED.as_bytes()].concat()).expect("write");
    std::fs::write(&plain, PRIVILEGED).expect("write");
    let report = check_paths(&[tmp.path().to_path_buf()]).expect("a tree of readable files loads");
    for f in [&le, &be, &bom, &plain] {
        let rules = rules_in(&report, f);
        assert!(rules.contains(&"CV-K8S-001"), "{}: {rules:?}", f.display());
        assert!(!rules.contains(&"CV-META-000"), "{}: {rules:?}", f.display());
    }
    // The line is the decoded text's line: the privileged flag is on line 8 in every encoding.
    let line = |f: &Path| {
        report.findings.iter().find(|x| x.file == f.display().to_string() && x.rule == "CV-K8S-001").map(|x| x.line)
    };
    assert_eq!((line(&le), line(&be), line(&bom)), (Some(8), Some(8), Some(8)));
    assert_eq!(report.summary.objects, 4);
}

#[test]
fn an_undecodable_file_is_a_finding_with_its_reason_and_the_others_are_still_judged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let latin1 = tmp.path().join("a-latin1.yaml");
    let odd = tmp.path().join("b-truncated-utf16.yaml");
    let good = tmp.path().join("c-pod.yaml");
    // "café" in ISO-8859-1: 0xE9 is no UTF-8.
    std::fs::write(&latin1, b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xE9}\n").expect("write");
    let mut truncated = utf16(PRIVILEGED, false);
    truncated.pop();
    std::fs::write(&odd, truncated).expect("write");
    std::fs::write(&good, PRIVILEGED).expect("write");

    let inv = load(&[tmp.path().to_path_buf()]).expect("an undecodable file is no load error");
    assert_eq!(inv.files, 3);
    let report = cerverus_check::check_inventory(&inv);
    let meta: Vec<_> = report.findings.iter().filter(|f| f.rule == "CV-META-000").collect();
    assert_eq!(meta.len(), 2, "{meta:?}");
    assert!(meta[0].file.ends_with("a-latin1.yaml") && meta[0].message.contains("not UTF-8"), "{meta:?}");
    assert!(meta[1].file.ends_with("b-truncated-utf16.yaml") && meta[1].message.contains("UTF-16 LE"), "{meta:?}");
    assert!(meta.iter().all(|f| f.severity == Severity::Critical && f.message.starts_with("cannot decode the file")));
    assert!(rules_in(&report, &good).contains(&"CV-K8S-001"), "{:?}", report.findings);
    assert_eq!(report.summary.parse_errors, 2);
}

#[test]
fn only_a_path_that_does_not_exist_is_a_load_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("nope");
    let err = load(&[missing]).expect_err("a missing path cannot be loaded");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn non_infrastructure_files_are_skipped_and_counted_never_failed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for name in ["tsconfig.json", "data.json", "docker-compose.yaml"] {
        std::fs::copy(fixtures().join(name), tmp.path().join(name)).expect("copy");
    }
    std::fs::write(tmp.path().join("empty.json"), b"").expect("write");
    std::fs::write(tmp.path().join("pod.yaml"), PRIVILEGED).expect("write");
    // Still judged, not skipped: a workflow, a JSON manifest, and a broken JSON manifest.
    std::fs::create_dir_all(tmp.path().join(".github/workflows")).expect("mkdir");
    std::fs::write(
        tmp.path().join(".github/workflows/ci.yml"),
        "name: ci\non: [push]\npermissions: {contents: read}\njobs: {}\n",
    )
    .expect("write");
    std::fs::write(
        tmp.path().join("cm.json"),
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}"#,
    )
    .expect("write");
    std::fs::write(tmp.path().join("broken.json"), r#"{"apiVersion": "v1", "kind": "ConfigMap", "#).expect("write");

    let report = check_paths(&[tmp.path().to_path_buf()]).expect("loads");
    let mut skipped: Vec<&str> =
        report.summary.skipped_files.iter().map(|f| f.rsplit('/').next().unwrap_or(f)).collect();
    skipped.sort_unstable();
    assert_eq!(skipped, ["data.json", "docker-compose.yaml", "empty.json", "tsconfig.json"]);
    assert_eq!(report.summary.skipped, 4);
    assert_eq!(report.summary.files, 8);
    let meta: Vec<_> = report.findings.iter().filter(|f| f.rule.starts_with("CV-META")).collect();
    assert_eq!(meta.len(), 1, "only the broken manifest fails to parse: {meta:?}");
    assert!(meta[0].file.ends_with("broken.json"));
    assert!(report.findings.iter().any(|f| f.rule == "CV-K8S-001"));

    let text = render(&report, Format::Text, Severity::Low, false);
    assert!(text.contains("skipped: 4 non-infrastructure files"), "{text}");
    assert!(!text.contains("tsconfig.json"), "the text report counts, the JSON report lists: {text}");
    let json: serde_json::Value =
        serde_json::from_str(&render(&report, Format::Json, Severity::Low, false)).expect("json");
    assert_eq!(json["summary"]["skipped"], 4);
    assert_eq!(json["summary"]["skipped_files"].as_array().map(Vec::len), Some(4));
}

#[test]
fn a_duplicate_key_is_its_own_finding_and_the_document_is_still_judged() {
    let file = fixtures().join("duplicate-key.yaml");
    let report = check_paths(std::slice::from_ref(&file)).expect("loads");
    let dup: Vec<_> = report.findings.iter().filter(|f| f.rule == "CV-META-002").collect();
    assert_eq!(dup.len(), 1, "{:?}", report.findings);
    // The second `privileged:` is on line 12.
    assert_eq!(dup[0].line, 12);
    assert_eq!(dup[0].severity, Severity::Medium);
    assert!(dup[0].message.contains("`privileged`"), "{}", dup[0].message);
    for leak in ["DuplicateKeyPolicy", "Options"] {
        assert!(!dup[0].message.contains(leak), "{}", dup[0].message);
    }
    // The later value wins: `privileged: true` is judged.
    assert!(report.findings.iter().any(|f| f.rule == "CV-K8S-001"), "{:?}", report.findings);
    assert!(report.findings.iter().all(|f| f.rule != "CV-META-000"), "{:?}", report.findings);
    assert_eq!(report.summary.parse_errors, 0);
}

#[test]
fn a_duplicate_key_in_a_later_document_keeps_the_file_line() {
    let mut inv = cerverus_check::Inventory::default();
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata:\n  k: one\n  k: two\n";
    cerverus_check::inventory::load_text(&mut inv, "two.yaml", text);
    assert_eq!(inv.k8s.len(), 2);
    assert_eq!(inv.k8s[1].value["data"]["k"], "two");
    let dup: Vec<_> = inv.errors.iter().filter(|f| f.rule == "CV-META-002").collect();
    assert_eq!(dup.iter().map(|f| f.line).collect::<Vec<_>>(), [10], "{dup:?}");
}

#[test]
fn a_duplicate_key_in_a_json_manifest_is_found_too() {
    let mut inv = cerverus_check::Inventory::default();
    let text = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\",\n  \"metadata\": {\"name\": \"c\"},\n  \"data\": {\"k\": \"one\",\n    \"k\": \"two\"}\n}\n";
    cerverus_check::inventory::load_text(&mut inv, "cm.json", text);
    assert_eq!(inv.k8s.len(), 1);
    assert_eq!(inv.k8s[0].value["data"]["k"], "two", "the later value wins");
    let dup: Vec<_> = inv.errors.iter().filter(|f| f.rule == "CV-META-002").collect();
    assert_eq!(dup.iter().map(|f| f.line).collect::<Vec<_>>(), [6], "{:?}", inv.errors);
    // A JSON data file with a duplicate key is still only skipped: nothing there is judged.
    let mut inv = cerverus_check::Inventory::default();
    cerverus_check::inventory::load_text(&mut inv, "data.json", "{\"a\": 1, \"a\": 2}");
    assert!(inv.errors.is_empty() && inv.skipped == ["data.json"], "{:?}", inv.errors);
}

#[cfg(unix)]
#[test]
fn a_file_that_cannot_be_read_is_a_finding_and_the_others_are_still_judged() {
    // A dangling symlink is listed with the directory but cannot be read (a permission test would
    // not fail as root).
    let tmp = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(tmp.path().join("gone.yaml"), tmp.path().join("a-link.yaml")).expect("symlink");
    std::fs::write(tmp.path().join("b-pod.yaml"), PRIVILEGED).expect("write");
    let report = check_paths(&[tmp.path().to_path_buf()]).expect("an unreadable file is no load error");
    let meta: Vec<_> = report.findings.iter().filter(|f| f.rule == "CV-META-000").collect();
    assert_eq!(meta.len(), 1, "{:?}", report.findings);
    assert!(meta[0].file.ends_with("a-link.yaml") && meta[0].message.starts_with("cannot read the file"), "{meta:?}");
    assert!(report.findings.iter().any(|f| f.rule == "CV-K8S-001" && f.file.ends_with("b-pod.yaml")));
}
