//! `storage`: the data lake and backup buckets — versioned, SSE-KMS, public access blocked,
//! TLS-only, lifecycle per data class, access-logged, EventBridge notifications, and replicated
//! to the DR region when the spec marks them critical.

use crate::terraform::dsl::*;
use crate::terraform::module::{Module, Variable, output};

use super::common::{
    access_log_bucket_policy, account_data, bucket_hardening, condition, kms_key, principals, standard_variables,
    statement,
};

/// Every environment's access-log bucket is this prefix and the environment's name.
pub const ACCESS_LOG_BUCKET_PREFIX: &str = "cerverus-access-logs-";
const LOG_TARGET: &str = "this is the access-log target bucket; logging it into itself would loop";
const LOG_SSE: &str = "S3 server access logging delivers only to buckets encrypted with SSE-S3 (AES256), not SSE-KMS";
const REPLICA: &str = "this is the DR replica, written only by S3 replication; the source bucket carries this control";

/// Bucket policy: deny anything over plain HTTP, and (for the log bucket) let S3 logging write.
fn tls_only_policy(local: &str, bucket_arn: &str, for_each: Option<hcl::Expression>) -> B {
    let mut doc = data("aws_iam_policy_document", local);
    if let Some(fe) = for_each {
        doc = doc.a("for_each", fe);
    }
    doc.b(block("statement")
        .a("sid", "DenyInsecureTransport")
        .a("effect", "Deny")
        .a("actions", strs(["s3:*"]))
        .a("resources", list([path(bucket_arn), tpl(format!("${{{bucket_arn}}}/*"))]))
        .b(principals("*", strs(["*"])))
        .b(condition("Bool", "aws:SecureTransport", strs(["false"]))))
}

fn kms_sse(key: &str) -> B {
    block("apply_server_side_encryption_by_default")
        .a("sse_algorithm", "aws:kms")
        .a("kms_master_key_id", path(&format!("aws_kms_key.{key}.arn")))
}

pub fn module() -> Module {
    let mut vars = standard_variables("Suffix that makes bucket names unique, usually the environment, e.g. `prod`.");
    vars.extend([Variable::new(
        "buckets",
        map_of(object_of([
            ("class", ty("string")),
            ("infrequent_access_after_days", ty("number")),
            ("glacier_after_days", ty("number")),
            ("expire_after_days", ty("number")),
            ("replicate", ty("bool")),
        ])),
        "Buckets by base name (the bucket is `<name>-<var.name>`): data class, lifecycle in days (0 = never) and whether to replicate to the DR region.",
    )
    .validate(
        call("alltrue", vec![for_expr(None, "b", var("buckets"), None, call("contains", vec![strs(["raw", "curated", "features", "backup"]), path("b.class")]))]),
        "class must be raw, curated, features or backup.",
    )]);
    vars.push(
        Variable::new(
            "noncurrent_version_expiration_days",
            ty("number"),
            "Days to keep overwritten or deleted object versions.",
        )
        .default(90),
    );

    let mut f = File::new();
    account_data(&mut f);
    kms_key(&mut f, "s3", tpl("alias/${var.name}-s3"), tpl("Data lake and backup buckets (${var.name})"), &[], None);
    kms_key(
        &mut f,
        "s3_dr",
        tpl("alias/${var.name}-s3-dr"),
        tpl("DR replicas of the data lake buckets (${var.name})"),
        &[],
        Some("aws.dr"),
    );

    // Access-log bucket.
    f.push(
        resource("aws_s3_bucket", "logs")
            .skip("CKV_AWS_18", LOG_TARGET)
            .skip(
                "CKV_AWS_144",
                "access logs are an audit trail of this region's buckets; CloudTrail covers the DR region",
            )
            .skip("CKV_AWS_145", LOG_SSE)
            .skip("CKV2_AWS_62", "log delivery is the only writer; nothing reacts to new log objects")
            .a("bucket", tpl(format!("{ACCESS_LOG_BUCKET_PREFIX}${{var.name}}")))
            .a("tags", var("tags")),
    );
    f.trivy_ignore("AVD-AWS-0132", LOG_SSE);
    bucket_hardening(
        &mut f,
        "logs",
        None,
        block("apply_server_side_encryption_by_default").a("sse_algorithm", "AES256"),
        None,
    );
    f.push(access_log_bucket_policy("logs"));
    f.push(
        resource("aws_s3_bucket_policy", "logs")
            .a("bucket", path("aws_s3_bucket.logs.id"))
            .a("policy", path("data.aws_iam_policy_document.logs.json")),
    );
    f.push(
        resource("aws_s3_bucket_lifecycle_configuration", "logs").a("bucket", path("aws_s3_bucket.logs.id")).b(block(
            "rule",
        )
        .a("id", "expire-access-logs")
        .a("status", "Enabled")
        .b(block("filter"))
        .b(block("transition").a("days", 30).a("storage_class", "STANDARD_IA"))
        .b(block("expiration").a("days", 365))
        .b(block("noncurrent_version_expiration").a("noncurrent_days", 30))
        .b(block("abort_incomplete_multipart_upload").a("days_after_initiation", 7))),
    );

    // Data buckets.
    f.push(
        resource("aws_s3_bucket", "this")
            .skip("CKV_AWS_144", "replication is per bucket (var.buckets[*].replicate): the spec marks which buckets are critical; the rest are rebuilt from them")
            .a("for_each", var("buckets"))
            .a("bucket", tpl("${each.key}-${var.name}"))
            .a("tags", call("merge", vec![var("tags"), object([("DataClass", path("each.value.class"))])])),
    );
    bucket_hardening(&mut f, "this", Some("var.buckets"), kms_sse("s3"), None);
    f.push(tls_only_policy("this", "aws_s3_bucket.this[each.key].arn", Some(var("buckets"))));
    f.push(
        resource("aws_s3_bucket_policy", "this")
            .a("for_each", var("buckets"))
            .a("bucket", path("aws_s3_bucket.this[each.key].id"))
            .a("policy", path("data.aws_iam_policy_document.this[each.key].json")),
    );
    f.push(
        resource("aws_s3_bucket_logging", "this")
            .a("for_each", var("buckets"))
            .a("bucket", path("aws_s3_bucket.this[each.key].id"))
            .a("target_bucket", path("aws_s3_bucket.logs.id"))
            .a("target_prefix", tpl("${each.key}/")),
    );
    f.push(
        resource("aws_s3_bucket_notification", "this")
            .a("for_each", var("buckets"))
            .a("bucket", path("aws_s3_bucket.this[each.key].id"))
            .a("eventbridge", true),
    );
    f.push(lifecycle("this", var("buckets"), "aws_s3_bucket.this[each.key].id", None));

    // Cross-region replication of the critical buckets.
    let mut replicated = hcl::expr::ForExpr::new(hcl::Identifier::unchecked("v"), var("buckets"), path("v"));
    replicated.key_var = Some(hcl::Identifier::unchecked("k"));
    replicated.key_expr = Some(path("k"));
    replicated.cond_expr = Some(path("v.replicate"));
    f.push(block("locals").a("replicated", hcl::Expression::ForExpr(Box::new(replicated))));
    f.push(
        resource("aws_s3_bucket", "replica")
            .skip(
                "CKV_AWS_18",
                "this is the DR replica, written only by S3 replication; access to its objects is recorded by the multi-region trail's S3 data events, which leave out only the audit and log buckets",
            )
            .skip("CKV_AWS_144", REPLICA)
            .skip("CKV2_AWS_62", REPLICA)
            .a("provider", path("aws.dr"))
            .a("for_each", path("local.replicated"))
            .a("bucket", tpl("${each.key}-${var.name}-dr"))
            .a(
                "tags",
                call(
                    "merge",
                    vec![
                        var("tags"),
                        object([
                            ("DataClass", path("each.value.class")),
                            ("ReplicaOf", tpl("${each.key}-${var.name}")),
                        ]),
                    ],
                ),
            ),
    );
    bucket_hardening(&mut f, "replica", Some("local.replicated"), kms_sse("s3_dr"), Some("aws.dr"));
    // S3 replication does not carry what lifecycle rules do on the source (expirations, their delete
    // markers, noncurrent-version expiry), so each replica runs the source's rules itself.
    f.push(lifecycle("replica", path("local.replicated"), "aws_s3_bucket.replica[each.key].id", Some("aws.dr")));
    f.push(tls_only_policy("replica", "aws_s3_bucket.replica[each.key].arn", Some(path("local.replicated"))));
    f.push(
        resource("aws_s3_bucket_policy", "replica")
            .a("provider", path("aws.dr"))
            .a("for_each", path("local.replicated"))
            .a("bucket", path("aws_s3_bucket.replica[each.key].id"))
            .a("policy", path("data.aws_iam_policy_document.replica[each.key].json")),
    );
    f.push(
        data("aws_iam_policy_document", "replication_assume")
            .b(statement("S3Assume", &["sts:AssumeRole"], list([]))
                .b(principals("Service", strs(["s3.amazonaws.com"])))),
    );
    f.push(
        resource("aws_iam_role", "replication")
            .a("name", tpl("${var.name}-s3-replication"))
            .a("assume_role_policy", path("data.aws_iam_policy_document.replication_assume.json"))
            .a("tags", var("tags")),
    );
    let sources =
        for_expr(None, "k", call("keys", vec![path("local.replicated")]), None, path("aws_s3_bucket.this[k].arn"));
    let source_objects =
        for_expr(None, "k", call("keys", vec![path("local.replicated")]), None, tpl("${aws_s3_bucket.this[k].arn}/*"));
    let replica_objects =
        for_expr(None, "b", call("values", vec![path("aws_s3_bucket.replica")]), None, tpl("${b.arn}/*"));
    f.push(
        data("aws_iam_policy_document", "replication")
            .b(statement("ReadSourceConfiguration", &["s3:GetReplicationConfiguration", "s3:ListBucket"], sources))
            .b(statement(
                "ReadSourceObjects",
                &["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
                source_objects,
            ))
            .b(statement(
                "WriteReplicas",
                &["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                replica_objects,
            ))
            .b(statement("DecryptSource", &["kms:Decrypt"], list([path("aws_kms_key.s3.arn")])))
            .b(statement(
                "EncryptReplica",
                &["kms:Encrypt", "kms:GenerateDataKey"],
                list([path("aws_kms_key.s3_dr.arn")]),
            )),
    );
    f.push(
        resource("aws_iam_role_policy", "replication")
            .a("name", "replicate-to-dr")
            .a("role", path("aws_iam_role.replication.id"))
            .a("policy", path("data.aws_iam_policy_document.replication.json")),
    );
    f.push(
        resource("aws_s3_bucket_replication_configuration", "this")
            .a("for_each", path("local.replicated"))
            .a("bucket", path("aws_s3_bucket.this[each.key].id"))
            .a("role", path("aws_iam_role.replication.arn"))
            .b(block("rule")
                .a("id", "to-dr-region")
                .a("status", "Enabled")
                .b(block("filter"))
                .b(block("delete_marker_replication").a("status", "Enabled"))
                .b(block("source_selection_criteria").b(block("sse_kms_encrypted_objects").a("status", "Enabled")))
                .b(block("destination")
                    .a("bucket", path("aws_s3_bucket.replica[each.key].arn"))
                    .a("storage_class", "STANDARD_IA")
                    .b(block("encryption_configuration").a("replica_kms_key_id", path("aws_kms_key.s3_dr.arn")))))
            .a("depends_on", list([path("aws_s3_bucket_versioning.this"), path("aws_s3_bucket_versioning.replica")])),
    );

    Module {
        name: "storage",
        description:
            "The medallion data lake and backup buckets. Every bucket is versioned, encrypted with a customer-managed \
KMS key (the access-log bucket uses SSE-S3, the only encryption S3 log delivery supports), blocked from public \
access with bucket-owner-enforced ownership, reachable only over TLS, access-logged, announces new objects on \
EventBridge, and has lifecycle rules from its data class (transitions to Standard-IA and Glacier, expiration, \
old versions, abandoned uploads). Buckets marked `replicate` are replicated, with delete markers, to a \
hardened twin in the DR region under that region's key."
                .into(),
        variables: vars,
        outputs: vec![
            output(
                "bucket_ids",
                "Bucket names by base name.",
                for_expr(Some("k"), "b", path("aws_s3_bucket.this"), Some(path("k")), path("b.id")),
            ),
            output(
                "bucket_arns",
                "Bucket ARNs by base name.",
                for_expr(Some("k"), "b", path("aws_s3_bucket.this"), Some(path("k")), path("b.arn")),
            ),
            output(
                "replica_bucket_arns",
                "DR replica ARNs by base name.",
                for_expr(Some("k"), "b", path("aws_s3_bucket.replica"), Some(path("k")), path("b.arn")),
            ),
            output("access_log_bucket_id", "Bucket receiving S3 server access logs.", path("aws_s3_bucket.logs.id")),
            output("kms_key_arn", "KMS key of the buckets.", path("aws_kms_key.s3.arn")),
        ],
        main: f,
        uses_dr_provider: true,
        extra_providers: Vec::new(),
    }
}

/// The lifecycle rules of one data class, for the buckets in `for_each` (the source buckets or
/// their DR replicas, which must run the same rules because replication does not carry their effects).
fn lifecycle(name: &str, for_each: hcl::Expression, bucket: &str, provider: Option<&str>) -> B {
    let days = |field: &str| path(&format!("each.value.{field}"));
    let mut r = resource("aws_s3_bucket_lifecycle_configuration", name);
    if let Some(p) = provider {
        r = r.a("provider", path(p));
    }
    r.a("for_each", for_each).a("bucket", path(bucket)).b(block("rule")
        .a("id", tpl("${each.value.class}-data"))
        .a("status", "Enabled")
        .b(block("filter"))
        .b(dynamic(
            "transition",
            cond(
                gt(days("infrequent_access_after_days"), num(0)),
                list([days("infrequent_access_after_days")]),
                list([]),
            ),
            block("content").a("days", path("transition.value")).a("storage_class", "STANDARD_IA"),
        ))
        .b(dynamic(
            "transition",
            cond(gt(days("glacier_after_days"), num(0)), list([days("glacier_after_days")]), list([])),
            block("content").a("days", path("transition.value")).a(
                "storage_class",
                // Glacier Instant Retrieval for every class: backup readers (Velero and its kopia
                // repository) read objects synchronously and cannot restore from Glacier Flexible
                // Retrieval, and a data bucket's noncurrent versions must be restorable within its
                // readers' tier RTO (`cerverus simulate`: Flexible Retrieval's 3-5 h would put the
                // bronze bucket's restore at 6 h against the high tier's 4 h). About 11 % more per
                // archived GB than Flexible Retrieval.
                s("GLACIER_IR"),
            ),
        ))
        .b(dynamic(
            "expiration",
            cond(gt(days("expire_after_days"), num(0)), list([days("expire_after_days")]), list([])),
            block("content").a("days", path("expiration.value")),
        ))
        .b(block("noncurrent_version_expiration").a("noncurrent_days", var("noncurrent_version_expiration_days")))
        .b(block("abort_incomplete_multipart_upload").a("days_after_initiation", 7)))
}
