//! One environment's root module, `terraform/envs/<env>/`: the module calls (`main.tf`), the IAM
//! policies of the cluster's service accounts (`iam.tf`), its variables with this environment's
//! values (`variables.tf`, `terraform.tfvars`), outputs, and the plumbing (`versions.tf`,
//! `providers.tf`, `backend.tf`).
//!
//! Everything environment-specific is in `terraform.tfvars`, derived from the model; `main.tf`
//! only wires modules together, so the roots of dev, staging and prod differ in their values,
//! not their shape.

use cerverus_bundle::{Bundle, BundleError};
use cerverus_model::{Env, Platform, SubnetTier, Target};
use cerverus_spec::{BucketAccess, TaintEffect};
use hcl::{Body, Expression};

use super::dsl::*;
use super::iam_json;
use super::module::{HEADER, Variable, output};
use super::modules::common::{condition, statement};
use crate::hcl::to_terraform;
use crate::versions;

/// Name of the S3 bucket that holds Terraform state (the seed's name).
pub const STATE_BUCKET: &str = "cerverus-terraform-state";
/// Name of the DynamoDB table that serialises Terraform runs (the seed's name).
pub const LOCK_TABLE: &str = "terraform-state-lock";

/// Cluster add-ons that call AWS, with the service account they run as and their permissions.
struct AddonRole {
    key: &'static str,
    namespace: &'static str,
    service_account: &'static str,
    managed: &'static [&'static str],
}

const ADDON_ROLES: &[AddonRole] = &[
    AddonRole {
        key: "ebs-csi",
        namespace: "kube-system",
        service_account: "ebs-csi-controller-sa",
        managed: &["service-role/AmazonEBSCSIDriverPolicy"],
    },
    AddonRole {
        key: "efs-csi",
        namespace: "kube-system",
        service_account: "efs-csi-controller-sa",
        managed: &["service-role/AmazonEFSCSIDriverPolicy"],
    },
    AddonRole {
        key: "cluster-autoscaler",
        namespace: "kube-system",
        service_account: "cluster-autoscaler",
        managed: &[],
    },
    AddonRole {
        key: "aws-load-balancer-controller",
        namespace: "kube-system",
        service_account: "aws-load-balancer-controller",
        managed: &[],
    },
    AddonRole {
        key: "node-termination-handler",
        namespace: "kube-system",
        service_account: "aws-node-termination-handler",
        managed: &[],
    },
    AddonRole {
        key: "external-secrets",
        namespace: "external-secrets",
        service_account: "external-secrets",
        managed: &[],
    },
    AddonRole { key: "s3-csi", namespace: "kube-system", service_account: "s3-csi-driver-sa", managed: &[] },
    AddonRole { key: "velero", namespace: "velero", service_account: "velero", managed: &[] },
    AddonRole { key: "cert-manager", namespace: "cert-manager", service_account: "cert-manager", managed: &[] },
];

/// Render the root module of one environment.
pub fn render(platform: &Platform, env: &Env) -> Result<Bundle, BundleError> {
    let mut b = Bundle::new();
    b.add("versions.tf", to_terraform(&versions_tf(), HEADER))?;
    b.add("providers.tf", to_terraform(&providers_tf(platform, env), HEADER))?;
    b.add("backend.tf", to_terraform(&backend_tf(platform, env), HEADER))?;
    b.add("main.tf", to_terraform(&main_tf().body(), HEADER))?;
    b.add("iam.tf", to_terraform(&iam_tf().body(), HEADER))?;
    let mut vars = File::new();
    for v in root_variables() {
        vars.push(v.block_public());
    }
    b.add("variables.tf", to_terraform(&vars.body(), HEADER))?;
    b.add("terraform.tfvars", to_terraform(&tfvars(platform, env), HEADER))?;
    let mut outs = File::new();
    for o in root_outputs() {
        outs.push(block("output").label(o.name).a("description", o.description).a("value", o.value));
    }
    b.add("outputs.tf", to_terraform(&outs.body(), HEADER))?;
    Ok(b)
}

pub fn versions_tf() -> Body {
    let mut providers = block("required_providers");
    for p in versions::TERRAFORM_PROVIDERS {
        providers = providers.a(p.name, object([("source", s(p.source)), ("version", s(p.constraint))]));
    }
    let mut f = File::new();
    f.push(block("terraform").a("required_version", versions::TERRAFORM_REQUIRED_VERSION).b(providers));
    f.body()
}

pub fn default_tags(platform: &Platform, env_name: &str) -> B {
    let mut tags: Vec<(String, Expression)> = platform.tags.iter().map(|(k, v)| (k.clone(), s(v.as_str()))).collect();
    tags.push(("Environment".to_string(), s(env_name)));
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    block("default_tags").a("tags", object(tags))
}

pub fn aws_providers(platform: &Platform, env_name: &str, f: &mut File) {
    f.push(
        block("provider")
            .label("aws")
            .a("region", platform.region.as_str())
            .a("allowed_account_ids", strs([platform.account_id.as_str()]))
            .b(default_tags(platform, env_name)),
    );
    f.push(
        block("provider")
            .label("aws")
            .a("alias", "dr")
            .a("region", platform.dr_region.as_str())
            .a("allowed_account_ids", strs([platform.account_id.as_str()]))
            .b(default_tags(platform, env_name)),
    );
}

/// The Auto Scaling groups of EKS managed node groups (EKS names them `eks-<node group>-<uuid>`).
const EKS_ASGS: &str = "arn:${data.aws_partition.current.partition}:autoscaling:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/eks-*";

fn providers_tf(platform: &Platform, env: &Env) -> Body {
    let mut f = File::new();
    aws_providers(platform, &env.name, &mut f);
    f.push(data("aws_eks_cluster_auth", "this").a("name", path("module.eks.cluster_name")));
    let auth = [
        ("host", path("module.eks.cluster_endpoint")),
        ("cluster_ca_certificate", call("base64decode", vec![path("module.eks.cluster_certificate_authority_data")])),
        ("token", path("data.aws_eks_cluster_auth.this.token")),
    ];
    let mut k8s = block("provider").label("kubernetes");
    for (k, v) in auth.clone() {
        k8s = k8s.a(k, v);
    }
    f.push(k8s);
    f.push(block("provider").label("helm").a("kubernetes", object(auth)));
    f.body()
}

fn backend_tf(platform: &Platform, env: &Env) -> Body {
    let mut f = File::new();
    f.push(
        block("terraform").b(block("backend")
            .label("s3")
            .a("bucket", STATE_BUCKET)
            .a("key", format!("envs/{}/terraform.tfstate", env.name))
            .a("region", platform.region.as_str())
            .a("dynamodb_table", LOCK_TABLE)
            .a("encrypt", true)
            .a("kms_key_id", format!("alias/{STATE_BUCKET}"))),
    );
    f.body()
}

trait PublicBlock {
    fn block_public(&self) -> B;
}

impl PublicBlock for Variable {
    fn block_public(&self) -> B {
        let mut b = block("variable").label(self.name).a("description", self.description).a("type", self.ty.clone());
        if let Some(d) = &self.default {
            b = b.a("default", d.clone());
        }
        for (c, m) in &self.validations {
            b = b.b(block("validation").a("condition", c.clone()).a("error_message", m.as_str()));
        }
        b
    }
}

fn store_type(fields: &[(&'static str, &'static str)]) -> Expression {
    map_of(object_of(fields.iter().map(|(k, t)| (*k, ty(t)))))
}

fn root_variables() -> Vec<Variable> {
    let access = map_of(object_of([("port", ty("number")), ("clients", list_of(ty("string")))]));
    vec![
        Variable::new("environment", ty("string"), "Environment name (dev, staging, prod)."),
        Variable::new(
            "cluster_name",
            ty("string"),
            "EKS cluster name; also the prefix of the environment's resources.",
        ),
        Variable::new("vpc_cidr", ty("string"), "IPv4 range of the environment's VPC."),
        Variable::new("azs", list_of(ty("string")), "Availability zones."),
        Variable::new("public_subnets", list_of(ty("string")), "Public subnet CIDRs, in AZ order."),
        Variable::new("private_subnets", list_of(ty("string")), "Private subnet CIDRs, in AZ order."),
        Variable::new("data_subnets", list_of(ty("string")), "Data subnet CIDRs, in AZ order."),
        Variable::new("single_nat_gateway", ty("bool"), "One shared NAT gateway instead of one per AZ."),
        Variable::new("kubernetes_version", ty("string"), "Kubernetes minor version of the cluster."),
        Variable::new("endpoint_public_access", ty("bool"), "Whether the API server is reachable from the internet."),
        Variable::new("public_access_cidrs", list_of(ty("string")), "CIDRs allowed to reach a public API endpoint."),
        Variable::new("cluster_log_types", list_of(ty("string")), "Control-plane log types."),
        Variable::new("cluster_log_retention_days", ty("number"), "Days to keep control-plane logs."),
        Variable::new("ssh_key_name", ty("string"), "EC2 key pair for node SSH, or null for none.")
            .default(Expression::Null),
        Variable::new("admin_role_arns", list_of(ty("string")), "IAM roles with cluster-admin access entries."),
        Variable::new(
            "node_groups",
            map_of(object_of([
                ("instance_types", list_of(ty("string"))),
                ("capacity_type", ty("string")),
                ("ami_type", ty("string")),
                ("min_size", ty("number")),
                ("desired_size", ty("number")),
                ("max_size", ty("number")),
                ("disk_gib", ty("number")),
                ("labels", map_of(ty("string"))),
                (
                    "taints",
                    list_of(object_of([("key", ty("string")), ("value", ty("string")), ("effect", ty("string"))])),
                ),
                ("availability_zones", list_of(ty("string"))),
            ])),
            "Managed node groups, from the spec's node pools (a group pinned to zones launches only there).",
        ),
        Variable::new(
            "admin_kubernetes_groups",
            list_of(ty("string")),
            "Kubernetes groups of the break-glass admin roles (bound to cluster-admin in the cluster).",
        ),
        Variable::new(
            "access_groups",
            map_of(list_of(ty("string"))),
            "People's access roles: key → the Kubernetes RBAC groups its EKS access entry carries.",
        ),
        Variable::new(
            "postgres",
            store_type(&[
                ("engine_version", "string"),
                ("instance_class", "string"),
                ("allocated_storage", "number"),
                ("max_allocated_storage", "number"),
                ("port", "number"),
                ("multi_az", "bool"),
                ("read_replicas", "number"),
                ("backup_retention_days", "number"),
                ("cross_region_backups", "bool"),
            ]),
            "PostgreSQL stores by name.",
        ),
        Variable::new(
            "redis",
            store_type(&[
                ("engine_version", "string"),
                ("node_type", "string"),
                ("replicas", "number"),
                ("port", "number"),
            ]),
            "Redis stores by name.",
        ),
        Variable::new(
            "postgres_access",
            access.clone(),
            "PostgreSQL stores the cluster reaches, with the workloads that declare them.",
        ),
        Variable::new(
            "redis_access",
            access,
            "Redis stores the cluster reaches, with the workloads that declare them.",
        ),
        Variable::new(
            "buckets",
            store_type(&[
                ("class", "string"),
                ("infrequent_access_after_days", "number"),
                ("glacier_after_days", "number"),
                ("expire_after_days", "number"),
                ("replicate", "bool"),
            ]),
            "S3 buckets by base name.",
        ),
        Variable::new(
            "secrets",
            map_of(object_of([
                ("description", ty("string")),
                ("rotation_days", ty("number")),
                ("rotation", ty("string")),
                ("postgres_store", ty("string")),
            ])),
            "Secrets Manager secrets by name, with how each is rotated (`function`: by the rotation function of \
PostgreSQL store `postgres_store`; `manual`; `none`).",
        ),
        Variable::new(
            "public_zones",
            list_of(ty("string")),
            "Public Route 53 zones of the spec's public hosts: cert-manager writes its DNS-01 TXT records there.",
        ),
        Variable::new(
            "workload_roles",
            map_of(object_of([
                ("namespace", ty("string")),
                ("service_account", ty("string")),
                ("read_buckets", list_of(ty("string"))),
                ("write_buckets", list_of(ty("string"))),
            ])),
            "Service accounts whose workloads reach S3, with the buckets they read and write.",
        ),
    ]
}

fn main_tf() -> File {
    let mut f = File::new();
    f.push(block("locals").a("tags", object([("Cluster", var("cluster_name"))])));
    f.push(
        block("module")
            .label("network")
            .a("source", "../../modules/network")
            .a("name", var("cluster_name"))
            .a("vpc_cidr", var("vpc_cidr"))
            .a("azs", var("azs"))
            .a("public_subnets", var("public_subnets"))
            .a("private_subnets", var("private_subnets"))
            .a("data_subnets", var("data_subnets"))
            .a("single_nat_gateway", var("single_nat_gateway"))
            .a("cluster_name", var("cluster_name"))
            .a(
                "data_ports",
                call(
                    "distinct",
                    vec![call(
                        "concat",
                        vec![
                            for_expr(None, "p", call("values", vec![var("postgres")]), None, path("p.port")),
                            for_expr(None, "r", call("values", vec![var("redis")]), None, path("r.port")),
                        ],
                    )],
                ),
            )
            .a("tags", path("local.tags")),
    );
    f.push(
        block("module")
            .label("security_groups")
            .a("source", "../../modules/security-groups")
            .a("name", var("cluster_name"))
            .a("vpc_id", path("module.network.vpc_id"))
            .a("vpc_cidr", path("module.network.vpc_cidr"))
            .a("postgres_access", var("postgres_access"))
            .a("redis_access", var("redis_access"))
            .a("tags", path("local.tags")),
    );
    f.push(
        block("module")
            .label("eks")
            .a("source", "../../modules/eks")
            .a("name", var("cluster_name"))
            .a("kubernetes_version", var("kubernetes_version"))
            .a("private_subnet_ids", path("module.network.private_subnet_ids"))
            .a("cluster_security_group_id", path("module.security_groups.cluster_security_group_id"))
            .a("node_security_group_id", path("module.security_groups.node_security_group_id"))
            .a("endpoint_private_access", true)
            .a("endpoint_public_access", var("endpoint_public_access"))
            .a("public_access_cidrs", var("public_access_cidrs"))
            .a("log_types", var("cluster_log_types"))
            .a("log_retention_days", var("cluster_log_retention_days"))
            .a("node_groups", var("node_groups"))
            .a("ssh_key_name", var("ssh_key_name"))
            .a("private_subnet_ids_by_az", call("zipmap", vec![var("azs"), path("module.network.private_subnet_ids")]))
            .a("admin_role_arns", var("admin_role_arns"))
            .a("admin_kubernetes_groups", var("admin_kubernetes_groups"))
            .a("access_groups", var("access_groups"))
            .a("irsa_roles", path("local.irsa_roles"))
            .a("irsa_inline_policies", path("local.irsa_inline_policies"))
            .a("tags", path("local.tags")),
    );
    f.push(
        block("module")
            .label("database")
            .a("source", "../../modules/database")
            .a("for_each", var("postgres"))
            .a("providers", object_ref_keys([(path("aws"), path("aws")), (path("aws.dr"), path("aws.dr"))]))
            .a("name", tpl("${each.key}-${var.environment}"))
            .a("engine_version", path("each.value.engine_version"))
            .a("instance_class", path("each.value.instance_class"))
            .a("allocated_storage", path("each.value.allocated_storage"))
            .a("max_allocated_storage", path("each.value.max_allocated_storage"))
            .a("port", path("each.value.port"))
            .a("multi_az", path("each.value.multi_az"))
            .a("read_replicas", path("each.value.read_replicas"))
            .a("backup_retention_days", path("each.value.backup_retention_days"))
            .a("cross_region_backups", path("each.value.cross_region_backups"))
            .a("subnet_ids", path("module.network.data_subnet_ids"))
            .a("security_group_ids", list([path("module.security_groups.rds_security_group_id")]))
            .a("tags", path("local.tags")),
    );
    f.push(
        block("module")
            .label("cache")
            .a("source", "../../modules/cache")
            .a("for_each", var("redis"))
            .a("name", tpl("${each.key}-${var.environment}"))
            .a("engine_version", path("each.value.engine_version"))
            .a("node_type", path("each.value.node_type"))
            .a("replicas", path("each.value.replicas"))
            .a("port", path("each.value.port"))
            .a("endpoint_secret_name", tpl("cerverus/${var.environment}/redis/${each.key}"))
            .a("subnet_ids", path("module.network.data_subnet_ids"))
            .a("security_group_ids", list([path("module.security_groups.redis_security_group_id")]))
            .a("tags", path("local.tags")),
    );
    f.push(
        block("module")
            .label("storage")
            .a("source", "../../modules/storage")
            .a("providers", object_ref_keys([(path("aws"), path("aws")), (path("aws.dr"), path("aws.dr"))]))
            .a("name", var("environment"))
            .a("buckets", var("buckets"))
            .a("tags", path("local.tags")),
    );
    // One rotation function per PostgreSQL store whose application credentials rotate.
    f.push(block("locals").a(
        "rotated_postgres_stores",
        call(
            "toset",
            vec![call(
                "distinct",
                vec![{
                    let mut e = hcl::expr::ForExpr::new(
                        hcl::Identifier::unchecked("s"),
                        call("values", vec![var("secrets")]),
                        path("s.postgres_store"),
                    );
                    e.cond_expr = Some(eq(path("s.rotation"), s("function")));
                    Expression::ForExpr(Box::new(e))
                }],
            )],
        ),
    ));
    f.push(
        block("module")
            .label("secret_rotation")
            .a("source", "../../modules/secret-rotation")
            .a("for_each", path("local.rotated_postgres_stores"))
            .a("name", tpl("${each.key}-${var.environment}"))
            .a("vpc_id", path("module.network.vpc_id"))
            .a("vpc_cidr", path("module.network.vpc_cidr"))
            .a("subnet_ids", path("module.network.private_subnet_ids"))
            .a("database_security_group_id", path("module.security_groups.rds_security_group_id"))
            .a("port", path("var.postgres[each.key].port"))
            .a("master_secret_arn", path("module.database[each.key].master_user_secret_arn"))
            .a("master_secret_kms_key_arn", path("module.database[each.key].master_user_secret_kms_key_arn"))
            .a("secrets_kms_key_arn", path("module.secrets.kms_key_arn"))
            .a("tags", path("local.tags")),
    );
    f.push(
        block("module")
            .label("secrets")
            .a("source", "../../modules/secrets")
            .a("name", tpl("cerverus/${var.environment}"))
            .a(
                "secrets",
                for_expr(
                    Some("k"),
                    "s",
                    var("secrets"),
                    Some(path("k")),
                    object([
                        ("description", path("s.description")),
                        ("rotation_days", path("s.rotation_days")),
                        ("rotation", path("s.rotation")),
                    ]),
                ),
            )
            .a(
                "rotation_function_arns",
                for_expr_if(
                    "k",
                    "s",
                    var("secrets"),
                    path("k"),
                    path("module.secret_rotation[s.postgres_store].function_arn"),
                    eq(path("s.rotation"), s("function")),
                ),
            )
            .a("tags", path("local.tags")),
    );
    f
}

/// `{ for k, v in coll : key => value if cond }`.
fn for_expr_if(k: &str, v: &str, coll: Expression, key: Expression, value: Expression, cond: Expression) -> Expression {
    let mut e = hcl::expr::ForExpr::new(hcl::Identifier::unchecked(v), coll, value);
    e.key_var = Some(hcl::Identifier::unchecked(k));
    e.key_expr = Some(key);
    e.cond_expr = Some(cond);
    Expression::ForExpr(Box::new(e))
}

fn iam_tf() -> File {
    let mut f = File::new();
    f.push(data("aws_caller_identity", "current"));
    f.push(data("aws_region", "current"));
    f.push(data("aws_partition", "current"));

    // Workloads that reach S3: exactly the buckets the spec says, with the access it says.
    let all_buckets = call("concat", vec![path("each.value.read_buckets"), path("each.value.write_buckets")]);
    f.push(
        data("aws_iam_policy_document", "workload")
            .a("for_each", var("workload_roles"))
            .b(statement(
                "ListDeclaredBuckets",
                &["s3:ListBucket", "s3:GetBucketLocation"],
                for_expr(None, "b", all_buckets.clone(), None, path("module.storage.bucket_arns[b]")),
            ))
            .b(statement(
                "ReadDeclaredBuckets",
                &["s3:GetObject", "s3:GetObjectVersion"],
                for_expr(None, "b", all_buckets, None, tpl("${module.storage.bucket_arns[b]}/*")),
            ))
            .b(dynamic(
                "statement",
                cond(gt(call("length", vec![path("each.value.write_buckets")]), num(0)), list([num(1)]), list([])),
                block("content")
                    .a("sid", "WriteDeclaredBuckets")
                    .a("effect", "Allow")
                    .a("actions", strs(["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]))
                    .a(
                        "resources",
                        for_expr(
                            None,
                            "b",
                            path("each.value.write_buckets"),
                            None,
                            tpl("${module.storage.bucket_arns[b]}/*"),
                        ),
                    ),
            ))
            .b(statement(
                "UseBucketKey",
                &["kms:Decrypt", "kms:GenerateDataKey"],
                list([path("module.storage.kms_key_arn")]),
            )),
    );

    let cluster_tag = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}";
    f.push(
        data("aws_iam_policy_document", "cluster_autoscaler")
            .skip("CKV_AWS_356", "the Discover statement's reads on Auto Scaling and EC2 (Describe*, GetInstanceTypesFromInstanceRequirements) cannot be scoped to resources (AWS requires \"*\"); node group reads are scoped to this cluster's node groups and scaling calls by its ownership tag")
            .b(statement(
                "Discover",
                &[
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                strs(["*"]),
            ))
            .b(statement(
                "DescribeOwnNodegroups",
                &["eks:DescribeNodegroup"],
                list([tpl("arn:${data.aws_partition.current.partition}:eks:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:nodegroup/${var.cluster_name}/*/*")]),
            ))
            .b(statement("ScaleOwnGroups", &["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"], strs(["*"]))
                .b(condition("StringEquals", tpl(cluster_tag), strs(["owned"])))),
    );
    f.push(
        data("aws_iam_policy_document", "node_termination_handler")
            .skip("CKV_AWS_356", "only the Describe statement has resource \"*\": ec2:DescribeInstances and autoscaling:Describe* cannot be scoped to resources; CompleteLifecycleAction is scoped to the cluster's managed node group ASGs")
            .b(statement(
                "ReadQueue",
                &["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                list([tpl("arn:${data.aws_partition.current.partition}:sqs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:${var.cluster_name}-node-termination")]),
            ))
            .b(statement("Describe", &["ec2:DescribeInstances", "autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeTags"], strs(["*"])))
            // Not "*": the managed node groups' Auto Scaling groups (EKS names them eks-<group>-<id>),
            // and of those only the ones this cluster owns.
            .b(statement("CompleteLifecycle", &["autoscaling:CompleteLifecycleAction"], list([tpl(EKS_ASGS)]))
                .b(condition("StringEquals", tpl(cluster_tag), strs(["owned"])))),
    );
    // External Secrets reads the environment's secrets and the stores' generated credentials, and
    // needs kms:Decrypt on every key that encrypts one of them. The keys come from the same module
    // outputs as the secrets (each secret's own kms_key_id), so a store added later brings its key.
    let store_secrets = call(
        "concat",
        vec![
            for_expr(None, "d", call("values", vec![path("module.database")]), None, path("d.master_user_secret_arn")),
            for_expr(None, "c", call("values", vec![path("module.cache")]), None, path("c.auth_token_secret_arn")),
        ],
    );
    let secret_keys = call(
        "distinct",
        vec![call(
            "concat",
            vec![
                list([path("module.secrets.kms_key_arn")]),
                for_expr(
                    None,
                    "d",
                    call("values", vec![path("module.database")]),
                    None,
                    path("d.master_user_secret_kms_key_arn"),
                ),
                for_expr(None, "c", call("values", vec![path("module.cache")]), None, path("c.auth_token_kms_key_arn")),
                for_expr(None, "c", call("values", vec![path("module.cache")]), None, path("c.endpoint_kms_key_arn")),
            ],
        )],
    );
    f.push(
        data("aws_iam_policy_document", "external_secrets")
            .b(statement(
                "ReadEnvironmentSecrets",
                &[
                    "secretsmanager:GetResourcePolicy",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:ListSecretVersionIds",
                ],
                list([tpl("arn:${data.aws_partition.current.partition}:secretsmanager:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:secret:cerverus/${var.environment}/*")]),
            ))
            .b(statement(
                "ReadStoreCredentials",
                &[
                    "secretsmanager:GetResourcePolicy",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:ListSecretVersionIds",
                ],
                store_secrets,
            ))
            .b(statement("DecryptSecrets", &["kms:Decrypt"], secret_keys)
                .b(condition("StringEquals", "kms:ViaService", list([tpl("secretsmanager.${data.aws_region.current.region}.amazonaws.com")])))),
    );
    // velero-plugin-for-aws's published policy (data/reference/iam/velero-plugin-for-aws.json):
    // EBS snapshot and volume calls on "*" with no tag conditions (a condition on aws:ResourceTag
    // can never hold for a snapshot or volume being created), the backup bucket's objects and
    // listing, and the bucket key.
    f.push(
        data("aws_iam_policy_document", "velero")
            .skip(
                "CKV_AWS_356",
                "the upstream velero-plugin-for-aws policy: Velero snapshots the EBS volume of any PersistentVolume it backs up and restores volumes from those snapshots, whose IDs are not known in advance",
            )
            .skip(
                "CKV_AWS_111",
                "the upstream velero-plugin-for-aws policy: snapshot and volume creation cannot be scoped to resources that do not exist yet",
            )
            .b(statement(
                "ListBackups",
                &["s3:ListBucket"],
                list([path("module.storage.bucket_arns[\"cerverus-backups\"]")]),
            ))
            .b(statement(
                "ReadWriteBackups",
                &[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:PutObjectTagging",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                list([tpl("${module.storage.bucket_arns[\"cerverus-backups\"]}/*")]),
            ))
            .b(statement(
                "EncryptBackups",
                &["kms:Decrypt", "kms:GenerateDataKey"],
                list([path("module.storage.kms_key_arn")]),
            ))
            .b(statement(
                "VolumeSnapshots",
                &[
                    "ec2:DescribeVolumes",
                    "ec2:DescribeSnapshots",
                    "ec2:CreateTags",
                    "ec2:CreateVolume",
                    "ec2:CreateSnapshot",
                    "ec2:DeleteSnapshot",
                ],
                strs(["*"]),
            )),
    );
    // The public zones of the spec's hosts: cert-manager may write TXT records there and nowhere
    // else. A zone the account does not host fails the plan here, not the first issuance.
    f.push(
        data("aws_route53_zone", "public")
            .a("for_each", call("toset", vec![var("public_zones")]))
            .a("name", path("each.value"))
            .a("private_zone", false),
    );
    f.push(
        data("aws_iam_policy_document", "cert_manager")
            .skip("CKV_AWS_356", "route53:ListHostedZonesByName cannot be scoped to resources")
            .b(statement(
                "GetChange",
                &["route53:GetChange"],
                list([tpl("arn:${data.aws_partition.current.partition}:route53:::change/*")]),
            ))
            .b(statement(
                "ChangeTxtRecords",
                &["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                for_expr(None, "z", call("values", vec![path("data.aws_route53_zone.public")]), None, path("z.arn")),
            )
            .b(condition(
                "ForAllValues:StringEquals",
                "route53:ChangeResourceRecordSetsRecordTypes",
                strs(["TXT"]),
            )))
            .b(statement("FindZones", &["route53:ListHostedZonesByName"], strs(["*"]))),
    );
    // The controller's own published policy for the pinned version, statement for statement.
    let mut lbc = data("aws_iam_policy_document", "load_balancer_controller")
        .skip("CKV_AWS_356", "the upstream aws-load-balancer-controller v2.13 policy (data/reference/iam): Describe/Get calls of EC2, ELB, ACM, WAF and Shield cannot be scoped to resources")
        .skip("CKV_AWS_111", "the upstream aws-load-balancer-controller v2.13 policy: creates are conditioned on aws:RequestTag/elbv2.k8s.aws/cluster and changes on aws:ResourceTag/elbv2.k8s.aws/cluster; listener, rule, WAF and Shield calls act on resources the controller discovers from annotations");
    lbc = lbc.bs(iam_json::statements(iam_json::LOAD_BALANCER_CONTROLLER).unwrap_or_default());
    f.push(lbc);

    // The Mountpoint for S3 CSI driver mounts with its own role (driver-level credentials), so it
    // reaches exactly the buckets workloads declare, with the access they declare: AWS's
    // documented minimum for Mountpoint (list the bucket; read, and for writers put, abort and
    // delete objects) plus the bucket key.
    let declared = |field: &str| {
        call(
            "distinct",
            vec![call(
                "flatten",
                vec![for_expr(
                    None,
                    "r",
                    call("values", vec![var("workload_roles")]),
                    None,
                    path(&format!("r.{field}")),
                )],
            )],
        )
    };
    f.push(
        block("locals")
            .a("mounted_read_buckets", declared("read_buckets"))
            .a("mounted_write_buckets", declared("write_buckets")),
    );
    let all_mounted = call(
        "distinct",
        vec![call("concat", vec![path("local.mounted_read_buckets"), path("local.mounted_write_buckets")])],
    );
    f.push(
        data("aws_iam_policy_document", "s3_csi")
            .b(statement(
                "MountDeclaredBuckets",
                &["s3:ListBucket"],
                for_expr(None, "b", all_mounted.clone(), None, path("module.storage.bucket_arns[b]")),
            ))
            .b(statement(
                "ReadDeclaredObjects",
                &["s3:GetObject"],
                for_expr(None, "b", all_mounted, None, tpl("${module.storage.bucket_arns[b]}/*")),
            ))
            .b(dynamic(
                "statement",
                cond(gt(call("length", vec![path("local.mounted_write_buckets")]), num(0)), list([num(1)]), list([])),
                block("content")
                    .a("sid", "WriteDeclaredObjects")
                    .a("effect", "Allow")
                    .a("actions", strs(["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]))
                    .a(
                        "resources",
                        for_expr(
                            None,
                            "b",
                            path("local.mounted_write_buckets"),
                            None,
                            tpl("${module.storage.bucket_arns[b]}/*"),
                        ),
                    ),
            ))
            .b(statement(
                "UseBucketKey",
                &["kms:Decrypt", "kms:GenerateDataKey"],
                list([path("module.storage.kms_key_arn")]),
            )),
    );

    // IRSA roles: the workloads', then the add-ons'. Which roles have an inline policy is decided
    // here from static keys; the documents (unknown until the resources they name exist) are only
    // the map's values, so every for_each over them has known keys at plan time.
    let workload_roles = for_expr(
        Some("k"),
        "r",
        var("workload_roles"),
        Some(path("k")),
        object([
            ("namespace", path("r.namespace")),
            ("service_account", path("r.service_account")),
            ("policy_arns", list([])),
        ]),
    );
    let workload_policies = for_expr(
        Some("k"),
        "r",
        var("workload_roles"),
        Some(path("k")),
        path("data.aws_iam_policy_document.workload[k].json"),
    );
    let addon_role =
        |a: &AddonRole| {
            (
                a.key,
                object([
                    ("namespace", s(a.namespace)),
                    ("service_account", s(a.service_account)),
                    (
                        "policy_arns",
                        list(a.managed.iter().map(|m| {
                            tpl(format!("arn:${{data.aws_partition.current.partition}}:iam::aws:policy/{m}"))
                        })),
                    ),
                ]),
            )
        };
    let addon_policies: Vec<(&str, Expression)> = ADDON_ROLES
        .iter()
        .filter_map(|a| {
            addon_policy_document(a.key).map(|doc| (a.key, path(&format!("data.aws_iam_policy_document.{doc}.json"))))
        })
        .filter(|(k, _)| *k != "s3-csi" && *k != "cert-manager")
        .collect();
    // cert-manager's document names the public zones; without a public host it would have a
    // statement with no resource, which IAM rejects — and DNS-01 has nothing to do.
    let cert_manager_policy = cond(
        gt(call("length", vec![var("public_zones")]), num(0)),
        object([("cert-manager", path("data.aws_iam_policy_document.cert_manager.json"))]),
        Expression::Object(Default::default()),
    );
    // The Mountpoint driver's document has no statement to grant when no workload declares a
    // bucket; whether one does is known from the tfvars.
    let s3_csi_policy = cond(
        gt(
            call(
                "length",
                vec![call("concat", vec![path("local.mounted_read_buckets"), path("local.mounted_write_buckets")])],
            ),
            num(0),
        ),
        object([("s3-csi", path("data.aws_iam_policy_document.s3_csi.json"))]),
        Expression::Object(Default::default()),
    );
    f.push(
        block("locals")
            .a("irsa_roles", call("merge", vec![workload_roles, object(ADDON_ROLES.iter().map(addon_role))]))
            .a(
                "irsa_inline_policies",
                call("merge", vec![workload_policies, object(addon_policies), s3_csi_policy, cert_manager_policy]),
            ),
    );
    f
}

/// The `aws_iam_policy_document` (in `iam.tf`) of an add-on's inline policy, if it has one.
fn addon_policy_document(key: &str) -> Option<&'static str> {
    match key {
        "cluster-autoscaler" => Some("cluster_autoscaler"),
        "aws-load-balancer-controller" => Some("load_balancer_controller"),
        "node-termination-handler" => Some("node_termination_handler"),
        "external-secrets" => Some("external_secrets"),
        "velero" => Some("velero"),
        "cert-manager" => Some("cert_manager"),
        "s3-csi" => Some("s3_csi"),
        _ => None,
    }
}

fn root_outputs() -> Vec<super::module::Output> {
    vec![
        output("cluster_name", "EKS cluster name.", path("module.eks.cluster_name")),
        output("cluster_endpoint", "API server endpoint.", path("module.eks.cluster_endpoint")),
        output(
            "vpc_id",
            "VPC ID (the aws-load-balancer-controller's `vpcId`: its pods cannot reach IMDS, hop limit 1).",
            path("module.network.vpc_id"),
        ),
        output(
            "region",
            "Region of the cluster (the aws-load-balancer-controller's `region`).",
            path("data.aws_region.current.region"),
        ),
        output(
            "access_role_arns",
            "IAM roles people assume for their Kubernetes groups, by key.",
            path("module.eks.access_role_arns"),
        ),
        output(
            "postgres_endpoints",
            "Writer endpoints by store.",
            for_expr(Some("k"), "d", path("module.database"), Some(path("k")), path("d.endpoint")),
        ),
        output(
            "redis_endpoints",
            "Primary endpoints by store.",
            for_expr(Some("k"), "c", path("module.cache"), Some(path("k")), path("c.primary_endpoint")),
        ),
        output("bucket_ids", "Bucket names by base name.", path("module.storage.bucket_ids")),
        output("irsa_role_arns", "IAM roles of the cluster's service accounts.", path("module.eks.irsa_role_arns")),
        output(
            "public_zone_ids",
            "Route 53 zone IDs of the public hosts' zones, by name (cert-manager finds them by name).",
            for_expr(Some("k"), "z", path("data.aws_route53_zone.public"), Some(path("k")), path("z.zone_id")),
        ),
        output(
            "secret_rotation_function_arns",
            "Rotation functions by PostgreSQL store.",
            for_expr(Some("k"), "m", path("module.secret_rotation"), Some(path("k")), path("m.function_arn")),
        ),
        output(
            "node_termination_queue_url",
            "Queue for aws-node-termination-handler.",
            path("module.eks.node_termination_queue_url"),
        ),
    ]
}

fn taint_effect(e: TaintEffect) -> &'static str {
    match e {
        TaintEffect::NoSchedule => "NO_SCHEDULE",
        TaintEffect::PreferNoSchedule => "PREFER_NO_SCHEDULE",
        TaintEffect::NoExecute => "NO_EXECUTE",
    }
}

fn str_map<'a>(m: impl IntoIterator<Item = (&'a String, &'a String)>) -> Expression {
    object(m.into_iter().map(|(k, v)| (k.clone(), s(v.as_str()))))
}

/// This environment's values for the root variables.
fn tfvars(platform: &Platform, env: &Env) -> Body {
    let cidrs = |t: SubnetTier| strs_owned(env.network.tier(t).map(|s| s.cidr.to_string()));
    let node_groups = object(env.node_groups().into_iter().map(|g| {
        (
            g.name.clone(),
            object([
                ("instance_types", strs_owned(g.instance_types.iter().cloned())),
                ("capacity_type", s(g.capacity.eks_name())),
                ("ami_type", s(if g.gpus_per_node > 0 { "AL2023_x86_64_NVIDIA" } else { "AL2023_x86_64_STANDARD" })),
                ("min_size", num(i64::from(g.min))),
                ("desired_size", num(i64::from(g.desired))),
                ("max_size", num(i64::from(g.max))),
                ("disk_gib", num(i64::from(g.disk_gib))),
                ("labels", str_map(&g.labels)),
                ("availability_zones", strs_owned(g.zone.iter().cloned())),
                (
                    "taints",
                    list(g.taints.iter().map(|t| {
                        object([
                            ("key", s(t.key.as_str())),
                            ("value", s(t.value.as_str())),
                            ("effect", s(taint_effect(t.effect))),
                        ])
                    })),
                ),
            ]),
        )
    }));
    let postgres = object(env.postgres.iter().map(|p| {
        (
            p.name.clone(),
            object([
                ("engine_version", s(p.engine_version.as_str())),
                ("instance_class", s(p.instance_class.as_str())),
                ("allocated_storage", num(i64::from(p.storage_gib))),
                ("max_allocated_storage", num(i64::from(p.max_storage_gib))),
                ("port", num(i64::from(p.port))),
                ("multi_az", Expression::Bool(p.multi_az)),
                ("read_replicas", num(i64::from(p.read_replicas))),
                ("backup_retention_days", num(i64::from(p.backup_retention_days))),
                ("cross_region_backups", Expression::Bool(p.cross_region_backups)),
            ]),
        )
    }));
    let redis = object(env.redis.iter().map(|r| {
        (
            r.name.clone(),
            object([
                ("engine_version", s(r.engine_version.as_str())),
                ("node_type", s(r.node_type.as_str())),
                ("replicas", num(i64::from(r.replicas))),
                ("port", num(i64::from(r.port))),
            ]),
        )
    }));
    let access = |pick: &dyn Fn(&Target) -> Option<(String, u16)>| {
        let mut m: std::collections::BTreeMap<String, (u16, Vec<String>)> = std::collections::BTreeMap::new();
        for e in &env.graph.edges {
            if let Some((name, port)) = pick(&e.to) {
                let entry = m.entry(name).or_insert((port, Vec::new()));
                if !entry.1.contains(&e.from) {
                    entry.1.push(e.from.clone());
                }
            }
        }
        object(m.into_iter().map(|(k, (port, clients))| {
            (k, object([("port", num(i64::from(port))), ("clients", strs_owned(clients))]))
        }))
    };
    let postgres_access = access(&|t| match t {
        Target::Postgres { name } => env.postgres.iter().find(|p| &p.name == name).map(|p| (name.clone(), p.port)),
        _ => None,
    });
    let redis_access = access(&|t| match t {
        Target::Redis { name } => env.redis.iter().find(|r| &r.name == name).map(|r| (name.clone(), r.port)),
        _ => None,
    });
    let buckets = object(env.buckets.iter().map(|b| {
        let l = &b.spec.lifecycle;
        (
            b.spec.name.clone(),
            object([
                ("class", s(format!("{:?}", b.spec.class).to_ascii_lowercase())),
                ("infrequent_access_after_days", num(i64::from(l.infrequent_access_after_days.unwrap_or(0)))),
                ("glacier_after_days", num(i64::from(l.glacier_after_days.unwrap_or(0)))),
                ("expire_after_days", num(i64::from(l.expire_after_days.unwrap_or(0)))),
                ("replicate", Expression::Bool(b.spec.replicate)),
            ]),
        )
    }));
    let mut secrets: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for w in &env.workloads {
        for sec in &w.secrets {
            let e = secrets.entry(sec.name.clone()).or_insert(format!("Read by {}", w.name()));
            if !e.contains(w.name()) {
                e.push_str(&format!(", {}", w.name()));
            }
        }
    }
    // The platform services' own secrets (Alertmanager receivers, Grafana admin), read by
    // ExternalSecrets in the monitoring namespace.
    for (name, description) in crate::addons::observability::platform_secrets() {
        secrets.entry(name.to_string()).or_insert(description.to_string());
    }
    let rotations = crate::kubernetes::certificates::rotation::plan(env);
    let secrets = object(secrets.into_iter().map(|(k, d)| {
        let r = rotations.iter().find(|r| r.secret == k);
        let (days, method, store) =
            r.map_or((0, "none", ""), |r| (r.days, r.method.terraform_name(), r.method.store().unwrap_or_default()));
        (
            k,
            object([
                ("description", s(d)),
                ("rotation_days", num(i64::from(days))),
                ("rotation", s(method)),
                ("postgres_store", s(store)),
            ]),
        )
    }));
    let public_zones = strs_owned(crate::kubernetes::certificates::public_zones(env));
    let workload_roles = object(env.service_account_roles().into_iter().map(|r| {
        let read: Vec<String> =
            r.buckets.iter().filter(|(_, a)| **a == BucketAccess::Read).map(|(b, _)| b.clone()).collect();
        let write: Vec<String> =
            r.buckets.iter().filter(|(_, a)| **a == BucketAccess::ReadWrite).map(|(b, _)| b.clone()).collect();
        (
            format!("{}/{}", r.namespace, r.service_account),
            object([
                ("namespace", s(r.namespace.as_str())),
                ("service_account", s(r.service_account.as_str())),
                ("read_buckets", strs_owned(read)),
                ("write_buckets", strs_owned(write)),
            ]),
        )
    }));
    let mut b = Body::builder();
    for (k, v) in [
        ("environment", s(env.name.as_str())),
        ("cluster_name", s(env.cluster_name.as_str())),
        ("vpc_cidr", s(env.network.vpc_cidr.to_string())),
        ("azs", strs_owned(env.network.azs.iter().cloned())),
        ("public_subnets", cidrs(SubnetTier::Public)),
        ("private_subnets", cidrs(SubnetTier::Private)),
        ("data_subnets", cidrs(SubnetTier::Data)),
        ("single_nat_gateway", Expression::Bool(env.network.nat == cerverus_spec::NatMode::Single)),
        ("kubernetes_version", s(env.kubernetes_version.as_str())),
        ("endpoint_public_access", Expression::Bool(env.endpoint.public)),
        ("public_access_cidrs", strs_owned(env.endpoint.public_cidrs.iter().cloned())),
        ("cluster_log_types", strs_owned(env.log_types.iter().map(|l| l.eks_name().to_string()))),
        ("cluster_log_retention_days", num(i64::from(env.log_retention_days))),
        ("ssh_key_name", env.ssh_key_name.as_deref().map_or(Expression::Null, s)),
        ("admin_role_arns", strs_owned(env.admin_role_arns.iter().cloned())),
        ("admin_kubernetes_groups", strs_owned([cerverus_model::break_glass_group(&platform.name)])),
        (
            "access_groups",
            object(env.access_groups(&platform.name).into_iter().map(|(k, groups)| (k, strs_owned(groups)))),
        ),
        ("node_groups", node_groups),
        ("postgres", postgres),
        ("redis", redis),
        ("postgres_access", postgres_access),
        ("redis_access", redis_access),
        ("buckets", buckets),
        ("secrets", secrets),
        ("public_zones", public_zones),
        ("workload_roles", workload_roles),
    ] {
        b = b.add_attribute((k, v));
    }
    b.build()
}

fn strs_owned(items: impl IntoIterator<Item = String>) -> Expression {
    list(items.into_iter().map(s))
}
