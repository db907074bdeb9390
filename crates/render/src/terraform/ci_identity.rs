//! The identities CI assumes, in `terraform/bootstrap/`: GitHub's OIDC provider and three roles,
//! each trusting exactly the GitHub OIDC subjects of the jobs that need it (no AWS keys in CI).
//!
//! - `<platform>-ci-terraform-plan`: read-only (AWS `ReadOnlyAccess`, plus what a plan of these
//!   roots reads that it leaves out: the state and lock, and the secret values Terraform refreshes),
//!   for the `<env>-plan` GitHub environments of the platform repository
//!   (`.github/workflows/terraform.yml`).
//! - `<platform>-ci-terraform-apply`: administers the account (a Terraform apply of these roots
//!   creates IAM roles, KMS keys and clusters), only for the `<env>` GitHub environments, which
//!   carry required reviewers — a pull request or an unapproved job can never assume it.
//! - `<platform>-ci-image-push`: pushes to the platform's ECR repositories, only from the main
//!   branch of the declared service repositories (the reusable `service-ci` workflow).

use cerverus_model::Platform;

use super::dsl::*;
use super::modules::common::{condition, principals};

/// GitHub's OIDC issuer (without the scheme, as IAM condition keys name it).
pub const GITHUB_OIDC_HOST: &str = "token.actions.githubusercontent.com";

/// Variables the CI identities read, with their descriptions.
pub fn variables(f: &mut File) {
    f.push(
        block("variable")
            .label("github_repository")
            .a("description", "owner/name of the platform repository whose workflows plan and apply this Terraform (its <env>-plan and <env> GitHub environments).")
            .a("type", ty("string"))
            .b(block("validation")
                .a("condition", call("can", vec![call("regex", vec![s("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"), var("github_repository")])]))
                .a("error_message", "github_repository must be owner/name."))
    );
    f.push(
        block("variable")
            .label("github_service_repositories")
            .a("description", "owner/name of the service repositories whose main branch may push images to the platform's ECR repositories.")
            .a("type", list_of(ty("string")))
            .b(block("validation")
                .a(
                    "condition",
                    and(
                        gt(call("length", vec![var("github_service_repositories")]), num(0)),
                        call(
                            "alltrue",
                            vec![for_expr(
                                None,
                                "r",
                                var("github_service_repositories"),
                                None,
                                call("can", vec![call("regex", vec![s("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"), path("r")])]),
                            )],
                        ),
                    ),
                )
                .a("error_message", "github_service_repositories must list at least one owner/name (an empty list would leave the image-push role trusting no one)."))
    );
}

/// The OIDC provider, the three roles and their policies.
pub fn resources(platform: &Platform, f: &mut File) {
    let envs: Vec<String> = platform.environments.iter().map(|e| e.name.clone()).collect();
    let name = platform.name.as_str();
    f.comment("CI identities: GitHub's OIDC provider and the roles its jobs assume (see ci_identity in the renderer).");
    f.push(
        resource("aws_iam_openid_connect_provider", "github")
            .a("url", format!("https://{GITHUB_OIDC_HOST}"))
            .a("client_id_list", strs(["sts.amazonaws.com"]))
            .a("tags", path("local.tags")),
    );
    let subjects = |suffix: &str| {
        list(envs.iter().map(|e| tpl(format!("repo:${{var.github_repository}}:environment:{e}{suffix}"))))
    };
    trust(f, "ci_plan", subjects("-plan"));
    trust(f, "ci_apply", subjects(""));
    trust(
        f,
        "ci_image_push",
        for_expr(None, "r", var("github_service_repositories"), None, tpl("repo:${r}:ref:refs/heads/main")),
    );

    f.push(role(
        "ci_plan",
        &format!("{name}-ci-terraform-plan"),
        "terraform plan from the platform repository's <env>-plan GitHub environments (read-only)",
        3600,
    ));
    f.push(
        resource("aws_iam_role_policy_attachment", "ci_plan_read_only")
            .a("role", path("aws_iam_role.ci_plan.name"))
            .a("policy_arn", tpl("arn:${data.aws_partition.current.partition}:iam::aws:policy/ReadOnlyAccess")),
    );
    // ReadOnlyAccess leaves out what a plan of these roots needs besides describing resources:
    // the state (read) and its lock (write), and the values of the secret versions Terraform
    // manages (refreshing an aws_secretsmanager_secret_version reads its value).
    f.push(
        data("aws_iam_policy_document", "ci_plan")
            .b(block("statement")
                .a("sid", "ReadState")
                .a("actions", strs(["s3:GetObject", "s3:ListBucket"]))
                .a("resources", list([path("aws_s3_bucket.state.arn"), tpl("${aws_s3_bucket.state.arn}/*")])))
            .b(block("statement")
                .a("sid", "HoldTheLock")
                .a("actions", strs(["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]))
                .a("resources", list([path("aws_dynamodb_table.lock.arn")])))
            .b(block("statement")
                .a("sid", "StateKey")
                .a("actions", strs(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]))
                .a("resources", list([path("aws_kms_key.state.arn")])))
            .b(block("statement")
                .a("sid", "RefreshManagedSecrets")
                .a("actions", strs(["secretsmanager:GetSecretValue"]))
                .a(
                    "resources",
                    list([tpl(format!(
                        "arn:${{data.aws_partition.current.partition}}:secretsmanager:*:${{data.aws_caller_identity.current.account_id}}:secret:{name}/*"
                    ))]),
                ))
            .b(block("statement")
                .a("sid", "DecryptManagedSecrets")
                .a("actions", strs(["kms:Decrypt"]))
                .a("resources", list([s("*")]))
                .b(condition("StringLike", "kms:ViaService", strs(["secretsmanager.*.amazonaws.com"])))),
    );
    f.push(
        resource("aws_iam_role_policy", "ci_plan")
            .a("name", "terraform-state-and-refresh")
            .a("role", path("aws_iam_role.ci_plan.id"))
            .a("policy", path("data.aws_iam_policy_document.ci_plan.json")),
    );

    f.push(role(
        "ci_apply",
        &format!("{name}-ci-terraform-apply"),
        "terraform apply from the platform repository's <env> GitHub environments (required reviewers)",
        7200,
    ));
    f.push(
        resource("aws_iam_role_policy_attachment", "ci_apply_admin")
            .skip(
                "CKV_AWS_274",
                "the apply role creates IAM roles, KMS keys and clusters; only jobs of the reviewed <env> GitHub environments can assume it",
            )
            .a("role", path("aws_iam_role.ci_apply.name"))
            .a("policy_arn", tpl("arn:${data.aws_partition.current.partition}:iam::aws:policy/AdministratorAccess")),
    );

    f.push(role(
        "ci_image_push",
        &format!("{name}-ci-image-push"),
        "image pushes to the platform's ECR repositories from the service repositories' main branch",
        3600,
    ));
    f.push(
        data("aws_iam_policy_document", "ci_image_push")
            .b(block("statement")
                .a("sid", "Login")
                .a("actions", strs(["ecr:GetAuthorizationToken"]))
                .a("resources", list([s("*")])))
            .b(block("statement")
                .a("sid", "PushPlatformImages")
                .a(
                    "actions",
                    strs([
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:CompleteLayerUpload",
                        "ecr:DescribeImages",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:InitiateLayerUpload",
                        "ecr:PutImage",
                        "ecr:UploadLayerPart",
                    ]),
                )
                .a("resources", call("values", vec![path("module.registry.repository_arns")]))),
    );
    f.push(
        resource("aws_iam_role_policy", "ci_image_push")
            .a("name", "push-platform-images")
            .a("role", path("aws_iam_role.ci_image_push.id"))
            .a("policy", path("data.aws_iam_policy_document.ci_image_push.json")),
    );
}

/// IAM role `<local>` assumed through its trust policy `<local>_trust`.
fn role(local: &str, role_name: &str, description: &str, max_session_seconds: i64) -> B {
    resource("aws_iam_role", local)
        .a("name", role_name)
        .a("description", description)
        .a("assume_role_policy", path(&format!("data.aws_iam_policy_document.{local}_trust.json")))
        .a("max_session_duration", max_session_seconds)
        .a("tags", path("local.tags"))
}

/// Trust policy `<role>_trust`: GitHub's OIDC tokens for STS whose subject is one of `subjects`.
fn trust(f: &mut File, role: &str, subjects: hcl::Expression) {
    f.push(
        data("aws_iam_policy_document", &format!("{role}_trust")).b(block("statement")
            .a("sid", "GitHubActionsOidc")
            .a("actions", strs(["sts:AssumeRoleWithWebIdentity"]))
            .b(principals("Federated", list([path("aws_iam_openid_connect_provider.github.arn")])))
            .b(condition("StringEquals", format!("{GITHUB_OIDC_HOST}:aud"), strs(["sts.amazonaws.com"])))
            .b(condition("StringEquals", format!("{GITHUB_OIDC_HOST}:sub"), subjects))),
    );
}

/// Outputs: the role ARNs the GitHub environments' `AWS_ROLE_ARN` / the service repositories'
/// `aws-role-arn` input are set to.
pub fn outputs() -> Vec<(&'static str, &'static str, hcl::Expression)> {
    vec![
        (
            "ci_plan_role_arn",
            "Role of the <env>-plan GitHub environments (AWS_ROLE_ARN there).",
            path("aws_iam_role.ci_plan.arn"),
        ),
        (
            "ci_apply_role_arn",
            "Role of the <env> GitHub environments (AWS_ROLE_ARN there).",
            path("aws_iam_role.ci_apply.arn"),
        ),
        (
            "ci_image_push_role_arn",
            "Role the service repositories' service-ci workflow assumes to push to ECR (its aws-role-arn input).",
            path("aws_iam_role.ci_image_push.arn"),
        ),
    ]
}
