//! The Terraform part of the bundle: parses, is canonical, matches the AWS provider schema and
//! its own module interfaces, and holds the network, security and data invariants the platform
//! promises. Spec changes show up where they should.

use std::collections::{BTreeMap, BTreeSet};

use cerverus::tfschema::{self, AWS_SCHEMA_JSON, ProviderSchema};
use cerverus_bundle::Bundle;
use hcl::{Body, Expression};

fn build(text: &str) -> (cerverus_model::Platform, Bundle) {
    let loaded = cerverus_spec::load("spec.yaml", text).expect("loads");
    let platform = cerverus_model::resolve(&loaded).expect("resolves");
    let bundle = cerverus_render::render(&platform, &[]).expect("renders");
    (platform, bundle)
}

fn default_bundle() -> (cerverus_model::Platform, Bundle) {
    build(cerverus_spec::DEFAULT_SPEC)
}

/// Every `.tf` and `.tfvars` file, parsed.
fn parsed(b: &Bundle) -> BTreeMap<String, Body> {
    b.iter()
        .filter(|(p, _)| p.starts_with("terraform/") && (p.ends_with(".tf") || p.ends_with(".tfvars")))
        .map(|(p, bytes)| {
            let text = std::str::from_utf8(bytes).expect("utf8");
            let body = hcl::parse(text).unwrap_or_else(|e| panic!("{p} does not parse: {e}"));
            (p.to_string(), body)
        })
        .collect()
}

fn blocks<'a>(body: &'a Body, kind: &'a str, ty: &'a str) -> impl Iterator<Item = &'a hcl::Block> + 'a {
    body.blocks().filter(move |b| b.identifier() == kind && b.labels.first().map(|l| l.as_str()) == Some(ty))
}

fn attr<'a>(b: &'a hcl::Block, key: &str) -> Option<&'a Expression> {
    b.body.attributes().find(|a| a.key.as_str() == key).map(|a| &a.expr)
}

fn text(e: &Expression) -> String {
    let body = Body::builder().add_attribute(("x", e.clone())).build();
    hcl::format::to_string(&body)
        .unwrap_or_default()
        .trim()
        .trim_start_matches("x")
        .trim_start()
        .trim_start_matches('=')
        .trim()
        .to_string()
}

fn tfvar(bundle: &Bundle, env: &str, key: &str) -> Expression {
    let p = format!("terraform/envs/{env}/terraform.tfvars");
    let body = hcl::parse(std::str::from_utf8(bundle.get(&p).expect("tfvars")).expect("utf8")).expect("parses");
    body.attributes().find(|a| a.key.as_str() == key).map(|a| a.expr.clone()).unwrap_or_else(|| panic!("{p}: no {key}"))
}

#[test]
fn layout_is_conventional_and_every_module_documents_itself() {
    let (platform, b) = default_bundle();
    let modules: BTreeSet<String> = b
        .paths()
        .filter_map(|p| p.strip_prefix("terraform/modules/"))
        .filter_map(|p| p.split('/').next().map(str::to_string))
        .collect();
    for m in ["network", "security-groups", "eks", "database", "cache", "storage", "registry", "secrets", "audit"] {
        assert!(modules.contains(m), "module {m} missing");
    }
    for m in &modules {
        for f in ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"] {
            assert!(b.get(&format!("terraform/modules/{m}/{f}")).is_some(), "{m}/{f} missing");
        }
        let readme =
            String::from_utf8_lossy(b.get(&format!("terraform/modules/{m}/README.md")).expect("readme")).into_owned();
        let vars = hcl::parse(
            std::str::from_utf8(b.get(&format!("terraform/modules/{m}/variables.tf")).expect("vars")).expect("utf8"),
        )
        .expect("parses");
        for v in vars.blocks().filter(|b| b.identifier() == "variable") {
            let name = v.labels[0].as_str();
            assert!(readme.contains(&format!("| `{name}` |")), "{m}/README.md does not list input {name}");
            assert!(
                attr(v, "description").is_some() && attr(v, "type").is_some(),
                "{m}: variable {name} lacks type or description"
            );
        }
        let outs = hcl::parse(
            std::str::from_utf8(b.get(&format!("terraform/modules/{m}/outputs.tf")).expect("outs")).expect("utf8"),
        )
        .expect("parses");
        for o in outs.blocks().filter(|b| b.identifier() == "output") {
            assert!(attr(o, "description").is_some(), "{m}: output {} has no description", o.labels[0].as_str());
            assert!(readme.contains(&format!("| `{}` |", o.labels[0].as_str())), "{m}/README.md does not list output");
        }
    }
    for f in ["versions.tf", "providers.tf", "main.tf"] {
        assert!(b.get(&format!("terraform/bootstrap/{f}")).is_some(), "bootstrap/{f} missing");
    }
    for env in &platform.environments {
        for f in
            ["main.tf", "backend.tf", "providers.tf", "versions.tf", "variables.tf", "terraform.tfvars", "outputs.tf"]
        {
            assert!(b.get(&format!("terraform/envs/{}/{f}", env.name)).is_some(), "{}/{f} missing", env.name);
        }
    }
}

#[test]
fn every_resource_and_provider_block_matches_its_provider_schema() {
    let schemas = tfschema::committed_schemas().expect("schema JSON");
    assert_eq!(schemas.iter().map(|s| s.provider.as_str()).collect::<Vec<_>>(), ["aws", "kubernetes", "helm"]);
    let (_, b) = default_bundle();
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut providers = 0;
    for (path, body) in parsed(&b) {
        checked += body.blocks().filter(|b| matches!(b.identifier(), "resource" | "data")).count();
        providers += body.blocks().filter(|b| b.identifier() == "provider").count();
        for schema in &schemas {
            problems.extend(tfschema::check_resources(&path, &body, schema));
        }
        problems.extend(tfschema::check_providers(&path, &body, &schemas));
    }
    assert!(checked > 150, "only {checked} blocks checked");
    assert!(providers >= 10, "only {providers} provider blocks checked");
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_schema_check_rejects_what_terraform_would() {
    let schema = ProviderSchema::from_json(AWS_SCHEMA_JSON).expect("schema JSON");
    let bad = r#"
resource "aws_s3_bucket" "a" {
  bucket    = "x"
  acl_typo  = "private"
  logging {
    target_bucket = "y"
    nonsense      = 1
  }
}
resource "aws_eks_node_group" "b" {
  cluster_name = "c"
}
resource "aws_not_a_thing" "c" {}
resource "aws_security_group" "d" {
  dynamic "ingress" {
    for_each = [1]
    content {
      from_port = 1
      bogus     = 2
    }
  }
}
"#;
    let body = hcl::parse(bad).expect("parses");
    let mut problems: Vec<String> =
        tfschema::check_resources("bad.tf", &body, &schema).into_iter().map(|p| p.what).collect();
    let providers = hcl::parse(
        "provider \"aws\" {\n  regoin = \"us-east-1\"\n}\nprovider \"helm\" {\n  kubernetes {\n    hots = \"x\"\n  }\n}\n",
    )
    .expect("parses");
    let schemas = tfschema::committed_schemas().expect("schemas");
    problems.extend(tfschema::check_providers("p.tf", &providers, &schemas).into_iter().map(|p| p.what));
    for expected in [
        "resource \"aws_s3_bucket\" \"a\": unknown argument `acl_typo`",
        "resource \"aws_s3_bucket\" \"a\" > logging: unknown argument `nonsense`",
        "resource \"aws_eks_node_group\" \"b\": missing required argument `node_role_arn`",
        "resource \"aws_eks_node_group\" \"b\": missing required argument `subnet_ids`",
        "resource \"aws_eks_node_group\" \"b\": missing required block `scaling_config`",
        "resource \"aws_not_a_thing\" \"c\": unknown resource type for aws provider 6.25.0",
        "resource \"aws_security_group\" \"d\" > ingress: unknown argument `bogus`",
        "provider \"aws\": unknown argument `regoin`",
        "provider \"helm\" > kubernetes: unknown argument `hots`",
    ] {
        assert!(problems.iter().any(|p| p == expected), "missing problem {expected:?} in {problems:#?}");
    }
}

#[test]
fn module_calls_and_tfvars_match_their_interfaces() {
    let (_, b) = default_bundle();
    let files = parsed(&b);
    let mut interfaces = BTreeMap::new();
    for (path, body) in &files {
        if let Some(m) = path.strip_prefix("terraform/modules/").and_then(|p| p.strip_suffix("/variables.tf")) {
            let iface = tfschema::module_interface(body);
            interfaces.insert(format!("../../modules/{m}"), iface.clone());
            interfaces.insert(format!("../modules/{m}"), iface);
        }
    }
    let mut problems = Vec::new();
    let mut calls = 0;
    for (path, body) in &files {
        calls += body.blocks().filter(|b| b.identifier() == "module").count();
        problems.extend(tfschema::check_module_calls(path, body, &interfaces));
    }
    assert!(calls >= 9, "only {calls} module calls");
    // `providers` maps provider references to provider references; a quoted key is an error.
    for (path, body) in &files {
        for m in body.blocks().filter(|b| b.identifier() == "module") {
            if let Some(Expression::Object(map)) = attr(m, "providers") {
                for k in map.keys() {
                    assert!(
                        matches!(
                            k,
                            hcl::ObjectKey::Identifier(_)
                                | hcl::ObjectKey::Expression(Expression::Traversal(_))
                                | hcl::ObjectKey::Expression(Expression::Variable(_))
                        ),
                        "{path}: module {} has a non-reference providers key {k:?}",
                        m.labels[0].as_str()
                    );
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");

    // terraform.tfvars sets exactly the root's variables.
    for (path, body) in &files {
        let Some(root) = path.strip_suffix("/terraform.tfvars") else { continue };
        let iface = tfschema::module_interface(&files[&format!("{root}/variables.tf")]);
        let set: BTreeSet<&str> = body.attributes().map(|a| a.key.as_str()).collect();
        for k in &set {
            assert!(iface.contains_key(*k), "{path}: {k} is not declared");
        }
        for (k, has_default) in &iface {
            assert!(*has_default || set.contains(k.as_str()), "{path}: required {k} not set");
        }
    }
}

#[test]
fn subnets_are_three_tiers_in_three_azs_without_overlap() {
    let (platform, b) = default_bundle();
    for env in &platform.environments {
        assert_eq!(env.network.azs.len(), 3);
        let mut all = Vec::new();
        for tier in ["public_subnets", "private_subnets", "data_subnets"] {
            let Expression::Array(items) = tfvar(&b, &env.name, tier) else { panic!("{tier} not a list") };
            assert_eq!(items.len(), 3, "{}: {tier}", env.name);
            for i in items {
                let Expression::String(c) = i else { panic!("cidr") };
                all.push(c.parse::<ipnet::Ipv4Net>().expect("cidr"));
            }
        }
        for (i, a) in all.iter().enumerate() {
            assert!(env.network.vpc_cidr.contains(a), "{a} outside the VPC");
            for b2 in &all[i + 1..] {
                assert!(!cerverus_model::network::overlaps(*a, *b2), "{}: {a} overlaps {b2}", env.name);
            }
        }
    }
}

#[test]
fn the_data_tier_has_no_route_out_of_the_vpc() {
    let (_, b) = default_bundle();
    let files = parsed(&b);
    let net = &files["terraform/modules/network/main.tf"];
    let routes: Vec<_> = blocks(net, "resource", "aws_route").collect();
    assert!(!routes.is_empty());
    for r in &routes {
        let table = text(attr(r, "route_table_id").expect("route table"));
        assert!(!table.contains("aws_route_table.data"), "a route leaves the data tier: {table}");
    }
    // The data subnets associate only with the data route table, which has no inline routes.
    let assoc = blocks(net, "resource", "aws_route_table_association")
        .find(|b| b.labels[1].as_str() == "data")
        .expect("data association");
    assert_eq!(text(attr(assoc, "route_table_id").expect("rt")), "aws_route_table.data.id");
    let data_rt = blocks(net, "resource", "aws_route_table").find(|b| b.labels[1].as_str() == "data").expect("data rt");
    assert!(data_rt.body.blocks().all(|b| b.identifier() != "route"), "data route table has inline routes");
    assert!(text(attr(assoc, "subnet_id").expect("subnet")).contains("aws_subnet.data"));
}

#[test]
fn no_rule_is_open_to_the_internet_and_every_rule_is_described() {
    let (_, b) = default_bundle();
    for (path, body) in parsed(&b) {
        for rule in blocks(&body, "resource", "aws_vpc_security_group_ingress_rule") {
            let open = attr(rule, "cidr_ipv4").map(text).is_some_and(|c| c.contains("0.0.0.0/0"));
            assert!(!open, "{path}: {} open to the internet", rule.labels[1].as_str());
            assert!(attr(rule, "description").is_some(), "{path}: rule {} has no description", rule.labels[1].as_str());
        }
        for rule in blocks(&body, "resource", "aws_vpc_security_group_egress_rule") {
            assert!(attr(rule, "description").is_some(), "{path}: rule {} has no description", rule.labels[1].as_str());
        }
        for sg in blocks(&body, "resource", "aws_security_group") {
            assert!(
                sg.body.blocks().all(|b| b.identifier() != "ingress"),
                "{path}: inline ingress in {}",
                sg.labels[1].as_str()
            );
        }
        // No SSH from anywhere, ever.
        for rule in blocks(&body, "resource", "aws_vpc_security_group_ingress_rule") {
            assert_ne!(attr(rule, "from_port").map(text).as_deref(), Some("22"), "{path}: SSH ingress");
        }
    }
}

/// Data-store access in the tfvars, as (store, port, clients).
fn access(b: &Bundle, env: &str, key: &str) -> BTreeMap<String, (i64, BTreeSet<String>)> {
    let Expression::Object(obj) = tfvar(b, env, key) else { panic!("{key} not an object") };
    obj.iter()
        .map(|(k, v)| {
            let name = text(&match k {
                hcl::ObjectKey::Identifier(i) => Expression::String(i.to_string()),
                hcl::ObjectKey::Expression(e) => e.clone(),
                _ => Expression::Null,
            })
            .trim_matches('"')
            .to_string();
            let Expression::Object(fields) = v else { panic!("entry") };
            let mut port = 0;
            let mut clients = BTreeSet::new();
            for (fk, fv) in fields.iter() {
                match fk.to_string().trim_matches('"') {
                    "port" => port = text(fv).parse().expect("port"),
                    "clients" => {
                        if let Expression::Array(items) = fv {
                            clients = items.iter().map(|c| text(c).trim_matches('"').to_string()).collect();
                        }
                    }
                    _ => {}
                }
            }
            (name, (port, clients))
        })
        .collect()
}

#[test]
fn every_data_store_rule_traces_to_a_declared_dependency() {
    let (platform, b) = default_bundle();
    for env in &platform.environments {
        for (key, pick) in [("postgres_access", true), ("redis_access", false)] {
            let rules = access(&b, &env.name, key);
            let mut declared: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for e in &env.graph.edges {
                match (&e.to, pick) {
                    (cerverus_model::Target::Postgres { name }, true)
                    | (cerverus_model::Target::Redis { name }, false) => {
                        declared.entry(name.clone()).or_default().insert(e.from.clone());
                    }
                    _ => {}
                }
            }
            assert!(!declared.is_empty());
            let got: BTreeMap<String, BTreeSet<String>> =
                rules.iter().map(|(k, (_, c))| (k.clone(), c.clone())).collect();
            assert_eq!(got, declared, "{}: {key}", env.name);
        }
    }
}

#[test]
fn rds_is_private_encrypted_and_protected_and_buckets_are_hardened() {
    let (_, b) = default_bundle();
    let files = parsed(&b);
    let db = &files["terraform/modules/database/main.tf"];
    for inst in blocks(db, "resource", "aws_db_instance") {
        assert_eq!(attr(inst, "publicly_accessible").map(text).as_deref(), Some("false"));
        assert_eq!(attr(inst, "storage_encrypted").map(text).as_deref(), Some("true"));
        assert_eq!(attr(inst, "deletion_protection").map(text).as_deref(), Some("true"));
        assert_eq!(attr(inst, "iam_database_authentication_enabled").map(text).as_deref(), Some("true"));
    }
    let primary =
        blocks(db, "resource", "aws_db_instance").find(|b| b.labels[1].as_str() == "primary").expect("primary");
    assert_eq!(attr(primary, "manage_master_user_password").map(text).as_deref(), Some("true"));
    assert!(attr(primary, "backup_retention_period").is_some());

    for (path, body) in &files {
        for bucket in blocks(body, "resource", "aws_s3_bucket") {
            let local = bucket.labels[1].as_str();
            for companion in [
                "aws_s3_bucket_versioning",
                "aws_s3_bucket_server_side_encryption_configuration",
                "aws_s3_bucket_public_access_block",
                "aws_s3_bucket_policy",
            ] {
                assert!(
                    blocks(body, "resource", companion).any(|b| b.labels[1].as_str() == local),
                    "{path}: bucket {local} has no {companion}"
                );
            }
            let pab = blocks(body, "resource", "aws_s3_bucket_public_access_block")
                .find(|b| b.labels[1].as_str() == local)
                .expect("pab");
            for k in ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"] {
                assert_eq!(attr(pab, k).map(text).as_deref(), Some("true"), "{path}: {local}.{k}");
            }
        }
    }
}

#[test]
fn prod_has_a_nat_per_az_and_multi_az_postgres() {
    let (_, b) = default_bundle();
    assert_eq!(text(&tfvar(&b, "prod", "single_nat_gateway")), "false");
    let pg = text(&tfvar(&b, "prod", "postgres"));
    assert!(pg.contains("multi_az = true"), "{pg}");
    assert!(pg.contains("db.r6g.2xlarge"), "{pg}");
    assert_eq!(text(&tfvar(&b, "dev", "single_nat_gateway")), "true");
}

#[test]
fn adding_a_postgres_dependency_opens_its_security_group_rule() {
    let base = cerverus_spec::DEFAULT_SPEC.replacen(
        "  redis:\n    - name: cerverus-cache",
        "    - name: cerverus-analytics\n      engineVersion: \"17.6\"\n      instanceClass: db.r6g.large\n      storageGib: 100\n      maxStorageGib: 400\n  redis:\n    - name: cerverus-cache",
        1,
    );
    assert_ne!(base, cerverus_spec::DEFAULT_SPEC);
    let (_, before) = build(&base);
    let rules = access(&before, "prod", "postgres_access");
    assert!(!rules.contains_key("cerverus-analytics"), "no workload declares it yet: no rule");
    assert!(text(&tfvar(&before, "prod", "postgres")).contains("cerverus-analytics"), "the store itself exists");

    let with_dep = base.replacen(
        "    dependsOn:\n      - external: yahoo-finance\n",
        "    dependsOn:\n      - postgres: cerverus-analytics\n      - external: yahoo-finance\n",
        1,
    );
    assert_ne!(with_dep, base);
    let (_, after) = build(&with_dep);
    let rules = access(&after, "prod", "postgres_access");
    assert_eq!(rules.get("cerverus-analytics"), Some(&(5432, BTreeSet::from(["market-data-ingestor".to_string()]))));
}

#[test]
fn switching_an_environment_to_a_single_nat_gateway() {
    let spec = cerverus_spec::DEFAULT_SPEC.replacen(
        "    efsFileSystemId: fs-0a1b2c3d4e5f60030\n    nat: perAz\n",
        "    efsFileSystemId: fs-0a1b2c3d4e5f60030\n    nat: single\n",
        1,
    );
    assert_ne!(spec, cerverus_spec::DEFAULT_SPEC);
    let (_, b) = build(&spec);
    assert_eq!(text(&tfvar(&b, "prod", "single_nat_gateway")), "true");
}

#[test]
fn every_waiver_names_its_check_and_gives_a_reason() {
    let (_, b) = default_bundle();
    let mut waivers = 0;
    for (path, bytes) in b.iter().filter(|(p, _)| p.ends_with(".tf")) {
        let text = String::from_utf8_lossy(bytes);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let l = line.trim();
            if let Some(rest) = l.strip_prefix("#checkov:skip=") {
                waivers += 1;
                let (id, reason) = rest.split_once(':').unwrap_or((rest, ""));
                assert!(id.starts_with("CKV"), "{path}:{}: bad check id {id}", i + 1);
                assert!(
                    reason.split_whitespace().count() >= 5,
                    "{path}:{}: waiver of {id} without a real reason",
                    i + 1
                );
            }
            if let Some(id) = l.strip_prefix("#trivy:ignore:") {
                waivers += 1;
                let above = lines.get(i.wrapping_sub(1)).map(|s| s.trim()).unwrap_or("");
                assert!(
                    above.starts_with(&format!("# {id}: ")) && above.split_whitespace().count() >= 6,
                    "{path}:{}: trivy waiver of {id} without a reason above it",
                    i + 1
                );
            }
        }
    }
    assert!(waivers > 10, "waivers not found: {waivers}");
}

#[test]
fn nothing_is_open_to_the_internet_load_balancers_are_the_controllers() {
    // The aws-load-balancer-controller creates the load balancers with security groups it manages;
    // no group in the bundle admits 0.0.0.0/0, and the nodes' group carries the cluster tag the
    // controller uses to find where to open the load balancers' traffic.
    let (_, b) = default_bundle();
    let body = parsed(&b).remove("terraform/modules/security-groups/main.tf").expect("security groups");
    for rule in blocks(&body, "resource", "aws_vpc_security_group_ingress_rule") {
        assert!(attr(rule, "cidr_ipv4").is_none(), "{} admits an address range", rule.labels[1].as_str());
    }
    assert!(blocks(&body, "resource", "aws_security_group").all(|g| g.labels[1].as_str() != "alb"));
    let nodes = blocks(&body, "resource", "aws_security_group").find(|g| g.labels[1].as_str() == "eks_nodes");
    assert!(
        text(attr(nodes.expect("node group"), "tags").expect("tags")).contains("kubernetes.io/cluster/${var.name}")
    );
}

#[test]
fn nodes_reach_efs_and_the_efs_group_admits_only_nodes() {
    let (_, b) = default_bundle();
    let body = parsed(&b).remove("terraform/modules/security-groups/main.tf").expect("security groups");
    let rule = |kind: &str, name: &str| {
        blocks(&body, "resource", kind)
            .find(|r| r.labels[1].as_str() == name)
            .unwrap_or_else(|| panic!("no {kind}.{name}"))
            .clone()
    };
    let egress = rule("aws_vpc_security_group_egress_rule", "nodes_to_efs");
    let ingress = rule("aws_vpc_security_group_ingress_rule", "efs_from_nodes");
    for r in [&egress, &ingress] {
        assert_eq!(text(attr(r, "from_port").expect("port")), "2049");
        assert_eq!(text(attr(r, "to_port").expect("port")), "2049");
    }
    assert_eq!(text(attr(&egress, "referenced_security_group_id").expect("sg")), "aws_security_group.efs.id");
    assert_eq!(text(attr(&ingress, "referenced_security_group_id").expect("sg")), "aws_security_group.eks_nodes.id");
}

#[test]
fn every_waiver_reason_names_something_the_bundle_has() {
    // The old ALB waivers described a listener, a redirect and an attachment that did not exist.
    let (_, b) = default_bundle();
    for (path, bytes) in b.iter().filter(|(p, _)| p.ends_with(".tf")) {
        let text = String::from_utf8_lossy(bytes);
        for stale in ["public alerts API", "only answers with a redirect", "load balancer resources take it"] {
            assert!(
                !text.contains(stale),
                "{path}: waiver reason about a load balancer the bundle does not have: {stale}"
            );
        }
    }
}

#[test]
fn the_cluster_enforces_network_policies_and_maps_people_to_groups() {
    let (p, b) = default_bundle();
    let eks = parsed(&b).remove("terraform/modules/eks/main.tf").expect("eks");
    let cni = blocks(&eks, "resource", "aws_eks_addon").find(|a| a.labels[1].as_str() == "vpc_cni").expect("vpc-cni");
    assert_eq!(
        text(attr(cni, "configuration_values").expect("configuration_values")),
        "jsonencode({ enableNetworkPolicy = \"true\" })"
    );
    let groups =
        blocks(&eks, "resource", "aws_eks_access_entry").find(|a| a.labels[1].as_str() == "groups").expect("groups");
    assert_eq!(text(attr(groups, "kubernetes_groups").expect("kubernetes_groups")), "each.value");
    // Only the admin entries get an access policy, and it is the cluster-admin one.
    let assoc: Vec<_> = blocks(&eks, "resource", "aws_eks_access_policy_association").collect();
    assert_eq!(assoc.len(), 1);
    assert!(text(attr(assoc[0], "principal_arn").expect("principal")).contains("each.value"));
    assert!(text(attr(assoc[0], "for_each").expect("for_each")).contains("var.admin_role_arns"));
    // Every RBAC group the environment binds has an access entry mapping a role to it.
    for env in &p.environments {
        let groups = text(&tfvar(&b, &env.name, "access_groups"));
        assert!(groups.contains(&cerverus_model::operators_group(&p.name)), "{}: {groups}", env.name);
        for w in &env.workloads {
            assert!(
                groups.contains(&cerverus_model::developers_group(&p.name, w.namespace())),
                "{}: {groups}",
                env.name
            );
        }
        let admin = text(&tfvar(&b, &env.name, "admin_kubernetes_groups"));
        assert!(admin.contains(&cerverus_model::break_glass_group(&p.name)), "{}: {admin}", env.name);
    }
}

#[test]
fn node_volumes_use_a_key_auto_scaling_and_guardduty_can_use() {
    let (_, b) = default_bundle();
    let eks = parsed(&b).remove("terraform/modules/eks/main.tf").expect("eks");
    let lt = blocks(&eks, "resource", "aws_launch_template").next().expect("launch template");
    let ebs = lt
        .body
        .blocks()
        .find(|x| x.identifier() == "block_device_mappings")
        .and_then(|m| m.body.blocks().find(|x| x.identifier() == "ebs"))
        .expect("ebs");
    assert_eq!(text(attr(ebs, "kms_key_id").expect("kms_key_id")), "aws_kms_key.ebs.arn");
    let policy = blocks(&eks, "data", "aws_iam_policy_document")
        .find(|d| d.labels[1].as_str() == "ebs_key")
        .expect("key policy");
    let all = text(&Expression::from(hcl::to_string(&policy.body).unwrap_or_default()));
    for role in [
        "AWSServiceRoleForAutoScaling",
        "AWSServiceRoleForAmazonGuardDutyMalwareProtection",
        "kms:CreateGrant",
        "kms:GrantIsForAWSResource",
    ] {
        assert!(all.contains(role), "node volume key policy lacks {role}");
    }
    // IMDS stays unreachable from pods.
    let md = lt.body.blocks().find(|x| x.identifier() == "metadata_options").expect("metadata");
    assert_eq!(text(attr(md, "http_put_response_hop_limit").expect("hop limit")), "1");
}

#[test]
fn every_secret_external_secrets_reads_has_its_key_decryptable() {
    let (_, b) = default_bundle();
    let iam = std::str::from_utf8(b.get("terraform/envs/prod/iam.tf").expect("iam")).expect("utf8").to_string();
    let at = iam.find("\"external_secrets\"").expect("external secrets policy");
    let doc = &iam[at..at + iam[at..].find("\n}\n").expect("end")];
    for key in ["module.secrets.kms_key_arn", "d.master_user_secret_kms_key_arn", "c.auth_token_kms_key_arn"] {
        assert!(doc.contains(key), "ESO decrypt lacks {key}");
    }
    for module in ["database", "cache"] {
        let outs = std::str::from_utf8(b.get(&format!("terraform/modules/{module}/outputs.tf")).expect("outputs"))
            .expect("utf8")
            .to_string();
        assert!(outs.contains("kms_key_id"), "{module}: the secret's key output must come from the secret itself");
    }
}

#[test]
fn audit_config_can_deliver_and_waits_for_its_permissions() {
    let (_, b) = default_bundle();
    let audit = parsed(&b).remove("terraform/modules/audit/main.tf").expect("audit");
    let delivery = blocks(&audit, "data", "aws_iam_policy_document")
        .find(|d| d.labels[1].as_str() == "config_delivery")
        .expect("config delivery policy");
    let all = hcl::to_string(&delivery.body).unwrap_or_default();
    for needed in ["s3:GetBucketAcl", "s3:PutObject", "bucket-owner-full-control", "kms:GenerateDataKey", "kms:Decrypt"]
    {
        assert!(all.contains(needed), "Config delivery lacks {needed}");
    }
    let channel = blocks(&audit, "resource", "aws_config_delivery_channel").next().expect("channel");
    let deps = text(attr(channel, "depends_on").expect("depends_on"));
    for d in ["aws_iam_role_policy.config", "aws_s3_bucket_policy.audit", "aws_config_configuration_recorder.this"] {
        assert!(deps.contains(d), "delivery channel must wait for {d}");
    }
    assert!(blocks(&audit, "resource", "aws_s3_bucket_logging").all(|l| attr(l, "count").is_none()));
}

#[test]
fn bootstrap_declares_what_it_references_and_lets_s3_deliver_access_logs() {
    let (_, b) = default_bundle();
    let files = parsed(&b);
    let vars = files.get("terraform/bootstrap/variables.tf").expect("bootstrap variables");
    assert!(vars.blocks().any(|v| v.identifier() == "variable" && v.labels[0].as_str() == "tags"));
    let main = files.get("terraform/bootstrap/main.tf").expect("bootstrap main");
    let logs = blocks(main, "data", "aws_iam_policy_document")
        .find(|d| d.labels[1].as_str() == "state_logs")
        .expect("log bucket policy");
    assert!(hcl::to_string(&logs.body).unwrap_or_default().contains("logging.s3.amazonaws.com"));
}

#[test]
fn dr_replicas_are_created_from_a_template_and_deployed_digests_never_expire() {
    let (_, b) = default_bundle();
    let registry = parsed(&b).remove("terraform/modules/registry/main.tf").expect("registry");
    let tpl = blocks(&registry, "resource", "aws_ecr_repository_creation_template").next().expect("creation template");
    let all = hcl::to_string(&tpl.body).unwrap_or_default();
    for needed in ["REPLICATION", "IMMUTABLE", "aws_kms_key.ecr_dr.arn", "local.lifecycle_policy", "aws.dr"] {
        assert!(all.contains(needed), "creation template lacks {needed}: {all}");
    }
    let locals = registry.blocks().find(|l| l.identifier() == "locals").expect("locals");
    let lifecycle = text(attr(locals, "lifecycle_policy").expect("lifecycle policy"));
    assert!(lifecycle.contains("\"untagged\""), "{lifecycle}");
    assert!(!lifecycle.contains("imageCountMoreThan"), "a count rule expires digests still deployed: {lifecycle}");
    assert!(blocks(&registry, "resource", "aws_ecr_registry_scanning_configuration").next().is_some());
}

#[test]
fn rds_uses_its_monitoring_role_only_after_the_policy_is_attached() {
    let (_, b) = default_bundle();
    let db = parsed(&b).remove("terraform/modules/database/main.tf").expect("database");
    for inst in blocks(&db, "resource", "aws_db_instance") {
        let deps = attr(inst, "depends_on").map(text).unwrap_or_default();
        assert!(
            deps.contains("aws_iam_role_policy_attachment.monitoring"),
            "{} does not wait for its monitoring policy",
            inst.labels[1].as_str()
        );
    }
}

#[test]
fn the_node_termination_handler_sees_this_clusters_groups() {
    let (_, b) = default_bundle();
    let eks = parsed(&b).remove("terraform/modules/eks/main.tf").expect("eks");
    let tag = blocks(&eks, "resource", "aws_autoscaling_group_tag").next().expect("ASG tag");
    assert_eq!(text(attr(tag, "for_each").expect("for_each")), "var.node_groups");
    let t = tag.body.blocks().find(|x| x.identifier() == "tag").expect("tag block");
    assert_eq!(text(attr(t, "key").expect("key")), "\"aws-node-termination-handler/managed\"");
}

#[test]
fn node_groups_pinned_to_a_zone_launch_only_there() {
    let (p, b) = default_bundle();
    for env in &p.environments {
        let groups = tfvar(&b, &env.name, "node_groups");
        let Expression::Object(groups) = groups else { panic!("node_groups is an object") };
        for g in env.node_groups() {
            let key = hcl::ObjectKey::from(g.name.as_str());
            let entry = groups
                .get(&key)
                .or_else(|| groups.get(&hcl::ObjectKey::Identifier(hcl::Identifier::unchecked(g.name.as_str()))));
            let Some(Expression::Object(entry)) = entry else { panic!("{}: no node group {}", env.name, g.name) };
            let zones = entry
                .iter()
                .find(|(k, _)| text(&Expression::from(k.to_string())).trim_matches('"') == "availability_zones")
                .map(|(_, v)| v.clone());
            let expected = Expression::Array(g.zone.iter().map(|z| Expression::String(z.clone())).collect());
            assert_eq!(zones, Some(expected), "{}: {}", env.name, g.name);
        }
    }
    let eks = parsed(&b).remove("terraform/modules/eks/main.tf").expect("eks");
    let ng = blocks(&eks, "resource", "aws_eks_node_group").next().expect("node group");
    assert!(text(attr(ng, "subnet_ids").expect("subnets")).contains("var.private_subnet_ids_by_az[az]"));
}

// ---- A real `terraform plan` of every root, offline -------------------------------------------
//
// Where a terraform binary and a local AWS provider (`-plugin-dir`) exist, every root is planned
// by `terraform test` with mocked providers: data sources answer with fixed values, resources'
// computed attributes stay unknown as in a real first plan. That is what catches `for_each` and
// `count` that depend on apply-time values ("Invalid for_each argument"), references that do not
// resolve and arguments the provider does not have. The copy is adapted to what is installed:
// provider constraints relaxed to the local version, the helm/kubernetes/random providers (not
// available offline) and what uses them removed, and, for a 5.x provider, the two 6.x-only names
// the bundle uses mapped back (`aws_region`'s `region` attribute was `name`; `aws_eks_cluster`
// gained `deletion_protection`).

const PLUGIN_DIR: &str = "/opt/tf-plugins";

fn local_aws_provider_version() -> Option<String> {
    let dir = std::path::Path::new(PLUGIN_DIR).join("registry.terraform.io/hashicorp/aws");
    let mut versions: Vec<String> =
        std::fs::read_dir(dir).ok()?.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    versions.sort();
    versions.pop()
}

fn terraform_available() -> bool {
    std::process::Command::new("terraform").arg("version").output().is_ok_and(|o| o.status.success())
}

/// Drop blocks and attributes that need the providers not installed here.
fn prune(body: Body) -> Body {
    let offline = |name: &str| matches!(name, "helm" | "kubernetes" | "random");
    let mut out = Body::builder();
    for s in body.into_iter() {
        match s {
            hcl::Structure::Attribute(a) if offline(a.key.as_str()) => {}
            hcl::Structure::Block(b)
                if (b.identifier() == "provider" && b.labels.first().is_some_and(|l| offline(l.as_str())))
                    || (b.identifier() == "resource"
                        && b.labels.first().is_some_and(|l| l.as_str().starts_with("random_"))) => {}
            hcl::Structure::Block(mut b) => {
                b.body = prune(b.body);
                out = out.add_block(b);
            }
            other => out = out.add_structure(other),
        }
    }
    out.build()
}

fn adapt(text: &str, provider_major: u32) -> String {
    let mut t = text
        .replace("\"~> 6.0\"", "\">= 5.0\"")
        .replace("random_password.auth.result", "\"offline-plan-placeholder-auth-token-0123456789\"");
    if provider_major < 6 {
        t = t
            .replace("data.aws_region.current.region", "data.aws_region.current.name")
            .replace("data.aws_region.dr.region", "data.aws_region.dr.name")
            .replace("deletion_protection       = true\n", "");
    }
    // Re-print only files with something to prune (hcl-rs's printer does not keep heredocs).
    let needs_pruning = [
        "resource \"random_",
        "hashicorp/helm",
        "hashicorp/kubernetes",
        "hashicorp/random",
        "provider \"helm\"",
        "provider \"kubernetes\"",
    ]
    .iter()
    .any(|m| t.contains(m));
    if !needs_pruning {
        return t;
    }
    match hcl::parse(&t) {
        Ok(body) => hcl::format::to_string(&prune(body)).unwrap_or(t),
        Err(_) => t,
    }
}

fn mock_test(provider_major: u32, variables: &str) -> String {
    let region_attr = if provider_major < 6 { "name" } else { "region" };
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let doc = doc.replace('"', "\\\"");
    format!(
        r#"mock_provider "aws" {{
  mock_data "aws_iam_policy_document" {{
    defaults = {{ json = "{doc}" }}
  }}
  mock_data "aws_caller_identity" {{
    defaults = {{ account_id = "111122223333" }}
  }}
  mock_data "aws_partition" {{
    defaults = {{ partition = "aws" }}
  }}
  mock_data "aws_region" {{
    defaults = {{ {region_attr} = "us-east-1" }}
  }}
}}

mock_provider "aws" {{
  alias = "dr"
  mock_data "aws_iam_policy_document" {{
    defaults = {{ json = "{doc}" }}
  }}
  mock_data "aws_caller_identity" {{
    defaults = {{ account_id = "111122223333" }}
  }}
  mock_data "aws_partition" {{
    defaults = {{ partition = "aws" }}
  }}
  mock_data "aws_region" {{
    defaults = {{ {region_attr} = "us-west-2" }}
  }}
}}

run "plan" {{
  command = plan
{variables}}}
"#
    )
}

/// Values for a root's variables that have no default (the bootstrap's CI identities name the
/// GitHub repositories they trust).
fn plan_variables(root: &str) -> &'static str {
    if root.ends_with("bootstrap") {
        "  variables {\n    github_repository           = \"example-org/cerverus-platform\"\n    github_service_repositories = [\"example-org/alerts-api\"]\n  }\n"
    } else {
        ""
    }
}

#[test]
fn every_root_plans_with_terraform_and_mocked_providers() {
    let (Some(version), true) = (local_aws_provider_version(), terraform_available()) else {
        eprintln!("SKIPPED: no terraform binary on PATH or no AWS provider under {PLUGIN_DIR}");
        return;
    };
    let major: u32 = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    let (_, b) = default_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let hcl_file = |p: &str| p.starts_with("terraform/") && (p.ends_with(".tf") || p.ends_with(".tfvars"));
    for (path, bytes) in b.iter().filter(|(p, _)| hcl_file(p)) {
        let dest = dir.path().join(path);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::write(&dest, adapt(std::str::from_utf8(bytes).expect("utf8"), major)).expect("write");
    }
    let roots = ["terraform/bootstrap", "terraform/envs/dev", "terraform/envs/staging", "terraform/envs/prod"];
    for root in roots {
        let (ok, output) = plan_offline(&dir.path().join(root), major, plan_variables(root));
        assert!(ok, "{root}: terraform plan (mocked providers, aws {version}) failed:\n{output}");
    }

    // The planning itself can fail: the old IRSA for_each shape is rejected.
    let fixture = tempfile::tempdir().expect("tempdir");
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform-plan/unknown-for-each/main.tf");
    std::fs::write(fixture.path().join("main.tf"), std::fs::read(src).expect("fixture")).expect("write");
    let (ok, output) = plan_offline(fixture.path(), major, "");
    assert!(!ok && output.contains("Invalid for_each argument"), "the fixture should fail to plan:\n{output}");
}

/// `terraform init` + `terraform test` (a plan) in `root_dir` with mocked AWS providers.
fn plan_offline(root_dir: &std::path::Path, major: u32, variables: &str) -> (bool, String) {
    std::fs::create_dir_all(root_dir.join("tests")).expect("mkdir");
    std::fs::write(root_dir.join("tests/plan.tftest.hcl"), mock_test(major, variables)).expect("write");
    let run = |args: &[&str]| {
        std::process::Command::new("terraform")
            .args(args)
            .current_dir(root_dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .expect("terraform runs")
    };
    let plugin = format!("-plugin-dir={PLUGIN_DIR}");
    let init = run(&["init", "-backend=false", "-input=false", "-no-color", &plugin]);
    if !init.status.success() {
        return (false, format!("terraform init failed:\n{}", String::from_utf8_lossy(&init.stderr)));
    }
    let test = run(&["test", "-no-color"]);
    (
        test.status.success(),
        format!("{}\n{}", String::from_utf8_lossy(&test.stdout), String::from_utf8_lossy(&test.stderr)),
    )
}

#[test]
fn the_redis_secrets_terraform_writes_are_the_ones_workloads_read() {
    // The Kubernetes side (ExternalSecrets) reads `<platform>/<env>/redis/<store>` and
    // `<store>-<env>/auth-token`; the root module and the cache module must name them alike.
    let (p, b) = default_bundle();
    for env in &p.environments {
        let main = parsed(&b).remove(&format!("terraform/envs/{}/main.tf", env.name)).expect("main");
        let cache =
            main.blocks().find(|m| m.identifier() == "module" && m.labels[0].as_str() == "cache").expect("cache");
        let endpoint = text(attr(cache, "endpoint_secret_name").expect("endpoint_secret_name"));
        let group = text(attr(cache, "name").expect("name"));
        let mut seen = 0;
        for w in &env.workloads {
            for c in env.redis_connections(&p.name, w) {
                let subst = |t: &str| {
                    t.trim_matches('"').replace("${var.environment}", &env.name).replace("${each.key}", &c.store)
                };
                assert_eq!(subst(&endpoint), c.endpoint_aws_name, "{}: endpoint secret of {}", env.name, c.store);
                assert_eq!(
                    format!("{}/auth-token", subst(&group)),
                    c.auth_token_aws_name,
                    "{}: token of {}",
                    env.name,
                    c.store
                );
                seen += 1;
            }
        }
        assert!(seen > 0, "{}: no workload reads Redis, nothing compared", env.name);
    }
    let cache =
        std::str::from_utf8(b.get("terraform/modules/cache/main.tf").expect("cache")).expect("utf8").to_string();
    assert!(cache.contains("name        = \"${var.name}/auth-token\"") || cache.contains("\"${var.name}/auth-token\""));
    assert!(cache.contains("primary_endpoint_address") && cache.contains("var.endpoint_secret_name"));
}

#[test]
fn every_group_a_binding_names_is_mapped_by_an_access_entry() {
    // A RoleBinding to a group no access entry carries grants nobody anything (issue 8).
    let (p, b) = default_bundle();
    for env in &p.environments {
        let mapped = format!(
            "{} {}",
            text(&tfvar(&b, &env.name, "access_groups")),
            text(&tfvar(&b, &env.name, "admin_kubernetes_groups"))
        );
        let mut groups = 0;
        let prefix = format!("kubernetes/{}/", env.name);
        for (path, bytes) in b.iter().filter(|(p, _)| p.starts_with(&prefix) && p.contains("rolebinding")) {
            let doc: serde_json::Value = serde_saphyr::from_str(std::str::from_utf8(bytes).expect("utf8"))
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            for s in doc["subjects"].as_array().into_iter().flatten().filter(|s| s["kind"] == "Group") {
                let name = s["name"].as_str().unwrap_or_default();
                if name.starts_with("system:") {
                    continue;
                }
                assert!(
                    mapped.contains(&format!("\"{name}\"")),
                    "{path}: group {name} is bound but no access entry maps it: {mapped}"
                );
                groups += 1;
            }
        }
        assert!(groups > 0, "{}: no group bindings found, nothing checked", env.name);
    }
}

/// The `#checkov:skip=<id>:<reason>` reasons of `file`, by check id.
fn waivers(b: &Bundle, file: &str) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(b.get(file).unwrap_or_else(|| panic!("{file} missing"))).into_owned();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("#checkov:skip="))
        .filter_map(|r| r.split_once(':'))
        .map(|(id, reason)| (id.to_string(), reason.to_string()))
        .collect()
}

#[test]
fn the_secrets_rotation_waiver_says_what_rotates_today() {
    // The old reason claimed rotation was attached wherever the spec sets rotationDays, but the
    // rotation resource exists only with a rotation function. The environments now pass one per
    // rotated PostgreSQL credential (`rotation_function_arns`, see tests/rotation.rs).
    let (_, b) = default_bundle();
    let passes_function = ["dev", "staging", "prod"].iter().any(|env| {
        String::from_utf8_lossy(b.get(&format!("terraform/envs/{env}/main.tf")).expect("main"))
            .contains("rotation_function_arns")
    });
    let reasons = waivers(&b, "terraform/modules/secrets/main.tf");
    let (_, reason) = reasons.iter().find(|(id, _)| id == "CKV2_AWS_57").expect("secrets rotation waiver");
    assert!(!reason.contains("rotated by their issuers"), "the spec sets rotationDays on third-party keys: {reason}");
    if !passes_function {
        assert!(!reason.contains("rotation is attached"), "no environment gives a rotation function: {reason}");
        assert!(reason.contains("do not rotate"), "{reason}");
    }
}

#[test]
fn dr_replicas_run_the_source_lifecycle_rules_themselves() {
    // Replication carries neither lifecycle expirations nor noncurrent-version expiry, so a
    // replica without rules of its own keeps everything forever.
    let (_, b) = default_bundle();
    assert!(waivers(&b, "terraform/modules/storage/main.tf").iter().all(|(id, _)| id != "CKV2_AWS_61"));
    let storage = parsed(&b).remove("terraform/modules/storage/main.tf").expect("storage");
    let rules = |name: &str| {
        blocks(&storage, "resource", "aws_s3_bucket_lifecycle_configuration")
            .find(|l| l.labels[1].as_str() == name)
            .unwrap_or_else(|| panic!("no lifecycle {name}"))
            .clone()
    };
    let (source, replica) = (rules("this"), rules("replica"));
    assert_eq!(text(attr(&replica, "provider").expect("provider")), "aws.dr");
    assert_eq!(text(attr(&replica, "for_each").expect("for_each")), "local.replicated");
    assert_eq!(text(attr(&replica, "bucket").expect("bucket")), "aws_s3_bucket.replica[each.key].id");
    let rule_text = |l: &hcl::Block| {
        hcl::to_string(&l.body.blocks().find(|r| r.identifier() == "rule").expect("rule").body).unwrap_or_default()
    };
    assert_eq!(rule_text(&source), rule_text(&replica), "the replica's rules differ from the source's");
    assert!(rule_text(&replica).contains("noncurrent_version_expiration"));
}

#[test]
fn the_redis_token_waiver_does_not_claim_automatic_rotation() {
    let (_, b) = default_bundle();
    let cache = parsed(&b).remove("terraform/modules/cache/main.tf").expect("cache");
    let pw = blocks(&cache, "resource", "random_password").next().expect("auth token");
    let keeper = text(attr(pw, "keepers").expect("keepers"));
    let (_, reason) = waivers(&b, "terraform/modules/cache/main.tf")
        .into_iter()
        .find(|(id, r)| id == "CKV2_AWS_57" && r.contains("random_password.auth"))
        .expect("token waiver");
    if keeper.contains("\"1\"") {
        assert!(!reason.contains("rotates by bumping"), "the keeper is a constant: {reason}");
        assert!(reason.contains("manual"), "{reason}");
    }
}

#[test]
fn describe_only_waivers_sit_over_describe_only_wildcards() {
    // The node termination handler's waiver spoke of Describe calls, but CompleteLifecycleAction
    // had resource "*" as well.
    let (_, b) = default_bundle();
    for env in ["dev", "staging", "prod"] {
        let iam = parsed(&b).remove(&format!("terraform/envs/{env}/iam.tf")).expect("iam");
        let nth = blocks(&iam, "data", "aws_iam_policy_document")
            .find(|d| d.labels[1].as_str() == "node_termination_handler")
            .expect("nth policy");
        for st in nth.body.blocks().filter(|s| s.identifier() == "statement") {
            if text(attr(st, "resources").expect("resources")) == "[\"*\"]" {
                let actions = text(attr(st, "actions").expect("actions"));
                for a in actions
                    .trim_matches(['[', ']'])
                    .split(',')
                    .map(|a| a.trim().trim_matches('"'))
                    .filter(|a| !a.is_empty())
                {
                    let verb = a.split(':').nth(1).unwrap_or("");
                    assert!(verb.starts_with("Describe"), "{env}: {a} has resource \"*\" under a Describe-only waiver");
                }
            }
        }
    }
}

#[test]
fn the_cluster_autoscaler_has_wildcards_only_for_reads_and_tag_scoped_scaling() {
    // eks:DescribeNodegroup sat under "*" while the waiver spoke of Auto Scaling and EC2 reads only.
    let (_, b) = default_bundle();
    let iam = parsed(&b).remove("terraform/envs/prod/iam.tf").expect("iam");
    let ca = blocks(&iam, "data", "aws_iam_policy_document")
        .find(|d| d.labels[1].as_str() == "cluster_autoscaler")
        .expect("cluster autoscaler policy");
    for st in ca.body.blocks().filter(|s| s.identifier() == "statement") {
        if text(attr(st, "resources").expect("resources")) != "[\"*\"]" {
            continue;
        }
        let conditioned = st.body.blocks().any(|c| c.identifier() == "condition");
        let actions = text(attr(st, "actions").expect("actions"));
        for a in
            actions.trim_matches(['[', ']']).split(',').map(|a| a.trim().trim_matches('"')).filter(|a| !a.is_empty())
        {
            let (svc, verb) = a.split_once(':').unwrap_or((a, ""));
            let read =
                (svc == "autoscaling" || svc == "ec2") && (verb.starts_with("Describe") || verb.starts_with("Get"));
            assert!(read || conditioned, "{a} has resource \"*\" without a condition");
        }
    }
}

#[test]
fn the_read_replica_waiver_holds_in_every_environment() {
    // "the other replicas" is false where an environment has one replica (staging).
    let (_, b) = default_bundle();
    let reasons = waivers(&b, "terraform/modules/database/main.tf");
    let min_replicas = ["dev", "staging", "prod"]
        .iter()
        .filter_map(|env| {
            let t = String::from_utf8_lossy(b.get(&format!("terraform/envs/{env}/terraform.tfvars")).expect("tfvars"))
                .into_owned();
            t.lines().find_map(|l| {
                l.trim().strip_prefix("read_replicas")?.trim().trim_start_matches('=').trim().parse::<u32>().ok()
            })
        })
        .filter(|n| *n > 0)
        .min()
        .expect("some environment has replicas");
    for (id, r) in reasons.iter().filter(|(id, _)| id == "CKV_AWS_157") {
        if min_replicas < 2 {
            assert!(!r.contains("other replicas"), "{id}: an environment has {min_replicas} replica: {r}");
        }
    }
}

#[test]
fn rds_pins_only_the_major_when_aws_upgrades_the_minor() {
    // "17.6" with auto minor upgrades: once AWS moves the instance to 17.7, the next plan tries to
    // downgrade it and the apply fails.
    let (_, b) = default_bundle();
    let db = parsed(&b).remove("terraform/modules/database/main.tf").expect("database");
    for inst in blocks(&db, "resource", "aws_db_instance") {
        if attr(inst, "auto_minor_version_upgrade").map(text).as_deref() != Some("true") {
            continue;
        }
        if let Some(v) = attr(inst, "engine_version") {
            let v = text(v);
            assert!(
                v == "split(\".\", var.engine_version)[0]" || v.trim_matches('"').chars().all(|c| c.is_ascii_digit()),
                "{} pins a minor version under auto upgrades: {v}",
                inst.labels[1].as_str()
            );
        }
    }
}

#[test]
fn rds_log_groups_exist_encrypted_before_the_instances_export_to_them() {
    // RDS otherwise creates /aws/rds/instance/<id>/<log> itself: no KMS key, no retention.
    let (_, b) = default_bundle();
    let db = parsed(&b).remove("terraform/modules/database/main.tf").expect("database");
    let group = blocks(&db, "resource", "aws_cloudwatch_log_group")
        .find(|g| attr(g, "name").map(text).is_some_and(|n| n.starts_with("\"/aws/rds/instance/")));
    let group = group.expect("no log group for the RDS exports");
    assert!(attr(group, "kms_key_id").is_some() && attr(group, "retention_in_days").is_some());
    let for_each = text(attr(group, "for_each").expect("for_each"));
    let locals = db.blocks().find(|l| l.identifier() == "locals" && attr(l, "instances").is_some()).expect("locals");
    let instances = text(attr(locals, "instances").expect("instances"));
    assert!(instances.contains("var.name") && instances.contains("replica"), "primary and replicas: {instances}");
    assert_eq!(for_each, "local.log_groups");
    let key = text(attr(group, "kms_key_id").expect("key")).replace(".arn", "");
    let key_name = key.trim_start_matches("aws_kms_key.");
    let policy = blocks(&db, "data", "aws_iam_policy_document")
        .find(|d| d.labels[1].as_str() == format!("{key_name}_key"))
        .expect("key policy");
    let policy = hcl::to_string(&policy.body).unwrap_or_default();
    assert!(policy.contains("logs.${data.aws_region.current.region}.amazonaws.com"), "{policy}");
    assert!(policy.contains("kms:EncryptionContext:aws:logs:arn"), "{policy}");
    for inst in blocks(&db, "resource", "aws_db_instance") {
        let exports = attr(inst, "enabled_cloudwatch_logs_exports").map(text).unwrap_or_default();
        for log in
            exports.trim_matches(['[', ']']).split(',').map(|l| l.trim().trim_matches('"')).filter(|l| !l.is_empty())
        {
            let groups = text(attr(locals, "log_groups").expect("log_groups"));
            assert!(groups.contains(&format!("\"{log}\"")), "no group for {log}");
        }
        let deps = attr(inst, "depends_on").map(text).unwrap_or_default();
        assert!(
            deps.contains("aws_cloudwatch_log_group.rds"),
            "{} exports before its log groups exist",
            inst.labels[1].as_str()
        );
    }
}

#[test]
fn backups_stay_readable_and_are_expired_by_their_owner_not_the_bucket() {
    // Velero cannot read Glacier Flexible Retrieval objects, and a bucket-wide expiry deletes
    // kopia repository packs that live backups still reference.
    let (_, b) = default_bundle();
    let buckets = text(&tfvar(&b, "prod", "buckets"));
    let body = hcl::parse(&format!("x = {buckets}")).expect("buckets parse");
    let Some(Expression::Object(all)) = body.attributes().next().map(|a| a.expr.clone()) else { panic!("buckets") };
    let mut backups = 0;
    for (name, v) in &all {
        let t = text(v);
        if t.contains("\"backup\"") {
            backups += 1;
            assert!(t.contains("expire_after_days = 0"), "{name:?} expires backups bucket-wide: {t}");
        }
    }
    assert!(backups > 0, "no backup bucket");
    let storage = parsed(&b).remove("terraform/modules/storage/main.tf").expect("storage");
    for l in blocks(&storage, "resource", "aws_s3_bucket_lifecycle_configuration") {
        let all = hcl::to_string(&l.body).unwrap_or_default();
        if all.contains("\"GLACIER\"") {
            assert!(all.contains("each.value.class == \"backup\" ? \"GLACIER_IR\""), "backups go to Glacier: {all}");
        }
    }
}

#[test]
fn config_never_delivers_to_a_bucket_with_default_object_lock_retention() {
    // AWS Config does not support a delivery channel to a bucket whose Object Lock has a default
    // retention; a default retention on the bucket Config delivers to stops Config's delivery.
    let (_, b) = default_bundle();
    let audit = parsed(&b).remove("terraform/modules/audit/main.tf").expect("audit");
    let channel = blocks(&audit, "resource", "aws_config_delivery_channel").next().expect("channel");
    let target = text(attr(channel, "s3_bucket_name").expect("bucket"));
    for lock in blocks(&audit, "resource", "aws_s3_bucket_object_lock_configuration") {
        let locked = text(attr(lock, "bucket").expect("bucket"));
        let has_default = lock
            .body
            .blocks()
            .filter(|r| r.identifier() == "rule")
            .any(|r| r.body.blocks().any(|d| d.identifier() == "default_retention"));
        assert!(!(has_default && locked == target), "Config delivers to {target}, which has a default retention");
    }
}

#[test]
fn the_trail_does_not_record_its_own_deliveries() {
    // `data_resource { values = ["arn:aws:s3"] }` records every object event, the trail's own
    // deliveries to the audit bucket and every access-log write included.
    let (_, b) = default_bundle();
    let files = parsed(&b);
    let audit = files.get("terraform/modules/audit/main.tf").expect("audit");
    let trail = blocks(audit, "resource", "aws_cloudtrail").next().expect("trail");
    for sel in trail.body.blocks().filter(|x| x.identifier() == "event_selector") {
        for d in sel.body.blocks().filter(|x| x.identifier() == "data_resource") {
            let values = text(attr(d, "values").expect("values"));
            assert!(!values.contains("\"arn:aws:s3\""), "every S3 object event, the audit bucket's included: {values}");
        }
    }
    let selectors: Vec<String> = trail
        .body
        .blocks()
        .filter(|x| x.identifier() == "advanced_event_selector")
        .map(|x| hcl::to_string(&x.body).unwrap_or_default())
        .collect();
    assert!(selectors.iter().any(|s| s.contains("\"Management\"")), "management events dropped");
    let s3 = selectors.iter().find(|s| s.contains("AWS::S3::Object")).expect("S3 data events");
    assert!(s3.contains("not_starts_with") && s3.contains("aws_s3_bucket.audit.id"), "{s3}");
    let boot = files.get("terraform/bootstrap/main.tf").expect("bootstrap");
    let call =
        boot.blocks().find(|m| m.identifier() == "module" && m.labels[0].as_str() == "audit").expect("audit call");
    let skipped = text(attr(call, "unrecorded_bucket_prefixes").expect("log buckets"));
    assert!(
        skipped.contains("aws_s3_bucket.state_logs.id") && skipped.contains("\"cerverus-access-logs-\""),
        "{skipped}"
    );
    let storage = String::from_utf8_lossy(b.get("terraform/modules/storage/main.tf").expect("storage")).into_owned();
    assert!(
        storage.contains("bucket = \"cerverus-access-logs-${var.name}\""),
        "log bucket name and exclusion disagree"
    );
}

#[test]
fn every_node_carries_the_termination_handler_tag_and_it_hears_only_ec2_changes() {
    let (_, b) = default_bundle();
    let eks = parsed(&b).remove("terraform/modules/eks/main.tf").expect("eks");
    for lt in blocks(&eks, "resource", "aws_launch_template") {
        let instance = lt
            .body
            .blocks()
            .filter(|t| t.identifier() == "tag_specifications")
            .find(|t| attr(t, "resource_type").map(text).as_deref() == Some("\"instance\""))
            .expect("instance tags");
        let tags = text(attr(instance, "tags").expect("tags"));
        assert!(
            tags.contains("\"aws-node-termination-handler/managed\" = \"true\""),
            "{}: instances launched before the ASG tag exists are ignored by the handler: {tags}",
            lt.labels[1].as_str()
        );
    }
    let locals =
        eks.blocks().filter(|l| l.identifier() == "locals").map(|l| hcl::to_string(&l.body).unwrap_or_default());
    let rules =
        blocks(&eks, "resource", "aws_cloudwatch_event_rule").map(|r| hcl::to_string(&r.body).unwrap_or_default());
    let all: String = locals.chain(rules).collect();
    let at = all.find("aws.health").expect("Health rule");
    let health = &all[at..at + 300.min(all.len() - at)];
    assert!(health.contains("\"EC2\"") && health.contains("\"scheduledChange\""), "every Health event: {health}");
}

#[test]
fn prod_keeps_an_on_demand_general_node_in_every_zone() {
    // With one on-demand floor node, both replicas of a system-critical controller could share
    // it or land on spot; staging already kept two.
    let (_, b) = default_bundle();
    let azs = text(&tfvar(&b, "prod", "azs")).matches('"').count() / 2;
    let groups = text(&tfvar(&b, "prod", "node_groups"));
    let body = hcl::parse(&format!("x = {groups}")).expect("node groups parse");
    let Some(Expression::Object(all)) = body.attributes().next().map(|a| a.expr.clone()) else { panic!("node groups") };
    let general = all
        .iter()
        .find(|(_, v)| {
            let t = text(v);
            t.contains("\"cerverus.io/pool\" = \"general\"") && t.contains("\"ON_DEMAND\"")
        })
        .map(|(_, v)| text(v))
        .expect("general on-demand group");
    let min: u32 = general
        .lines()
        .find_map(|l| l.trim().strip_prefix("min_size")?.trim().trim_start_matches('=').trim().parse().ok())
        .expect("min_size");
    assert!(azs >= 3 && min as usize >= azs, "prod general on-demand floor {min} for {azs} zones");
}

/// The roles CI assumes trust exactly the GitHub environments `.github/workflows/terraform.yml`
/// runs its jobs in (`<env>-plan` for plans, `<env>` for the reviewed applies), one per
/// environment of the spec; the image-push role may only push to the platform's repositories.
#[test]
fn ci_roles_trust_the_environments_the_terraform_workflow_runs_in() {
    let (p, b) = default_bundle();
    let files = parsed(&b);
    let main = files.get("terraform/bootstrap/main.tf").expect("bootstrap main");
    let subjects = |doc: &str| -> BTreeSet<String> {
        let d = blocks(main, "data", "aws_iam_policy_document")
            .find(|d| d.labels[1].as_str() == doc)
            .unwrap_or_else(|| panic!("{doc} missing"));
        let all = hcl::to_string(&d.body).unwrap_or_default();
        all.split('"').filter(|s| s.starts_with("repo:")).map(str::to_string).collect()
    };
    let envs: Vec<&str> = p.environments.iter().map(|e| e.name.as_str()).collect();
    let want = |suffix: &str| -> BTreeSet<String> {
        envs.iter().map(|e| format!("repo:${{var.github_repository}}:environment:{e}{suffix}")).collect()
    };
    assert_eq!(subjects("ci_plan_trust"), want("-plan"));
    assert_eq!(subjects("ci_apply_trust"), want(""));

    let workflow_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.github/workflows/terraform.yml");
    let workflow: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(workflow_path).expect("terraform.yml")).expect("yaml");
    let jobs = workflow["jobs"].as_object().expect("jobs");
    let mut environments = BTreeSet::new();
    for job in jobs.values() {
        if let Some(e) = job["environment"].as_str() {
            environments.insert(e.to_string());
        }
        if let Some(m) = job["strategy"]["matrix"]["env"].as_array() {
            let listed: Vec<&str> = m.iter().filter_map(|v| v.as_str()).collect();
            assert_eq!(listed, envs, "the workflow's matrix lists the spec's environments");
        }
    }
    assert_eq!(
        environments,
        BTreeSet::from(["${{ matrix.env }}-plan".to_string(), "${{ matrix.env }}".to_string()]),
        "plan and apply jobs run in the environments the roles trust"
    );

    let push = blocks(main, "data", "aws_iam_policy_document")
        .find(|d| d.labels[1].as_str() == "ci_image_push")
        .expect("push policy");
    let push = hcl::to_string(&push.body).unwrap_or_default();
    assert!(push.contains("values(module.registry.repository_arns)"), "{push}");
    assert!(!push.contains("ecr:*") && !push.contains("DeleteRepository"), "{push}");
}
