//! Bad input: every class of error exits 2, names `file:line:col`, says what was expected, and
//! leaves the output directory exactly as it was.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use cerverus_spec::DEFAULT_SPEC;

fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).expect("prefix").display().to_string(), fs::read(&p).expect("read"));
            }
        }
    }
    out
}

/// Line and column (1-based, in characters) of the first occurrence of `marker` in `text`.
fn position(text: &str, marker: &str) -> (usize, usize) {
    let at = text.find(marker).unwrap_or_else(|| panic!("marker {marker:?} not in spec"));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Replace exactly one occurrence of `from`.
fn mutate(from: &str, to: &str) -> String {
    assert_eq!(DEFAULT_SPEC.matches(from).count(), 1, "{from:?} must occur once in the default spec");
    DEFAULT_SPEC.replacen(from, to, 1)
}

struct Case {
    name: &'static str,
    spec: String,
    /// Where the error must point: `(line, col)`.
    at: (usize, usize),
    message: &'static str,
    expected: Option<&'static str>,
}

/// Run a failing build over an output directory that already holds a good build.
fn assert_rejected(case: &Case) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("deploy");
    let good = Command::new(env!("CARGO_BIN_EXE_cerverus"))
        .args(["build", "--out", out.to_str().expect("utf8"), "--env", "dev"])
        .output()
        .expect("run");
    assert!(good.status.success());
    let before = tree(&out);

    let spec_path = tmp.path().join("spec.yaml");
    fs::write(&spec_path, &case.spec).expect("write spec");
    let run = Command::new(env!("CARGO_BIN_EXE_cerverus"))
        .args(["build", "--spec", spec_path.to_str().expect("utf8"), "--out", out.to_str().expect("utf8")])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "[{}] exit code; stderr:\n{stderr}", case.name);
    let loc = format!("{}:{}:{}", spec_path.display(), case.at.0, case.at.1);
    assert!(stderr.contains(&loc), "[{}] expected location {loc} in:\n{stderr}", case.name);
    assert!(stderr.contains(case.message), "[{}] expected message {:?} in:\n{stderr}", case.name, case.message);
    if let Some(expected) = case.expected {
        assert!(
            stderr.contains(&format!("= expected: {expected}")),
            "[{}] expected `expected:` {expected:?} in:\n{stderr}",
            case.name
        );
    }
    assert!(!stderr.contains("panicked"), "[{}] panicked:\n{stderr}", case.name);
    assert_eq!(tree(&out), before, "[{}] the output directory changed", case.name);
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();

    // A custom autoscaling query KEDA could not use: found when the spec is resolved, at the
    // query, not as a render failure.
    let s = mutate(
        "query: max(cerverus_stream_lag_seconds{namespace=\"cerverus-data\",pod=~\"stream-processor-.*\"})",
        "query: max(cerverus_stream_lag_seconds{namespace=\"cerverus-data\",pod=~\"stream-processor-.*\"}¡)",
    );
    v.push(Case {
        name: "unparsable autoscaling query",
        at: position(&s, "max(cerverus_stream_lag_seconds"),
        spec: s,
        message: "does not parse as PromQL",
        expected: Some("one series"),
    });
    let s = mutate(
        "query: max(cerverus_stream_lag_seconds{namespace=\"cerverus-data\",pod=~\"stream-processor-.*\"})",
        "query: max(cerverus_stream_lag_seconds{namespace=\"cerverus-data\",pod=~\"stream-processor-.*\"}) by (pod)",
    );
    v.push(Case {
        name: "autoscaling query with several series",
        at: position(&s, "max(cerverus_stream_lag_seconds"),
        spec: s,
        message: "returns one series per group",
        expected: None,
    });

    let s = mutate("  azCount: 3\n", "  azCount: 3\n  azCuont: 3\n");
    v.push(Case {
        name: "unknown field",
        at: position(&s, "azCuont"),
        spec: s,
        message: "unknown field `azCuont`",
        expected: Some("one of"),
    });

    let s = mutate("  azCount: 3\n", "  azCount: 3\n  azCount: 2\n");
    v.push(Case {
        name: "duplicate key",
        at: position(&s, "azCount: 2"),
        spec: s,
        message: "duplicate key `azCount`",
        expected: None,
    });

    let s = mutate("  azCount: 3\n", "  azCount: three\n");
    v.push(Case {
        name: "wrong type",
        at: position(&s, "three"),
        spec: s,
        message: "not a valid u8",
        expected: Some("a whole number from 0 to 255"),
    });

    let s = mutate("      - workload: inference-service\n", "      - workload: inference-svc\n");
    v.push(Case {
        name: "dangling workload reference",
        at: position(&s, "inference-svc"),
        spec: s,
        message: "depends on unknown workload `inference-svc`",
        expected: Some("one of the declared workloads"),
    });

    let s = mutate("      - external: finra\n", "      - external: nasdaq\n");
    v.push(Case {
        name: "dangling external reference",
        at: position(&s, "nasdaq"),
        spec: s,
        message: "unknown external service `nasdaq`",
        expected: None,
    });

    let explicit = "    data: 24\n  nat: perAz\n  subnets:\n    public: [10.0.0.0/24, 10.0.1.0/24, 10.0.2.0/24]\n    private: [10.0.0.0/19, 10.0.32.0/19, 10.0.64.0/19]\n    data: [10.0.99.0/24, 10.0.100.0/24, 10.1.0.0/24]\n";
    let s = mutate("    data: 24\n  nat: perAz\n", explicit);
    v.push(Case {
        name: "overlapping CIDRs",
        at: position(&s, "10.0.0.0/19"),
        spec: s.clone(),
        message: "subnet `10.0.0.0/19` overlaps `10.0.0.0/24`",
        expected: None,
    });
    v.push(Case {
        name: "CIDR outside the VPC",
        at: position(&s, "10.1.0.0/24"),
        spec: s,
        message: "subnet `10.1.0.0/24` is outside the VPC `10.0.0.0/16`",
        expected: None,
    });

    let s = mutate("network:\n  vpcCidr: 10.0.0.0/16\n", "network:\n  vpcCidr: 10.0.0.0/26\n");
    v.push(Case {
        name: "VPC prefix out of range",
        at: position(&s, "10.0.0.0/26"),
        spec: s,
        message: "has prefix /26",
        expected: None,
    });

    let s = mutate(
        "    replicas: 3\n    autoscaling:\n      min: 3\n      max: 20\n",
        "    replicas: 30\n    autoscaling:\n      min: 3\n      max: 20\n",
    );
    v.push(Case {
        name: "replicas above autoscaling max",
        at: position(&s, "30\n    autoscaling"),
        spec: s,
        message: "`alerts-api` has 30 replicas, above its autoscaling max 20",
        expected: Some("replicas ≤ 20"),
    });

    let s = mutate("    nodePool: general\n    tier: critical\n", "    nodePool: generic\n    tier: critical\n");
    v.push(Case {
        name: "unknown node pool",
        at: position(&s, "generic"),
        spec: s,
        message: "runs on unknown node pool `generic`",
        expected: Some("one of the declared node pools: general, data, ml"),
    });

    let s = mutate(
        "      alerts-api: { replicas: 2, min: 2, max: 4 }\n",
        "      alerts-api: { replicas: 9, min: 2, max: 4 }\n",
    );
    v.push(Case {
        name: "environment override above max",
        at: position(&s, "9, min: 2"),
        spec: s,
        message: "above its autoscaling max 4",
        expected: None,
    });

    // prod runs the inference service at a fixed size on its own ml pool override.
    let s = mutate(
        "inference-service: { replicas: 5, min: 5, max: 5 }",
        "inference-service: { replicas: 5, min: 5, max: 30 }",
    );
    v.push(Case {
        name: "autoscaling beyond the node pool",
        at: position(&s, "{ scaling: { min: 5, desired: 5, max: 11 } }"),
        spec: s,
        message: "node pool `ml` in `prod` cannot hold its workloads at maximum scale",
        expected: Some("pool max nodes × allocatable per node ≥ Σ max replicas × requests"),
    });

    let s = mutate("network:\n  vpcCidr: 10.0.0.0/16\n", "network:\n  vpcCidr: [10.0.0.0/16\n");
    v.push(Case {
        name: "syntax error",
        at: position(&s, "[10.0.0.0/16"),
        spec: s,
        message: "YAML syntax error",
        expected: None,
    });

    v.push(Case { name: "empty file", at: (1, 1), spec: String::new(), message: "the spec is empty", expected: None });
    v.push(Case {
        name: "comments only",
        at: (1, 1),
        spec: "# nothing here\n".into(),
        message: "the spec is empty",
        expected: None,
    });
    v.push(Case {
        name: "not a mapping",
        at: (1, 1),
        spec: "- a\n- b\n".into(),
        message: "the spec must be a YAML mapping",
        expected: None,
    });
    v.push(Case {
        name: "a scalar",
        at: (1, 1),
        spec: "just words\n".into(),
        message: "the spec must be a YAML mapping",
        expected: None,
    });
    v
}

#[test]
fn every_error_class_is_located_and_writes_nothing() {
    for case in cases() {
        assert_rejected(&case);
    }
}

#[test]
fn several_errors_are_reported_together() {
    let s = mutate("    nodePool: general\n    tier: critical\n", "    nodePool: generic\n    tier: critical\n")
        .replacen("      - external: finra\n", "      - external: nasdaq\n", 1);
    let loaded = cerverus_spec::load("spec.yaml", &s).expect("parses");
    let err = cerverus_model::resolve(&loaded).expect_err("invalid");
    assert_eq!(err.items.len(), 2, "{err}");
    assert!(err.render().ends_with("2 errors in the spec\n"));
}

#[test]
fn unreadable_specs_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("nope.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_cerverus"))
        .args([
            "build",
            "--spec",
            missing.to_str().expect("utf8"),
            "--out",
            tmp.path().join("o").to_str().expect("utf8"),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read spec"));
    assert!(!tmp.path().join("o").exists());

    let binary = tmp.path().join("bin.yaml");
    fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_cerverus"))
        .args([
            "build",
            "--spec",
            binary.to_str().expect("utf8"),
            "--out",
            tmp.path().join("o").to_str().expect("utf8"),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
}

#[test]
fn a_foreign_file_in_the_way_is_refused_and_nothing_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("deploy");
    let foreign = out.join("terraform/envs/dev/versions.tf");
    fs::create_dir_all(foreign.parent().expect("parent")).expect("mkdir");
    fs::write(&foreign, "# mine\n").expect("write");
    let before = tree(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_cerverus"))
        .args(["build", "--out", out.to_str().expect("utf8")])
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("was not written by cerverus"));
    assert_eq!(tree(&out), before);
}

#[test]
fn the_seed_pins_build_with_dated_end_of_support_warnings() {
    let spec = DEFAULT_SPEC.replacen("  kubernetesVersion: \"1.35\"\n", "  kubernetesVersion: \"1.27\"\n", 1).replacen(
        "      engineVersion: \"17.6\"\n",
        "      engineVersion: \"13.7\"\n",
        1,
    );
    assert_ne!(spec, DEFAULT_SPEC);
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("seed.yaml");
    fs::write(&path, &spec).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_cerverus"))
        .args(["build", "--spec", path.to_str().expect("utf8"), "--out", tmp.path().join("o").to_str().expect("utf8")])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the seed's versions must stay expressible:\n{stderr}");
    let (line, col) = position(&spec, "1.27\"");
    assert!(stderr.contains("warning: Amazon EKS (Kubernetes) 1.27 is past end of support (2025-07-24)"), "{stderr}");
    assert!(stderr.contains(&format!("{}:{line}:{}", path.display(), col - 1)), "{stderr}");
    assert!(stderr.contains("left standard support on 2026-02-28"), "{stderr}");
    // The default spec itself raises no support warning.
    let clean = Command::new(env!("CARGO_BIN_EXE_cerverus"))
        .args(["build", "--out", tmp.path().join("d").to_str().expect("utf8")])
        .output()
        .expect("run");
    assert!(!String::from_utf8_lossy(&clean.stderr).contains("warning:"));
}
