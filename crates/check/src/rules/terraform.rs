//! Terraform rules for AWS. Only literal values are judged: an argument set from a variable or
//! another resource is not guessed at (the module's own checks judge it where it is literal).

use std::collections::BTreeSet;

use hcl::{Body, Expression};

use super::{Sink, Waivers, parse_comment_waivers};
use crate::inventory::{Inventory, TfBlock};

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key.as_str() == key).map(|a| &a.expr)
}

fn blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Body> + 'a {
    body.blocks().filter(move |b| b.identifier() == ident).map(|b| &b.body)
}

/// An expression as HCL text (for references).
fn text(e: &Expression) -> String {
    let body = Body::builder().add_attribute(("x", e.clone())).build();
    hcl::format::to_string(&body)
        .unwrap_or_default()
        .trim()
        .trim_start_matches('x')
        .trim_start()
        .trim_start_matches('=')
        .trim()
        .to_string()
}

fn is_true(e: Option<&Expression>) -> bool {
    matches!(e, Some(Expression::Bool(true)))
}

fn is_false(e: Option<&Expression>) -> bool {
    matches!(e, Some(Expression::Bool(false)))
}

fn literal_str(e: Option<&Expression>) -> Option<&str> {
    match e {
        Some(Expression::String(s)) => Some(s),
        _ => None,
    }
}

pub fn waivers(b: &TfBlock) -> Waivers {
    parse_comment_waivers(b.comments.iter().map(String::as_str))
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let resources: Vec<&TfBlock> = inv.terraform.iter().filter(|b| b.kind == "resource").collect();
    // Buckets covered by companion resources, by module directory and local name (same name,
    // or referenced): Terraform resolves references within one module, never across directories.
    let dir = |f: &str| f.rsplit_once('/').map_or(String::new(), |(d, _)| d.to_string());
    let covered = |companion: &str, full: bool| -> BTreeSet<(String, String)> {
        resources
            .iter()
            .filter(|b| b.ty() == companion)
            .filter(|b| {
                !full
                    || ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]
                        .iter()
                        .all(|k| is_true(attr(&b.body, k)))
            })
            .flat_map(|b| {
                let mut names = vec![b.labels.get(1).cloned().unwrap_or_default()];
                if let Some(e) = attr(&b.body, "bucket") {
                    let t = text(e);
                    if let Some(rest) = t.strip_prefix("aws_s3_bucket.") {
                        names.push(rest.split(['.', '[']).next().unwrap_or("").to_string());
                    }
                }
                names.into_iter().map(|n| (dir(&b.file), n)).collect::<Vec<_>>()
            })
            .collect()
    };
    let pab = covered("aws_s3_bucket_public_access_block", true);
    let sse = covered("aws_s3_bucket_server_side_encryption_configuration", false);

    for b in &inv.terraform {
        let w = waivers(b);
        sink.check_waivers(&b.file, b.line, &b.id(), &w);
        let id = b.id();
        let name = b.labels.get(1).cloned().unwrap_or_default();
        match (b.kind.as_str(), b.ty()) {
            ("resource", "aws_s3_bucket") => {
                let key = (dir(&b.file), name.clone());
                if !pab.contains(&key) {
                    sink.report(
                        "CV-TF-001",
                        &b.file,
                        b.line,
                        &id,
                        "no aws_s3_bucket_public_access_block with all four settings true".into(),
                        &w,
                    );
                }
                if !sse.contains(&key) && blocks(&b.body, "server_side_encryption_configuration").next().is_none() {
                    sink.report(
                        "CV-TF-002",
                        &b.file,
                        b.line,
                        &id,
                        "no server-side encryption configuration".into(),
                        &w,
                    );
                }
            }
            ("resource", "aws_security_group") => {
                for ing in blocks(&b.body, "ingress") {
                    check_open_ingress(
                        b,
                        &w,
                        sink,
                        attr(ing, "cidr_blocks"),
                        attr(ing, "from_port"),
                        attr(ing, "to_port"),
                    );
                }
            }
            ("resource", "aws_security_group_rule") if literal_str(attr(&b.body, "type")) == Some("ingress") => {
                check_open_ingress(
                    b,
                    &w,
                    sink,
                    attr(&b.body, "cidr_blocks"),
                    attr(&b.body, "from_port"),
                    attr(&b.body, "to_port"),
                );
            }
            ("resource", "aws_vpc_security_group_ingress_rule") => {
                check_open_ingress(
                    b,
                    &w,
                    sink,
                    attr(&b.body, "cidr_ipv4"),
                    attr(&b.body, "from_port"),
                    attr(&b.body, "to_port"),
                );
            }
            ("resource", "aws_launch_template") | ("resource", "aws_instance") => {
                let tokens =
                    blocks(&b.body, "metadata_options").next().and_then(|m| literal_str(attr(m, "http_tokens")));
                // With the metadata endpoint turned off there is no IMDS to steal from, in any
                // version (checkov's CKV_AWS_79 passes it too).
                let endpoint_off =
                    blocks(&b.body, "metadata_options").next().and_then(|m| literal_str(attr(m, "http_endpoint")))
                        == Some("disabled");
                if tokens != Some("required")
                    && !endpoint_off
                    && blocks(&b.body, "metadata_options")
                        .next()
                        .and_then(|m| attr(m, "http_tokens"))
                        .is_none_or(|e| matches!(e, Expression::String(_)))
                {
                    sink.report(
                        "CV-TF-004",
                        &b.file,
                        b.line,
                        &id,
                        "instance metadata does not require IMDSv2 tokens".into(),
                        &w,
                    );
                }
                for bdm in blocks(&b.body, "block_device_mappings") {
                    for ebs in blocks(bdm, "ebs") {
                        if !is_true(attr(ebs, "encrypted"))
                            && attr(ebs, "encrypted").is_none_or(|e| matches!(e, Expression::Bool(_)))
                        {
                            sink.report(
                                "CV-TF-006",
                                &b.file,
                                b.line,
                                &id,
                                "an EBS block device is not encrypted".into(),
                                &w,
                            );
                        }
                    }
                }
            }
            ("resource", "aws_ebs_volume")
                if is_false(attr(&b.body, "encrypted")) || attr(&b.body, "encrypted").is_none() =>
            {
                sink.report("CV-TF-006", &b.file, b.line, &id, "EBS volume is not encrypted".into(), &w);
            }
            ("resource", "aws_db_instance") => {
                if is_true(attr(&b.body, "publicly_accessible")) {
                    sink.report("CV-TF-005", &b.file, b.line, &id, "publicly_accessible is true".into(), &w);
                }
                let replica = attr(&b.body, "replicate_source_db").is_some();
                if !replica
                    && (is_false(attr(&b.body, "storage_encrypted")) || attr(&b.body, "storage_encrypted").is_none())
                {
                    sink.report("CV-TF-006", &b.file, b.line, &id, "storage_encrypted is not true".into(), &w);
                }
            }
            ("data", "aws_iam_policy_document") => {
                for st in blocks(&b.body, "statement") {
                    let allow = literal_str(attr(st, "effect")).is_none_or(|e| e == "Allow");
                    let star = |k: &str| {
                        attr(st, k).is_some_and(|e| matches!(e, Expression::Array(a) if a.iter().any(|x| matches!(x, Expression::String(s) if s == "*"))))
                    };
                    if allow && star("actions") && star("resources") {
                        sink.report("CV-TF-007", &b.file, b.line, &id, "a statement allows \"*\" on \"*\"".into(), &w);
                    }
                }
            }
            ("resource", "aws_eks_cluster") => {
                if let Some(Expression::Array(types)) = attr(&b.body, "enabled_cluster_log_types") {
                    let have: Vec<String> =
                        types.iter().filter_map(|t| literal_str(Some(t)).map(str::to_string)).collect();
                    let missing: Vec<&str> = ["api", "audit", "authenticator"]
                        .into_iter()
                        .filter(|t| !have.iter().any(|h| h == t))
                        .collect();
                    if !missing.is_empty() {
                        sink.report(
                            "CV-TF-008",
                            &b.file,
                            b.line,
                            &id,
                            format!("control-plane logs missing: {}", missing.join(", ")),
                            &w,
                        );
                    }
                } else if attr(&b.body, "enabled_cluster_log_types").is_none() {
                    sink.report("CV-TF-008", &b.file, b.line, &id, "no control-plane logs enabled".into(), &w);
                }
            }
            ("resource", "aws_cloudtrail")
                if !is_true(attr(&b.body, "is_multi_region_trail"))
                    && attr(&b.body, "is_multi_region_trail").is_none_or(|e| matches!(e, Expression::Bool(_))) =>
            {
                sink.report("CV-TF-008", &b.file, b.line, &id, "trail is not multi-region".into(), &w);
            }
            _ => {}
        }
    }
}

fn check_open_ingress(
    b: &TfBlock,
    w: &Waivers,
    sink: &mut Sink<'_>,
    cidrs: Option<&Expression>,
    from: Option<&Expression>,
    to: Option<&Expression>,
) {
    let open = match cidrs {
        Some(Expression::String(s)) => s == "0.0.0.0/0",
        Some(Expression::Array(a)) => a.iter().any(|x| matches!(x, Expression::String(s) if s == "0.0.0.0/0")),
        _ => false,
    };
    if !open {
        return;
    }
    let port = |e: Option<&Expression>| match e {
        Some(Expression::Number(n)) => n.as_i64(),
        _ => None,
    };
    let web = matches!((port(from), port(to)), (Some(80), Some(80)) | (Some(443), Some(443)));
    if !web {
        let range = match (port(from), port(to)) {
            (Some(f), Some(t)) if f == t => f.to_string(),
            (Some(f), Some(t)) => format!("{f}-{t}"),
            _ => "all ports".to_string(),
        };
        sink.report("CV-TF-003", &b.file, b.line, &b.id(), format!("ingress from 0.0.0.0/0 on {range}"), w);
    }
}
