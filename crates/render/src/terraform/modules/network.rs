//! `network`: VPC, three subnet tiers per AZ, internet and NAT gateways, route tables, the data
//! tier's NACL, flow logs, and the VPC endpoints private nodes need.

use crate::terraform::dsl::*;
use crate::terraform::module::{Module, Variable, output};

use super::common::{account_data, kms_key, logs_service, principals, standard_variables, statement};

/// Interface endpoints private nodes use instead of NAT for AWS APIs.
pub const INTERFACE_ENDPOINTS: &[&str] = &[
    "ec2",
    "ecr.api",
    "ecr.dkr",
    "elasticloadbalancing",
    "logs",
    "secretsmanager",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "sts",
    "kms",
];

pub fn module() -> Module {
    let mut vars = standard_variables("Prefix for resource names, e.g. `cerverus-prod`.");
    vars.extend([
        Variable::new("vpc_cidr", ty("string"), "IPv4 range of the VPC.").validate(
            call("can", vec![call("cidrhost", vec![var("vpc_cidr"), num(0)])]),
            "vpc_cidr must be a valid IPv4 CIDR block.",
        ),
        Variable::new("azs", list_of(ty("string")), "Availability zones, one subnet per tier in each.").validate(
            ge(call("length", vec![var("azs")]), num(2)),
            "At least two availability zones are needed for high availability.",
        ),
        Variable::new(
            "public_subnets",
            list_of(ty("string")),
            "CIDRs of the public subnets (load balancers, NAT gateways), in AZ order.",
        )
        .validate(
            eq(call("length", vec![var("public_subnets")]), call("length", vec![var("azs")])),
            "One public subnet per availability zone.",
        ),
        Variable::new(
            "private_subnets",
            list_of(ty("string")),
            "CIDRs of the private subnets (nodes and pods), in AZ order.",
        )
        .validate(
            eq(call("length", vec![var("private_subnets")]), call("length", vec![var("azs")])),
            "One private subnet per availability zone.",
        ),
        Variable::new(
            "data_subnets",
            list_of(ty("string")),
            "CIDRs of the data subnets (RDS, ElastiCache; no internet route), in AZ order.",
        )
        .validate(
            eq(call("length", vec![var("data_subnets")]), call("length", vec![var("azs")])),
            "One data subnet per availability zone.",
        ),
        Variable::new(
            "single_nat_gateway",
            ty("bool"),
            "One shared NAT gateway instead of one per AZ (cheaper; an AZ loss cuts egress).",
        )
        .default(false),
        Variable::new(
            "cluster_name",
            ty("string"),
            "EKS cluster name, for the subnet tags EKS and the load balancer controller read.",
        ),
        Variable::new(
            "data_ports",
            list_of(ty("number")),
            "TCP ports the data tier serves to the VPC (PostgreSQL, Redis).",
        )
        .default(list([num(5432), num(6379)])),
        Variable::new("flow_log_retention_days", ty("number"), "Days to keep VPC flow logs.").default(365).validate(
            ge(var("flow_log_retention_days"), num(365)),
            "Keep flow logs at least a year (CIS 3.x, PCI DSS 10.5).",
        ),
        Variable::new(
            "interface_endpoints",
            call("set", vec![ty("string")]),
            "AWS services reached through interface VPC endpoints.",
        )
        .default(strs(INTERFACE_ENDPOINTS.iter().copied())),
    ]);

    let mut f = File::new();
    account_data(&mut f);
    f.push(
        resource("aws_vpc", "this")
            .a("cidr_block", var("vpc_cidr"))
            .a("enable_dns_support", true)
            .a("enable_dns_hostnames", true)
            .tags_named(var("name")),
    );
    f.comment("The default security group is emptied so nothing can use it by accident.");
    f.push(
        resource("aws_default_security_group", "this")
            .a("vpc_id", path("aws_vpc.this.id"))
            .tags_named(tpl("${var.name}-default-deny")),
    );
    f.push(resource("aws_internet_gateway", "this").a("vpc_id", path("aws_vpc.this.id")).tags_named(var("name")));

    let n = call("length", vec![var("azs")]);
    f.trivy_ignore(
        "AVD-AWS-0164",
        "public subnets hold internet-facing load balancers and NAT gateways; nodes run in private subnets",
    );
    f.push(
        resource("aws_subnet", "public")
            .skip("CKV_AWS_130", "public subnets hold internet-facing load balancers and NAT gateways only; nodes and pods run in the private subnets")
            .a("count", n.clone())
            .a("vpc_id", path("aws_vpc.this.id"))
            .a("cidr_block", path("var.public_subnets[count.index]"))
            .a("availability_zone", path("var.azs[count.index]"))
            .a("map_public_ip_on_launch", true)
            .a(
                "tags",
                call(
                    "merge",
                    vec![
                        var("tags"),
                        object([
                            ("Name", tpl("${var.name}-public-${var.azs[count.index]}")),
                            ("kubernetes.io/role/elb", s("1")),
                            ("kubernetes.io/cluster/${var.cluster_name}", s("shared")),
                        ]),
                    ],
                ),
            ),
    );
    f.push(
        resource("aws_subnet", "private")
            .a("count", n.clone())
            .a("vpc_id", path("aws_vpc.this.id"))
            .a("cidr_block", path("var.private_subnets[count.index]"))
            .a("availability_zone", path("var.azs[count.index]"))
            .a(
                "tags",
                call(
                    "merge",
                    vec![
                        var("tags"),
                        object([
                            ("Name", tpl("${var.name}-private-${var.azs[count.index]}")),
                            ("kubernetes.io/role/internal-elb", s("1")),
                            ("kubernetes.io/cluster/${var.cluster_name}", s("shared")),
                        ]),
                    ],
                ),
            ),
    );
    f.push(
        resource("aws_subnet", "data")
            .a("count", n.clone())
            .a("vpc_id", path("aws_vpc.this.id"))
            .a("cidr_block", path("var.data_subnets[count.index]"))
            .a("availability_zone", path("var.azs[count.index]"))
            .tags_named(tpl("${var.name}-data-${var.azs[count.index]}")),
    );

    let nat_count = cond(var("single_nat_gateway"), num(1), n.clone());
    f.push(
        resource("aws_eip", "nat")
            .skip("CKV2_AWS_19", "this Elastic IP belongs to a NAT gateway, not an EC2 instance")
            .a("count", nat_count.clone())
            .a("domain", "vpc")
            .tags_named(tpl("${var.name}-nat-${count.index}")),
    );
    f.push(
        resource("aws_nat_gateway", "this")
            .a("count", nat_count)
            .a("allocation_id", path("aws_eip.nat[count.index].id"))
            .a("subnet_id", path("aws_subnet.public[count.index].id"))
            .tags_named(tpl("${var.name}-nat-${count.index}"))
            .a("depends_on", list([path("aws_internet_gateway.this")])),
    );

    f.push(
        resource("aws_route_table", "public")
            .a("vpc_id", path("aws_vpc.this.id"))
            .tags_named(tpl("${var.name}-public")),
    );
    f.push(
        resource("aws_route", "public_internet")
            .a("route_table_id", path("aws_route_table.public.id"))
            .a("destination_cidr_block", "0.0.0.0/0")
            .a("gateway_id", path("aws_internet_gateway.this.id")),
    );
    f.push(
        resource("aws_route_table_association", "public")
            .a("count", n.clone())
            .a("subnet_id", path("aws_subnet.public[count.index].id"))
            .a("route_table_id", path("aws_route_table.public.id")),
    );
    f.push(
        resource("aws_route_table", "private")
            .a("count", n.clone())
            .a("vpc_id", path("aws_vpc.this.id"))
            .tags_named(tpl("${var.name}-private-${var.azs[count.index]}")),
    );
    f.push(
        resource("aws_route", "private_nat")
            .a("count", n.clone())
            .a("route_table_id", path("aws_route_table.private[count.index].id"))
            .a("destination_cidr_block", "0.0.0.0/0")
            .a("nat_gateway_id", path("aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id")),
    );
    f.push(
        resource("aws_route_table_association", "private")
            .a("count", n.clone())
            .a("subnet_id", path("aws_subnet.private[count.index].id"))
            .a("route_table_id", path("aws_route_table.private[count.index].id")),
    );
    f.comment("The data tier's route table has only the local route: no internet, no NAT.");
    f.push(
        resource("aws_route_table", "data").a("vpc_id", path("aws_vpc.this.id")).tags_named(tpl("${var.name}-data")),
    );
    f.push(
        resource("aws_route_table_association", "data")
            .a("count", n.clone())
            .a("subnet_id", path("aws_subnet.data[count.index].id"))
            .a("route_table_id", path("aws_route_table.data.id")),
    );

    // Data-tier NACL: the data ports from inside the VPC, replies to inside the VPC, nothing else.
    let mut nacl = resource("aws_network_acl", "data")
        .a("vpc_id", path("aws_vpc.this.id"))
        .a("subnet_ids", path("aws_subnet.data[*].id"));
    nacl = nacl.b(dynamic(
        "ingress",
        var("data_ports"),
        block("content")
            .a("rule_no", plus(num(100), path("ingress.key")))
            .a("action", "allow")
            .a("protocol", "tcp")
            .a("cidr_block", var("vpc_cidr"))
            .a("from_port", path("ingress.value"))
            .a("to_port", path("ingress.value")),
    ));
    nacl = nacl.b(block("egress")
        .a("rule_no", 100)
        .a("action", "allow")
        .a("protocol", "tcp")
        .a("cidr_block", var("vpc_cidr"))
        .a("from_port", 1024)
        .a("to_port", 65535));
    f.push(nacl.tags_named(tpl("${var.name}-data")));

    // Flow logs to an encrypted log group.
    kms_key(
        &mut f,
        "logs",
        tpl("alias/${var.name}-flow-logs"),
        tpl("VPC flow logs of ${var.name}"),
        &[logs_service()],
        None,
    );
    f.push(
        resource("aws_cloudwatch_log_group", "flow_logs")
            .a("name", tpl("/aws/vpc/${var.name}/flow-logs"))
            .a("retention_in_days", var("flow_log_retention_days"))
            .a("kms_key_id", path("aws_kms_key.logs.arn"))
            .a("tags", var("tags")),
    );
    f.push(
        data("aws_iam_policy_document", "flow_logs_assume").b(statement(
            "FlowLogsAssume",
            &["sts:AssumeRole"],
            list([]),
        )
        .b(principals("Service", strs(["vpc-flow-logs.amazonaws.com"])))),
    );
    f.push(
        resource("aws_iam_role", "flow_logs")
            .a("name", tpl("${var.name}-flow-logs"))
            .a("assume_role_policy", path("data.aws_iam_policy_document.flow_logs_assume.json"))
            .a("tags", var("tags")),
    );
    f.push(data("aws_iam_policy_document", "flow_logs").b(statement(
        "WriteFlowLogs",
        &["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        list([tpl("${aws_cloudwatch_log_group.flow_logs.arn}:*")]),
    )));
    f.push(
        resource("aws_iam_role_policy", "flow_logs")
            .a("name", "write-flow-logs")
            .a("role", path("aws_iam_role.flow_logs.id"))
            .a("policy", path("data.aws_iam_policy_document.flow_logs.json")),
    );
    f.push(
        resource("aws_flow_log", "this")
            .a("vpc_id", path("aws_vpc.this.id"))
            .a("traffic_type", "ALL")
            .a("log_destination", path("aws_cloudwatch_log_group.flow_logs.arn"))
            .a("iam_role_arn", path("aws_iam_role.flow_logs.arn"))
            .a("max_aggregation_interval", 60)
            .tags_named(var("name")),
    );

    // Endpoints: S3 and DynamoDB through the route tables, the rest through ENIs.
    for svc in ["s3", "dynamodb"] {
        f.push(
            resource("aws_vpc_endpoint", svc)
                .a("vpc_id", path("aws_vpc.this.id"))
                .a("service_name", tpl(format!("com.amazonaws.${{data.aws_region.current.region}}.{svc}")))
                .a("vpc_endpoint_type", "Gateway")
                .a(
                    "route_table_ids",
                    call(
                        "concat",
                        vec![path("aws_route_table.private[*].id"), list([path("aws_route_table.data.id")])],
                    ),
                )
                .tags_named(tpl(format!("${{var.name}}-{svc}"))),
        );
    }
    f.push(
        resource("aws_security_group", "endpoints")
            .a("name", tpl("${var.name}-vpc-endpoints"))
            .a("description", "HTTPS from inside the VPC to the interface VPC endpoints")
            .a("vpc_id", path("aws_vpc.this.id"))
            .tags_named(tpl("${var.name}-vpc-endpoints")),
    );
    f.push(
        resource("aws_vpc_security_group_ingress_rule", "endpoints_https")
            .a("security_group_id", path("aws_security_group.endpoints.id"))
            .a("description", "HTTPS to AWS APIs from anything in the VPC")
            .a("cidr_ipv4", var("vpc_cidr"))
            .a("ip_protocol", "tcp")
            .a("from_port", 443)
            .a("to_port", 443),
    );
    f.push(
        resource("aws_vpc_endpoint", "interface")
            .a("for_each", var("interface_endpoints"))
            .a("vpc_id", path("aws_vpc.this.id"))
            .a("service_name", tpl("com.amazonaws.${data.aws_region.current.region}.${each.value}"))
            .a("vpc_endpoint_type", "Interface")
            .a("private_dns_enabled", true)
            .a("subnet_ids", path("aws_subnet.private[*].id"))
            .a("security_group_ids", list([path("aws_security_group.endpoints.id")]))
            .tags_named(tpl("${var.name}-${each.value}")),
    );

    Module {
        name: "network",
        description: "The VPC: public, private and data subnets in every availability zone, an internet gateway, \
NAT gateways (one per AZ, or one shared), route tables (the data tier has no route out of the VPC), \
a network ACL that admits only the data ports from inside the VPC to the data tier, VPC flow logs to \
a KMS-encrypted log group, gateway endpoints for S3 and DynamoDB and interface endpoints for the AWS \
APIs private nodes call. Subnets carry the tags EKS and the AWS Load Balancer Controller discover them by."
            .into(),
        variables: vars,
        outputs: vec![
            output("vpc_id", "ID of the VPC.", path("aws_vpc.this.id")),
            output("vpc_cidr", "IPv4 range of the VPC.", path("aws_vpc.this.cidr_block")),
            output("public_subnet_ids", "Public subnet IDs, in AZ order.", path("aws_subnet.public[*].id")),
            output("private_subnet_ids", "Private subnet IDs, in AZ order.", path("aws_subnet.private[*].id")),
            output("data_subnet_ids", "Data subnet IDs, in AZ order.", path("aws_subnet.data[*].id")),
            output("nat_gateway_ids", "NAT gateway IDs.", path("aws_nat_gateway.this[*].id")),
            output(
                "nat_public_ips",
                "Public IPs of the NAT gateways (what external APIs see).",
                path("aws_eip.nat[*].public_ip"),
            ),
            output(
                "private_route_table_ids",
                "Route table IDs of the private subnets.",
                path("aws_route_table.private[*].id"),
            ),
            output("data_route_table_id", "Route table ID of the data subnets.", path("aws_route_table.data.id")),
        ],
        main: f,
        uses_dr_provider: false,
        extra_providers: Vec::new(),
    }
}
