//! Support windows of the engine versions a spec pins (EKS Kubernetes, RDS PostgreSQL), from the
//! dated table in `data/support-windows.json`. A version past its end of support is a warning,
//! not an error: a team mid-migration must still be able to describe what it runs (ADR 0001).

use std::collections::BTreeMap;

use cerverus_spec::{Diagnostic, LoadedSpec, SpecPath};
use serde::Deserialize;

const TABLE: &str = include_str!("../../../data/support-windows.json");

#[derive(Debug, Deserialize)]
struct Table {
    as_of: String,
    engines: BTreeMap<String, Engine>,
}

#[derive(Debug, Deserialize)]
struct Engine {
    name: String,
    source: String,
    versions: BTreeMap<String, Window>,
}

#[derive(Debug, Clone, Deserialize)]
struct Window {
    standard_until: String,
    extended_until: Option<String>,
}

/// Where a version stands on `today` (YYYY-MM-DD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Standard { until: String },
    Extended { standard_ended: String, until: String },
    Ended { on: String },
    Unknown { as_of: String },
}

fn table() -> Option<Table> {
    serde_json::from_str(TABLE).ok()
}

/// The support status of `version` of `engine` (`eks` or `rds-postgres`) on `today`.
pub fn status(engine: &str, version: &str, today: &str) -> Support {
    let Some(t) = table() else { return Support::Unknown { as_of: String::new() } };
    let Some(w) = t.engines.get(engine).and_then(|e| e.versions.get(version)) else {
        return Support::Unknown { as_of: t.as_of };
    };
    if today <= w.standard_until.as_str() {
        return Support::Standard { until: w.standard_until.clone() };
    }
    match &w.extended_until {
        Some(ext) if today <= ext.as_str() => {
            Support::Extended { standard_ended: w.standard_until.clone(), until: ext.clone() }
        }
        Some(ext) => Support::Ended { on: ext.clone() },
        None => Support::Ended { on: w.standard_until.clone() },
    }
}

/// Warnings for every pinned version outside standard support on `today`.
pub fn warnings(loaded: &LoadedSpec, today: &str) -> Vec<Diagnostic> {
    let Some(t) = table() else { return Vec::new() };
    let s = &loaded.spec;
    let mut checks: Vec<(&str, String, SpecPath)> =
        vec![("eks", s.cluster.kubernetes_version.clone(), SpecPath::root().at("cluster").at("kubernetesVersion"))];
    for (i, db) in s.data_stores.postgres.iter().enumerate() {
        let major = db.engine_version.split('.').next().unwrap_or_default().to_string();
        checks.push((
            "rds-postgres",
            major,
            SpecPath::root().at("dataStores").at("postgres").at(i).at("engineVersion"),
        ));
    }
    let mut out = Vec::new();
    for (engine, version, path) in checks {
        let Some(e) = t.engines.get(engine) else { continue };
        let newest = e.versions.keys().max_by_key(|v| version_key(v)).cloned().unwrap_or_default();
        let loc = loaded.source_map.value(&path);
        let hint = format!("source: {}", e.source);
        let d = match status(engine, &version, today) {
            Support::Standard { .. } => continue,
            Support::Extended { standard_ended, until } => Diagnostic::new(format!(
                "{} {version} left standard support on {standard_ended}; extended support (extra cost) ends {until}",
                e.name
            )),
            Support::Ended { on } => Diagnostic::new(format!("{} {version} is past end of support ({on})", e.name)),
            Support::Unknown { as_of } => Diagnostic::new(format!(
                "{} {version} is not in the support table (data/support-windows.json, as of {as_of})",
                e.name
            )),
        };
        out.push(d.warning().at(loc).expected(format!("a version in standard support, e.g. {newest}")).hint(hint));
    }
    out
}

/// Sort key for dotted versions (`1.9` < `1.10`).
fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    civil_date((secs / 86_400) as i64)
}

/// Days since 1970-01-01 → YYYY-MM-DD (Howard Hinnant's civil-from-days).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_dates_are_ordered() {
        let t = table().expect("data/support-windows.json parses");
        for (engine, e) in &t.engines {
            assert!(!e.source.is_empty());
            for (v, w) in &e.versions {
                if let Some(ext) = &w.extended_until {
                    assert!(ext > &w.standard_until, "{engine} {v}: extended before standard ends");
                }
            }
        }
    }

    #[test]
    fn the_seed_pins_are_past_support_and_the_defaults_are_not() {
        assert_eq!(status("eks", "1.27", "2026-11-29"), Support::Ended { on: "2025-07-24".into() });
        assert_eq!(
            status("rds-postgres", "13", "2026-11-29"),
            Support::Extended { standard_ended: "2026-02-28".into(), until: "2029-02-28".into() }
        );
        assert_eq!(status("eks", "1.35", "2026-11-29"), Support::Standard { until: "2027-03-27".into() });
        assert_eq!(status("rds-postgres", "17", "2026-11-29"), Support::Standard { until: "2030-02-28".into() });
        assert!(matches!(status("eks", "1.99", "2026-11-29"), Support::Unknown { .. }));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(20_786), "2026-11-29");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }
}
