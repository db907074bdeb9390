//! `registry`: ECR repositories per image, `secrets`: Secrets Manager secrets per spec secret,
//! `audit`: CloudTrail, AWS Config, GuardDuty and Security Hub for the account.

use hcl::Expression;

use super::common::bucket_hardening;
use crate::terraform::dsl::*;
use crate::terraform::module::{Module, Variable, output};

use super::common::{
    account_data, condition, kms_key, logs_service, principals, service, standard_variables, statement,
};

pub fn registry() -> Module {
    let mut vars = standard_variables("Prefix for the KMS key alias and of every repository name, e.g. `cerverus`.");
    vars.extend([
        Variable::new("repositories", call("set", vec![ty("string")]), "Repository names, e.g. `cerverus/alerts-api`."),
        Variable::new("untagged_expiry_days", ty("number"), "Days before untagged images expire.").default(14),
    ]);
    let mut f = File::new();
    account_data(&mut f);
    f.push(data("aws_region", "dr").a("provider", path("aws.dr")));
    kms_key(&mut f, "ecr", tpl("alias/${var.name}-ecr"), tpl("Container images of ${var.name}"), &[], None);
    kms_key(
        &mut f,
        "ecr_dr",
        tpl("alias/${var.name}-ecr-dr"),
        tpl("Replicated container images of ${var.name} in the DR region"),
        &[],
        Some("aws.dr"),
    );
    // Only untagged images expire. Tagged images are never expired by count: ECR cannot know
    // which digests an environment runs (the spec pins them), and a keep-the-newest-N rule expires
    // a digest prod still runs as soon as other environments push N newer images. Every release
    // is pushed under an immutable tag, and the nodes are x86_64 only (single-platform images, no
    // untagged per-platform children of an index), so an untagged image is a leftover, never a
    // deployed digest.
    f.push(block("locals").a(
        "lifecycle_policy",
        call(
            "jsonencode",
            vec![object([(
                "rules",
                list([object([
                    ("rulePriority", num(1)),
                    ("description", s("Expire untagged images; tagged (release) images are kept")),
                    (
                        "selection",
                        object([
                            ("tagStatus", s("untagged")),
                            ("countType", s("sinceImagePushed")),
                            ("countUnit", s("days")),
                            ("countNumber", var("untagged_expiry_days")),
                        ]),
                    ),
                    ("action", object([("type", s("expire"))])),
                ])]),
            )])],
        ),
    ));
    f.push(
        resource("aws_ecr_repository", "this")
            .a("for_each", var("repositories"))
            .a("name", path("each.value"))
            .a("image_tag_mutability", "IMMUTABLE")
            .b(block("image_scanning_configuration").a("scan_on_push", true))
            .b(block("encryption_configuration").a("encryption_type", "KMS").a("kms_key", path("aws_kms_key.ecr.arn")))
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_ecr_lifecycle_policy", "this")
            .a("for_each", var("repositories"))
            .a("repository", path("aws_ecr_repository.this[each.key].name"))
            .a("policy", path("local.lifecycle_policy")),
    );

    // Replicas: ECR creates each repository in the DR region on first replication, with the
    // settings of this creation template (without it: AES256, mutable tags, no lifecycle).
    // Creating a repository under a customer-managed key needs a role ECR assumes.
    f.push(data("aws_iam_policy_document", "replica_creation_assume").b(
        statement("EcrAssumes", &["sts:AssumeRole"], list([])).b(principals("Service", strs(["ecr.amazonaws.com"]))),
    ));
    f.push(
        resource("aws_iam_role", "replica_creation")
            .a("name", tpl("${var.name}-ecr-replica-creation"))
            .a("assume_role_policy", path("data.aws_iam_policy_document.replica_creation_assume.json"))
            .a("tags", var("tags")),
    );
    f.push(
        data("aws_iam_policy_document", "replica_creation")
            .b(statement(
                "CreateReplicaRepositories",
                &["ecr:CreateRepository", "ecr:ReplicateImage", "ecr:TagResource"],
                list([tpl(
                    "arn:${data.aws_partition.current.partition}:ecr:${data.aws_region.dr.region}:${data.aws_caller_identity.current.account_id}:repository/${var.name}/*",
                )]),
            ))
            .b(statement(
                "EncryptWithTheReplicaKey",
                &["kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"],
                list([path("aws_kms_key.ecr_dr.arn")]),
            )),
    );
    f.push(
        resource("aws_iam_role_policy", "replica_creation")
            .a("name", "create-replica-repositories")
            .a("role", path("aws_iam_role.replica_creation.id"))
            .a("policy", path("data.aws_iam_policy_document.replica_creation.json")),
    );
    f.push(
        resource("aws_ecr_repository_creation_template", "replica")
            .a("provider", path("aws.dr"))
            .a("prefix", var("name"))
            .a("description", tpl("Replicas of ${var.name} images: KMS, immutable tags, the source's lifecycle"))
            .a("applied_for", strs(["REPLICATION"]))
            .a("image_tag_mutability", "IMMUTABLE")
            .a("custom_role_arn", path("aws_iam_role.replica_creation.arn"))
            .b(block("encryption_configuration")
                .a("encryption_type", "KMS")
                .a("kms_key", path("aws_kms_key.ecr_dr.arn")))
            .a("lifecycle_policy", path("local.lifecycle_policy"))
            .a("resource_tags", var("tags"))
            .a("depends_on", list([path("aws_iam_role_policy.replica_creation")])),
    );
    // Scanning is a registry setting, not a template one: scan what lands in the DR registry.
    f.push(
        resource("aws_ecr_registry_scanning_configuration", "dr")
            .a("provider", path("aws.dr"))
            .a("scan_type", "BASIC")
            .b(block("rule")
                .a("scan_frequency", "SCAN_ON_PUSH")
                .b(block("repository_filter").a("filter", tpl("${var.name}/*")).a("filter_type", "WILDCARD"))),
    );
    f.push(
        resource("aws_ecr_replication_configuration", "this")
            .b(block("replication_configuration").b(block("rule")
                .b(block("destination")
                    .a("region", path("data.aws_region.dr.region"))
                    .a("registry_id", path("data.aws_caller_identity.current.account_id")))
                .b(block("repository_filter").a("filter", tpl("${var.name}/")).a("filter_type", "PREFIX_MATCH"))))
            .a(
                "depends_on",
                list([
                    path("aws_ecr_repository_creation_template.replica"),
                    path("aws_ecr_registry_scanning_configuration.dr"),
                ]),
            ),
    );
    Module {
        name: "registry",
        description:
            "ECR repositories, one per image the spec references: immutable tags, scan on push, KMS encryption, \
a lifecycle that expires only untagged images (release images are never expired by count: the spec pins \
digests ECR cannot see), and replication of every image to the DR region (the `aws.dr` provider) as the image \
backup, where a repository creation template gives each replica the same KMS encryption (under a DR-region \
key), immutability and lifecycle, and the DR registry scans on push."
                .into(),
        variables: vars,
        outputs: vec![
            output(
                "repository_urls",
                "Repository URLs by name.",
                for_expr(Some("k"), "r", path("aws_ecr_repository.this"), Some(path("k")), path("r.repository_url")),
            ),
            output(
                "repository_arns",
                "Repository ARNs by name.",
                for_expr(Some("k"), "r", path("aws_ecr_repository.this"), Some(path("k")), path("r.arn")),
            ),
            output("replica_kms_key_arn", "KMS key of the DR-region replicas.", path("aws_kms_key.ecr_dr.arn")),
        ],
        main: f,
        uses_dr_provider: true,
        extra_providers: Vec::new(),
    }
}

pub fn secrets() -> Module {
    let mut vars = standard_variables("Secret name prefix, `<platform>/<environment>`, e.g. `cerverus/prod`.");
    vars.truncate(1);
    vars[0] =
        Variable::new("name", ty("string"), "Secret name prefix, `<platform>/<environment>`, e.g. `cerverus/prod`.");
    let rotation_methods = strs(ROTATION_METHODS.iter().copied());
    vars.extend([
        Variable::new("tags", map_of(ty("string")), "Tags added to every resource.")
            .default(Expression::Object(Default::default())),
        Variable::new(
            "secrets",
            map_of(object_of([
                ("description", ty("string")),
                ("rotation_days", ty("number")),
                ("rotation", ty("string")),
            ])),
            "Secrets by name (stored as `<var.name>/<name>`). rotation: `function` (rotated by the function in \
rotation_function_arns every rotation_days), `manual` (no AWS function can rotate it, e.g. a vendor's API key: \
rotated by hand, and an AWS Config rule reports it once unchanged for longer than rotation_days) or `none` \
(rotation_days 0).",
        )
        .validate(
            call(
                "alltrue",
                vec![for_expr(
                    None,
                    "s",
                    var("secrets"),
                    None,
                    and(ge(path("s.rotation_days"), num(0)), le(path("s.rotation_days"), num(90))),
                )],
            ),
            "rotation_days must be 0 (no rotation) or at most 90.",
        )
        .validate(
            call(
                "alltrue",
                vec![for_expr(
                    None,
                    "s",
                    var("secrets"),
                    None,
                    and(
                        call("contains", vec![rotation_methods, path("s.rotation")]),
                        eq(eq(path("s.rotation"), s("none")), eq(path("s.rotation_days"), num(0))),
                    ),
                )],
            ),
            "rotation must be function, manual or none, and none exactly when rotation_days is 0.",
        ),
        Variable::new(
            "rotation_function_arns",
            map_of(ty("string")),
            "Rotation function (Lambda ARN) of every secret whose rotation is `function`, by secret name.",
        )
        .default(Expression::Object(Default::default())),
    ]);
    let mut f = File::new();
    account_data(&mut f);
    kms_key(
        &mut f,
        "secrets",
        tpl("alias/${replace(var.name, \"/\", \"-\")}-secrets"),
        tpl("Application secrets under ${var.name}"),
        &[],
        None,
    );
    f.push(
        resource("aws_secretsmanager_secret", "this")
            .skip("CKV2_AWS_57", "rotation follows the spec per secret (var.secrets[*].rotation): database credentials are rotated by aws_secretsmanager_secret_rotation.this with AWS's rotation function; a vendor's API key has no AWS rotation function and is rotated by hand, checked by aws_config_config_rule.manual_rotation; secrets the spec gives no rotationDays (signing and encryption keys, whose rotation invalidates what they signed or encrypted) are not rotated")
            .a("for_each", var("secrets"))
            .a("name", tpl("${var.name}/${each.key}"))
            .a("description", path("each.value.description"))
            .a("kms_key_id", path("aws_kms_key.secrets.arn"))
            .a("recovery_window_in_days", 30)
            .a(
                "tags",
                call(
                    "merge",
                    vec![
                        var("tags"),
                        object([
                            (SECRET_TAG, tpl("${var.name}/${each.key}")),
                            (ROTATION_TAG, path("each.value.rotation")),
                        ]),
                    ],
                ),
            ),
    );
    let only = |method: &str| {
        let mut e = hcl::expr::ForExpr::new(hcl::Identifier::unchecked("v"), var("secrets"), path("v"));
        e.key_var = Some(hcl::Identifier::unchecked("k"));
        e.key_expr = Some(path("k"));
        e.cond_expr = Some(eq(path("v.rotation"), s(method)));
        Expression::ForExpr(Box::new(e))
    };
    f.push(
        resource("aws_secretsmanager_secret_rotation", "this")
            .skip("CKV_AWS_304", "the period comes from var.secrets, whose validation caps rotation_days at 90")
            .a("for_each", only("function"))
            .a("secret_id", path("aws_secretsmanager_secret.this[each.key].id"))
            .a("rotation_lambda_arn", path("var.rotation_function_arns[each.key]"))
            .b(block("rotation_rules").a("automatically_after_days", path("each.value.rotation_days"))),
    );
    f.push(
        resource("aws_config_config_rule", "manual_rotation")
            .a("for_each", only("manual"))
            .a("name", tpl("${replace(var.name, \"/\", \"-\")}-${each.key}-rotation"))
            .a(
                "description",
                tpl("${var.name}/${each.key} is rotated by hand (no AWS rotation function exists for it): NON_COMPLIANT once its value has been unchanged for more than ${each.value.rotation_days} days."),
            )
            .b(block("source").a("owner", "AWS").a("source_identifier", "SECRETSMANAGER_SECRET_PERIODIC_ROTATION"))
            .a(
                "input_parameters",
                call(
                    "jsonencode",
                    vec![object([("maxDaysSinceRotation", call("tostring", vec![path("each.value.rotation_days")]))])],
                ),
            )
            .b(block("scope").a("tag_key", SECRET_TAG).a("tag_value", tpl("${var.name}/${each.key}")))
            .a("tags", var("tags")),
    );
    Module {
        name: "secrets",
        description:
            "AWS Secrets Manager secrets for every secret the spec names — names and descriptions only, never values \
(values are set out of band and read in the cluster by External Secrets) — encrypted with a customer-managed \
KMS key with rotation. Secrets the spec rotates are rotated on its schedule by the rotation function given for \
them (aws_secretsmanager_secret_rotation); those no AWS function can rotate (a vendor's API key) get an AWS Config \
rule (SECRETSMANAGER_SECRET_PERIODIC_ROTATION, evaluated by the account's configuration recorder from the audit \
module) that reports the secret NON_COMPLIANT once it has been unchanged longer than the spec allows."
                .into(),
        variables: vars,
        outputs: vec![
            output(
                "secret_arns",
                "Secret ARNs by name.",
                for_expr(Some("k"), "v", path("aws_secretsmanager_secret.this"), Some(path("k")), path("v.arn")),
            ),
            output(
                "kms_key_arn",
                "KMS key of the secrets (External Secrets needs kms:Decrypt on it).",
                path("aws_kms_key.secrets.arn"),
            ),
        ],
        main: f,
        uses_dr_provider: false,
        extra_providers: Vec::new(),
    }
}

/// The secrets module's rotation methods (see its `secrets` variable).
pub const ROTATION_METHODS: [&str; 3] = ["function", "manual", "none"];
/// Tag carrying a secret's full name: the scope of its manual-rotation Config rule.
pub const SECRET_TAG: &str = "cerverus:secret";
/// Tag carrying a secret's rotation method.
pub const ROTATION_TAG: &str = "cerverus:rotation";

/// AWS Config managed rules the account is evaluated against.
pub const CONFIG_RULES: &[(&str, &str)] = &[
    ("s3-bucket-public-read-prohibited", "S3_BUCKET_PUBLIC_READ_PROHIBITED"),
    ("s3-bucket-ssl-requests-only", "S3_BUCKET_SSL_REQUESTS_ONLY"),
    ("s3-bucket-versioning-enabled", "S3_BUCKET_VERSIONING_ENABLED"),
    ("rds-storage-encrypted", "RDS_STORAGE_ENCRYPTED"),
    ("rds-instance-public-access-check", "RDS_INSTANCE_PUBLIC_ACCESS_CHECK"),
    ("rds-multi-az-support", "RDS_MULTI_AZ_SUPPORT"),
    ("eks-secrets-encrypted", "EKS_SECRETS_ENCRYPTED"),
    ("eks-endpoint-no-public-access", "EKS_ENDPOINT_NO_PUBLIC_ACCESS"),
    ("vpc-flow-logs-enabled", "VPC_FLOW_LOGS_ENABLED"),
    ("restricted-ssh", "INCOMING_SSH_DISABLED"),
    ("encrypted-volumes", "ENCRYPTED_VOLUMES"),
    // The EFS file system behind `cerverus-efs` is created outside this bundle (the spec's
    // efsFileSystemId): this is what holds it to encryption at rest.
    ("efs-encrypted-check", "EFS_ENCRYPTED_CHECK"),
    ("cloudtrail-enabled", "CLOUD_TRAIL_ENABLED"),
    ("iam-root-access-key-check", "IAM_ROOT_ACCESS_KEY_CHECK"),
    ("guardduty-enabled-centralized", "GUARDDUTY_ENABLED_CENTRALIZED"),
    ("ecr-private-image-scanning-enabled", "ECR_PRIVATE_IMAGE_SCANNING_ENABLED"),
];

pub fn audit() -> Module {
    let mut vars = standard_variables("Prefix for audit resources, e.g. `cerverus`.");
    vars.extend([
        // Required, not optional with a null default: a `count` on `access_log_bucket != null`
        // is unknown at plan when the caller passes a bucket created in the same apply.
        Variable::new(
            "access_log_bucket",
            ty("string"),
            "Bucket that receives S3 server access logs of the audit bucket (its policy must let logging.s3.amazonaws.com write).",
        ),
        Variable::new(
            "unrecorded_bucket_prefixes",
            list_of(ty("string")),
            "Name prefixes of buckets whose object events the trail does not record: log buckets, whose every write is a delivery. The audit bucket is always left out.",
        )
        .default(list([])),
        Variable::new("log_retention_days", ty("number"), "Days to keep CloudTrail events in CloudWatch Logs.")
            .default(365),
        Variable::new(
            "archive_expire_days",
            ty("number"),
            "Days to keep audit objects in S3 (7 years by default, for financial records).",
        )
        .default(2555),
    ]);
    let mut f = File::new();
    account_data(&mut f);
    kms_key(
        &mut f,
        "audit",
        tpl("alias/${var.name}-audit"),
        tpl("CloudTrail, Config and audit logs of ${var.name}"),
        &[service("cloudtrail"), service("config"), logs_service(), service("sns")],
        None,
    );

    // The audit bucket.
    f.push(
        resource("aws_s3_bucket", "audit")
            .skip(
                "CKV_AWS_144",
                "audit logs are delivered by CloudTrail and Config to this region; the trail itself is multi-region",
            )
            .skip("CKV2_AWS_62", "only CloudTrail and Config write here; the trail's SNS topic announces deliveries")
            .a("bucket", tpl("${var.name}-audit-${data.aws_caller_identity.current.account_id}"))
            .a("object_lock_enabled", true)
            .a("tags", var("tags")),
    );
    bucket_hardening(
        &mut f,
        "audit",
        None,
        block("apply_server_side_encryption_by_default")
            .a("sse_algorithm", "aws:kms")
            .a("kms_master_key_id", path("aws_kms_key.audit.arn")),
        None,
    );
    f.push(
        resource("aws_s3_bucket_logging", "audit")
            .a("bucket", path("aws_s3_bucket.audit.id"))
            .a("target_bucket", var("access_log_bucket"))
            .a("target_prefix", "audit/"),
    );
    // No default Object Lock retention here: AWS Config refuses to deliver to a bucket with one
    // (Config developer guide, "Managing the Delivery Channel"), and Config delivers to this
    // bucket. object_lock_enabled lets versions be locked individually (legal holds); WORM for
    // every delivery needs Config in a bucket of its own first.
    f.push(
        resource("aws_s3_bucket_lifecycle_configuration", "audit").a("bucket", path("aws_s3_bucket.audit.id")).b(
            block("rule")
                .a("id", "archive-audit-logs")
                .a("status", "Enabled")
                .b(block("filter"))
                .b(block("transition").a("days", 90).a("storage_class", "GLACIER"))
                .b(block("expiration").a("days", var("archive_expire_days")))
                .b(block("noncurrent_version_expiration").a("noncurrent_days", 365))
                .b(block("abort_incomplete_multipart_upload").a("days_after_initiation", 7)),
        ),
    );
    f.push(
        data("aws_iam_policy_document", "audit_bucket")
            .b(block("statement")
                .a("sid", "DenyInsecureTransport")
                .a("effect", "Deny")
                .a("actions", strs(["s3:*"]))
                .a("resources", list([path("aws_s3_bucket.audit.arn"), tpl("${aws_s3_bucket.audit.arn}/*")]))
                .b(principals("*", strs(["*"])))
                .b(condition("Bool", "aws:SecureTransport", strs(["false"]))))
            .b(statement("DeliveryAclCheck", &["s3:GetBucketAcl"], list([path("aws_s3_bucket.audit.arn")]))
                .b(principals("Service", strs(["cloudtrail.amazonaws.com", "config.amazonaws.com"])))
                .b(condition(
                    "StringEquals",
                    "aws:SourceAccount",
                    list([path("data.aws_caller_identity.current.account_id")]),
                )))
            .b(statement(
                "DeliveryWrite",
                &["s3:PutObject"],
                list([tpl("${aws_s3_bucket.audit.arn}/AWSLogs/${data.aws_caller_identity.current.account_id}/*")]),
            )
            .b(principals("Service", strs(["cloudtrail.amazonaws.com", "config.amazonaws.com"])))
            .b(condition("StringEquals", "s3:x-amz-acl", strs(["bucket-owner-full-control"])))
            .b(condition(
                "StringEquals",
                "aws:SourceAccount",
                list([path("data.aws_caller_identity.current.account_id")]),
            ))),
    );
    f.push(
        resource("aws_s3_bucket_policy", "audit")
            .a("bucket", path("aws_s3_bucket.audit.id"))
            .a("policy", path("data.aws_iam_policy_document.audit_bucket.json")),
    );

    // CloudTrail → S3, CloudWatch Logs and SNS.
    f.push(
        resource("aws_cloudwatch_log_group", "trail")
            .a("name", tpl("/aws/cloudtrail/${var.name}"))
            .a("retention_in_days", var("log_retention_days"))
            .a("kms_key_id", path("aws_kms_key.audit.arn"))
            .a("tags", var("tags")),
    );
    f.push(
        data("aws_iam_policy_document", "trail_assume").b(statement("CloudTrailAssume", &["sts:AssumeRole"], list([]))
            .b(principals("Service", strs(["cloudtrail.amazonaws.com"])))),
    );
    f.push(
        resource("aws_iam_role", "trail")
            .a("name", tpl("${var.name}-cloudtrail-logs"))
            .a("assume_role_policy", path("data.aws_iam_policy_document.trail_assume.json"))
            .a("tags", var("tags")),
    );
    f.push(data("aws_iam_policy_document", "trail_logs").b(statement(
        "DeliverToLogs",
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        list([tpl("${aws_cloudwatch_log_group.trail.arn}:*")]),
    )));
    f.push(
        resource("aws_iam_role_policy", "trail")
            .a("name", "deliver-to-logs")
            .a("role", path("aws_iam_role.trail.id"))
            .a("policy", path("data.aws_iam_policy_document.trail_logs.json")),
    );
    f.push(
        resource("aws_sns_topic", "trail")
            .a("name", tpl("${var.name}-cloudtrail"))
            .a("kms_master_key_id", path("aws_kms_key.audit.id"))
            .a("tags", var("tags")),
    );
    f.push(
        data("aws_iam_policy_document", "trail_topic").b(statement(
            "CloudTrailPublishes",
            &["sns:Publish"],
            list([path("aws_sns_topic.trail.arn")]),
        )
        .b(principals("Service", strs(["cloudtrail.amazonaws.com"])))),
    );
    f.push(
        resource("aws_sns_topic_policy", "trail")
            .a("arn", path("aws_sns_topic.trail.arn"))
            .a("policy", path("data.aws_iam_policy_document.trail_topic.json")),
    );
    f.push(
        resource("aws_cloudtrail", "this")
            .a("name", var("name"))
            .a("s3_bucket_name", path("aws_s3_bucket.audit.id"))
            .a("is_multi_region_trail", true)
            .a("include_global_service_events", true)
            .a("enable_log_file_validation", true)
            .a("kms_key_id", path("aws_kms_key.audit.arn"))
            .a("cloud_watch_logs_group_arn", tpl("${aws_cloudwatch_log_group.trail.arn}:*"))
            .a("cloud_watch_logs_role_arn", path("aws_iam_role.trail.arn"))
            .a("sns_topic_name", path("aws_sns_topic.trail.name"))
            // Advanced selectors: management events, and S3 object events everywhere except where the
            // trail and the access logs write. Recording those would record every delivery, which is
            // itself delivered to the audit bucket and recorded again.
            .b(block("advanced_event_selector")
                .a("name", "Management events")
                .b(block("field_selector").a("field", "eventCategory").a("equals", strs(["Management"]))))
            .b(block("advanced_event_selector")
                .a("name", "S3 object events outside the audit and log buckets")
                .b(block("field_selector").a("field", "eventCategory").a("equals", strs(["Data"])))
                .b(block("field_selector").a("field", "resources.type").a("equals", strs(["AWS::S3::Object"])))
                .b(block("field_selector").a("field", "resources.ARN").a(
                    "not_starts_with",
                    for_expr(
                        None,
                        "b",
                        call("concat", vec![list([path("aws_s3_bucket.audit.id")]), var("unrecorded_bucket_prefixes")]),
                        None,
                        tpl("arn:${data.aws_partition.current.partition}:s3:::${b}"),
                    ),
                )))
            .a("tags", var("tags"))
            .a("depends_on", list([path("aws_s3_bucket_policy.audit"), path("aws_sns_topic_policy.trail")])),
    );

    // AWS Config.
    f.push(
        data("aws_iam_policy_document", "config_assume").b(statement("ConfigAssume", &["sts:AssumeRole"], list([]))
            .b(principals("Service", strs(["config.amazonaws.com"])))),
    );
    f.push(
        resource("aws_iam_role", "config")
            .a("name", tpl("${var.name}-config"))
            .a("assume_role_policy", path("data.aws_iam_policy_document.config_assume.json"))
            .a("tags", var("tags")),
    );
    f.push(resource("aws_iam_role_policy_attachment", "config").a("role", path("aws_iam_role.config.name")).a(
        "policy_arn",
        tpl("arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWS_ConfigRole"),
    ));
    // AWS_ConfigRole lets Config read resource configurations; delivering them is the role's job
    // too when Config runs with a role of its own: the bucket ACL check, the objects under
    // AWSLogs/<account>/Config/ (with bucket-owner-full-control, as the bucket policy requires),
    // and the audit key that encrypts them.
    f.push(
        data("aws_iam_policy_document", "config_delivery")
            .b(statement("DeliveryAclCheck", &["s3:GetBucketAcl"], list([path("aws_s3_bucket.audit.arn")])))
            .b(statement(
                "DeliverSnapshotsAndHistory",
                &["s3:PutObject"],
                list([tpl(
                    "${aws_s3_bucket.audit.arn}/AWSLogs/${data.aws_caller_identity.current.account_id}/Config/*",
                )]),
            )
            .b(condition("StringEquals", "s3:x-amz-acl", strs(["bucket-owner-full-control"]))))
            .b(statement(
                "EncryptDeliveries",
                &["kms:GenerateDataKey", "kms:Decrypt"],
                list([path("aws_kms_key.audit.arn")]),
            )),
    );
    f.push(
        resource("aws_iam_role_policy", "config")
            .a("name", "deliver-to-audit-bucket")
            .a("role", path("aws_iam_role.config.id"))
            .a("policy", path("data.aws_iam_policy_document.config_delivery.json")),
    );
    f.push(
        resource("aws_config_configuration_recorder", "this")
            .a("name", var("name"))
            .a("role_arn", path("aws_iam_role.config.arn"))
            .b(block("recording_group").a("all_supported", true).a("include_global_resource_types", true))
            .a("depends_on", list([path("aws_iam_role_policy_attachment.config"), path("aws_iam_role_policy.config")])),
    );
    // The channel is validated on creation (Config writes a test object): the bucket policy, the
    // key and the role's delivery permissions must all exist first.
    f.push(
        resource("aws_config_delivery_channel", "this")
            .a("name", var("name"))
            .a("s3_bucket_name", path("aws_s3_bucket.audit.id"))
            .a("s3_kms_key_arn", path("aws_kms_key.audit.arn"))
            .b(block("snapshot_delivery_properties").a("delivery_frequency", "TwentyFour_Hours"))
            .a(
                "depends_on",
                list([
                    path("aws_config_configuration_recorder.this"),
                    path("aws_s3_bucket_policy.audit"),
                    path("aws_iam_role_policy.config"),
                    path("aws_s3_bucket_server_side_encryption_configuration.audit"),
                ]),
            ),
    );
    f.push(
        resource("aws_config_configuration_recorder_status", "this")
            .a("name", path("aws_config_configuration_recorder.this.name"))
            .a("is_enabled", true)
            .a("depends_on", list([path("aws_config_delivery_channel.this")])),
    );
    let rules = object(CONFIG_RULES.iter().map(|(k, v)| (*k, s(*v))));
    f.push(
        resource("aws_config_config_rule", "managed")
            .a("for_each", rules)
            .a("name", path("each.key"))
            .b(block("source").a("owner", "AWS").a("source_identifier", path("each.value")))
            .a("tags", var("tags"))
            .a("depends_on", list([path("aws_config_configuration_recorder_status.this")])),
    );

    // GuardDuty with EKS, S3, RDS and malware protection.
    f.push(resource("aws_guardduty_detector", "this").skip("CKV2_AWS_3", "single-account platform: there is no AWS Organization to delegate GuardDuty to; the detector covers the platform's region and account").a("enable", true).a("finding_publishing_frequency", "FIFTEEN_MINUTES").a("tags", var("tags")));
    for feature in ["EKS_AUDIT_LOGS", "S3_DATA_EVENTS", "RDS_LOGIN_EVENTS", "EBS_MALWARE_PROTECTION"] {
        f.push(
            resource("aws_guardduty_detector_feature", &feature.to_ascii_lowercase())
                .a("detector_id", path("aws_guardduty_detector.this.id"))
                .a("name", feature)
                .a("status", "ENABLED"),
        );
    }
    f.push(
        resource("aws_guardduty_detector_feature", "runtime_monitoring")
            .a("detector_id", path("aws_guardduty_detector.this.id"))
            .a("name", "RUNTIME_MONITORING")
            .a("status", "ENABLED")
            .b(block("additional_configuration").a("name", "EKS_ADDON_MANAGEMENT").a("status", "ENABLED")),
    );

    // Security Hub with the AWS Foundational and CIS standards.
    f.push(
        resource("aws_securityhub_account", "this")
            .a("enable_default_standards", false)
            .a("auto_enable_controls", true),
    );
    for (local, arn) in [
        (
            "foundational",
            "arn:${data.aws_partition.current.partition}:securityhub:${data.aws_region.current.region}::standards/aws-foundational-security-best-practices/v/1.0.0",
        ),
        (
            "cis",
            "arn:${data.aws_partition.current.partition}:securityhub:${data.aws_region.current.region}::standards/cis-aws-foundations-benchmark/v/3.0.0",
        ),
    ] {
        f.push(
            resource("aws_securityhub_standards_subscription", local)
                .a("standards_arn", tpl(arn))
                .a("depends_on", list([path("aws_securityhub_account.this")])),
        );
    }

    Module {
        name: "audit",
        description:
            "Account-wide audit and threat detection: a multi-region CloudTrail with log file validation, KMS \
encryption, S3 data events, delivery to a dedicated object-locked bucket, to CloudWatch Logs and to an SNS topic; \
AWS Config recording every supported resource with a set of managed rules, delivering to the audit bucket under \
the audit key with a role allowed to; GuardDuty with EKS audit-log, runtime, \
S3, RDS-login and malware protection; Security Hub with the AWS Foundational Security Best Practices and CIS AWS \
Foundations standards. Apply once per account (it is called from `terraform/bootstrap`)."
                .into(),
        variables: vars,
        outputs: vec![
            output("trail_arn", "ARN of the CloudTrail trail.", path("aws_cloudtrail.this.arn")),
            output("audit_bucket", "Bucket with CloudTrail and Config deliveries.", path("aws_s3_bucket.audit.id")),
            output("guardduty_detector_id", "GuardDuty detector ID.", path("aws_guardduty_detector.this.id")),
            output("kms_key_arn", "KMS key of the audit trail.", path("aws_kms_key.audit.arn")),
        ],
        main: f,
        uses_dr_provider: false,
        extra_providers: Vec::new(),
    }
}
