//! Benchmarks of the simulation. Run with `cargo bench -p cerverus-simulate --bench simulate`.
//!
//! The bounds: AZ loss for 1,000 pods on 100 nodes < 100 ms; all scenarios for prod < 1 s.

use cerverus_simulate::objects::Workloads;
use cerverus_simulate::schedule::synthetic;
use cerverus_simulate::{Inputs, Options, Scenario, scenarios};
use criterion::{Criterion, criterion_group, criterion_main};

fn az_loss_1000_pods_100_nodes(c: &mut Criterion) {
    let steady = synthetic::steady(100, 1000);
    c.bench_function("az_loss_1000_pods_100_nodes", |b| b.iter(|| synthetic::az_loss(&steady, 0)));
}

fn prod_capacity_scenarios(c: &mut Criterion) {
    let loaded = cerverus_spec::load("cerverus.yaml", cerverus_spec::DEFAULT_SPEC).expect("loads");
    let platform = cerverus_model::resolve(&loaded).expect("resolves");
    let bundle = cerverus_render::render(&platform, &["prod".to_string()]).expect("renders");
    let env = platform.env("prod").expect("prod");
    let inputs = Inputs::from_bundle(&platform, env, &bundle).expect("inputs");
    let workloads = Workloads::from_inputs(&inputs).expect("workloads");
    let opts = Options {
        scenarios: vec![Scenario::Steady, Scenario::AzLoss, Scenario::NodeLoss, Scenario::SpotLoss, Scenario::Surge],
        traffic: 10.0,
    };
    c.bench_function("prod_capacity_scenarios", |b| {
        b.iter(|| scenarios::run(&inputs, &workloads, &opts).expect("runs"))
    });
}

/// Every scenario for prod, from the rendered bundle (loading it included) to the report: what
/// `cerverus simulate` does after rendering.
fn prod_all_scenarios(c: &mut Criterion) {
    let loaded = cerverus_spec::load("cerverus.yaml", cerverus_spec::DEFAULT_SPEC).expect("loads");
    let platform = cerverus_model::resolve(&loaded).expect("resolves");
    let bundle = cerverus_render::render(&platform, &["prod".to_string()]).expect("renders");
    let env = platform.env("prod").expect("prod");
    c.bench_function("prod_all_scenarios", |b| {
        b.iter(|| {
            let inputs = Inputs::from_bundle(&platform, env, &bundle).expect("inputs");
            cerverus_simulate::simulate(&inputs, &Options::default()).expect("runs")
        })
    });
}

criterion_group!(benches, az_loss_1000_pods_100_nodes, prod_capacity_scenarios, prod_all_scenarios);
criterion_main!(benches);
