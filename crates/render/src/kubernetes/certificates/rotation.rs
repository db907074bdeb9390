//! Secret rotation: which of the spec's rotating secrets AWS rotates with which function, and
//! how their consumers read the rotated value. Shared by the Terraform roots (the rotation
//! schedule and function, `terraform/env.rs`) and the ExternalSecrets.
//!
//! - A PostgreSQL connection (a secret whose one key is a database URL, read by workloads that
//!   all depend on the same PostgreSQL store) is rotated by AWS's published multi-user rotation
//!   function for RDS PostgreSQL (`secret-rotation` module). That function keeps the secret as
//!   JSON `{engine, host, port, dbname, username, password, masterarn}` and alternates between two
//!   users, so the previous credentials stay valid until the next rotation: a process that read
//!   the URL at start keeps working for a whole rotation period. The ExternalSecret assembles the
//!   URL the workloads read from those fields, re-read every 15 minutes; the kubelet updates the
//!   mounted file (every secret is a volume, never a `subPath`), so a new connection or a
//!   restarted process uses the new user. A process that read the URL only at start (Airflow's
//!   `_CMD` forms are run once) holds credentials the rotation after next revokes: the alert
//!   `RotatedCredentialHeldTooLong` (PrometheusRule `secret-rotation`) names every consumer pod
//!   older than the rotation period minus a week, so it is restarted while its credentials work.
//! - Anything else with `rotationDays` (third-party API keys) has no AWS rotation function: its
//!   vendor must issue the new key. It is rotated by hand, and an AWS Config rule
//!   (`SECRETSMANAGER_SECRET_PERIODIC_ROTATION`, `maxDaysSinceRotation` = rotationDays) reports
//!   the secret NON_COMPLIANT once it has been unchanged for longer than the spec allows.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_model::{Env, Platform, Target};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::super::alerting::{AlertText, Severity, add_rule, alert};
use super::super::crd::external_secrets::{
    PropertyData, PropertyRef, Template, TemplatedExternalSecretSpec, TemplatedTarget,
};
use super::super::crd::monitoring::RuleGroup;
use super::super::crd::{Resource, StoreRef};
use super::super::network_policies::MONITORING_NAMESPACE;
use super::super::promtool::{ExpAlert, InputSeries, TestGroup};
use super::super::secrets::STORE;
use super::super::{Objects, labels};
use crate::RenderError;

/// Keys that hold a PostgreSQL connection URL: the platform's convention for its own programs,
/// and Airflow's metadata database connection.
pub const DATABASE_URL_KEYS: &[&str] = &["DATABASE_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"];

/// The fields AWS's PostgreSQL rotation functions read and write.
pub const DATABASE_SECRET_FIELDS: &[&str] = &["username", "password", "host", "port", "dbname"];

/// How a consumer's URL is assembled from them. The password is URL-escaped (a rotation may
/// generate any character the function does not exclude); RDS forces TLS (`rds.force_ssl`).
pub const DATABASE_URL_TEMPLATE: &str = "postgresql://{{ .username | urlquery }}:{{ .password | urlquery }}@{{ .host }}:{{ .port }}/{{ .dbname }}?sslmode=require";

/// How often the ExternalSecret of a rotating secret is re-read.
pub const REFRESH: &str = "15m";

/// How a rotating secret is rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// AWS's multi-user rotation function for RDS PostgreSQL store `store`.
    PostgresMultiUser { store: String },
    /// No AWS function can rotate it (a vendor's API key): by hand, checked by AWS Config.
    Manual,
}

impl Method {
    /// The secrets module's `rotation` value.
    pub fn terraform_name(&self) -> &'static str {
        match self {
            Method::PostgresMultiUser { .. } => "function",
            Method::Manual => "manual",
        }
    }

    pub fn store(&self) -> Option<&str> {
        match self {
            Method::PostgresMultiUser { store } => Some(store),
            Method::Manual => None,
        }
    }
}

/// One rotating secret of an environment.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub secret: String,
    pub aws_name: String,
    pub keys: Vec<String>,
    pub days: u32,
    pub method: Method,
    /// Namespaces whose workloads read it.
    pub namespaces: BTreeSet<String>,
}

/// Every secret with `rotationDays` in `env`, by name, with how it is rotated.
pub fn plan(env: &Env) -> Vec<Rotation> {
    let mut by_name: BTreeMap<String, (Rotation, BTreeSet<Option<String>>)> = BTreeMap::new();
    for w in &env.workloads {
        let stores: BTreeSet<String> = env
            .graph
            .edges
            .iter()
            .filter(|e| e.from == w.name() && e.from_namespace == w.namespace())
            .filter_map(|e| match &e.to {
                Target::Postgres { name } => Some(name.clone()),
                _ => None,
            })
            .collect();
        // The store this workload's connection can only be for: its one PostgreSQL dependency.
        let store = (stores.len() == 1).then(|| stores.into_iter().next()).flatten();
        for s in w.secrets.iter().filter(|s| s.rotation_days.is_some_and(|d| d > 0)) {
            let entry = by_name.entry(s.name.clone()).or_insert_with(|| {
                (
                    Rotation {
                        secret: s.name.clone(),
                        aws_name: s.aws_name.clone(),
                        keys: Vec::new(),
                        days: 0,
                        method: Method::Manual,
                        namespaces: BTreeSet::new(),
                    },
                    BTreeSet::new(),
                )
            });
            for k in &s.keys {
                if !entry.0.keys.contains(k) {
                    entry.0.keys.push(k.clone());
                }
            }
            // The shortest period any reader asks for.
            let days = s.rotation_days.unwrap_or(0);
            entry.0.days = if entry.0.days == 0 { days } else { entry.0.days.min(days) };
            entry.0.namespaces.insert(w.namespace().to_string());
            entry.1.insert(store.clone());
        }
    }
    by_name
        .into_values()
        .map(|(mut r, stores)| {
            r.method = method(&r.keys, &stores);
            r
        })
        .collect()
}

/// A PostgreSQL credential when its one key is a database URL and every reader depends on the
/// same single store; anything else is rotated by hand.
fn method(keys: &[String], stores: &BTreeSet<Option<String>>) -> Method {
    let url = keys.len() == 1 && DATABASE_URL_KEYS.contains(&keys[0].as_str());
    match (url, stores.iter().collect::<Vec<_>>().as_slice()) {
        (true, [Some(store)]) => Method::PostgresMultiUser { store: store.clone() },
        _ => Method::Manual,
    }
}

/// Whether secret `name` is a rotated PostgreSQL credential in `env`: its ExternalSecrets are
/// rendered here (templated), not by `secrets.rs`.
pub fn is_database_credential(env: &Env, name: &str) -> bool {
    plan(env).iter().any(|r| r.secret == name && matches!(r.method, Method::PostgresMultiUser { .. }))
}

pub(crate) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    for r in plan(env) {
        if !matches!(r.method, Method::PostgresMultiUser { .. }) {
            continue;
        }
        for ns in &r.namespaces {
            let es = Resource {
                api_version: "external-secrets.io/v1",
                kind: "ExternalSecret",
                metadata: ObjectMeta {
                    name: Some(r.secret.clone()),
                    namespace: Some(ns.clone()),
                    labels: Some(labels::common(&platform.name)),
                    ..Default::default()
                },
                spec: TemplatedExternalSecretSpec {
                    refresh_interval: REFRESH.to_string(),
                    secret_store_ref: StoreRef { name: STORE.into(), kind: "ClusterSecretStore" },
                    target: TemplatedTarget {
                        name: r.secret.clone(),
                        creation_policy: "Owner",
                        deletion_policy: "Retain",
                        template: Template {
                            engine_version: "v2",
                            data: r.keys.iter().map(|k| (k.clone(), DATABASE_URL_TEMPLATE.to_string())).collect(),
                        },
                    },
                    data: DATABASE_SECRET_FIELDS
                        .iter()
                        .map(|f| PropertyData {
                            secret_key: f.to_string(),
                            remote_ref: PropertyRef { key: r.aws_name.clone(), property: f.to_string() },
                        })
                        .collect(),
                },
            };
            out.add(Some(ns), "ExternalSecret", &r.secret, &es)?;
        }
    }
    render_alerts(platform, env, out)
}

/// Name of the PrometheusRule of the rotation alerts.
pub const RULE_NAME: &str = "secret-rotation";
/// Runbook of the rotation alerts.
pub const RUNBOOK: &str = "secret-rotation";
/// Lead time: a consumer is flagged this long before it could hold revoked credentials.
pub const LEAD_DAYS: u32 = 7;
const DAY: u64 = 86_400;

/// The pods that read rotated database credential `r`: `(namespace, workload names)`.
fn consumers(env: &Env, r: &Rotation) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for w in env.workloads.iter().filter(|w| w.secrets.iter().any(|s| s.name == r.secret)) {
        out.entry(w.namespace().to_string()).or_default().push(w.name().to_string());
    }
    out
}

/// The alert expression for the consumers of `r` in `namespace`: a running pod (a workload's
/// pods are `<workload>-<suffix>`) older than the rotation period minus [`LEAD_DAYS`].
pub fn held_too_long_expr(r: &Rotation, namespace: &str, workloads: &[String]) -> String {
    let threshold = u64::from(r.days.saturating_sub(LEAD_DAYS).max(1)) * DAY;
    format!(
        "max by (namespace, pod) (time() - kube_pod_start_time{{namespace=\"{namespace}\", pod=~\"({})-.+\"}}) > {threshold} and on (namespace, pod) (kube_pod_status_phase{{phase=\"Running\"}} == 1)",
        workloads.join("|")
    )
}

fn render_alerts(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let team = platform.owner.as_str();
    let mut rules = Vec::new();
    let mut tests = Vec::new();
    let summary = "A pod holds database credentials a rotation will revoke";
    for r in plan(env).iter().filter(|r| matches!(r.method, Method::PostgresMultiUser { .. })) {
        let description = format!(
            "Pod {{{{ $labels.namespace }}}}/{{{{ $labels.pod }}}} reads {} and has run for more than {} days: the rotation after its start revokes the credentials it read at start. Restart its workload (kubectl rollout restart) before the next rotation.",
            r.secret,
            r.days.saturating_sub(LEAD_DAYS).max(1)
        );
        for (ns, workloads) in consumers(env, r) {
            let mut rule = alert(
                "RotatedCredentialHeldTooLong",
                &held_too_long_expr(r, &ns, &workloads),
                "1h",
                Severity::Warning,
                team,
                &AlertText { summary, description: &description, runbook: RUNBOOK },
            );
            rule.labels.insert("secret".to_string(), r.secret.clone());
            rules.push(rule);
            tests.extend(held_too_long_tests(r, &ns, &workloads[0], team, summary, &description));
        }
    }
    if rules.is_empty() {
        return Ok(());
    }
    let groups = vec![RuleGroup { name: "secret-rotation".to_string(), interval: None, rules }];
    add_rule(out, MONITORING_NAMESPACE, RULE_NAME, labels::common(&platform.name), groups, tests)
}

/// A pod started just past the threshold fires; one started ten days ago, or one past the
/// threshold that is no longer running, stays silent.
fn held_too_long_tests(
    r: &Rotation,
    ns: &str,
    workload: &str,
    team: &str,
    summary: &str,
    description: &str,
) -> Vec<TestGroup> {
    let threshold = u64::from(r.days.saturating_sub(LEAD_DAYS).max(1)) * DAY;
    let started = |pod: &str, age: u64| {
        InputSeries::new(
            format!("kube_pod_start_time{{namespace=\"{ns}\", pod=\"{pod}\"}}"),
            // Evaluated at 2h: the start time is `age` before that, so a negative timestamp.
            format!("-{}+0x180", age.saturating_sub(7200)),
        )
    };
    let phase = |pod: &str, running: u8| {
        InputSeries::new(
            format!("kube_pod_status_phase{{namespace=\"{ns}\", pod=\"{pod}\", phase=\"Running\"}}"),
            format!("{running}x180"),
        )
    };
    let old = format!("{workload}-7d4b9c6f5-abcde");
    let young = format!("{workload}-7d4b9c6f5-fghij");
    let finished = format!("{workload}-7d4b9c6f5-klmno");
    // Only a young pod and a finished old one: silent.
    let silent = TestGroup::new(vec![
        started(&young, 10 * DAY),
        phase(&young, 1),
        started(&finished, threshold + DAY),
        phase(&finished, 0),
    ])
    .expect("2h", "RotatedCredentialHeldTooLong", vec![]);
    let fires = TestGroup::new(vec![
        started(&old, threshold + DAY),
        phase(&old, 1),
        started(&young, 10 * DAY),
        phase(&young, 1),
        started(&finished, threshold + DAY),
        phase(&finished, 0),
    ])
    .expect(
        "2h",
        "RotatedCredentialHeldTooLong",
        vec![ExpAlert {
            exp_labels: BTreeMap::from([
                ("severity".to_string(), "warning".to_string()),
                ("team".to_string(), team.to_string()),
                ("secret".to_string(), r.secret.clone()),
                ("namespace".to_string(), ns.to_string()),
                ("pod".to_string(), old.clone()),
            ]),
            exp_annotations: BTreeMap::from([
                ("summary".to_string(), summary.to_string()),
                (
                    "description".to_string(),
                    description.replace("{{ $labels.namespace }}", ns).replace("{{ $labels.pod }}", &old),
                ),
                ("runbook_url".to_string(), super::super::alerting::runbook_url(RUNBOOK)),
            ]),
        }],
    );
    vec![fires, silent]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_a_url_read_against_one_store_is_a_database_credential() {
        let one = BTreeSet::from([Some("cerverus-db".to_string())]);
        assert_eq!(method(&keys(&["DATABASE_URL"]), &one), Method::PostgresMultiUser { store: "cerverus-db".into() });
        // Negative cases: another key, two keys, two stores, a reader without a store.
        assert_eq!(method(&keys(&["ALPHA_VANTAGE_API_KEY"]), &one), Method::Manual);
        assert_eq!(method(&keys(&["DATABASE_URL", "OTHER"]), &one), Method::Manual);
        let two = BTreeSet::from([Some("a".to_string()), Some("b".to_string())]);
        assert_eq!(method(&keys(&["DATABASE_URL"]), &two), Method::Manual);
        let unknown = BTreeSet::from([Some("a".to_string()), None]);
        assert_eq!(method(&keys(&["DATABASE_URL"]), &unknown), Method::Manual);
    }
}
