//! `eks`: the cluster (private subnets, KMS envelope encryption, all control-plane logs, access
//! entries), the OIDC provider and IRSA roles, managed node groups on hardened launch templates,
//! core add-ons, and the SQS queue that carries spot interruption notices to the node
//! termination handler.

use hcl::Expression;

use crate::terraform::dsl::*;
use crate::terraform::module::{Module, Variable, output};

use super::common::{
    KEY_POLICY_REASON, account_data, account_root, condition, kms_key, logs_service, principals, standard_variables,
    statement,
};

/// The Auto Scaling group tag key aws-node-termination-handler checks before draining (the chart's
/// `managedTag` default).
pub const NTH_MANAGED_TAG: &str = "aws-node-termination-handler/managed";

/// AWS-managed policies, by role. Each is the narrowest AWS publishes for the job.
const CLUSTER_POLICIES: &[&str] = &["AmazonEKSClusterPolicy", "AmazonEKSVPCResourceController"];
const NODE_POLICIES: &[&str] = &[
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
];

/// Node user data: a MIME part that EKS merges with its own bootstrap (AL2023 nodeadm).
const USER_DATA: &str = r#"MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="//"

--//
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash
# Node customisation, run before the kubelet joins the cluster.
set -euo pipefail
cat > /etc/sysctl.d/90-cerverus.conf <<'SYSCTL'
net.core.somaxconn = 4096
net.ipv4.tcp_max_syn_backlog = 8192
vm.max_map_count = 262144
fs.inotify.max_user_watches = 524288
SYSCTL
sysctl --system
--//--
"#;

fn role(f: &mut File, local: &str, suffix: &str, service: &str, managed: &[&str]) {
    f.push(
        data("aws_iam_policy_document", &format!("{local}_assume")).b(statement(
            "AssumeRole",
            &["sts:AssumeRole"],
            list([]),
        )
        .b(principals("Service", strs([service])))),
    );
    f.push(
        resource("aws_iam_role", local)
            .a("name", tpl(format!("${{var.name}}-{suffix}")))
            .a("assume_role_policy", path(&format!("data.aws_iam_policy_document.{local}_assume.json")))
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_iam_role_policy_attachment", local)
            .a("for_each", call("toset", vec![strs(managed.iter().copied())]))
            .a("role", path(&format!("aws_iam_role.{local}.name")))
            .a("policy_arn", tpl("arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.value}")),
    );
}

/// The key of the nodes' EBS volumes. A customer-managed key, not `aws/ebs`: GuardDuty's malware
/// scan snapshots a volume and shares the snapshot with its service account, which AWS-managed keys
/// do not allow. Auto Scaling launches the instances of every node group through its service-linked
/// role and must be able to use the key (without it the launch fails with Client.InvalidKMSKey);
/// GuardDuty's malware-protection service-linked role gets the same use for the scan. The roles are
/// named by `aws:PrincipalArn` (with `kms:CallerAccount`) rather than as principals because KMS
/// rejects a key policy naming a role that does not exist yet, and Auto Scaling creates its role
/// only when the account's first group is created, after this key.
fn node_volume_key(f: &mut File) {
    let slr = |service: &str, role: &str| {
        tpl(format!(
            "arn:${{data.aws_partition.current.partition}}:iam::${{data.aws_caller_identity.current.account_id}}:role/aws-service-role/{service}/{role}"
        ))
    };
    let service_roles = list([
        slr("autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling"),
        slr("malware-protection.guardduty.amazonaws.com", "AWSServiceRoleForAmazonGuardDutyMalwareProtection"),
    ]);
    f.push(
        data("aws_iam_policy_document", "ebs_key")
            .skip("CKV_AWS_109", KEY_POLICY_REASON)
            .skip("CKV_AWS_111", KEY_POLICY_REASON)
            .skip("CKV_AWS_356", KEY_POLICY_REASON)
            .b(statement("AccountAdministration", &["kms:*"], strs(["*"])).b(principals("AWS", list([account_root()]))))
            .b(statement(
                "ServiceLinkedRolesUseTheKey",
                &["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                strs(["*"]),
            )
            .b(principals("*", strs(["*"])))
            .b(condition("ArnEquals", "aws:PrincipalArn", service_roles.clone()))
            .b(condition(
                "StringEquals",
                "kms:CallerAccount",
                list([path("data.aws_caller_identity.current.account_id")]),
            )))
            .b(statement("ServiceLinkedRolesAttachVolumes", &["kms:CreateGrant"], strs(["*"]))
                .b(principals("*", strs(["*"])))
                .b(condition("ArnEquals", "aws:PrincipalArn", service_roles))
                .b(condition(
                    "StringEquals",
                    "kms:CallerAccount",
                    list([path("data.aws_caller_identity.current.account_id")]),
                ))
                .b(condition("Bool", "kms:GrantIsForAWSResource", strs(["true"])))),
    );
    f.push(
        resource("aws_kms_key", "ebs")
            .a("description", tpl("EBS volumes of the nodes of ${var.name}"))
            .a("enable_key_rotation", true)
            .a("deletion_window_in_days", 30)
            .a("policy", path("data.aws_iam_policy_document.ebs_key.json"))
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_kms_alias", "ebs")
            .a("name", tpl("alias/${var.name}-ebs"))
            .a("target_key_id", path("aws_kms_key.ebs.key_id")),
    );
}

pub fn module() -> Module {
    let mut vars = standard_variables("EKS cluster name, also the prefix for its IAM roles.");
    vars.extend([
        Variable::new("kubernetes_version", ty("string"), "Kubernetes minor version, e.g. \"1.35\".")
            .validate(call("can", vec![call("regex", vec![s("^1\\.[0-9]+$"), var("kubernetes_version")])]), "kubernetes_version must look like 1.35."),
        Variable::new("private_subnet_ids", list_of(ty("string")), "Private subnets for the control plane ENIs and the nodes.")
            .validate(ge(call("length", vec![var("private_subnet_ids")]), num(2)), "EKS needs subnets in at least two availability zones."),
        Variable::new("cluster_security_group_id", ty("string"), "Security group for the control plane ENIs."),
        Variable::new("node_security_group_id", ty("string"), "Security group for the nodes."),
        Variable::new("endpoint_private_access", ty("bool"), "Reach the API server from inside the VPC.").default(true),
        Variable::new("endpoint_public_access", ty("bool"), "Reach the API server from the internet (restricted to public_access_cidrs).").default(false),
        Variable::new("public_access_cidrs", list_of(ty("string")), "CIDRs allowed to reach a public API endpoint.")
            .default(list([]))
            .validate(
                eq(call("contains", vec![var("public_access_cidrs"), s("0.0.0.0/0")]), Expression::Bool(false)),
                "A public endpoint must not be open to 0.0.0.0/0.",
            ),
        Variable::new("log_types", list_of(ty("string")), "Control-plane log types sent to CloudWatch.")
            .default(strs(["api", "audit", "authenticator", "controllerManager", "scheduler"]))
            .validate(
                call(
                    "alltrue",
                    vec![for_expr(
                        None,
                        "t",
                        var("log_types"),
                        None,
                        call("contains", vec![strs(["api", "audit", "authenticator", "controllerManager", "scheduler"]), path("t")]),
                    )],
                ),
                "log_types may contain only api, audit, authenticator, controllerManager and scheduler.",
            ),
        Variable::new("log_retention_days", ty("number"), "Days to keep control-plane logs.")
            .default(365)
            .validate(ge(var("log_retention_days"), num(365)), "Keep control-plane logs at least a year."),
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
                ("taints", list_of(object_of([("key", ty("string")), ("value", ty("string")), ("effect", ty("string"))]))),
                ("availability_zones", optional(list_of(ty("string")), Some(list([])))),
            ])),
            "Managed node groups by name. A spec node pool with a spot share becomes an ON_DEMAND and a SPOT group; a group pinned to availability_zones launches only in those zones' private subnets (empty: every zone).",
        )
        .validate(
            call(
                "alltrue",
                vec![for_expr(
                    None,
                    "g",
                    var("node_groups"),
                    None,
                    and(and(le(path("g.min_size"), path("g.desired_size")), le(path("g.desired_size"), path("g.max_size"))), call("contains", vec![strs(["ON_DEMAND", "SPOT"]), path("g.capacity_type")])),
                )],
            ),
            "Each node group needs min_size <= desired_size <= max_size and capacity_type ON_DEMAND or SPOT.",
        ),
        Variable::new("ssh_key_name", ty("string"), "EC2 key pair for SSH to nodes; null (the default) means no SSH: use SSM Session Manager.")
            .default(Expression::Null),
        Variable::new("admin_role_arns", list_of(ty("string")), "IAM roles granted cluster-admin through EKS access entries (break-glass).")
            .default(list([])),
        Variable::new("admin_kubernetes_groups", list_of(ty("string")), "Kubernetes groups of the break-glass admin roles' access entries (the group the cluster binds to cluster-admin).")
            .default(list([])),
        Variable::new(
            "private_subnet_ids_by_az",
            map_of(ty("string")),
            "Private subnet ID by availability zone, for node groups pinned to zones.",
        )
        .default(Expression::Object(Default::default())),
        Variable::new(
            "irsa_roles",
            map_of(object_of([
                ("namespace", ty("string")),
                ("service_account", ty("string")),
                ("policy_arns", list_of(ty("string"))),
            ])),
            "IAM roles for service accounts, by key: the ServiceAccount they trust and the managed policies they get.",
        )
        .default(Expression::Object(Default::default())),
        Variable::new(
            "irsa_inline_policies",
            map_of(ty("string")),
            "Inline policy document per IRSA role key (a key of irsa_roles). A separate map, not an attribute of irsa_roles, so that which roles get one is known at plan time even though the documents name resources created in the same apply.",
        )
        .default(Expression::Object(Default::default())),
        Variable::new(
            "access_groups",
            map_of(list_of(ty("string"))),
            "Kubernetes RBAC groups by access role key: each key becomes an IAM role (assumable from this account) with an EKS access entry carrying those kubernetes_groups and no access policy, so only the cluster's RoleBindings decide what it may do.",
        )
        .default(Expression::Object(Default::default())),
    ]);

    let mut f = File::new();
    account_data(&mut f);
    kms_key(
        &mut f,
        "secrets",
        tpl("alias/${var.name}-eks-secrets"),
        tpl("Envelope encryption of Kubernetes secrets in ${var.name}"),
        &[],
        None,
    );
    kms_key(
        &mut f,
        "logs",
        tpl("alias/${var.name}-eks-logs"),
        tpl("Control-plane logs of ${var.name}"),
        &[logs_service()],
        None,
    );
    f.push(
        resource("aws_cloudwatch_log_group", "cluster")
            .a("name", tpl("/aws/eks/${var.name}/cluster"))
            .a("retention_in_days", var("log_retention_days"))
            .a("kms_key_id", path("aws_kms_key.logs.arn"))
            .a("tags", var("tags")),
    );
    role(&mut f, "cluster", "cluster", "eks.amazonaws.com", CLUSTER_POLICIES);
    f.push(
        resource("aws_eks_cluster", "this")
            .a("name", var("name"))
            .a("role_arn", path("aws_iam_role.cluster.arn"))
            .a("version", var("kubernetes_version"))
            .a("enabled_cluster_log_types", var("log_types"))
            .a("deletion_protection", true)
            .b(block("vpc_config")
                .a("subnet_ids", var("private_subnet_ids"))
                .a("security_group_ids", list([var("cluster_security_group_id")]))
                .a("endpoint_private_access", var("endpoint_private_access"))
                .a("endpoint_public_access", var("endpoint_public_access"))
                .a("public_access_cidrs", cond(var("endpoint_public_access"), var("public_access_cidrs"), list([]))))
            .b(block("encryption_config")
                .a("resources", strs(["secrets"]))
                .b(block("provider").a("key_arn", path("aws_kms_key.secrets.arn"))))
            .b(block("access_config")
                .a("authentication_mode", "API")
                .a("bootstrap_cluster_creator_admin_permissions", false))
            .tags_named(var("name"))
            .a(
                "depends_on",
                list([path("aws_cloudwatch_log_group.cluster"), path("aws_iam_role_policy_attachment.cluster")]),
            ),
    );

    // Access entries, not the aws-auth ConfigMap.
    f.push(
        resource("aws_eks_access_entry", "admin")
            .a("for_each", call("toset", vec![var("admin_role_arns")]))
            .a("cluster_name", path("aws_eks_cluster.this.name"))
            .a("principal_arn", path("each.value"))
            .a("kubernetes_groups", var("admin_kubernetes_groups"))
            .a("type", "STANDARD")
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_eks_access_policy_association", "admin")
            .a("for_each", call("toset", vec![var("admin_role_arns")]))
            .a("cluster_name", path("aws_eks_cluster.this.name"))
            .a("principal_arn", path("each.value"))
            .a("policy_arn", tpl("arn:${data.aws_partition.current.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"))
            .b(block("access_scope").a("type", "cluster"))
            .a("depends_on", list([path("aws_eks_access_entry.admin")])),
    );

    // Operators and developers: an IAM role per RBAC group set, mapped to its Kubernetes groups.
    // The access entry carries no access policy: the groups' RoleBindings are the whole grant.
    f.push(
        data("aws_iam_policy_document", "access_assume").b(statement(
            "AssumeFromThisAccountWithMfa",
            &["sts:AssumeRole"],
            list([]),
        )
        .b(principals("AWS", list([account_root()])))
        .b(condition("Bool", "aws:MultiFactorAuthPresent", strs(["true"])))),
    );
    f.push(
        resource("aws_iam_role", "access")
            .a("for_each", var("access_groups"))
            .a("name", tpl("${var.name}-k8s-${each.key}"))
            .a("description", tpl("Kubernetes groups ${join(\", \", each.value)} in ${var.name}"))
            .a("assume_role_policy", path("data.aws_iam_policy_document.access_assume.json"))
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_eks_access_entry", "groups")
            .a("for_each", var("access_groups"))
            .a("cluster_name", path("aws_eks_cluster.this.name"))
            .a("principal_arn", path("aws_iam_role.access[each.key].arn"))
            .a("kubernetes_groups", path("each.value"))
            .a("type", "STANDARD")
            .a("tags", var("tags")),
    );

    // IRSA.
    f.push(
        resource("aws_iam_openid_connect_provider", "this")
            .a("url", path("aws_eks_cluster.this.identity[0].oidc[0].issuer"))
            .a("client_id_list", strs(["sts.amazonaws.com"]))
            .a("tags", var("tags")),
    );
    f.push(
        data("aws_iam_policy_document", "irsa_assume").a("for_each", var("irsa_roles")).b(statement(
            "AssumeFromServiceAccount",
            &["sts:AssumeRoleWithWebIdentity"],
            list([]),
        )
        .b(principals("Federated", list([path("aws_iam_openid_connect_provider.this.arn")])))
        .b(condition(
            "StringEquals",
            tpl("${replace(aws_iam_openid_connect_provider.this.url, \"https://\", \"\")}:sub"),
            list([tpl("system:serviceaccount:${each.value.namespace}:${each.value.service_account}")]),
        ))
        .b(condition(
            "StringEquals",
            tpl("${replace(aws_iam_openid_connect_provider.this.url, \"https://\", \"\")}:aud"),
            strs(["sts.amazonaws.com"]),
        ))),
    );
    f.push(
        resource("aws_iam_role", "irsa")
            .a("for_each", var("irsa_roles"))
            .a("name", tpl("${var.name}-${each.value.namespace}-${each.value.service_account}"))
            .a("assume_role_policy", path("data.aws_iam_policy_document.irsa_assume[each.key].json"))
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_iam_role_policy_attachments_exclusive", "irsa")
            .a("for_each", var("irsa_roles"))
            .a("role_name", path("aws_iam_role.irsa[each.key].name"))
            .a("policy_arns", path("each.value.policy_arns")),
    );
    // Keyed by the static keys of irsa_inline_policies: the documents themselves are unknown until
    // the buckets, secrets and queues they name exist, and for_each keys must be known at plan.
    f.push(
        resource("aws_iam_role_policy", "irsa")
            .a("for_each", var("irsa_inline_policies"))
            .a("name", "workload")
            .a("role", path("aws_iam_role.irsa[each.key].id"))
            .a("policy", path("each.value")),
    );

    // Nodes.
    role(&mut f, "node", "node", "ec2.amazonaws.com", NODE_POLICIES);
    node_volume_key(&mut f);
    f.push(
        resource("aws_launch_template", "node")
            .a("for_each", var("node_groups"))
            .a("name_prefix", tpl("${var.name}-${each.key}-"))
            .a("description", tpl("Nodes of ${var.name} group ${each.key}: IMDSv2 only, gp3 root volume encrypted with the node volume key"))
            .a("update_default_version", true)
            .a("key_name", var("ssh_key_name"))
            .a("vpc_security_group_ids", list([var("node_security_group_id")]))
            .a("user_data", call("base64encode", vec![heredoc(USER_DATA)]))
            .b(block("metadata_options")
                .a("http_endpoint", "enabled")
                .a("http_tokens", "required")
                .a("http_put_response_hop_limit", 1)
                .a("instance_metadata_tags", "disabled"))
            .b(block("block_device_mappings").a("device_name", "/dev/xvda").b(block("ebs")
                .a("volume_size", path("each.value.disk_gib"))
                .a("volume_type", "gp3")
                .a("encrypted", true)
                .a("kms_key_id", path("aws_kms_key.ebs.arn"))
                .a("delete_on_termination", true)))
            .b(block("monitoring").a("enabled", true))
            .bs(["instance", "volume"].map(|rt| {
                let mut own = vec![("Name", tpl("${var.name}-${each.key}"))];
                // The node termination handler drains only instances carrying its tag. The ASG tag
                // (propagate_at_launch) reaches only instances launched after it exists; the launch
                // template tags every instance from its first launch.
                if rt == "instance" {
                    own.push((NTH_MANAGED_TAG, s("true")));
                }
                block("tag_specifications").a("resource_type", rt).a("tags", call("merge", vec![var("tags"), object(own)]))
            }))
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_eks_node_group", "this")
            .a("for_each", var("node_groups"))
            .a("cluster_name", path("aws_eks_cluster.this.name"))
            .a("node_group_name", path("each.key"))
            .a("node_role_arn", path("aws_iam_role.node.arn"))
            .a(
                "subnet_ids",
                cond(
                    eq(call("length", vec![path("each.value.availability_zones")]), num(0)),
                    var("private_subnet_ids"),
                    for_expr(
                        None,
                        "az",
                        path("each.value.availability_zones"),
                        None,
                        path("var.private_subnet_ids_by_az[az]"),
                    ),
                ),
            )
            .a("capacity_type", path("each.value.capacity_type"))
            .a("ami_type", path("each.value.ami_type"))
            .a("instance_types", path("each.value.instance_types"))
            .a("labels", path("each.value.labels"))
            .b(block("scaling_config")
                .a("min_size", path("each.value.min_size"))
                .a("desired_size", path("each.value.desired_size"))
                .a("max_size", path("each.value.max_size")))
            .b(block("update_config").a("max_unavailable_percentage", 33))
            .b(block("launch_template")
                .a("id", path("aws_launch_template.node[each.key].id"))
                .a("version", path("aws_launch_template.node[each.key].latest_version")))
            .b(dynamic(
                "taint",
                path("each.value.taints"),
                block("content")
                    .a("key", path("taint.value.key"))
                    .a("value", path("taint.value.value"))
                    .a("effect", path("taint.value.effect")),
            ))
            .a(
                "tags",
                call(
                    "merge",
                    vec![
                        var("tags"),
                        object([
                            ("k8s.io/cluster-autoscaler/enabled", s("true")),
                            ("k8s.io/cluster-autoscaler/${var.name}", s("owned")),
                        ]),
                        for_expr(
                            Some("k"),
                            "v",
                            path("each.value.labels"),
                            Some(tpl("k8s.io/cluster-autoscaler/node-template/label/${k}")),
                            path("v"),
                        ),
                    ],
                ),
            )
            .b(block("lifecycle").a("ignore_changes", list([path("scaling_config[0].desired_size")])))
            .a("depends_on", list([path("aws_iam_role_policy_attachment.node")])),
    );
    // aws-node-termination-handler (queue processor, checkTagBeforeDraining left at its default
    // true) acts only on instances whose Auto Scaling group carries this tag key: the EventBridge
    // rules see every instance in the account, the tag limits the drains to this cluster's nodes.
    // Node group tags do not reach the group's ASG, so the ASG is tagged here.
    f.push(
        resource("aws_autoscaling_group_tag", "node_termination_managed")
            .a("for_each", var("node_groups"))
            .a(
                "autoscaling_group_name",
                path("aws_eks_node_group.this[each.key].resources[0].autoscaling_groups[0].name"),
            )
            .b(block("tag").a("key", NTH_MANAGED_TAG).a("value", "true").a("propagate_at_launch", true)),
    );

    // Core add-ons.
    for (local, name, sa_role) in [
        ("vpc_cni", "vpc-cni", None),
        ("coredns", "coredns", None),
        ("kube_proxy", "kube-proxy", None),
        ("ebs_csi", "aws-ebs-csi-driver", Some("ebs-csi")),
    ] {
        let mut b = resource("aws_eks_addon", local)
            .a("cluster_name", path("aws_eks_cluster.this.name"))
            .a("addon_name", name)
            .a("resolve_conflicts_on_create", "OVERWRITE")
            .a("resolve_conflicts_on_update", "OVERWRITE")
            .a("tags", var("tags"));
        if let Some(key) = sa_role {
            b = b.a(
                "service_account_role_arn",
                call("try", vec![path(&format!("aws_iam_role.irsa[\"{key}\"].arn")), Expression::Null]),
            );
        }
        if name == "vpc-cni" {
            // The network policy agent enforces NetworkPolicies; without it they are accepted and
            // ignored. The add-on's configuration schema types this key as a string.
            b = b.a("configuration_values", call("jsonencode", vec![object([("enableNetworkPolicy", s("true"))])]));
        }
        if name == "coredns" || name == "aws-ebs-csi-driver" {
            b = b.a("depends_on", list([path("aws_eks_node_group.this")]));
        }
        f.push(b);
    }

    // Spot interruptions and rebalance recommendations → SQS → aws-node-termination-handler.
    f.push(
        resource("aws_sqs_queue", "node_termination")
            .a("name", tpl("${var.name}-node-termination"))
            .a("message_retention_seconds", 300)
            .a("sqs_managed_sse_enabled", true)
            .a("tags", var("tags")),
    );
    // Upstream's queue policy (data/reference/iam/aws-node-termination-handler-sqs-queue-policy.json),
    // narrowed to this cluster's rules: without aws:SourceArn any EventBridge rule in any account
    // could feed the handler drain notices.
    f.push(
        data("aws_iam_policy_document", "node_termination_queue").b(statement(
            "EventBridgeSends",
            &["sqs:SendMessage"],
            list([path("aws_sqs_queue.node_termination.arn")]),
        )
        .b(principals("Service", strs(["events.amazonaws.com", "sqs.amazonaws.com"])))
        .b(condition(
            "ArnEquals",
            "aws:SourceArn",
            for_expr(
                None,
                "r",
                call("values", vec![path("aws_cloudwatch_event_rule.node_termination")]),
                None,
                path("r.arn"),
            ),
        ))),
    );
    f.push(
        resource("aws_sqs_queue_policy", "node_termination")
            .a("queue_url", path("aws_sqs_queue.node_termination.id"))
            .a("policy", path("data.aws_iam_policy_document.node_termination_queue.json")),
    );
    let events = object([
        (
            "spot_interruption",
            call(
                "jsonencode",
                vec![object([
                    ("source", strs(["aws.ec2"])),
                    ("detail-type", strs(["EC2 Spot Instance Interruption Warning"])),
                ])],
            ),
        ),
        (
            "rebalance",
            call(
                "jsonencode",
                vec![object([
                    ("source", strs(["aws.ec2"])),
                    ("detail-type", strs(["EC2 Instance Rebalance Recommendation"])),
                ])],
            ),
        ),
        (
            "state_change",
            call(
                "jsonencode",
                vec![object([
                    ("source", strs(["aws.ec2"])),
                    ("detail-type", strs(["EC2 Instance State-change Notification"])),
                ])],
            ),
        ),
        (
            "scheduled_change",
            call(
                "jsonencode",
                // EC2 scheduled changes only (retirements, maintenance reboots): the handler acts on
                // every event it receives, and other Health events concern no instance of this cluster.
                vec![object([
                    ("source", strs(["aws.health"])),
                    ("detail-type", strs(["AWS Health Event"])),
                    ("detail", object([("service", strs(["EC2"])), ("eventTypeCategory", strs(["scheduledChange"]))])),
                ])],
            ),
        ),
    ]);
    f.push(
        resource("aws_cloudwatch_event_rule", "node_termination")
            .a("for_each", events)
            .a("name", tpl("${var.name}-${replace(each.key, \"_\", \"-\")}"))
            .a("description", tpl("${each.key} notices for the node termination handler of ${var.name}"))
            .a("event_pattern", path("each.value"))
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_cloudwatch_event_target", "node_termination")
            .a("for_each", path("aws_cloudwatch_event_rule.node_termination"))
            .a("rule", path("each.value.name"))
            .a("arn", path("aws_sqs_queue.node_termination.arn")),
    );

    Module {
        name: "eks",
        description:
            "The EKS cluster in private subnets with KMS envelope encryption of secrets, all five control-plane log \
types (KMS-encrypted, retained at least a year), access entries instead of aws-auth (break-glass admin roles \
with the cluster-admin access policy; one assumable role per group in `access_groups`, mapped to its Kubernetes \
groups and nothing else), an IAM OIDC provider with IAM roles for service accounts (inline policies keyed \
statically, so plans know them), managed node groups (on-demand and spot, optionally pinned to zones) on launch \
templates that require IMDSv2 with hop limit 1, encrypt gp3 root volumes with a customer-managed key Auto \
Scaling and GuardDuty malware scanning can use, and customise the node through user data, the core add-ons \
(vpc-cni enforcing NetworkPolicies), and an SQS queue, accepting only this cluster's EventBridge rules, with spot \
interruption, rebalance, state-change and scheduled-maintenance notices for aws-node-termination-handler, whose \
tag the node groups' Auto Scaling groups carry. Node groups carry the cluster-autoscaler discovery and \
node-template tags. SSH is off unless `ssh_key_name` is set; nodes are reachable through SSM."
                .into(),
        variables: vars,
        outputs: vec![
            output("cluster_name", "Name of the cluster.", path("aws_eks_cluster.this.name")),
            output("cluster_arn", "ARN of the cluster.", path("aws_eks_cluster.this.arn")),
            output("cluster_endpoint", "API server endpoint.", path("aws_eks_cluster.this.endpoint")),
            output(
                "cluster_certificate_authority_data",
                "Base64 CA bundle of the API server.",
                path("aws_eks_cluster.this.certificate_authority[0].data"),
            ),
            output(
                "oidc_provider_arn",
                "ARN of the IAM OIDC provider (for IRSA trust policies).",
                path("aws_iam_openid_connect_provider.this.arn"),
            ),
            output("node_role_arn", "IAM role of the nodes.", path("aws_iam_role.node.arn")),
            output(
                "irsa_role_arns",
                "IRSA role ARNs by key.",
                for_expr(Some("k"), "r", path("aws_iam_role.irsa"), Some(path("k")), path("r.arn")),
            ),
            output(
                "node_termination_queue_url",
                "SQS queue the node termination handler reads.",
                path("aws_sqs_queue.node_termination.url"),
            ),
            output("secrets_kms_key_arn", "KMS key that encrypts Kubernetes secrets.", path("aws_kms_key.secrets.arn")),
            output(
                "node_volume_kms_key_arn",
                "KMS key that encrypts the nodes' EBS volumes.",
                path("aws_kms_key.ebs.arn"),
            ),
            output(
                "access_role_arns",
                "IAM roles mapped to Kubernetes groups, by key.",
                for_expr(Some("k"), "r", path("aws_iam_role.access"), Some(path("k")), path("r.arn")),
            ),
        ],
        main: f,
        uses_dr_provider: false,
        extra_providers: Vec::new(),
    }
}
