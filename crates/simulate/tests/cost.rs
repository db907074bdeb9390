//! The cost model: hand-computed monthly costs on tiny environments, the failures it must
//! report (an unpriced instance type, an unpriced region), and the default spec's prod numbers.

use std::collections::BTreeMap;

use cerverus_check::inventory::{Inventory, load_text};
use cerverus_model::{Env, Platform};
use cerverus_simulate::cost::{self, Category, CostReport};
use cerverus_simulate::objects::Workloads;
use cerverus_simulate::{Inputs, Options, Scenario};
use cerverus_spec::{NatMode, NodePool, Scaling};

fn default_platform() -> Platform {
    let loaded = cerverus_spec::load("cerverus.yaml", cerverus_spec::DEFAULT_SPEC).expect("default spec loads");
    cerverus_model::resolve(&loaded).expect("default spec resolves")
}

fn pool(name: &str, itype: &str, desired: u32, max: u32, base: u32, spot: u8) -> NodePool {
    NodePool {
        name: name.into(),
        instance_types: vec![itype.into()],
        scaling: Scaling { min: 1.min(desired), desired, max },
        spot_percentage: spot,
        on_demand_base: base,
        labels: BTreeMap::new(),
        taints: Vec::new(),
        gpu: None,
        disk_gib: 50,
        per_zone: false,
    }
}

/// Prod of the default spec stripped to what a test sets: no data stores, one NAT gateway.
fn tiny_env(platform: &Platform, pools: Vec<NodePool>) -> Env {
    let mut env = platform.env("prod").expect("prod").clone();
    env.node_pools = pools;
    env.postgres.clear();
    env.redis.clear();
    env.buckets.clear();
    env.network.nat = NatMode::Single;
    env
}

fn price(platform: &Platform, env: &Env, objects: &str) -> CostReport {
    let mut inv = Inventory::default();
    if !objects.is_empty() {
        load_text(&mut inv, "objects.yaml", objects);
    }
    let inputs = Inputs {
        platform,
        env,
        k8s: inv.k8s,
        terraform_root: Vec::new(),
        terraform_modules: BTreeMap::new(),
        tfvars: serde_json::Value::Null,
        addon_values: BTreeMap::new(),
    };
    cost::run(&inputs, &Workloads::default()).expect("cost runs")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn one_on_demand_node_by_hand() {
    let platform = default_platform();
    let env = tiny_env(&platform, vec![pool("general", "m5.xlarge", 1, 1, 0, 0)]);
    let r = price(&platform, &env, "");
    // EKS        0.10  × 730                 =  73.00
    // node       0.192 × 730                 = 140.16
    // root disk  50 GiB × 0.08               =   4.00
    // NAT        1 × (0.045 + 0.005) × 730   =  36.50
    //                                    total 253.66
    assert!(r.unpriced.is_empty(), "{:?}", r.unpriced);
    assert!(close(r.by_category[&Category::ControlPlane], 73.0));
    assert!(close(r.by_category[&Category::Compute], 140.16));
    assert!(close(r.by_category[&Category::BlockStorage], 4.0));
    assert!(close(r.by_category[&Category::Network], 36.5));
    assert!(close(r.total_monthly, 253.66), "{}", r.total_monthly);
    assert!(close(r.total_monthly_at_max, 253.66));
    assert!(!r.spot.declared);
    assert!(r.verdicts().iter().all(|v| v.pass), "{:?}", r.verdicts());
    assert!(r.notes.iter().any(|n| n.contains("Data transfer is noted, not priced")));
}

#[test]
fn spot_mix_saving_by_hand() {
    let platform = default_platform();
    // 4 desired (max 6), no on-demand base, 50 % spot: 2 on-demand + 2 spot; at max 3 + 3.
    let env = tiny_env(&platform, vec![pool("general", "m5.xlarge", 4, 6, 0, 50)]);
    let r = price(&platform, &env, "");
    // on-demand group 2 × 0.192 × 730 = 280.32; spot group 2 × 0.096 × 730 = 140.16
    // the same 2 spot nodes on-demand: 280.32 → saving 140.16, of 560.64 all-on-demand = 25 %
    let od = r.lines.iter().find(|l| l.item == "node group general-on-demand").expect("on-demand group");
    let spot = r.lines.iter().find(|l| l.item == "node group general-spot").expect("spot group");
    assert!(close(od.monthly, 280.32) && close(spot.monthly, 140.16));
    // at max: 3 × 140.16 = 420.48 and 3 × 70.08 = 210.24
    assert!(close(od.monthly_at_max, 420.48) && close(spot.monthly_at_max, 210.24));
    assert!(r.spot.declared);
    let d = &r.spot.at_desired;
    assert_eq!(d.spot_nodes, 2);
    assert!(close(d.on_demand_equivalent_monthly, 280.32));
    assert!(close(d.saving_monthly, 140.16));
    assert!(close(d.saving_percent_of_compute, 25.0));
    // at max: 3 spot nodes, 3 × 140.16 = 420.48 on-demand vs 210.24 → 210.24 of 840.96 = 25 %
    let m = &r.spot.at_max;
    assert_eq!(m.spot_nodes, 3);
    assert!(close(m.saving_monthly, 210.24) && close(m.saving_percent_of_compute, 25.0));
    let v = r.verdicts().into_iter().find(|v| v.subject == "spot mix").expect("spot verdict");
    assert!(v.pass, "{v:?}");
}

#[test]
fn declared_spot_that_never_launches_fails_the_spot_mix() {
    let platform = default_platform();
    // 50 % spot declared, but an on-demand base of 6 covers the pool's max of 6: no spot node
    // can ever launch (split_capacity(6, 6, 50) = (6, 0)), so the spot mix saves nothing.
    let env = tiny_env(&platform, vec![pool("general", "m5.xlarge", 4, 6, 6, 50)]);
    let r = price(&platform, &env, "");
    assert!(r.spot.declared);
    assert_eq!((r.spot.at_desired.spot_nodes, r.spot.at_max.spot_nodes), (0, 0));
    let v = r.verdicts().into_iter().find(|v| v.subject == "spot mix").expect("spot verdict");
    assert!(!v.pass, "{v:?}");
}

#[test]
fn data_stores_by_hand() {
    let platform = default_platform();
    let prod = platform.env("prod").expect("prod");
    let mut env = tiny_env(&platform, vec![pool("general", "m5.xlarge", 1, 1, 0, 0)]);
    env.postgres = prod.postgres.clone();
    env.redis = prod.redis.clone();
    let db = &env.postgres[0];
    assert_eq!(
        (db.instance_class.as_str(), db.multi_az, db.read_replicas, db.storage_gib),
        ("db.r6g.2xlarge", true, 2, 500)
    );
    let r = price(&platform, &env, "");
    let line = |item: &str| r.lines.iter().find(|l| l.item == item).unwrap_or_else(|| panic!("no {item}")).monthly;
    // (2 Multi-AZ + 2 replicas) × 0.899 × 730 = 2625.08
    assert!(close(line("postgres cerverus-db instances"), 2625.08));
    // 4 copies × 500 GiB × 0.115 = 230
    assert!(close(line("postgres cerverus-db storage"), 230.0));
    // 7 days × 5 % × 500 GiB × 0.095 = 16.625
    assert!(close(line("postgres cerverus-db backup storage (estimate)"), 16.625));
    // cache.r6g.large × (1 + 2) × 0.206 × 730 = 451.14
    assert!(close(line("redis cerverus-cache"), 451.14));
}

#[test]
fn buckets_are_priced_from_their_declared_volume_or_reported_unpriced() {
    let platform = default_platform();
    let prod = platform.env("prod").expect("prod");
    let mut env = tiny_env(&platform, vec![pool("general", "m5.xlarge", 1, 1, 0, 0)]);
    env.buckets = prod.buckets.clone();
    let gold = env.buckets.iter_mut().find(|b| b.spec.name == "cerverus-gold").expect("gold");
    gold.spec.estimated_gib = Some(1000);
    let r = price(&platform, &env, "");
    // gold: IA after 90 days, no expiry (365-day horizon): 1000 × (90/365 × 0.023 + 275/365 × 0.0125)
    let want = 1000.0 * (90.0 / 365.0 * 0.023 + 275.0 / 365.0 * 0.0125);
    let gold = r.lines.iter().find(|l| l.item == "bucket cerverus-gold-prod").expect("gold line");
    assert!(close(gold.monthly, want), "{} vs {want}", gold.monthly);
    assert!(
        env.buckets.iter().all(|b| b.spec.estimated_gib.is_some()),
        "the default spec declares every bucket's volume"
    );
    let mut env2 = env.clone();
    for b in &mut env2.buckets {
        b.spec.estimated_gib = None;
    }
    let r = price(&platform, &env2, "");
    assert_eq!(r.unpriced.len(), env2.buckets.len());
    assert!(r.verdicts().iter().any(|v| !v.pass && v.subject == "bucket cerverus-gold-prod"));
}

#[test]
fn statefulset_volumes_are_priced_from_their_claim_templates() {
    let platform = default_platform();
    let env = tiny_env(&platform, vec![pool("general", "m5.xlarge", 1, 1, 0, 0)]);
    let objects = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: { name: fast }
provisioner: ebs.csi.aws.com
parameters: { type: gp3 }
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: { name: shared }
provisioner: efs.csi.aws.com
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db, namespace: data }
spec:
  replicas: 3
  selector: { matchLabels: { app: db } }
  template: { metadata: { labels: { app: db } }, spec: { containers: [ { name: db, image: x } ] } }
  volumeClaimTemplates:
    - metadata: { name: data }
      spec: { storageClassName: fast, resources: { requests: { storage: 20Gi } } }
    - metadata: { name: files }
      spec: { storageClassName: shared, resources: { requests: { storage: 5Gi } } }
"#;
    let r = price(&platform, &env, objects);
    // 3 replicas × 20 GiB × 0.08 = 4.80
    let data = r.lines.iter().find(|l| l.item == "volumes data/db (data)").expect("gp3 volumes");
    assert!(close(data.monthly, 4.8));
    // EFS has no price in the data: unpriced, a failing verdict — never a silent 0.
    assert!(r.unpriced.iter().any(|u| u.item == "volumes data/db (files)"), "{:?}", r.unpriced);
    assert!(r.verdicts().iter().any(|v| !v.pass && v.subject == "volumes data/db (files)"));
}

#[test]
fn an_instance_type_missing_from_the_data_fails() {
    let platform = default_platform();
    let env = tiny_env(&platform, vec![pool("general", "x9.huge", 1, 1, 0, 0)]);
    let r = price(&platform, &env, "");
    assert!(r.lines.iter().all(|l| l.category != Category::Compute));
    let v = r.verdicts();
    assert!(v.iter().any(|v| !v.pass && v.subject == "node group general" && v.detail.contains("x9.huge")), "{v:?}");
    assert!(!v.iter().any(|v| v.subject == "total"), "no total verdict while an item is unpriced");
}

#[test]
fn a_region_missing_from_the_data_is_unpriced_not_guessed() {
    let mut platform = default_platform();
    platform.region = "eu-central-1".into();
    let env = tiny_env(&platform, vec![pool("general", "m5.xlarge", 1, 1, 0, 0)]);
    let r = price(&platform, &env, "");
    assert!(!r.region_priced);
    assert!(r.lines.is_empty() && r.total_monthly == 0.0);
    assert!(r.verdicts().iter().any(|v| !v.pass && v.detail.contains("unpriced region")));
}

#[test]
fn default_prod_is_fully_priced_and_its_spot_mix_saves() {
    let platform = default_platform();
    let bundle = cerverus_render::render(&platform, &["prod".into()]).expect("renders");
    let env = platform.env("prod").expect("prod");
    let inputs = Inputs::from_bundle(&platform, env, &bundle).expect("inputs");
    let workloads = Workloads::from_inputs(&inputs).expect("workloads");
    let r = cost::run(&inputs, &workloads).expect("cost runs");
    assert!(r.region_priced && r.unpriced.is_empty(), "{:?}", r.unpriced);
    for v in r.verdicts() {
        assert!(v.pass, "{v:?}");
    }
    // Prod's general pool (9 desired, on-demand base 2, 50 % spot above it) runs spot nodes at
    // its desired size already, and more when the pools scale up to their max.
    assert!(r.spot.declared && r.spot.at_desired.spot_nodes > 0 && r.spot.at_desired.saving_monthly > 0.0);
    assert!(r.spot.at_max.spot_nodes >= r.spot.at_desired.spot_nodes && r.spot.at_max.saving_monthly > 0.0);
    // EKS + NAT by hand: 73 + 3 × 0.05 × 730 = 73 + 109.5.
    assert!(close(r.by_category[&Category::ControlPlane], 73.0));
    assert!(close(r.by_category[&Category::Network], 109.5));
    assert!(r.total_monthly_at_max >= r.total_monthly);
    let total: f64 = r.by_category.values().sum();
    assert!(close(total, r.total_monthly));
    // The report's JSON carries what the stacked chart needs.
    let json = serde_json::to_value(&r).expect("serialises");
    assert!(json["lines"].as_array().is_some_and(|l| !l.is_empty()));
    assert!(json["by_category"]["compute"].as_f64().is_some());
    eprintln!(
        "prod: ${:.2}/month (max ${:.2}), spot saving at max ${:.2}/month",
        r.total_monthly, r.total_monthly_at_max, r.spot.at_max.saving_monthly
    );
    for l in &r.lines {
        eprintln!("{:<50} {:>10.2} {:>10.2}  {}", l.item, l.monthly, l.monthly_at_max, l.basis);
    }
    // Selected alone, the cost section runs through simulate() too.
    let opts = Options { scenarios: vec![Scenario::Cost], ..Options::default() };
    let report = cerverus_simulate::simulate(&inputs, &opts).expect("simulate");
    assert!(report.cost.is_some() && report.passed());
}
