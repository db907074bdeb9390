//! Gatekeeper ConstraintTemplates evaluated in Rust exactly as their suites (Gatekeeper's own
//! `Suite` format, as `gator verify` reads it) expect.

use std::path::Path;

#[test]
fn every_suite_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gatekeeper");
    let mut cases = 0;
    for dir in ["requiredlabels", "allowedrepos", "uniqueselector"] {
        let results = cerverus_check::rego::run_suite(&root.join(dir).join("suite.yaml")).expect("suite loads");
        assert!(!results.is_empty(), "{dir}: no cases");
        for r in results {
            cases += 1;
            assert!(r.passed, "{dir}/{}/{}: {}", r.test, r.case, r.detail);
        }
    }
    assert_eq!(cases, 9);
}

#[test]
fn a_suite_that_expects_the_wrong_thing_fails() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gatekeeper/requiredlabels");
    for f in ["template.yaml", "constraint.yaml", "allowed.yaml", "disallowed.yaml"] {
        std::fs::copy(src.join(f), tmp.path().join(f)).expect("copy");
    }
    std::fs::write(
        tmp.path().join("suite.yaml"),
        "kind: Suite\napiVersion: test.gatekeeper.sh/v1alpha1\ntests:\n  - name: wrong\n    template: template.yaml\n    constraint: constraint.yaml\n    cases:\n      - {name: says-allowed-is-bad, object: allowed.yaml, assertions: [{violations: yes}]}\n      - {name: says-bad-is-fine, object: disallowed.yaml, assertions: [{violations: no}]}\n",
    )
    .expect("write");
    let results = cerverus_check::rego::run_suite(&tmp.path().join("suite.yaml")).expect("loads");
    assert_eq!(results.iter().filter(|r| !r.passed).count(), 2, "{results:?}");
}

#[test]
fn plain_rego_deny_rules_apply_to_every_object() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("policy.rego"),
        "package main\n\ndeny[msg] {\n  input.kind == \"Service\"\n  input.spec.type == \"LoadBalancer\"\n  msg := sprintf(\"Service %v is a LoadBalancer\", [input.metadata.name])\n}\n",
    )
    .expect("write");
    let policies = cerverus_check::rego::Policies::load(&[tmp.path().to_path_buf()]).expect("loads");
    let mut inv = cerverus_check::Inventory::default();
    cerverus_check::inventory::load_text(
        &mut inv,
        "s.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec: {type: LoadBalancer}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: ok}\nspec: {type: ClusterIP}\n",
    );
    let found = policies.evaluate(&inv);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].message.starts_with("Service lb is a LoadBalancer"));
}
