//! `terraform/bootstrap/`: what exists once per AWS account and before any environment — the
//! Terraform state bucket and lock table (this root keeps its own state locally), the
//! account-wide audit services, the container registry every environment pulls from, and the
//! identities CI assumes through GitHub's OIDC provider (`ci_identity`).

use cerverus_bundle::{Bundle, BundleError};
use cerverus_model::Platform;
use hcl::Body;

use super::dsl::*;
use super::env::{LOCK_TABLE, STATE_BUCKET, aws_providers, versions_tf};
use super::module::{HEADER, output};
use super::modules::common::{
    access_log_bucket_policy, account_data, bucket_hardening, condition, kms_key, principals,
};
use crate::hcl::to_terraform;

pub fn render(platform: &Platform) -> Result<Bundle, BundleError> {
    let mut b = Bundle::new();
    b.add("versions.tf", to_terraform(&versions_tf(), HEADER))?;
    let mut p = File::new();
    p.comment("Local state: this root creates the bucket and table the other roots keep their state in.");
    aws_providers(platform, "shared", &mut p);
    b.add("providers.tf", to_terraform(&p.body(), HEADER))?;
    b.add("main.tf", to_terraform(&main_tf(platform), HEADER))?;
    let mut vars = File::new();
    vars.push(
        block("variable")
            .label("tags")
            .a("description", "Tags added to every bootstrap resource, on top of the provider's default_tags.")
            .a("type", map_of(ty("string")))
            .a("default", object(Vec::<(&str, hcl::Expression)>::new())),
    );
    super::ci_identity::variables(&mut vars);
    b.add("variables.tf", to_terraform(&vars.body(), HEADER))?;
    let mut outs = File::new();
    for o in [
        output("state_bucket", "Bucket holding every environment's Terraform state.", path("aws_s3_bucket.state.id")),
        output("lock_table", "DynamoDB table serialising Terraform runs.", path("aws_dynamodb_table.lock.name")),
        output("state_kms_key_arn", "KMS key of the state bucket and lock table.", path("aws_kms_key.state.arn")),
        output("repository_urls", "ECR repository URLs by name.", path("module.registry.repository_urls")),
        output("trail_arn", "CloudTrail trail of the account.", path("module.audit.trail_arn")),
    ]
    .into_iter()
    .chain(super::ci_identity::outputs().into_iter().map(|(n, d, v)| output(n, d, v)))
    {
        outs.push(block("output").label(o.name).a("description", o.description).a("value", o.value));
    }
    b.add("outputs.tf", to_terraform(&outs.body(), HEADER))?;
    Ok(b)
}

fn main_tf(platform: &Platform) -> Body {
    let mut f = File::new();
    f.push(
        block("locals")
            .a("tags", call("merge", vec![var("tags"), object([("Component", s("bootstrap"))])]))
            .a("repositories", repositories(platform)),
    );
    account_data(&mut f);
    f.push(block("locals").a("tags_all", var_free_tags()));
    kms_key(&mut f, "state", s(format!("alias/{STATE_BUCKET}")), s("Terraform state and locks"), &[], None);

    // Access logs of the state bucket.
    f.push(
        resource("aws_s3_bucket", "state_logs")
            .skip("CKV_AWS_18", "this is the access-log target of the state bucket; logging it into itself would loop")
            .skip("CKV_AWS_144", "access logs of the state bucket; losing them loses no state")
            .skip("CKV_AWS_145", "S3 server access logging delivers only to buckets encrypted with SSE-S3 (AES256)")
            .skip("CKV2_AWS_62", "log delivery is the only writer")
            .a("bucket", format!("{STATE_BUCKET}-access-logs"))
            .a("tags", path("local.tags")),
    );
    f.trivy_ignore("AVD-AWS-0132", "S3 server access logging delivers only to buckets encrypted with SSE-S3 (AES256)");
    bucket_hardening(
        &mut f,
        "state_logs",
        None,
        block("apply_server_side_encryption_by_default").a("sse_algorithm", "AES256"),
        None,
    );
    f.push(
        resource("aws_s3_bucket_lifecycle_configuration", "state_logs")
            .a("bucket", path("aws_s3_bucket.state_logs.id"))
            .b(block("rule")
                .a("id", "expire-access-logs")
                .a("status", "Enabled")
                .b(block("filter"))
                .b(block("expiration").a("days", 365))
                .b(block("noncurrent_version_expiration").a("noncurrent_days", 30))
                .b(block("abort_incomplete_multipart_upload").a("days_after_initiation", 7))),
    );

    // The state bucket.
    f.push(
        resource("aws_s3_bucket", "state")
            .skip("CKV_AWS_144", "state is versioned and KMS-encrypted in-region; a regional outage blocks applies, not running workloads")
            .skip("CKV2_AWS_62", "only Terraform writes here; nothing reacts to state changes")
            .a("bucket", STATE_BUCKET)
            .a("tags", path("local.tags"))
            .b(block("lifecycle").a("prevent_destroy", true)),
    );
    bucket_hardening(
        &mut f,
        "state",
        None,
        block("apply_server_side_encryption_by_default")
            .a("sse_algorithm", "aws:kms")
            .a("kms_master_key_id", path("aws_kms_key.state.arn")),
        None,
    );
    f.push(
        resource("aws_s3_bucket_logging", "state")
            .a("bucket", path("aws_s3_bucket.state.id"))
            .a("target_bucket", path("aws_s3_bucket.state_logs.id"))
            .a("target_prefix", "state/"),
    );
    f.push(
        resource("aws_s3_bucket_lifecycle_configuration", "state").a("bucket", path("aws_s3_bucket.state.id")).b(
            block("rule")
                .a("id", "old-state-versions")
                .a("status", "Enabled")
                .b(block("filter"))
                .b(block("noncurrent_version_expiration").a("noncurrent_days", 365))
                .b(block("abort_incomplete_multipart_upload").a("days_after_initiation", 7)),
        ),
    );
    f.push(
        data("aws_iam_policy_document", "state").b(block("statement")
            .a("sid", "DenyInsecureTransport")
            .a("effect", "Deny")
            .a("actions", strs(["s3:*"]))
            .a("resources", list([path("aws_s3_bucket.state.arn"), tpl("${aws_s3_bucket.state.arn}/*")]))
            .b(principals("*", strs(["*"])))
            .b(condition("Bool", "aws:SecureTransport", strs(["false"])))),
    );
    // The log bucket receives the state and audit buckets' access logs: the same policy as every
    // access-log bucket, which lets S3's logging service write.
    f.push(access_log_bucket_policy("state_logs"));
    for local in ["state", "state_logs"] {
        f.push(
            resource("aws_s3_bucket_policy", local)
                .a("bucket", path(&format!("aws_s3_bucket.{local}.id")))
                .a("policy", path(&format!("data.aws_iam_policy_document.{local}.json"))),
        );
    }

    // The lock table.
    f.push(
        resource("aws_dynamodb_table", "lock")
            .a("name", LOCK_TABLE)
            .a("billing_mode", "PAY_PER_REQUEST")
            .a("hash_key", "LockID")
            .a("deletion_protection_enabled", true)
            .b(block("attribute").a("name", "LockID").a("type", "S"))
            .b(block("point_in_time_recovery").a("enabled", true))
            .b(block("server_side_encryption").a("enabled", true).a("kms_key_arn", path("aws_kms_key.state.arn")))
            .a("tags", path("local.tags")),
    );

    f.push(
        block("module")
            .label("audit")
            .a("source", "../modules/audit")
            .a("name", platform.name.as_str())
            .a("access_log_bucket", path("aws_s3_bucket.state_logs.id"))
            .a(
                "unrecorded_bucket_prefixes",
                list([path("aws_s3_bucket.state_logs.id"), s(super::modules::storage::ACCESS_LOG_BUCKET_PREFIX)]),
            )
            .a("tags", path("local.tags")),
    );
    f.push(
        block("module")
            .label("registry")
            .a("source", "../modules/registry")
            .a("providers", object_ref_keys([(path("aws"), path("aws")), (path("aws.dr"), path("aws.dr"))]))
            .a("name", platform.name.as_str())
            .a("repositories", path("local.repositories"))
            .a("tags", path("local.tags")),
    );
    super::ci_identity::resources(platform, &mut f);
    f.body()
}

/// Every image repository any environment's workloads reference.
fn repositories(platform: &Platform) -> hcl::Expression {
    let mut repos: Vec<String> = platform
        .environments
        .iter()
        .flat_map(|e| e.workloads.iter().map(|w| w.spec.image.repository.clone()))
        .collect();
    repos.sort();
    repos.dedup();
    call("toset", vec![list(repos.into_iter().map(s))])
}

fn var_free_tags() -> hcl::Expression {
    call("merge", vec![path("local.tags"), object([("Account", path("data.aws_caller_identity.current.account_id"))])])
}
