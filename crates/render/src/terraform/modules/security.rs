//! `security-groups`: the cluster, node, database, cache, load balancer and bastion security
//! groups. Data-store ingress comes from the spec's dependency graph: the environment passes one
//! entry per store that some workload declares, and nothing else is opened to the data tier.

use crate::terraform::dsl::*;
use crate::terraform::module::{Module, Variable, output};

use super::common::standard_variables;

/// Checkov reads a port range that spans 3389 as "open to the world" even when the source is a
/// security group.
const SG_SOURCE: &str = "the source is a security group (referenced_security_group_id), not 0.0.0.0/0; the range spans 3389 only because it is the kubelet and webhook port range the control plane needs";

/// Trivy waiver reason for the nodes' egress to the internet.
const NODE_EGRESS: &str = "nodes pull images and call the market-data APIs over HTTPS through the NAT gateways; NetworkPolicies narrow egress per workload";

fn ingress(name: &str, sg: &str, desc: impl Into<hcl::Expression>) -> B {
    resource("aws_vpc_security_group_ingress_rule", name)
        .a("security_group_id", path(&format!("aws_security_group.{sg}.id")))
        .a("description", desc)
}

fn egress(name: &str, sg: &str, desc: impl Into<hcl::Expression>) -> B {
    resource("aws_vpc_security_group_egress_rule", name)
        .a("security_group_id", path(&format!("aws_security_group.{sg}.id")))
        .a("description", desc)
}

/// A security group; `attached_by` says where it is attached (checkov cannot follow module
/// outputs, so every group carries that as the reason of its CKV2_AWS_5 waiver).
fn group(name: &str, suffix: &str, description: &str, attached_by: &str) -> B {
    tagged_group(name, suffix, description, attached_by, Vec::new())
}

fn tagged_group(
    name: &str,
    suffix: &str,
    description: &str,
    attached_by: &str,
    extra_tags: Vec<(&str, hcl::Expression)>,
) -> B {
    let mut tags = vec![("Name", tpl(format!("${{var.name}}-{suffix}")))];
    tags.extend(extra_tags);
    resource("aws_security_group", name)
        .skip("CKV2_AWS_5", attached_by)
        .a("name", tpl(format!("${{var.name}}-{suffix}")))
        .a("description", description)
        .a("vpc_id", var("vpc_id"))
        .a("tags", call("merge", vec![var("tags"), object(tags)]))
        .b(block("lifecycle").a("create_before_destroy", true))
}

fn tcp(b: B, from: impl Into<hcl::Expression>, to: impl Into<hcl::Expression>) -> B {
    b.a("ip_protocol", "tcp").a("from_port", from).a("to_port", to)
}

pub fn module() -> Module {
    let mut vars = standard_variables("Prefix for security group names, e.g. `cerverus-prod`.");
    vars.extend([
        Variable::new("vpc_id", ty("string"), "VPC the groups belong to."),
        Variable::new("vpc_cidr", ty("string"), "IPv4 range of the VPC (DNS and endpoint traffic stays inside it)."),
        Variable::new(
            "postgres_access",
            map_of(object_of([("port", ty("number")), ("clients", list_of(ty("string")))])),
            "PostgreSQL stores reached from the cluster, by name: port and the workloads that declare them (from the spec's dependency graph).",
        )
        .default(hcl::Expression::Object(Default::default())),
        Variable::new(
            "redis_access",
            map_of(object_of([("port", ty("number")), ("clients", list_of(ty("string")))])),
            "Redis stores reached from the cluster, by name: port and the workloads that declare them.",
        )
        .default(hcl::Expression::Object(Default::default())),
        Variable::new("node_egress_ports", list_of(ty("number")), "TCP ports nodes may reach on the internet (through NAT).")
            .default(list([num(443)])),
    ]);

    let mut f = File::new();
    f.push(group(
        "eks_cluster",
        "eks-cluster",
        "EKS control plane: API server traffic to and from the nodes",
        "attached to the cluster's control-plane ENIs by the eks module (vpc_config.security_group_ids, from this module's cluster_security_group_id output)",
    ));
    // The aws-load-balancer-controller manages the load balancers the cluster's Services and
    // Ingresses ask for, with security groups of its own; it opens the nodes to them by adding
    // rules to the one group on the nodes' ENIs tagged kubernetes.io/cluster/<cluster>.
    f.push(tagged_group(
        "eks_nodes",
        "eks-nodes",
        "EKS worker nodes and the pods on them",
        "attached to every node by the eks module's launch templates (vpc_security_group_ids, from this module's node_security_group_id output)",
        vec![("kubernetes.io/cluster/${var.name}", s("owned"))],
    ));
    f.push(group(
        "rds",
        "rds",
        "RDS PostgreSQL: reachable only from EKS nodes, on the ports workloads declare",
        "attached to the PostgreSQL instances by the database module (vpc_security_group_ids, from this module's rds_security_group_id output)",
    ));
    f.push(group(
        "redis",
        "redis",
        "ElastiCache Redis: reachable only from EKS nodes, on the ports workloads declare",
        "attached to the Redis replication groups by the cache module (security_group_ids, from this module's redis_security_group_id output)",
    ));
    f.push(group(
        "efs",
        "efs",
        "EFS mount targets: NFS from EKS nodes only",
        "for the mount targets of the environment's EFS file system (the spec's efsFileSystemId), which this bundle does not create yet: they must be given this group (output efs_security_group_id)",
    ));
    f.push(group(
        "bastion",
        "bastion",
        "Administrative access through SSM Session Manager: no inbound rules at all",
        "for the SSM bastion instance, which the bundle does not create yet (README: known gaps); nothing uses the group until then",
    ));

    // Control plane <-> nodes.
    f.push(
        tcp(ingress("cluster_from_nodes", "eks_cluster", "Kubernetes API from the nodes"), 443, 443)
            .a("referenced_security_group_id", path("aws_security_group.eks_nodes.id")),
    );
    f.push(
        tcp(egress("cluster_to_nodes_kubelet", "eks_cluster", "Kubelet and webhooks on the nodes"), 1025, 65535)
            .a("referenced_security_group_id", path("aws_security_group.eks_nodes.id")),
    );
    f.push(
        tcp(
            egress("cluster_to_nodes_https", "eks_cluster", "Extension API servers and webhooks on 443 on the nodes"),
            443,
            443,
        )
        .a("referenced_security_group_id", path("aws_security_group.eks_nodes.id")),
    );
    f.push(
        tcp(
            ingress("nodes_from_cluster_kubelet", "eks_nodes", "Kubelet and webhooks from the control plane")
                .skip("CKV_AWS_25", SG_SOURCE),
            1025,
            65535,
        )
        .a("referenced_security_group_id", path("aws_security_group.eks_cluster.id")),
    );
    f.push(
        tcp(ingress("nodes_from_cluster_https", "eks_nodes", "Webhooks on 443 from the control plane"), 443, 443)
            .a("referenced_security_group_id", path("aws_security_group.eks_cluster.id")),
    );
    f.push(
        ingress(
            "nodes_from_nodes",
            "eks_nodes",
            "Pod-to-pod and node-to-node traffic (NetworkPolicies and Istio narrow it per workload)",
        )
        .a("ip_protocol", "-1")
        .a("referenced_security_group_id", path("aws_security_group.eks_nodes.id")),
    );
    f.push(
        egress("nodes_to_nodes", "eks_nodes", "Pod-to-pod and node-to-node traffic")
            .a("ip_protocol", "-1")
            .a("referenced_security_group_id", path("aws_security_group.eks_nodes.id")),
    );
    f.push(
        tcp(egress("nodes_to_cluster", "eks_nodes", "Kubernetes API"), 443, 443)
            .a("referenced_security_group_id", path("aws_security_group.eks_cluster.id")),
    );
    f.push(
        tcp(egress("nodes_to_vpc_https", "eks_nodes", "AWS APIs through the interface VPC endpoints"), 443, 443)
            .a("cidr_ipv4", var("vpc_cidr")),
    );
    f.push(
        tcp(egress("nodes_dns_tcp", "eks_nodes", "DNS to the VPC resolver (TCP)"), 53, 53)
            .a("cidr_ipv4", var("vpc_cidr")),
    );
    f.push(
        egress("nodes_dns_udp", "eks_nodes", "DNS to the VPC resolver (UDP)")
            .a("ip_protocol", "udp")
            .a("from_port", 53)
            .a("to_port", 53)
            .a("cidr_ipv4", var("vpc_cidr")),
    );
    f.trivy_ignore("AVD-AWS-0104", NODE_EGRESS);
    f.push(
        tcp(
            egress(
                "nodes_to_internet",
                "eks_nodes",
                tpl("Internet on port ${each.value} through NAT (images, market-data APIs)"),
            )
            .a("for_each", call("toset", vec![call("formatlist", vec![s("%d"), var("node_egress_ports")])])),
            path("each.value"),
            path("each.value"),
        )
        .a("cidr_ipv4", "0.0.0.0/0"),
    );

    // Data stores: exactly the declared dependencies.
    f.push(
        tcp(
            ingress(
                "rds_from_nodes",
                "rds",
                tpl("PostgreSQL ${each.key} from EKS nodes, for: ${join(\", \", each.value.clients)}"),
            )
            .a("for_each", var("postgres_access")),
            path("each.value.port"),
            path("each.value.port"),
        )
        .a("referenced_security_group_id", path("aws_security_group.eks_nodes.id")),
    );
    f.push(
        tcp(
            egress(
                "nodes_to_rds",
                "eks_nodes",
                tpl("PostgreSQL ${each.key}, for: ${join(\", \", each.value.clients)}"),
            )
            .a("for_each", var("postgres_access")),
            path("each.value.port"),
            path("each.value.port"),
        )
        .a("referenced_security_group_id", path("aws_security_group.rds.id")),
    );
    f.push(
        tcp(
            ingress(
                "redis_from_nodes",
                "redis",
                tpl("Redis ${each.key} from EKS nodes, for: ${join(\", \", each.value.clients)}"),
            )
            .a("for_each", var("redis_access")),
            path("each.value.port"),
            path("each.value.port"),
        )
        .a("referenced_security_group_id", path("aws_security_group.eks_nodes.id")),
    );
    f.push(
        tcp(
            egress("nodes_to_redis", "eks_nodes", tpl("Redis ${each.key}, for: ${join(\", \", each.value.clients)}"))
                .a("for_each", var("redis_access")),
            path("each.value.port"),
            path("each.value.port"),
        )
        .a("referenced_security_group_id", path("aws_security_group.redis.id")),
    );

    // Shared files: NFS between the nodes and the EFS mount targets, nothing else.
    f.push(
        tcp(egress("nodes_to_efs", "eks_nodes", "NFS to the EFS mount targets (cerverus-efs volumes)"), 2049, 2049)
            .a("referenced_security_group_id", path("aws_security_group.efs.id")),
    );
    f.push(
        tcp(
            ingress("efs_from_nodes", "efs", "NFS from the EKS nodes (the EFS CSI driver mounts on the node)"),
            2049,
            2049,
        )
        .a("referenced_security_group_id", path("aws_security_group.eks_nodes.id")),
    );

    // Bastion: no ingress; SSM agent talks out to the VPC endpoints.
    f.push(
        tcp(
            egress("bastion_to_endpoints", "bastion", "SSM Session Manager through the interface VPC endpoints"),
            443,
            443,
        )
        .a("cidr_ipv4", var("vpc_cidr")),
    );

    Module {
        name: "security-groups",
        description:
            "Security groups per role — `eks_cluster`, `eks_nodes`, `rds`, `redis`, `efs`, `bastion` — with one \
described rule per resource. PostgreSQL and Redis accept connections only from the nodes and only on the ports \
of stores some workload declares in the spec (`postgres_access`, `redis_access`); EFS only NFS from the nodes; \
nothing is open to 0.0.0.0/0: load balancers are created by the aws-load-balancer-controller with security \
groups it manages, and it opens the nodes to them through the node group's `kubernetes.io/cluster/<name>` tag; \
the bastion has no inbound rule at all (access is through SSM)."
                .into(),
        variables: vars,
        outputs: vec![
            output(
                "cluster_security_group_id",
                "Security group of the EKS control plane.",
                path("aws_security_group.eks_cluster.id"),
            ),
            output(
                "node_security_group_id",
                "Security group of the EKS nodes.",
                path("aws_security_group.eks_nodes.id"),
            ),
            output(
                "rds_security_group_id",
                "Security group of the PostgreSQL instances.",
                path("aws_security_group.rds.id"),
            ),
            output(
                "redis_security_group_id",
                "Security group of the Redis replication groups.",
                path("aws_security_group.redis.id"),
            ),
            output(
                "efs_security_group_id",
                "Security group for the EFS mount targets (NFS from the nodes).",
                path("aws_security_group.efs.id"),
            ),
            output(
                "bastion_security_group_id",
                "Security group of the SSM bastion.",
                path("aws_security_group.bastion.id"),
            ),
        ],
        main: f,
        uses_dr_provider: false,
        extra_providers: Vec::new(),
    }
}
