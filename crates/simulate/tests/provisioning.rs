//! Provisioning critical path: small Terraform configurations whose critical path and total can
//! be worked out on paper (times in a test weight table, in minutes), and the default spec's prod
//! root.

use std::collections::BTreeMap;

use cerverus_check::inventory::{Inventory, TfBlock, load_text};
use cerverus_simulate::provisioning::{self, ProvisioningReport, graph, schedule, weights::Weights};
use serde_json::json;

/// A weight table: `types` at their minutes, everything else (and data sources) 0.
fn weights(types: &[(&str, f64)], parallelism: usize) -> Weights {
    weights_with_reads(types, parallelism, 0.0)
}

/// The same, with data source reads taking `read` minutes.
fn weights_with_reads(types: &[(&str, f64)], parallelism: usize, read: f64) -> Weights {
    let rt: serde_json::Map<String, serde_json::Value> = types
        .iter()
        .map(|(t, m)| (t.to_string(), json!({ "minutes": m, "basis": "estimate", "note": "test" })))
        .collect();
    serde_json::from_value(json!({
        "provenance": { "file": "test", "model": "test", "sources": [], "as_of": "2026-12-03" },
        "parallelism": parallelism,
        "target_minutes": 30.0,
        "top_n": 3,
        "data_source_minutes": read,
        "default": { "minutes": 0.0, "basis": "estimate", "note": "test" },
        "resource_types": rt,
    }))
    .expect("test weights")
}

fn blocks(file: &str, text: &str) -> Vec<TfBlock> {
    let mut inv = Inventory::default();
    load_text(&mut inv, file, text);
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    inv.terraform
}

fn analyse(root: &str, modules: &[(&str, &str)], tfvars: serde_json::Value, w: &Weights) -> ProvisioningReport {
    let modules: BTreeMap<String, Vec<TfBlock>> =
        modules.iter().map(|(n, t)| (n.to_string(), blocks(&format!("modules/{n}/main.tf"), t))).collect();
    provisioning::analyse("terraform/envs/test", &blocks("envs/test/main.tf", root), &modules, &tfvars, w)
        .expect("analyses")
}

fn path(r: &ProvisioningReport) -> Vec<(&str, f64, f64)> {
    r.critical_path.iter().map(|p| (p.address.as_str(), p.start_minutes, p.finish_minutes)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn two_independent_chains_the_longer_is_critical() {
    // A(10) → B(3) by reference; C(5) → D(2) by depends_on; the chains are independent.
    // A→B = 13, C→D = 7: the critical path is A→B, 13 min; 4 instances fit 10 slots: 13 too.
    let root = r#"
resource "t_a" "a" {}
resource "t_b" "b" { x = t_a.a.id }
resource "t_c" "c" {}
resource "t_d" "d" { depends_on = [t_c.c] }
"#;
    let w = weights(&[("t_a", 10.0), ("t_b", 3.0), ("t_c", 5.0), ("t_d", 2.0)], 10);
    let r = analyse(root, &[], json!(null), &w);
    assert_eq!(path(&r), vec![("t_a.a", 0.0, 10.0), ("t_b.b", 10.0, 13.0)]);
    assert!(close(r.critical_path_minutes, 13.0) && close(r.scheduled_minutes, 13.0));
    assert_eq!(r.resource_instances, 4);
    let top: Vec<&str> = r.longest.iter().map(|l| l.address.as_str()).collect();
    assert_eq!(top, vec!["t_a.a", "t_c.c", "t_b.b"], "top 3, longest first");
    assert!(r.verdicts()[0].pass, "13 < 30");
}

const MODULE: &str = r#"
variable "slow_input" {}
variable "fast_input" {}
resource "t_slow" "s" { x = var.slow_input }
resource "t_fast" "f" { x = var.fast_input }
output "slow_id" { value = t_slow.s.id }
output "fast_id" { value = t_fast.f.id }
"#;

#[test]
fn a_module_output_routes_the_path_through_the_module_and_only_through_what_it_references() {
    // Root: A(10); module m gets slow_input = A's id, fast_input a literal. Z(2) reads
    // m.slow_id, Y(1) reads m.fast_id.
    // Path: A(0→10) → m.t_slow.s(10→18) → Z(18→20) = 20 min, via the module's variable and output.
    // Y waits only for m.t_fast.f (0→1), not the whole module: Y runs 1→2. Were the module one
    // node, Y would start at 18.
    let root = r#"
resource "t_a" "a" {}
module "m" {
  source     = "../../modules/mod"
  slow_input = t_a.a.id
  fast_input = "literal"
}
resource "t_z" "z" { x = module.m.slow_id }
resource "t_y" "y" { x = module.m.fast_id }
"#;
    let w = weights(&[("t_a", 10.0), ("t_slow", 8.0), ("t_fast", 1.0), ("t_z", 2.0), ("t_y", 1.0)], 10);
    let r = analyse(root, &[("mod", MODULE)], json!(null), &w);
    assert_eq!(path(&r), vec![("t_a.a", 0.0, 10.0), ("module.m.t_slow.s", 10.0, 18.0), ("t_z.z", 18.0, 20.0)]);
    assert_eq!(r.critical_path[1].via, vec!["module.m.var.slow_input"]);
    assert_eq!(r.critical_path[2].via, vec!["module.m.output.slow_id"]);
    assert!(close(r.critical_path_minutes, 20.0));

    let modules = BTreeMap::from([("mod".to_string(), blocks("modules/mod/main.tf", MODULE))]);
    let g = graph::build(&blocks("main.tf", root), &modules, &json!(null), &w);
    let order = schedule::topo_order(&g).expect("acyclic");
    let c = schedule::critical_path(&g, &order);
    let at = |id: &str| g.nodes.iter().position(|n| n.id == id).expect(id);
    assert!(close(c.timing.start[at("t_y.y")], 1.0) && close(c.timing.finish[at("t_y.y")], 2.0));
}

#[test]
fn a_whole_module_reference_waits_for_every_output() {
    // `values(module.m)` is every output: Y now waits for m.t_slow.s too: 10 + 8 + 1 = 19.
    let root = r#"
resource "t_a" "a" {}
module "m" {
  source     = "../../modules/mod"
  slow_input = t_a.a.id
  fast_input = "literal"
}
resource "t_y" "y" { x = values(module.m) }
"#;
    let w = weights(&[("t_a", 10.0), ("t_slow", 8.0), ("t_fast", 1.0), ("t_y", 1.0)], 10);
    let r = analyse(root, &[("mod", MODULE)], json!(null), &w);
    assert!(close(r.critical_path_minutes, 19.0), "{}", r.critical_path_minutes);
    assert_eq!(r.critical_path.last().map(|p| p.address.as_str()), Some("t_y.y"));
}

#[test]
fn for_each_over_tfvars_keys_and_count_expand_into_instances() {
    // 3 node groups from tfvars (4 min each), a module called for_each over the same 3 keys with
    // count = var.replicas inside (tfvars 2 per key: 6 instances of t_rep, 5 min), and
    // `count = length(var.groups)` (3 × t_c, 1 min): 3 + 3 + 6 = 12 instances, plus one whose
    // for_each is only known after apply (modelled as one instance, and said).
    // Critical path: t_rep 5 min. Parallelism 4, longest remaining path first: 4 t_rep 0→5;
    // then 2 t_rep 5→10 and 2 t_ng 5→9; then the third t_ng 9→13 and a t_c 9→10; the other
    // two t_c 10→11; t_u (after every t_c) 11→12. Total 13.
    let root = r#"
variable "groups" {}
variable "replicas" { default = 1 }
resource "t_ng" "g" {
  for_each = var.groups
  size     = each.value.size
}
resource "t_c" "c" { count = length(var.groups) }
resource "t_u" "u" { for_each = toset(t_c.c[*].id) }
module "db" {
  source   = "../../modules/db"
  for_each = var.groups
  replicas = var.replicas
}
"#;
    let module = r#"
variable "replicas" {}
resource "t_rep" "r" { count = var.replicas }
"#;
    let tfvars = json!({ "groups": { "a": { "size": 1 }, "b": { "size": 2 }, "c": { "size": 3 } }, "replicas": 2 });
    let w = weights(&[("t_ng", 4.0), ("t_rep", 5.0), ("t_c", 1.0), ("t_u", 1.0)], 4);
    let r = analyse(root, &[("db", module)], tfvars, &w);
    assert_eq!(r.resource_instances, 3 + 3 + 6 + 1);
    assert!(close(r.critical_path_minutes, 5.0), "{}", r.critical_path_minutes);
    assert!(close(r.scheduled_minutes, 13.0), "{}", r.scheduled_minutes);
    assert!(r.assumptions.iter().any(|a| a.contains("t_u.u") && a.contains("one instance")), "{:?}", r.assumptions);
    let reps = r.longest.iter().find(|l| l.address == "module.db.t_rep.r").expect("t_rep");
    assert_eq!(reps.instances, 6);
}

#[test]
fn more_long_resources_ready_than_slots_make_the_total_longer_than_the_critical_path() {
    // 12 independent instances of 10 min on 10 slots: critical path 10, but two wait for a
    // slot: 10 + 10 = 20 min. With 12 slots: 10.
    let root = r#"resource "t_long" "l" { count = 12 }"#;
    let r = analyse(root, &[], json!(null), &weights(&[("t_long", 10.0)], 10));
    assert!(close(r.critical_path_minutes, 10.0) && close(r.scheduled_minutes, 20.0));
    let r = analyse(root, &[], json!(null), &weights(&[("t_long", 10.0)], 12));
    assert!(close(r.scheduled_minutes, 10.0));
}

#[test]
fn the_schedule_starts_the_longest_remaining_path_first() {
    // One slot. A(1) precedes B(10); C(5) is alone. Longest path first: A (11 behind it) at
    // 0→1, then B (10) 1→11, then C 11→16 = 16 min; C first would also be 16: the order does not
    // change a one-slot total, so check the order itself: B starts before C.
    let root = r#"
resource "t_a" "a" {}
resource "t_b" "b" { x = t_a.a.id }
resource "t_c" "c" {}
"#;
    let w = weights(&[("t_a", 1.0), ("t_b", 10.0), ("t_c", 5.0)], 1);
    let g = graph::build(&blocks("main.tf", root), &BTreeMap::new(), &json!(null), &w);
    let order = schedule::topo_order(&g).expect("acyclic");
    let t = schedule::with_parallelism(&g, &order, 1);
    let at = |id: &str| g.nodes.iter().position(|n| n.id == id).expect(id);
    assert!(close(t.start[at("t_b.b")], 1.0) && close(t.start[at("t_c.c")], 11.0) && close(t.total, 16.0));
}

#[test]
fn a_configuration_slower_than_the_target_fails() {
    // A(20) → B(15): 35 min ≥ 30: the verdict fails, naming the path.
    let root = r#"
resource "t_a" "a" {}
resource "t_b" "b" { x = t_a.a.id }
"#;
    let r = analyse(root, &[], json!(null), &weights(&[("t_a", 20.0), ("t_b", 15.0)], 10));
    let v = r.verdicts();
    assert_eq!(v.len(), 1);
    assert!(!v[0].pass && v[0].scenario == "provisioning" && v[0].subject == "terraform/envs/test");
    assert!(
        v[0].detail.contains("35.0") && v[0].detail.contains("t_a.a") && v[0].detail.contains("exceeds"),
        "{}",
        v[0].detail
    );
    // And 29 passes.
    let r = analyse(root, &[], json!(null), &weights(&[("t_a", 20.0), ("t_b", 9.0)], 10));
    assert!(r.verdicts()[0].pass);
}

#[test]
fn data_sources_waiting_for_a_resource_are_read_during_apply_the_others_during_plan() {
    // Reads take 1 min. `plan` reads nothing created by apply: read during plan, 0 apply time.
    // `apply` reads A's id: A(10) → read(1) → B(2) = 13, the read on the path; C waits only
    // for `plan`: 0 → 3.
    let root = r#"
resource "t_a" "a" {}
data "t_d" "plan" { name = "fixed" }
data "t_d" "apply" { id = t_a.a.id }
resource "t_b" "b" { x = data.t_d.apply.id }
resource "t_c" "c" { x = data.t_d.plan.id }
"#;
    let w = weights_with_reads(&[("t_a", 10.0), ("t_b", 2.0), ("t_c", 3.0)], 10, 1.0);
    let r = analyse(root, &[], json!(null), &w);
    assert_eq!(path(&r), vec![("t_a.a", 0.0, 10.0), ("data.t_d.apply", 10.0, 11.0), ("t_b.b", 11.0, 13.0)]);
    assert_eq!(r.critical_path[1].kind, "data");
    let g = graph::build(&blocks("main.tf", root), &BTreeMap::new(), &json!(null), &w);
    let node = |id: &str| g.nodes.iter().find(|n| n.id == id).expect(id);
    let plan = &node("data.t_d.plan").instances[0].time;
    assert!(plan.minutes == 0.0 && plan.rule == "read during plan", "{plan:?}");
    let apply = &node("data.t_d.apply").instances[0].time;
    assert!(apply.minutes == 1.0 && apply.rule == "data source read", "{apply:?}");
}

#[test]
fn what_cannot_be_known_before_apply_is_said() {
    // A count from a resource attribute and a module from a registry: one instance, and the
    // module's resources are not modelled — both said in the report's assumptions.
    let root = r#"
resource "t_a" "a" {}
resource "t_b" "b" { count = length(t_a.a.ids) }
module "vpc" { source = "terraform-aws-modules/vpc/aws" }
"#;
    let r = analyse(root, &[], json!(null), &weights(&[("t_a", 1.0), ("t_b", 1.0)], 10));
    assert_eq!(r.resource_instances, 2);
    assert!(
        r.assumptions.iter().any(|a| a.contains("t_b.b") && a.contains("count is not known")),
        "{:?}",
        r.assumptions
    );
    assert!(
        r.assumptions.iter().any(|a| a.contains("module.vpc") && a.contains("not modelled")),
        "{:?}",
        r.assumptions
    );
}

#[test]
fn a_cycle_is_an_input_error() {
    let root = r#"
resource "t_a" "a" { x = t_b.b.id }
resource "t_b" "b" { x = t_a.a.id }
"#;
    let modules = BTreeMap::new();
    let w = weights(&[], 10);
    let e = provisioning::analyse("r", &blocks("main.tf", root), &modules, &json!(null), &w);
    assert!(e.is_err_and(|e| e.to_string().contains("cycle")));
}

#[test]
fn the_data_file_times_a_database_by_its_configuration() {
    // multi_az from tfvars and a replica (replicate_source_db set) pick the data file's variants.
    let root = r#"
variable "multi_az" {}
resource "aws_db_instance" "primary" { multi_az = var.multi_az }
resource "aws_db_instance" "replica" { replicate_source_db = aws_db_instance.primary.identifier }
resource "aws_db_instance" "single" { multi_az = false }
"#;
    let w = provisioning::weights::load().expect("data file");
    let modules = BTreeMap::new();
    let r = provisioning::analyse("r", &blocks("main.tf", root), &modules, &json!({ "multi_az": true }), w)
        .expect("analyses");
    let rule = |a: &str| r.longest.iter().find(|l| l.address == a).map(|l| l.rule.clone()).expect(a);
    assert_eq!(rule("aws_db_instance.primary"), "aws_db_instance (multi_az = true)");
    assert_eq!(rule("aws_db_instance.replica"), "aws_db_instance (replicate_source_db set)");
    assert_eq!(rule("aws_db_instance.single"), "aws_db_instance");
    let t = &w.resource_types["aws_db_instance"];
    let multi = t.variants.iter().find(|v| v.when.attribute == "multi_az").expect("variant").minutes;
    let replica = t.variants.iter().find(|v| v.when.attribute == "replicate_source_db").expect("variant").minutes;
    assert!(close(r.critical_path_minutes, multi + replica));
}

#[test]
fn default_spec_prod() {
    let loaded = cerverus_spec::load("cerverus.yaml", cerverus_spec::DEFAULT_SPEC).expect("loads");
    let platform = cerverus_model::resolve(&loaded).expect("resolves");
    let bundle = cerverus_render::render(&platform, &["prod".to_string()]).expect("renders");
    let env = platform.env("prod").expect("prod");
    let inputs = cerverus_simulate::Inputs::from_bundle(&platform, env, &bundle).expect("inputs");
    let r = provisioning::run(&inputs).expect("runs");
    for p in &r.critical_path {
        println!(
            "{:>6.2} → {:>6.2}  {:<5} x{:<2} {} [{}]",
            p.start_minutes, p.finish_minutes, p.minutes, p.instances, p.address, p.rule
        );
    }
    println!("{:#?}", r.verdicts());

    // Every count and for_each of the bundle is known from literals and tfvars.
    assert!(r.assumptions.is_empty(), "{:?}", r.assumptions);
    // One node group per tfvars key, and per key × replica for the databases.
    let w = provisioning::weights::load().expect("data file");
    let g = graph::build(&inputs.terraform_root, &inputs.terraform_modules, &inputs.tfvars, w);
    let instances = |id: &str| g.nodes.iter().find(|n| n.id == id).map(|n| n.instances.len()).expect(id);
    let keys = |v: &str| inputs.tfvars[v].as_object().map(|o| o.len()).expect(v);
    assert_eq!(instances("module.eks.aws_eks_node_group.this"), keys("node_groups"));
    let replicas: usize = inputs.tfvars["postgres"]
        .as_object()
        .expect("postgres")
        .values()
        .map(|p| p["read_replicas"].as_u64().expect("replicas") as usize)
        .sum();
    assert_eq!(instances("module.database.aws_db_instance.replica"), replicas);

    // The path is contiguous from 0 to the total, and the schedule is never shorter.
    let mut at = 0.0;
    for p in &r.critical_path {
        assert!(close(p.start_minutes, at), "{} starts at {} not {at}", p.address, p.start_minutes);
        at = p.finish_minutes;
    }
    assert!(close(at, r.critical_path_minutes));
    assert!(r.scheduled_minutes + 1e-9 >= r.critical_path_minutes);
    // A Multi-AZ store with replicas puts primary → replica on the path: both are the longest
    // chain of creation waits in the root (18 + 12 min in the data file).
    let store = inputs.tfvars["postgres"]
        .as_object()
        .expect("postgres")
        .values()
        .any(|p| p["multi_az"].as_bool() == Some(true) && p["read_replicas"].as_u64().is_some_and(|n| n > 0));
    if store {
        let on_path: Vec<&str> = r.critical_path.iter().map(|p| p.rule.as_str()).collect();
        let i = on_path.iter().position(|x| *x == "aws_db_instance (multi_az = true)").expect("primary on the path");
        assert_eq!(on_path.get(i + 1), Some(&"aws_db_instance (replicate_source_db set)"));
    }
    assert_eq!(r.verdicts()[0].pass, r.scheduled_minutes < 30.0);
}
