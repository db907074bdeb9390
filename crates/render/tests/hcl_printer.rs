//! The HCL printer against HashiCorp's formatter, without needing it installed.
//!
//! Every expected text below was checked with the real engines: `terraform fmt` 1.11 and
//! `@cdktf/hcl-tools` 0.21.0 (`hclwrite.Format` compiled to WebAssembly) leave it unchanged
//! and `@cdktf/hcl2json` 0.21.0 (`hclsyntax`) parses it; for the `format` cases, both
//! formatters turn the input into exactly the expected text. To re-check after a change, run
//! this test with `HCL_PRINTER_DUMP=<dir>` (it writes each printed case to `<dir>/<name>.tf`)
//! and then `terraform fmt -check <dir>` or `node scripts/validators/node/hcl.mjs <dir>`.

use cerverus_render::hcl::{format, to_terraform};
use cerverus_render::terraform::dsl::{
    File, block, call, cond, for_expr, heredoc, list, num, object, path, resource, s, strs, tpl, var,
};
use hcl::Expression;

fn printed(name: &str, file: &File) -> String {
    let text = to_terraform(&file.body(), "");
    if let Ok(dir) = std::env::var("HCL_PRINTER_DUMP") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(format!("{dir}/{name}.tf"), &text);
    }
    // Whatever the printer writes is a fixed point of the formatter.
    assert_eq!(format(&text), text, "{name}: not a fixed point of hclwrite.Format");
    // It is HCL that reads back as the same tree: printing what hcl-rs parses from it gives
    // the same text (comments aside, which hcl-rs trees do not carry).
    if !text.lines().any(|l| l.trim_start().starts_with('#')) {
        let reparsed: hcl::Body = hcl::parse(&text).unwrap_or_else(|e| panic!("{name}: hcl-rs cannot parse it: {e}"));
        assert_eq!(to_terraform(&reparsed, ""), text, "{name}: not stable through a parse");
    }
    text
}

/// User data as the EKS module writes it: MIME headers, shell, a sysctl file.
const USER_DATA: &str = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"//\"\n\n--//\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\n\n#!/bin/bash\nset -euo pipefail\nX=1\na=\"b\"\ncat > /etc/sysctl.d/90.conf <<'SYSCTL'\nnet.core.somaxconn = 4096\nvm.max_map_count = 262144\nSYSCTL\n  indented=kept\n--//--\n";

#[test]
fn heredoc_content_is_byte_for_byte_and_the_marker_closes_alone() {
    let mut f = File::new();
    f.push(
        resource("aws_launch_template", "node")
            .a("name_prefix", s("n-"))
            .a("user_data", call("base64encode", vec![heredoc(USER_DATA)]))
            .a("update_default_version", true),
    );
    let text = printed("heredoc_in_call", &f);
    let want = format!(
        "resource \"aws_launch_template\" \"node\" {{\n  name_prefix = \"n-\"\n  user_data = base64encode(<<EOT\n{USER_DATA}EOT\n  )\n  update_default_version = true\n}}\n"
    );
    assert_eq!(text, want);
    // The old printer closed it as `EOT)`, which HashiCorp's parser reads as content.
    assert!(!text.contains("EOT)"));
    assert!(text.contains("\nX=1\na=\"b\"\n") && text.contains("boundary=\"//\""));
}

#[test]
fn heredoc_as_a_value_joins_the_alignment_run_and_picks_a_free_marker() {
    let mut f = File::new();
    f.push(block("locals").a("script", heredoc("echo a=1\nEOT\n")).a("n", num(1)).a("longer", num(2)));
    let text = printed("heredoc_value", &f);
    assert_eq!(text, "locals {\n  script = <<EOT_1\necho a=1\nEOT\nEOT_1\n  n      = 1\n  longer = 2\n}\n");
}

#[test]
fn a_heredoc_inside_a_conditional_is_parenthesised() {
    let mut f = File::new();
    f.push(block("locals").a("script", cond(var("enabled"), heredoc("echo on\n"), s("off"))));
    let text = printed("heredoc_conditional", &f);
    assert_eq!(text, "locals {\n  script = (var.enabled ? <<EOT\necho on\nEOT\n  : \"off\")\n}\n");
}

#[test]
fn objects_lists_and_tfvars_shapes() {
    let taint = |k: &str, v: &str| object([("key", s(k)), ("value", s(v)), ("effect", s("NO_SCHEDULE"))]);
    let mut f = File::new();
    f.push(block("locals").a("environment", s("dev")).a("azs", strs(["us-east-1a", "us-east-1b"])).a(
        "node_groups",
        object([(
            "ml",
            object([
                ("instance_types", strs(["g4dn.xlarge"])),
                ("labels", object([("cerverus.io/pool", s("ml"))])),
                ("taints", list([taint("cerverus.io/dedicated", "ml"), taint("nvidia.com/gpu", "true")])),
                ("single", list([taint("cerverus.io/dedicated", "ml")])),
                ("none", list([])),
                ("empty", object(Vec::<(String, Expression)>::new())),
                ("key_name", Expression::Null),
            ]),
        )]),
    ));
    let text = printed("tfvars_shapes", &f);
    assert_eq!(
        text,
        r#"locals {
  environment = "dev"
  azs         = ["us-east-1a", "us-east-1b"]
  node_groups = {
    ml = {
      instance_types = ["g4dn.xlarge"]
      labels = {
        "cerverus.io/pool" = "ml"
      }
      taints = [
        { key = "cerverus.io/dedicated", value = "ml", effect = "NO_SCHEDULE" },
        { key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" },
      ]
      single   = [{ key = "cerverus.io/dedicated", value = "ml", effect = "NO_SCHEDULE" }]
      none     = []
      empty    = {}
      key_name = null
    }
  }
}
"#
    );
}

#[test]
fn long_lists_calls_and_for_expressions_break_like_an_author_would() {
    let actions = strs(["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]);
    let tags = object([
        ("Name", tpl("${var.name}-public-${var.azs[count.index]}")),
        ("kubernetes.io/role/elb", s("1")),
        ("kubernetes.io/cluster/${var.cluster_name}", s("shared")),
    ]);
    let role = object([
        ("namespace", path("r.namespace")),
        ("service_account", path("r.service_account")),
        ("policy_json", path("data.aws_iam_policy_document.workload[k].json")),
    ]);
    let mut f = File::new();
    f.push(
        resource("aws_subnet", "public")
            .a("actions", actions)
            .a("tags", call("merge", vec![var("tags"), tags]))
            .a("short", for_expr(Some("k"), "d", var("database"), Some(path("k")), path("d.endpoint")))
            .a("roles", call("merge", vec![for_expr(Some("k"), "r", var("workload_roles"), Some(path("k")), role)])),
    );
    let text = printed("long_lines", &f);
    assert_eq!(
        text,
        r#"resource "aws_subnet" "public" {
  actions = [
    "kms:Encrypt*",
    "kms:Decrypt*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
  ]
  tags = merge(var.tags, {
    Name                                        = "${var.name}-public-${var.azs[count.index]}"
    "kubernetes.io/role/elb"                    = "1"
    "kubernetes.io/cluster/${var.cluster_name}" = "shared"
  })
  short = { for k, d in var.database : k => d.endpoint }
  roles = merge({
    for k, r in var.workload_roles : k => {
      namespace       = r.namespace
      service_account = r.service_account
      policy_json     = data.aws_iam_policy_document.workload[k].json
    }
  })
}
"#
    );
}

#[test]
fn blocks_comments_and_what_terraform_fmt_rewrites() {
    let mut f = File::new();
    f.trivy_ignore("AVD-AWS-0104", "egress reason");
    f.push(
        resource("aws_s3_bucket_lifecycle_configuration", "logs")
            .skip("CKV_AWS_300", "a waiver reason")
            .a("bucket", tpl("${var.bucket}"))
            .a("names", list([tpl("${var.bucket}")]))
            .a("n", cond(var("single"), num(1), call("length", vec![var("azs")])))
            .b(block("rule")
                .a("id", s("expire"))
                .b(block("filter"))
                .note("why this attribute")
                .a("status", s("Enabled"))),
    );
    f.push(block("variable").label("legacy").a("type", Expression::Variable(hcl::expr::Variable::unchecked("list"))));
    let text = printed("blocks_comments", &f);
    assert_eq!(
        text,
        r#"# AVD-AWS-0104: egress reason
#trivy:ignore:AVD-AWS-0104
resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  #checkov:skip=CKV_AWS_300:a waiver reason
  bucket = var.bucket
  names  = ["${var.bucket}"]
  n      = var.single ? 1 : length(var.azs)

  rule {
    id = "expire"

    filter {}

    # why this attribute
    status = "Enabled"
  }
}

variable "legacy" {
  type = list(any)
}
"#
    );
}

/// Inputs in non-canonical form and what both HashiCorp formatters make of them.
#[test]
fn format_matches_hashicorp_on_non_canonical_input() {
    let cases: &[(&str, &str)] = &[
        (
            "a = !var.x\nb = var.a?1:2\nc = {for k,v in var.m:k=>v...if v!=null}\nd = [for x in [1]:x]\ne = -1\n",
            "a = !var.x\nb = var.a ? 1 : 2\nc = { for k, v in var.m : k => v... if v != null }\nd = [for x in [1] : x]\ne = -1\n",
        ),
        (
            "j = \"${a}${b}\"\nk = \"x${ {a=1} }\"\nl = x[0][1]\nm = f(1)[0]\nh = x[*].id\n",
            "j = \"${a}${b}\"\nk = \"x${ { a = 1 } }\"\nl = x[0][1]\nm = f(1)[0]\nh = x[*].id\n",
        ),
        (
            "a = <<EOT\nx = 1\n  yy=2\nEOT\nbb = 2\nccc = 3\nblock {\n  u = 1\n  www = [\n  1,\n  2,\n  ]\n  v = 1\n}\nfilter {    }\n",
            "a   = <<EOT\nx = 1\n  yy=2\nEOT\nbb  = 2\nccc = 3\nblock {\n  u = 1\n  www = [\n    1,\n    2,\n  ]\n  v = 1\n}\nfilter {}\n",
        ),
        (
            "o = {\n  a = 1 # c\n  bbb = 22 # d\n  cc = [1,\n  2] # e\n}\n",
            "o = {\n  a   = 1  # c\n  bbb = 22 # d\n  cc = [1,\n  2] # e\n}\n",
        ),
        (
            "r {\n  user_data = base64encode(<<EOT\nX=1\na=\"b\"\nEOT\n)\n  b = 1\n}\n",
            "r {\n  user_data = base64encode(<<EOT\nX=1\na=\"b\"\nEOT\n  )\n  b = 1\n}\n",
        ),
        // The tfvars shape the old printer wrote: hclwrite indents `}, {` one level deeper.
        ("t = [{\n  k = 1\n}, {\n  k = 2\n}]\n", "t = [{\n  k = 1\n  }, {\n  k = 2\n}]\n"),
    ];
    for (input, want) in cases {
        assert_eq!(&format(input), want, "input:\n{input}");
        assert_eq!(&format(want), want, "not idempotent:\n{want}");
    }
}
