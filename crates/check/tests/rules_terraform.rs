//! The Terraform/AWS rules across files and modules, each on a fixture tree of the old, broken
//! shape (it must report the rule at the file and line the defect is on) and on a passing one
//! (none of these rules may report anything). Fixtures: tests/fixtures/terraform/<case>/{fail,pass}.

use std::path::PathBuf;

use cerverus_check::Finding;
use cerverus_check::inventory::load;

/// The rules this file covers.
const RULES: &[&str] = &["CV-TF-009", "CV-TF-010", "CV-TF-011", "CV-IAM-001", "CV-IAM-002", "CV-CNI-001"];

fn fixture(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform").join(case)
}

/// Unwaived findings of the rules above on a fixture tree, with paths relative to it.
fn findings(case: &str) -> Vec<Finding> {
    let root = fixture(case);
    let inv = match load(std::slice::from_ref(&root)) {
        Ok(inv) => inv,
        Err(e) => panic!("{case}: {e}"),
    };
    assert!(inv.errors.is_empty(), "{case}: fixture does not parse: {:?}", inv.errors);
    let prefix = format!("{}/", root.display());
    let mut out: Vec<Finding> = cerverus_check::check_inventory(&inv)
        .findings
        .into_iter()
        .filter(|f| f.waived.is_none() && RULES.contains(&f.rule.as_str()))
        .map(|mut f| {
            f.file = f.file.trim_start_matches(&prefix).to_string();
            f
        })
        .collect();
    out.sort_by(|a, b| (&a.rule, &a.file, a.line).cmp(&(&b.rule, &b.file, b.line)));
    out
}

fn summary(fs: &[Finding]) -> Vec<String> {
    fs.iter().map(|f| format!("{} {}:{} {}", f.rule, f.file, f.line, f.message)).collect()
}

/// The failing tree reports exactly `expected` (rule, file, line) for its rule; the passing tree
/// reports none of these rules.
fn judge(case: &str, rule: &str, expected: &[(&str, usize)]) {
    let got = findings(&format!("{case}/fail"));
    let mut places: Vec<(String, usize)> =
        got.iter().filter(|f| f.rule == rule).map(|f| (f.file.clone(), f.line)).collect();
    places.sort();
    let mut want: Vec<(String, usize)> = expected.iter().map(|(f, l)| (f.to_string(), *l)).collect();
    want.sort();
    assert_eq!(places, want, "{case}/fail: {rule}\n{:#?}", summary(&got));
    let got = findings(&format!("{case}/pass"));
    assert!(got.is_empty(), "{case}/pass flagged:\n{:#?}", summary(&got));
}

#[test]
fn unresolved_references_are_reported_where_they_are() {
    judge(
        "refs",
        "CV-TF-009",
        &[
            // The old bootstrap: `var.tags` with no variables declared.
            ("bootstrap/main.tf", 11),
            ("bootstrap/main.tf", 15), // data.aws_region.current
            ("bootstrap/main.tf", 16), // local.tag
            ("bootstrap/main.tf", 21), // aws_kms_key.statee
            ("bootstrap/main.tf", 31), // module.audit.bucket_id: no such output
            ("bootstrap/main.tf", 35), // module.logs: no such module
        ],
    );
    let got = findings("refs/fail");
    assert!(
        got.iter().any(|f| f.message.contains("`var.tags`") && f.message.contains("variable \"tags\"")),
        "{:#?}",
        summary(&got)
    );
}

/// Paths given with `.` or `..` name the same module directories (a module call still resolves).
#[test]
fn paths_with_dot_segments_resolve_modules() {
    let root = fixture("refs/fail");
    let inv = match load(&[root.join("bootstrap/../bootstrap"), root.join("./modules")]) {
        Ok(inv) => inv,
        Err(e) => panic!("{e}"),
    };
    let got = cerverus_check::check_inventory(&inv).findings;
    assert!(
        got.iter().any(|f| f.rule == "CV-TF-009" && f.message.contains("module.audit.bucket_id") && f.line == 31),
        "{:#?}",
        summary(&got)
    );
}

#[test]
fn module_calls_must_match_the_module_variables() {
    judge(
        "module_args",
        "CV-TF-010",
        &[
            ("root/main.tf", 1), // required variable `cidr` not passed
            ("root/main.tf", 4), // `vpc_cidr` is not a variable of the module
        ],
    );
}

#[test]
fn for_each_and_count_unknown_at_plan_are_traced_across_modules() {
    judge(
        "plan",
        "CV-TF-011",
        &[
            // The old eks shape: filtered on policy documents built on bucket ARNs.
            ("modules/eks/main.tf", 15),
            // count on `!= null` of a bucket id passed in from the root.
            ("modules/audit/main.tf", 11),
        ],
    );
    let got = findings("plan/fail");
    let eks = got.iter().find(|f| f.file == "modules/eks/main.tf").map(|f| f.message.clone()).unwrap_or_default();
    assert!(eks.contains("aws_iam_policy_document.workload") && eks.contains("aws_s3_bucket.this"), "{eks}");
}

#[test]
fn resource_tag_conditions_on_create_actions() {
    judge(
        "iam_tag",
        "CV-IAM-001",
        &[
            ("main.tf", 14), // policy document: CreateListener/CreateRule under aws:ResourceTag
            ("main.tf", 31), // jsonencode: CreateSnapshot/CreateVolume under aws:ResourceTag
            ("main.tf", 50), // heredoc JSON: RunInstances under ec2:ResourceTag
            // Tag-on-create: CreateSecurityGroup passes tags, ec2:CreateTags only under ResourceTag.
            ("main.tf", 77),
        ],
    );
}

#[test]
fn secrets_read_without_decrypt_on_their_key() {
    judge(
        "secret",
        "CV-IAM-002",
        &[
            // The old External Secrets shape: RDS and Redis secrets, decrypt on another key only.
            // (envs/prod decrypts both: the shared module's role is one role per environment.)
            ("envs/dev/main.tf", 27),
            ("envs/dev/main.tf", 27),
            // Inline policy reads a secret; the policy attached to the same role decrypts another key.
            ("envs/dev/main.tf", 76),
        ],
    );
    let got = findings("secret/fail");
    let text = summary(&got).join("\n");
    assert!(text.contains("aws_kms_key.rds") && text.contains("aws_kms_key.redis"), "{text}");
}

#[test]
fn network_policies_without_an_enforcing_cni() {
    judge("cni", "CV-CNI-001", &[("terraform/modules/eks/main.tf", 16)]);
    // Another CNI that enforces them: its DaemonSet, or its chart in a chart list.
    for case in ["cni/pass-cilium", "cni/pass-chart-list"] {
        assert!(findings(case).is_empty(), "{case}: {:#?}", summary(&findings(case)));
    }
}

/// Valid Terraform that exercises what the rules must not mistake for defects: provider
/// aliases, `self`, `count.index`, `path`, `terraform.workspace`, dynamic and template `for`
/// variables, heredoc escapes, `moved`/`removed`/`check` blocks, lifecycle attribute names,
/// keys from configured attributes, secrets under the AWS managed key, decrypt on `*`,
/// `aws:ResourceTag` on actions on existing resources, and a vpc-cni add-on with no
/// NetworkPolicies in the input.
#[test]
fn valid_terraform_is_not_flagged() {
    let got = findings("valid");
    assert!(got.is_empty(), "{:#?}", summary(&got));
}

/// The upstream reference policies of the pinned controllers (data/reference/iam, as inline
/// JSON policies) are what a correct policy looks like: no IAM rule may flag them.
#[test]
fn upstream_reference_policies_pass() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/reference/iam");
    let mut body = hcl::Body::builder();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let Ok(policy) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        if policy.get("Statement").is_none() {
            continue;
        }
        n += 1;
        body = body.add_block(
            hcl::Block::builder("resource")
                .add_label("aws_iam_policy")
                .add_label(format!("reference_{n}"))
                .add_attribute(("policy", text))
                .build(),
        );
    }
    assert!(n >= 5, "reference policies not found in {}", dir.display());
    let text = hcl::format::to_string(&body.build()).unwrap_or_default();
    let mut inv = cerverus_check::Inventory::default();
    cerverus_check::inventory::load_text(&mut inv, "references/main.tf", &text);
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    assert_eq!(inv.terraform.len(), n);
    let got: Vec<Finding> =
        cerverus_check::check_inventory(&inv).findings.into_iter().filter(|f| f.rule.starts_with("CV-IAM")).collect();
    assert!(got.is_empty(), "{:#?}", summary(&got));
}

#[test]
fn every_rule_here_is_catalogued() {
    for id in RULES {
        let r = cerverus_check::rules::rule(id);
        assert!(r.is_some_and(|r| !r.rationale.is_empty() && !r.remediation.is_empty()), "{id} is not catalogued");
    }
}
