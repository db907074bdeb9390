//! Property tests over generated specs: each one either fails with located diagnostics or builds,
//! and a spec that builds always builds to the same bytes. Never a panic.

use cerverus_spec::{DEFAULT_SPEC, Dependency, PlatformSpec};
use proptest::prelude::*;

fn base() -> PlatformSpec {
    serde_saphyr::from_str(DEFAULT_SPEC).expect("default spec parses")
}

/// One edit to a spec, over the fields whose checks matter most.
#[derive(Debug, Clone)]
enum Edit {
    Replicas(usize, u32),
    Autoscaling(usize, u32, u32),
    AzCount(u8),
    Prefixes(u8, u8, u8),
    VpcCidr(String),
    EnvVpcCidr(usize, String),
    NodePool(usize, String),
    Namespace(usize, String),
    DependOn(usize, String),
    PoolScaling(usize, u32, u32, u32),
    RemoveWorkload(usize),
    Port(usize, u16),
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("general".to_string()),
        Just("ml".to_string()),
        Just("alerts-api".to_string()),
        Just("inference-service".to_string()),
        Just("cerverus-data".to_string()),
        Just("cerverus-db".to_string()),
        "[a-z][a-z0-9-]{0,12}",
    ]
}

fn cidr() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("10.0.0.0/16".to_string()),
        Just("10.30.0.0/16".to_string()),
        Just("10.0.0.0/20".to_string()),
        Just("192.168.0.0/24".to_string()),
        Just("8.8.0.0/16".to_string()),
        Just("10.0.0.1/16".to_string()),
        Just("not-a-cidr".to_string()),
        (0u8..=255, 8u8..=30).prop_map(|(a, p)| format!("10.{a}.0.0/{p}")),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0usize..12, 0u32..40).prop_map(|(i, r)| Edit::Replicas(i, r)),
        (0usize..12, 0u32..10, 0u32..30).prop_map(|(i, a, b)| Edit::Autoscaling(i, a, b)),
        (0u8..9).prop_map(Edit::AzCount),
        (8u8..31, 8u8..31, 8u8..31).prop_map(|(a, b, c)| Edit::Prefixes(a, b, c)),
        cidr().prop_map(Edit::VpcCidr),
        (0usize..3, cidr()).prop_map(|(i, c)| Edit::EnvVpcCidr(i, c)),
        (0usize..12, name()).prop_map(|(i, n)| Edit::NodePool(i, n)),
        (0usize..12, name()).prop_map(|(i, n)| Edit::Namespace(i, n)),
        (0usize..12, name()).prop_map(|(i, n)| Edit::DependOn(i, n)),
        (0usize..3, 0u32..5, 0u32..8, 0u32..12).prop_map(|(i, a, b, c)| Edit::PoolScaling(i, a, b, c)),
        (0usize..12).prop_map(Edit::RemoveWorkload),
        (0usize..12, 0u16..20000).prop_map(|(i, p)| Edit::Port(i, p)),
    ]
}

fn apply(spec: &mut PlatformSpec, e: &Edit) {
    let nw = spec.workloads.len().max(1);
    match e {
        Edit::Replicas(i, r) => {
            if let Some(w) = spec.workloads.get_mut(i % nw) {
                w.replicas = *r;
            }
        }
        Edit::Autoscaling(i, min, max) => {
            if let Some(a) = spec.workloads.get_mut(i % nw).and_then(|w| w.autoscaling.as_mut()) {
                a.min = *min;
                a.max = *max;
            }
        }
        Edit::AzCount(n) => spec.network.az_count = *n,
        Edit::Prefixes(a, b, c) => {
            spec.network.subnet_prefix.public = *a;
            spec.network.subnet_prefix.private = *b;
            spec.network.subnet_prefix.data = *c;
        }
        Edit::VpcCidr(c) => spec.network.vpc_cidr = c.clone(),
        Edit::EnvVpcCidr(i, c) => {
            let n = spec.environments.len().max(1);
            if let Some(env) = spec.environments.values_mut().nth(i % n) {
                env.vpc_cidr = Some(c.clone());
            }
        }
        Edit::NodePool(i, n) => {
            if let Some(w) = spec.workloads.get_mut(i % nw) {
                w.node_pool = n.clone();
            }
        }
        Edit::Namespace(i, n) => {
            if let Some(w) = spec.workloads.get_mut(i % nw) {
                w.namespace = n.clone();
            }
        }
        Edit::DependOn(i, n) => {
            if let Some(w) = spec.workloads.get_mut(i % nw) {
                w.depends_on.push(Dependency { workload: Some(n.clone()), ..Default::default() });
            }
        }
        Edit::PoolScaling(i, a, b, c) => {
            let n = spec.cluster.node_pools.len().max(1);
            if let Some(p) = spec.cluster.node_pools.get_mut(i % n) {
                p.scaling.min = *a;
                p.scaling.desired = *b;
                p.scaling.max = *c;
            }
        }
        Edit::RemoveWorkload(i) => {
            if !spec.workloads.is_empty() {
                spec.workloads.remove(i % nw);
            }
        }
        Edit::Port(i, p) => {
            if let Some(port) = spec.workloads.get_mut(i % nw).and_then(|w| w.ports.first_mut()) {
                port.port = *p;
            }
        }
    }
}

/// Load, resolve and render `text`; on failure every diagnostic must point into the text.
fn judge(text: &str) -> Result<(), TestCaseError> {
    let lines = text.lines().count().max(1);
    let check_located = |d: &cerverus_spec::Diagnostics| -> Result<(), TestCaseError> {
        prop_assert!(!d.items.is_empty());
        for item in &d.items {
            let loc = item.location.as_ref();
            prop_assert!(loc.is_some(), "unlocated diagnostic: {}", item);
            let loc = loc.expect("checked");
            prop_assert!(
                loc.line >= 1 && loc.line <= lines + 1 && loc.column >= 1,
                "bad location {} for {}",
                loc,
                item
            );
        }
        Ok(())
    };
    let loaded = match cerverus_spec::load("gen.yaml", text) {
        Ok(l) => l,
        Err(d) => return check_located(&d),
    };
    match cerverus_model::resolve(&loaded) {
        Err(d) => check_located(&d),
        Ok(platform) => {
            let a = cerverus_render::render(&platform, &[]);
            prop_assert!(a.is_ok(), "a valid model failed to render: {:?}", a.err());
            let again = cerverus_model::resolve(&loaded).expect("resolves twice");
            let b = cerverus_render::render(&again, &[]).expect("renders twice");
            prop_assert_eq!(a.expect("checked"), b, "same spec, different bundle");
            Ok(())
        }
    }
}

proptest! {
    // 96 cases keep the suite fast; set PROPTEST_CASES for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_specs_fail_located_or_build_deterministically(edits in proptest::collection::vec(edit(), 0..6)) {
        let mut spec = base();
        for e in &edits {
            apply(&mut spec, e);
        }
        let text = serde_saphyr::to_string(&spec).expect("serializes");
        judge(&text)?;
    }

    #[test]
    fn damaged_yaml_never_panics_and_errors_are_located(
        cuts in proptest::collection::vec((0usize..600, 0usize..4, any::<char>()), 1..4)
    ) {
        let mut lines: Vec<String> = DEFAULT_SPEC.lines().map(str::to_string).collect();
        for (at, how, ch) in cuts {
            let i = at % lines.len();
            match how {
                0 => { lines.remove(i); }
                1 => { let l = lines[i].clone(); lines.insert(i, l); }
                2 => { let mut l: Vec<char> = lines[i].chars().collect(); let k = at % (l.len() + 1); l.insert(k, ch); lines[i] = l.into_iter().collect(); }
                _ => { lines[i] = format!("  {}", lines[i]); }
            }
        }
        let text = lines.join("\n") + "\n";
        judge(&text)?;
    }
}
