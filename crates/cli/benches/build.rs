//! `cerverus build` of the default spec, in stages: parse, resolve, render (all three
//! environments). Writing is left out: it measures the disk, not the compiler.
//!
//! Run with `cargo bench -p cerverus --bench build`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let spec = cerverus_spec::DEFAULT_SPEC;
    c.bench_function("parse default spec", |b| {
        b.iter(|| cerverus_spec::load("cerverus.yaml", black_box(spec)).expect("loads"))
    });
    let loaded = cerverus_spec::load("cerverus.yaml", spec).expect("loads");
    c.bench_function("resolve (3 environments)", |b| {
        b.iter(|| cerverus_model::resolve(black_box(&loaded)).expect("resolves"))
    });
    let platform = cerverus_model::resolve(&loaded).expect("resolves");
    c.bench_function("render (3 environments)", |b| {
        b.iter(|| cerverus_render::render(black_box(&platform), &[]).expect("renders"))
    });
    c.bench_function("build default spec end to end (no write)", |b| {
        b.iter(|| cerverus::build_default().expect("builds"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
