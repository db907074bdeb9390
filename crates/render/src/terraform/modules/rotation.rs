//! `secret-rotation`: the function that rotates the credentials of one RDS PostgreSQL store —
//! AWS's own multi-user rotation function for PostgreSQL, deployed from the Serverless
//! Application Repository (not a function of ours: the four-step rotation protocol is AWS's),
//! in the VPC's private subnets with a security group that reaches exactly the database port and
//! Secrets Manager's interface endpoint.

use crate::terraform::dsl::*;
use crate::terraform::module::{Module, Variable, output};

use super::common::{account_data, standard_variables};

/// AWS's published application (publisher account 297356227824) and the version pinned here:
/// the one AWS CDK 2 pins for `SecretRotationApplication.POSTGRES_ROTATION_MULTI_USER`.
pub const APPLICATION_ID: &str =
    "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationMultiUser";
pub const SEMANTIC_VERSION: &str = "1.1.618";

/// Characters the generated passwords never contain: the function's defaults (`/@"'\`) plus what
/// would need care in a URL or in Airflow's configuration (`%` starts an interpolation there).
const EXCLUDE_CHARACTERS: &str = "/@\"'\\%:?#[]&+=";

pub fn module() -> Module {
    let mut vars = standard_variables("Prefix of the function and its security group, e.g. `cerverus-db-prod`.");
    vars.extend([
        Variable::new("vpc_id", ty("string"), "VPC the function runs in."),
        Variable::new("vpc_cidr", ty("string"), "IPv4 range of the VPC: Secrets Manager's interface endpoint is in it."),
        Variable::new("subnet_ids", list_of(ty("string")), "Private subnets the function runs in (they hold the interface endpoints)."),
        Variable::new("database_security_group_id", ty("string"), "Security group of the PostgreSQL instances: opened to the function on `port`."),
        Variable::new("port", ty("number"), "Port PostgreSQL listens on."),
        Variable::new(
            "master_secret_arn",
            ty("string"),
            "The store's master-user secret (RDS-managed): the function logs in with it to create and alter the rotated users.",
        ),
        Variable::new("master_secret_kms_key_arn", ty("string"), "KMS key of the master-user secret."),
        Variable::new("secrets_kms_key_arn", ty("string"), "KMS key of the secrets the function rotates."),
    ]);
    let mut f = File::new();
    account_data(&mut f);
    f.push(
        resource("aws_security_group", "rotation")
            .skip("CKV2_AWS_5", "attached to the rotation function by the CloudFormation stack below (parameter vpcSecurityGroupIds), which checkov cannot follow")
            .a("name", tpl("${var.name}-secret-rotation"))
            .a("description", tpl("Secrets Manager rotation function of ${var.name}: PostgreSQL and the Secrets Manager endpoint only"))
            .a("vpc_id", var("vpc_id"))
            .a("tags", call("merge", vec![var("tags"), object([("Name", tpl("${var.name}-secret-rotation"))])]))
            .b(block("lifecycle").a("create_before_destroy", true)),
    );
    f.push(
        resource("aws_vpc_security_group_egress_rule", "to_database")
            .a("security_group_id", path("aws_security_group.rotation.id"))
            .a("description", "PostgreSQL: the rotation function changes the users' passwords")
            .a("referenced_security_group_id", var("database_security_group_id"))
            .a("ip_protocol", "tcp")
            .a("from_port", var("port"))
            .a("to_port", var("port")),
    );
    f.push(
        resource("aws_vpc_security_group_egress_rule", "to_secrets_manager")
            .a("security_group_id", path("aws_security_group.rotation.id"))
            .a("description", "HTTPS to Secrets Manager through its interface VPC endpoint (private DNS)")
            .a("cidr_ipv4", var("vpc_cidr"))
            .a("ip_protocol", "tcp")
            .a("from_port", 443)
            .a("to_port", 443),
    );
    f.push(
        resource("aws_vpc_security_group_ingress_rule", "database_from_rotation")
            .a("security_group_id", var("database_security_group_id"))
            .a("description", tpl("PostgreSQL from the secret rotation function of ${var.name}"))
            .a("referenced_security_group_id", path("aws_security_group.rotation.id"))
            .a("ip_protocol", "tcp")
            .a("from_port", var("port"))
            .a("to_port", var("port")),
    );
    f.push(
        resource("aws_serverlessapplicationrepository_cloudformation_stack", "rotation")
            .a("name", tpl("${var.name}-secret-rotation"))
            .a("application_id", APPLICATION_ID)
            .a("semantic_version", SEMANTIC_VERSION)
            // The template creates the function's role (IAM) and lets Secrets Manager invoke it
            // (a resource policy).
            .a("capabilities", strs(["CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY"]))
            .a(
                "parameters",
                object([
                    ("functionName", tpl("${var.name}-secret-rotation")),
                    ("endpoint", tpl("https://secretsmanager.${data.aws_region.current.region}.${data.aws_partition.current.dns_suffix}")),
                    ("vpcSubnetIds", call("join", vec![s(","), var("subnet_ids")])),
                    ("vpcSecurityGroupIds", path("aws_security_group.rotation.id")),
                    ("masterSecretArn", var("master_secret_arn")),
                    ("masterSecretKmsKeyArn", var("master_secret_kms_key_arn")),
                    ("kmsKeyArn", var("secrets_kms_key_arn")),
                    ("excludeCharacters", s(EXCLUDE_CHARACTERS)),
                ]),
            )
            .a("tags", var("tags")),
    );
    Module {
        name: "secret-rotation",
        description: "The rotation function of one RDS PostgreSQL store's application credentials: AWS's published \
multi-user rotation function for PostgreSQL (Serverless Application Repository, pinned version), in the private \
subnets, with a security group that reaches only the database port and Secrets Manager's interface endpoint, and \
the database's security group opened to it. Each rotated secret holds JSON `{engine, host, port, dbname, username, \
password, masterarn}`; the function clones `username` to `username_clone` and alternates between the two, so the \
previous credentials stay valid until the next rotation. Before the first rotation the secret's first value and its \
user must exist (created with the master user, whose secret is `masterarn`)."
            .into(),
        variables: vars,
        outputs: vec![output(
            "function_arn",
            "ARN of the rotation function (its name is the stack's functionName parameter, so the ARN is known once the stack exists).",
            tpl(
                "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:function:${aws_serverlessapplicationrepository_cloudformation_stack.rotation.parameters[\"functionName\"]}",
            ),
        )],
        main: f,
        uses_dr_provider: false,
        extra_providers: Vec::new(),
    }
}
