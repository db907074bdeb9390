//! `database`: one RDS PostgreSQL store — Multi-AZ primary, read replicas, KMS encryption, a
//! managed master password in Secrets Manager, a hardened parameter group, 7-day backups with
//! point-in-time recovery, Performance Insights, enhanced monitoring, and automated backups
//! replicated to the DR region. `cache`: one ElastiCache Redis replication group.

use crate::terraform::dsl::*;
use crate::terraform::module::{Module, Variable, output};

use super::common::{account_data, kms_key, principals, standard_variables, statement};

/// `split(".", version)[0]`: the major of a `major.minor` version.
fn major(version: hcl::Expression) -> hcl::Expression {
    hcl::expr::Traversal::new(call("split", vec![s("."), version]), [hcl::expr::TraversalOperator::Index(num(0))])
        .into()
}

/// The logs every PostgreSQL instance exports to CloudWatch.
const LOG_EXPORTS: [&str; 2] = ["postgresql", "upgrade"];

pub fn postgres() -> Module {
    let mut vars = standard_variables("RDS identifier of the primary, e.g. `cerverus-db-prod`.");
    vars.extend([
        Variable::new("engine_version", ty("string"), "PostgreSQL engine version, e.g. \"17.6\": its major is what the instances are created with; the minor is the one the spec was written against and AWS keeps upgrading.").validate(
            call("can", vec![call("regex", vec![s("^[0-9]+\\.[0-9]+$"), var("engine_version")])]),
            "engine_version must look like 17.6.",
        ),
        Variable::new("instance_class", ty("string"), "Instance class of the primary and the replicas.").validate(
            call("startswith", vec![var("instance_class"), s("db.")]),
            "instance_class must be an RDS class such as db.r6g.2xlarge.",
        ),
        Variable::new("allocated_storage", ty("number"), "Initial storage in GiB.")
            .validate(ge(var("allocated_storage"), num(20)), "RDS needs at least 20 GiB."),
        Variable::new("max_allocated_storage", ty("number"), "Ceiling for storage autoscaling in GiB."),
        Variable::new("port", ty("number"), "Port PostgreSQL listens on.").default(5432),
        Variable::new("multi_az", ty("bool"), "Synchronous standby in a second AZ.").default(true),
        Variable::new("read_replicas", ty("number"), "Number of read replicas.").default(0).validate(
            and(ge(var("read_replicas"), num(0)), le(var("read_replicas"), num(5))),
            "RDS PostgreSQL supports 0 to 5 read replicas here.",
        ),
        Variable::new("backup_retention_days", ty("number"), "Days of automated backups (and point-in-time recovery).")
            .default(7)
            .validate(
                and(ge(var("backup_retention_days"), num(7)), le(var("backup_retention_days"), num(35))),
                "Keep 7 to 35 days of backups.",
            ),
        Variable::new("cross_region_backups", ty("bool"), "Replicate automated backups to the DR region.")
            .default(true),
        Variable::new("subnet_ids", list_of(ty("string")), "Data-tier subnets."),
        Variable::new("security_group_ids", list_of(ty("string")), "Security groups of the instances."),
        Variable::new("database_name", ty("string"), "Initial database.").default("cerverus"),
        Variable::new("log_retention_days", ty("number"), "Days to keep the exported PostgreSQL and upgrade logs.")
            .default(365),
        Variable::new(
            "master_username",
            ty("string"),
            "Master user; its password is generated and kept in Secrets Manager by RDS.",
        )
        .default("cerverus_admin"),
    ]);

    let mut f = File::new();
    account_data(&mut f);
    kms_key(
        &mut f,
        "rds",
        tpl("alias/${var.name}-rds"),
        tpl("Storage, Performance Insights and master secret of ${var.name}"),
        &[],
        None,
    );
    kms_key(
        &mut f,
        "rds_dr",
        tpl("alias/${var.name}-rds-dr"),
        tpl("Replicated automated backups of ${var.name} in the DR region"),
        &[],
        Some("aws.dr"),
    );
    // RDS creates the log groups it exports to when they do not exist — unencrypted and kept
    // forever — so every instance's groups are made here first, encrypted and with retention.
    super::common::logs_kms_key(
        &mut f,
        "rds_logs",
        tpl("alias/${var.name}-rds-logs"),
        tpl("Exported logs of ${var.name}"),
        "/aws/rds/instance/${var.name}",
    );
    f.push(
        block("locals")
            .a(
                "instances",
                call(
                    "concat",
                    vec![
                        list([var("name")]),
                        for_expr(
                            None,
                            "i",
                            call("range", vec![var("read_replicas")]),
                            None,
                            tpl("${var.name}-replica-${i + 1}"),
                        ),
                    ],
                ),
            )
            .a(
                "log_groups",
                for_expr(
                    None,
                    "pair",
                    call("setproduct", vec![path("local.instances"), strs(LOG_EXPORTS)]),
                    Some(tpl("${pair[0]}/${pair[1]}")),
                    path("pair"),
                ),
            ),
    );
    f.push(
        resource("aws_cloudwatch_log_group", "rds")
            .a("for_each", path("local.log_groups"))
            .a("name", tpl("/aws/rds/instance/${each.value[0]}/${each.value[1]}"))
            .a("retention_in_days", var("log_retention_days"))
            .a("kms_key_id", path("aws_kms_key.rds_logs.arn"))
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_db_subnet_group", "this")
            .a("name", var("name"))
            .a("description", tpl("Data subnets of ${var.name}"))
            .a("subnet_ids", var("subnet_ids"))
            .a("tags", var("tags")),
    );
    let params: [(&str, &str, &str); 7] = [
        ("rds.force_ssl", "1", "pending-reboot"),
        ("log_connections", "1", "immediate"),
        ("log_disconnections", "1", "immediate"),
        ("log_statement", "ddl", "immediate"),
        ("log_min_duration_statement", "1000", "immediate"),
        ("shared_preload_libraries", "pg_stat_statements", "pending-reboot"),
        ("password_encryption", "scram-sha-256", "immediate"),
    ];
    f.push(
        resource("aws_db_parameter_group", "this")
            .a("name", var("name"))
            .a("family", tpl("postgres${split(\".\", var.engine_version)[0]}"))
            .a("description", tpl("TLS-only, logging and statistics settings for ${var.name}"))
            .bs(params.iter().map(|(n, v, m)| block("parameter").a("name", *n).a("value", *v).a("apply_method", *m)))
            .a("tags", var("tags"))
            .b(block("lifecycle").a("create_before_destroy", true)),
    );
    f.push(
        data("aws_iam_policy_document", "monitoring_assume").b(statement(
            "MonitoringAssume",
            &["sts:AssumeRole"],
            list([]),
        )
        .b(principals("Service", strs(["monitoring.rds.amazonaws.com"])))),
    );
    f.push(
        resource("aws_iam_role", "monitoring")
            .a("name", tpl("${var.name}-rds-monitoring"))
            .a("assume_role_policy", path("data.aws_iam_policy_document.monitoring_assume.json"))
            .a("tags", var("tags")),
    );
    f.push(resource("aws_iam_role_policy_attachment", "monitoring").a("role", path("aws_iam_role.monitoring.name")).a(
        "policy_arn",
        tpl("arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"),
    ));
    let common = |b: B| {
        b.a("instance_class", var("instance_class"))
            .a("storage_encrypted", true)
            .a("kms_key_id", path("aws_kms_key.rds.arn"))
            .a("vpc_security_group_ids", var("security_group_ids"))
            .a("parameter_group_name", path("aws_db_parameter_group.this.name"))
            .a("port", var("port"))
            .a("publicly_accessible", false)
            .a("iam_database_authentication_enabled", true)
            .a("auto_minor_version_upgrade", true)
            .a("copy_tags_to_snapshot", true)
            .a("deletion_protection", true)
            .a("performance_insights_enabled", true)
            .a("performance_insights_kms_key_id", path("aws_kms_key.rds.arn"))
            .a("performance_insights_retention_period", 7)
            .a("monitoring_interval", 30)
            .a("monitoring_role_arn", path("aws_iam_role.monitoring.arn"))
            .a("enabled_cloudwatch_logs_exports", strs(LOG_EXPORTS))
            .a("ca_cert_identifier", "rds-ca-rsa2048-g1")
    };
    f.push(
        common(
            resource("aws_db_instance", "primary")
                .skip("CKV_AWS_157", "Multi-AZ is set per environment through var.multi_az: on in staging and prod, off in dev to save cost")
                .a("identifier", var("name"))
                .a("engine", "postgres")
                // Only the major: minor upgrades are automatic (auto_minor_version_upgrade), and a
                // pinned minor would make the next plan try to downgrade what AWS upgraded.
                .a("engine_version", major(var("engine_version"))),
        )
        .a("allocated_storage", var("allocated_storage"))
        .a("max_allocated_storage", var("max_allocated_storage"))
        .a("storage_type", "gp3")
        .a("db_name", var("database_name"))
        .a("username", var("master_username"))
        .a("manage_master_user_password", true)
        .a("master_user_secret_kms_key_id", path("aws_kms_key.rds.arn"))
        .a("db_subnet_group_name", path("aws_db_subnet_group.this.name"))
        .a("multi_az", var("multi_az"))
        .a("backup_retention_period", var("backup_retention_days"))
        .a("backup_window", "03:00-04:00")
        .a("maintenance_window", "sun:04:30-sun:05:30")
        .a("skip_final_snapshot", false)
        .a("final_snapshot_identifier", tpl("${var.name}-final"))
        .a("delete_automated_backups", false)
        .tags_named(var("name"))
        // RDS validates the monitoring role when the instance is created: the role must already
        // carry its policy, which IAM does not guarantee just because the role exists.
        .a("depends_on", list([path("aws_iam_role_policy_attachment.monitoring"), path("aws_cloudwatch_log_group.rds")])),
    );
    f.push(
        common(
            resource("aws_db_instance", "replica")
                .skip(
                    "CKV_AWS_157",
                    "a read replica, single-AZ by design: if it fails, readers fall back to the primary (Multi-AZ wherever replicas exist: staging, prod) and the replica is re-created from it",
                )
                .skip(
                    "CKV_AWS_133",
                    "read replicas take no automated backups; the primary's backups and PITR cover the data",
                )
                .a("count", var("read_replicas"))
                .a("identifier", tpl("${var.name}-replica-${count.index + 1}"))
                .a("replicate_source_db", path("aws_db_instance.primary.identifier")),
        )
        .a("skip_final_snapshot", true)
        .tags_named(tpl("${var.name}-replica-${count.index + 1}"))
        .a("depends_on", list([path("aws_iam_role_policy_attachment.monitoring"), path("aws_cloudwatch_log_group.rds")])),
    );
    f.push(
        resource("aws_db_instance_automated_backups_replication", "dr")
            .a("provider", path("aws.dr"))
            .a("count", cond(var("cross_region_backups"), num(1), num(0)))
            .a("source_db_instance_arn", path("aws_db_instance.primary.arn"))
            .a("kms_key_id", path("aws_kms_key.rds_dr.arn"))
            .a("retention_period", var("backup_retention_days")),
    );

    Module {
        name: "database",
        description:
            "One RDS PostgreSQL store: a Multi-AZ primary in the data subnets, read replicas, storage and Performance \
Insights encrypted with a customer-managed KMS key, a master password that RDS generates, keeps in Secrets Manager \
(KMS-encrypted) and rotates, a parameter group that forces TLS and logs connections, DDL and slow statements, \
automated backups with point-in-time recovery, enhanced monitoring, log exports to CloudWatch, deletion protection \
with a final snapshot, and automated backups replicated to the DR region under a key of that region."
                .into(),
        variables: vars,
        outputs: vec![
            output("endpoint", "Writer endpoint (host:port).", path("aws_db_instance.primary.endpoint")),
            output("address", "Writer host name.", path("aws_db_instance.primary.address")),
            output("port", "Port.", path("aws_db_instance.primary.port")),
            output("replica_addresses", "Reader host names.", path("aws_db_instance.replica[*].address")),
            output("arn", "ARN of the primary.", path("aws_db_instance.primary.arn")),
            output(
                "master_user_secret_arn",
                "Secrets Manager secret holding the master credentials.",
                path("aws_db_instance.primary.master_user_secret[0].secret_arn"),
            ),
            output(
                "master_user_secret_kms_key_arn",
                "KMS key that encrypts the master credentials secret (readers need kms:Decrypt on it).",
                path("aws_db_instance.primary.master_user_secret[0].kms_key_id"),
            ),
            output("kms_key_arn", "KMS key of the store.", path("aws_kms_key.rds.arn")),
        ],
        main: f,
        uses_dr_provider: true,
        extra_providers: Vec::new(),
    }
}

pub fn redis() -> Module {
    let mut vars = standard_variables("Replication group ID, e.g. `cerverus-cache-prod`.");
    vars.extend([
        Variable::new("engine_version", ty("string"), "Redis OSS engine version, e.g. \"7.1\"."),
        Variable::new("node_type", ty("string"), "Cache node type.").validate(
            call("startswith", vec![var("node_type"), s("cache.")]),
            "node_type must be an ElastiCache type such as cache.r6g.large.",
        ),
        Variable::new("replicas", ty("number"), "Replicas of the primary (0 = no failover).")
            .default(1)
            .validate(and(ge(var("replicas"), num(0)), le(var("replicas"), num(5))), "0 to 5 replicas."),
        Variable::new("port", ty("number"), "Port Redis listens on.").default(6379),
        Variable::new("subnet_ids", list_of(ty("string")), "Data-tier subnets."),
        Variable::new("security_group_ids", list_of(ty("string")), "Security groups of the nodes."),
        Variable::new("log_retention_days", ty("number"), "Days to keep slow logs.").default(365),
        Variable::new(
            "endpoint_secret_name",
            ty("string"),
            "Secrets Manager secret that receives the primary endpoint as JSON {\"host\", \"port\"} (External Secrets assembles the clients' connection from it and the AUTH token).",
        ),
    ]);
    let mut f = File::new();
    account_data(&mut f);
    kms_key(
        &mut f,
        "redis",
        tpl("alias/${var.name}-redis"),
        tpl("Data at rest and the AUTH token of ${var.name}"),
        &[],
        None,
    );
    kms_key(
        &mut f,
        "logs",
        tpl("alias/${var.name}-redis-logs"),
        tpl("Slow logs of ${var.name}"),
        &[super::common::logs_service()],
        None,
    );
    f.push(
        resource("aws_elasticache_subnet_group", "this")
            .a("name", var("name"))
            .a("subnet_ids", var("subnet_ids"))
            .a("tags", var("tags")),
    );
    f.push(
        resource("random_password", "auth")
            .a("length", 64)
            .a("special", false)
            .a("keepers", object([("rotation", s("1"))])),
    );
    f.push(
        resource("aws_secretsmanager_secret", "auth")
            .skip("CKV2_AWS_57", "rotation is manual and nothing rotates this token by itself: the keeper of random_password.auth is a fixed \"1\"; an operator changes it and applies (auth_token_update_strategy ROTATE keeps old and new token valid), then drops the old token with a second apply under strategy SET")
            .a("name", tpl("${var.name}/auth-token"))
            .a("description", tpl("AUTH token of ${var.name}"))
            .a("kms_key_id", path("aws_kms_key.redis.arn"))
            .a("recovery_window_in_days", 30)
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_secretsmanager_secret_version", "auth")
            .a("secret_id", path("aws_secretsmanager_secret.auth.id"))
            .a("secret_string", path("random_password.auth.result")),
    );
    f.push(
        resource("aws_cloudwatch_log_group", "slow")
            .a("name", tpl("/aws/elasticache/${var.name}/slow-log"))
            .a("retention_in_days", var("log_retention_days"))
            .a("kms_key_id", path("aws_kms_key.logs.arn"))
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_elasticache_replication_group", "this")
            .skip("CKV2_AWS_50", "automatic failover needs a replica: it is on whenever var.replicas > 0 (staging, prod); dev runs one node")
            .a("replication_group_id", var("name"))
            .a("description", tpl("Cache and online feature store of ${var.name}"))
            .a("engine", "redis")
            .a("engine_version", var("engine_version"))
            .a("node_type", var("node_type"))
            .a("port", var("port"))
            .a("num_cache_clusters", plus(var("replicas"), num(1)))
            .a("automatic_failover_enabled", gt(var("replicas"), num(0)))
            .a("multi_az_enabled", gt(var("replicas"), num(0)))
            .a("subnet_group_name", path("aws_elasticache_subnet_group.this.name"))
            .a("security_group_ids", var("security_group_ids"))
            .a("at_rest_encryption_enabled", true)
            .a("kms_key_id", path("aws_kms_key.redis.arn"))
            .a("transit_encryption_enabled", true)
            .a("auth_token", path("random_password.auth.result"))
            .a("auth_token_update_strategy", "ROTATE")
            .a("snapshot_retention_limit", 7)
            .a("snapshot_window", "02:00-03:00")
            .a("maintenance_window", "sun:05:30-sun:06:30")
            .a("auto_minor_version_upgrade", true)
            .a("apply_immediately", false)
            .b(block("log_delivery_configuration")
                .a("destination", path("aws_cloudwatch_log_group.slow.name"))
                .a("destination_type", "cloudwatch-logs")
                .a("log_format", "json")
                .a("log_type", "slow-log"))
            .tags_named(var("name")),
    );
    // Clients need the endpoint as well as the token; it is known only after apply, so Terraform
    // writes it where External Secrets reads the environment's secrets.
    f.push(
        resource("aws_secretsmanager_secret", "endpoint")
            .skip("CKV2_AWS_57", "not a credential: the primary endpoint of the replication group, rewritten by Terraform whenever the group changes")
            .a("name", var("endpoint_secret_name"))
            .a("description", tpl("Primary endpoint of ${var.name} (host, port)"))
            .a("kms_key_id", path("aws_kms_key.redis.arn"))
            .a("recovery_window_in_days", 7)
            .a("tags", var("tags")),
    );
    f.push(
        resource("aws_secretsmanager_secret_version", "endpoint")
            .a("secret_id", path("aws_secretsmanager_secret.endpoint.id"))
            .a(
                "secret_string",
                call(
                    "jsonencode",
                    vec![object([
                        ("host", path("aws_elasticache_replication_group.this.primary_endpoint_address")),
                        ("port", call("tostring", vec![var("port")])),
                    ])],
                ),
            ),
    );
    Module {
        name: "cache",
        description: "One ElastiCache Redis replication group in the data subnets: encrypted at rest with a customer-managed KMS \
key and in transit, an AUTH token generated here and kept in Secrets Manager with the primary endpoint (host, port) \
beside it (both for External Secrets), automatic \
failover across AZs when there are replicas, daily snapshots kept a week, and slow logs to an encrypted log group."
            .into(),
        variables: vars,
        outputs: vec![
            output("primary_endpoint", "Primary endpoint address.", path("aws_elasticache_replication_group.this.primary_endpoint_address")),
            output("reader_endpoint", "Reader endpoint address.", path("aws_elasticache_replication_group.this.reader_endpoint_address")),
            output("port", "Port.", var("port")),
            output("auth_token_secret_arn", "Secrets Manager secret holding the AUTH token.", path("aws_secretsmanager_secret.auth.arn")),
            output(
                "auth_token_kms_key_arn",
                "KMS key that encrypts the AUTH token secret (readers need kms:Decrypt on it).",
                path("aws_secretsmanager_secret.auth.kms_key_id"),
            ),
            output(
                "endpoint_secret_arn",
                "Secrets Manager secret holding the primary endpoint as JSON {host, port}.",
                path("aws_secretsmanager_secret.endpoint.arn"),
            ),
            output(
                "endpoint_kms_key_arn",
                "KMS key that encrypts the endpoint secret (readers need kms:Decrypt on it).",
                path("aws_secretsmanager_secret.endpoint.kms_key_id"),
            ),
        ],
        main: f,
        uses_dr_provider: false,
        extra_providers: vec!["random"],
    }
}
