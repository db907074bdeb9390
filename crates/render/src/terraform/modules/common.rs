//! Pieces several modules share: account data sources, customer-managed KMS keys with their key
//! policies, and the standard variables.

use hcl::Expression;

use crate::terraform::dsl::{B, File, block, data, list, map_of, path, resource, s, strs, tpl, ty, var};
use crate::terraform::module::Variable;

/// Waiver reason for the statements every KMS key policy needs.
pub const KEY_POLICY_REASON: &str = "KMS key policy: Resource \"*\" here means this key only, and the account-root statement is AWS's default key policy that keeps the key manageable";

/// `data.aws_caller_identity.current`, `data.aws_region.current`, `data.aws_partition.current`.
pub fn account_data(f: &mut File) {
    f.push(data("aws_caller_identity", "current"));
    f.push(data("aws_region", "current"));
    f.push(data("aws_partition", "current"));
}

/// `arn:<partition>:iam::<account>:root`.
pub fn account_root() -> Expression {
    tpl("arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root")
}

/// A statement block of an `aws_iam_policy_document`.
pub fn statement(sid: &str, actions: &[&str], resources: Expression) -> B {
    block("statement")
        .a("sid", sid)
        .a("effect", "Allow")
        .a("actions", strs(actions.iter().copied()))
        .a("resources", resources)
}

pub fn principals(kind: &str, identifiers: Expression) -> B {
    block("principals").a("type", kind).a("identifiers", identifiers)
}

pub fn condition(test: &str, variable: impl Into<Expression>, values: Expression) -> B {
    block("condition").a("test", test).a("variable", variable).a("values", values)
}

/// A customer-managed key with rotation, its alias and a key policy that lets the account
/// administer it and the named AWS services use it. `name` is the Terraform local name; the
/// alias is `alias/<alias>`.
pub fn kms_key(
    f: &mut File,
    name: &str,
    alias: Expression,
    description: Expression,
    services: &[Expression],
    provider: Option<&str>,
) {
    kms_key_with(f, name, alias, description, services, None, provider)
}

/// A key for CloudWatch Logs: the `logs.<region>` service may use it only for the log groups
/// whose ARN starts with `log_group_prefix` (the encryption context CloudWatch Logs sends).
pub fn logs_kms_key(f: &mut File, name: &str, alias: Expression, description: Expression, log_group_prefix: &str) {
    let only_these_groups = condition(
        "ArnLike",
        "kms:EncryptionContext:aws:logs:arn",
        list([tpl(format!(
            "arn:${{data.aws_partition.current.partition}}:logs:${{data.aws_region.current.region}}:${{data.aws_caller_identity.current.account_id}}:log-group:{log_group_prefix}*"
        ))]),
    );
    kms_key_with(f, name, alias, description, &[logs_service()], Some(only_these_groups), None)
}

fn kms_key_with(
    f: &mut File,
    name: &str,
    alias: Expression,
    description: Expression,
    services: &[Expression],
    service_condition: Option<B>,
    provider: Option<&str>,
) {
    let mut doc = data("aws_iam_policy_document", &format!("{name}_key"))
        .skip("CKV_AWS_109", KEY_POLICY_REASON)
        .skip("CKV_AWS_111", KEY_POLICY_REASON)
        .skip("CKV_AWS_356", KEY_POLICY_REASON)
        .b(statement("AccountAdministration", &["kms:*"], strs(["*"])).b(principals("AWS", list([account_root()]))));
    if !services.is_empty() {
        doc = doc.b(statement(
            "ServiceUse",
            &[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
                "kms:CreateGrant",
            ],
            strs(["*"]),
        )
        .b(principals("Service", list(services.iter().cloned())))
        .bs(service_condition));
    }
    let mut key = resource("aws_kms_key", name)
        .a("description", description)
        .a("enable_key_rotation", true)
        .a("deletion_window_in_days", 30)
        .a("policy", path(&format!("data.aws_iam_policy_document.{name}_key.json")))
        .a("tags", var("tags"));
    let mut alias_b = resource("aws_kms_alias", name)
        .a("name", alias)
        .a("target_key_id", path(&format!("aws_kms_key.{name}.key_id")));
    if let Some(p) = provider {
        doc = doc.a("provider", path(p));
        key = key.a("provider", path(p));
        alias_b = alias_b.a("provider", path(p));
    }
    f.push(doc);
    f.push(key);
    f.push(alias_b);
}

/// The `<service>.amazonaws.com` principal.
pub fn service(name: &str) -> Expression {
    s(format!("{name}.amazonaws.com"))
}

/// `logs.<region>.amazonaws.com`, the CloudWatch Logs principal for KMS.
pub fn logs_service() -> Expression {
    tpl("logs.${data.aws_region.current.region}.amazonaws.com")
}

/// `name` and `tags`, which every module takes.
pub fn standard_variables(name_description: &'static str) -> Vec<Variable> {
    vec![
        Variable::new("name", ty("string"), name_description).validate(
            crate::terraform::dsl::call(
                "can",
                vec![crate::terraform::dsl::call("regex", vec![s("^[a-z][a-z0-9-]{1,38}[a-z0-9]$"), var("name")])],
            ),
            "name must be 3-40 lowercase letters, digits or hyphens, starting with a letter.",
        ),
        Variable::new(
            "tags",
            map_of(ty("string")),
            "Tags added to every resource (on top of the provider's default_tags).",
        )
        .default(Expression::Object(Default::default())),
    ]
}

/// The hardening every bucket gets: encryption (`sse` is the `apply_server_side_encryption_by_default`
/// block), versioning, public access block, bucket-owner-enforced ownership. `for_each` names the
/// collection the bucket resource iterates over, if any; `provider` a non-default provider.
pub fn bucket_hardening(f: &mut File, local: &str, for_each: Option<&str>, sse: B, provider: Option<&str>) {
    let bucket = |attr: &str| {
        if for_each.is_some() {
            path(&format!("aws_s3_bucket.{local}[each.key].{attr}"))
        } else {
            path(&format!("aws_s3_bucket.{local}.{attr}"))
        }
    };
    let fe = |b: B| {
        let b = match for_each {
            Some(e) => b.a("for_each", path(e)),
            None => b,
        };
        match provider {
            Some(p) => b.a("provider", path(p)),
            None => b,
        }
    };
    f.push(
        fe(resource("aws_s3_bucket_server_side_encryption_configuration", local)).a("bucket", bucket("id")).b(block(
            "rule",
        )
        .b(sse)
        .a("bucket_key_enabled", true)),
    );
    f.push(
        fe(resource("aws_s3_bucket_versioning", local))
            .a("bucket", bucket("id"))
            .b(block("versioning_configuration").a("status", "Enabled")),
    );
    f.push(
        fe(resource("aws_s3_bucket_public_access_block", local))
            .a("bucket", bucket("id"))
            .a("block_public_acls", true)
            .a("block_public_policy", true)
            .a("ignore_public_acls", true)
            .a("restrict_public_buckets", true),
    );
    f.push(
        fe(resource("aws_s3_bucket_ownership_controls", local))
            .a("bucket", bucket("id"))
            .b(block("rule").a("object_ownership", "BucketOwnerEnforced")),
    );
}

/// The policy of a bucket that receives S3 server access logs: nothing over plain HTTP, and the S3
/// logging service (`logging.s3.amazonaws.com`, the principal AWS documents for log delivery to
/// buckets with ACLs disabled) may put objects on behalf of buckets of this account. `local` is
/// the Terraform name of both the bucket and the policy document.
pub fn access_log_bucket_policy(local: &str) -> B {
    let arn = format!("aws_s3_bucket.{local}.arn");
    data("aws_iam_policy_document", local)
        .b(block("statement")
            .a("sid", "DenyInsecureTransport")
            .a("effect", "Deny")
            .a("actions", strs(["s3:*"]))
            .a("resources", list([path(&arn), tpl(format!("${{{arn}}}/*"))]))
            .b(principals("*", strs(["*"])))
            .b(condition("Bool", "aws:SecureTransport", strs(["false"]))))
        .b(statement("S3ServerAccessLogs", &["s3:PutObject"], list([tpl(format!("${{{arn}}}/*"))]))
            .b(principals("Service", strs(["logging.s3.amazonaws.com"])))
            .b(condition(
                "StringEquals",
                "aws:SourceAccount",
                list([path("data.aws_caller_identity.current.account_id")]),
            )))
}
