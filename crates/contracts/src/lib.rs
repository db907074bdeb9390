//! Runtime contracts: what a component needs at run time, as data.
//!
//! `data/runtime-contracts.json` says, per component (each Airflow role, each add-on
//! controller), how the program reads its configuration and secrets, which paths it writes, how
//! it reports health, what it must reach over the network and which reference IAM policy its
//! controller needs. The renderers (through `cerverus-model`) and the checks (`cerverus-check`,
//! the contract tests) read this one copy, so what we deploy and what we judge cannot drift apart.
//!
//! The data is compiled in: a contract is a fact about an upstream program, not about a spec.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The contracts file, embedded at build time.
pub const SOURCE: &str = include_str!("../../../data/runtime-contracts.json");
/// Where [`SOURCE`] lives in the repository (for messages).
pub const SOURCE_PATH: &str = "data/runtime-contracts.json";

/// Every runtime contract.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contracts {
    pub components: Vec<Contract>,
}

/// What one component needs at run time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    /// Component name, e.g. `airflow-scheduler`.
    pub name: String,
    /// Image repositories that run this component, matched against the end of an image's
    /// repository on a path boundary (`cerverus/airflow` matches `…/cerverus/airflow`).
    pub image_repositories: Vec<String>,
    /// Container args (or command words) that select this role of a multi-role image. Empty:
    /// the image has one role.
    #[serde(default)]
    pub args: Vec<String>,
    /// The upstream version the contract was written against.
    #[serde(default)]
    pub image_version: Option<String>,
    pub config: Config,
    /// Environment the pod must set for the program to behave as the rest of the contract says
    /// (where it writes, which executor, which health server). Literal values, no secrets.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Paths the program writes: each must be a writable volume when the root fs is read-only.
    #[serde(default)]
    pub writable_paths: Vec<String>,
    #[serde(default)]
    pub health: Option<Health>,
    #[serde(default)]
    pub egress: Vec<Egress>,
    /// Reference IAM policy (repository path) for a controller that calls AWS.
    #[serde(default)]
    pub iam_actions_reference: Option<String>,
    /// The queue this component works off, when it scales on its length.
    #[serde(default)]
    pub queue: Option<Queue>,
    /// Seconds the program needs between SIGTERM and SIGKILL to stop without losing work (a
    /// Celery worker's warm shutdown lets its running tasks finish). `None`: the platform's
    /// default.
    #[serde(default)]
    pub termination_grace_period_seconds: Option<u32>,
    /// The schema migration the program's database needs before it starts, when it has one.
    #[serde(default)]
    pub migrate: Option<Migrate>,
    /// Upstream documents the contract was taken from.
    pub sources: Vec<String>,
}

/// How a program reads its configuration and secrets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// Environment variables with these prefixes are read as configuration.
    #[serde(default)]
    pub env_prefixes: Vec<String>,
    /// Suffixes of the indirect forms of a variable: `X_CMD` runs a command whose output is X,
    /// `X_SECRET` reads X from the configured secrets backend.
    #[serde(default)]
    pub indirect_env_suffixes: Vec<String>,
    /// Keys whose indirect forms the program honours. Airflow reads `_CMD`/`_SECRET` only for
    /// its sensitive options (`sensitive_config_values`); empty: every key under the prefixes.
    #[serde(default)]
    pub indirect_env_keys: Vec<String>,
    /// Files the program reads its configuration from (absolute paths in the container).
    #[serde(default)]
    pub files: Vec<String>,
    /// Configuration keys (environment variable names) the program cannot run without.
    #[serde(default)]
    pub required: Vec<String>,
    /// The environment variable the program reads a Redis URL from (for Airflow, the Celery
    /// broker); `None`: the platform's default (`REDIS_URL`).
    #[serde(default)]
    pub redis_url_env: Option<String>,
}

/// How a program reports health.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub kind: HealthKind,
    /// Command of an `exec` check.
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub path: Option<String>,
    /// The least probe timeout under which a healthy program still answers.
    pub timeout_seconds: u32,
    /// How long a first start may take before the check must pass: the same check as a startup
    /// probe, so liveness does not kill a program that is still booting.
    #[serde(default)]
    pub startup: Option<Startup>,
}

/// A startup budget: `period_seconds × failure_threshold` seconds to come up.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Startup {
    pub period_seconds: u32,
    pub failure_threshold: u32,
    pub why: String,
}

/// A database schema migration: one command that migrates (run once per release, as a Job) and
/// one that waits until the schema is current (run before the program, in every pod).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Migrate {
    /// The migration, run by a Job built from this role's pod; empty: this role only waits (the
    /// roles of one image share one database and one migration).
    #[serde(default)]
    pub command: Vec<String>,
    pub wait_command: Vec<String>,
    pub why: String,
}

/// The work queue a component consumes, where an autoscaler can read its length.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    /// The Redis list the broker keeps the queue in.
    pub redis_list: String,
    /// Queued tasks one replica absorbs (its concurrency): the autoscaler's per-replica target.
    pub target_per_replica: u32,
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthKind {
    Exec,
    Http,
    Tcp,
}

/// One destination a program must reach.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Egress {
    /// A kind of destination ([`Destination`]) or the name of another component.
    pub to: String,
    pub port: u16,
    pub why: String,
}

/// What an [`Egress::to`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    Dns,
    KubeApiserver,
    Sts,
    AwsApi,
    Postgresql,
    Redis,
    /// Another contract's component, or any named service (`prometheus`, `kubelet`, `efs`).
    Named(&'a str),
}

impl Egress {
    pub fn destination(&self) -> Destination<'_> {
        match self.to.as_str() {
            "dns" => Destination::Dns,
            "kube-apiserver" => Destination::KubeApiserver,
            "sts" => Destination::Sts,
            "aws-api" => Destination::AwsApi,
            "postgresql" => Destination::Postgresql,
            "redis" => Destination::Redis,
            other => Destination::Named(other),
        }
    }
}

impl Contract {
    /// Whether `key`, delivered as an environment variable named `name`, reaches the program:
    /// either directly, or through one of its indirect forms (`<key>_CMD`, `<key>_SECRET`).
    pub fn reads_env(&self, name: &str, key: &str) -> bool {
        if !self.config.env_prefixes.iter().any(|p| key.starts_with(p.as_str())) {
            return false;
        }
        name == key
            || self
                .config
                .indirect_env_suffixes
                .iter()
                .any(|s| self.reads_indirect(key, s) && name == format!("{key}{s}"))
    }

    /// Whether the program honours `<key><suffix>` (e.g. `AIRFLOW__CORE__FERNET_KEY_CMD`).
    pub fn reads_indirect(&self, key: &str, suffix: &str) -> bool {
        self.config.env_prefixes.iter().any(|p| key.starts_with(p.as_str()))
            && self.config.indirect_env_suffixes.iter().any(|s| s == suffix)
            && (self.config.indirect_env_keys.is_empty() || self.config.indirect_env_keys.iter().any(|k| k == key))
    }

    /// Whether an environment variable name is configuration this program reads.
    pub fn is_config_env(&self, name: &str) -> bool {
        self.config.env_prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }

    /// Whether this contract's image and args select a container running `image` with
    /// `command` followed by `args`.
    pub fn matches(&self, image: &str, command: &[String], args: &[String]) -> bool {
        if !self.matches_image(image) {
            return false;
        }
        if self.args.is_empty() {
            return true;
        }
        let words: Vec<&str> = command.iter().chain(args).map(String::as_str).collect();
        words.windows(self.args.len()).any(|w| w.iter().zip(&self.args).all(|(a, b)| *a == b.as_str()))
    }
}

impl Contracts {
    pub fn by_name(&self, name: &str) -> Option<&Contract> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Contracts whose image repository matches `image`, whatever their args.
    pub fn by_image<'a>(&'a self, image: &'a str) -> impl Iterator<Item = &'a Contract> + 'a {
        self.components.iter().filter(move |c| c.matches_image(image))
    }

    /// The contract of a container: the matching contract with the most specific args.
    pub fn for_container(&self, image: &str, command: &[String], args: &[String]) -> Option<&Contract> {
        self.components.iter().filter(|c| c.matches(image, command, args)).max_by_key(|c| c.args.len())
    }
}

impl Contract {
    fn matches_image(&self, image: &str) -> bool {
        let repo = repository_of(image);
        self.image_repositories.iter().any(|r| repo == r || repo.ends_with(&format!("/{r}")))
    }
}

/// The repository of an image reference: without digest and tag, with its registry host.
pub fn repository_of(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    // A tag follows the last ':' after the last '/'; a ':' before it is a registry port.
    let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    match no_digest[last_slash..].find(':') {
        Some(i) => &no_digest[..last_slash + i],
        None => no_digest,
    }
}

/// Why the embedded contracts could not be read (a build of a broken data file).
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Parse and validate a contracts document.
pub fn parse(text: &str) -> Result<Contracts, Error> {
    let c: Contracts =
        serde_json::from_str(text).map_err(|e| Error(format!("{SOURCE_PATH}:{}:{}: {e}", e.line(), e.column())))?;
    validate(&c)?;
    Ok(c)
}

fn validate(c: &Contracts) -> Result<(), Error> {
    let mut seen = std::collections::BTreeSet::new();
    for k in &c.components {
        if !seen.insert(k.name.as_str()) {
            return Err(Error(format!("{SOURCE_PATH}: component {} is listed twice", k.name)));
        }
        if k.image_repositories.is_empty() {
            return Err(Error(format!("{SOURCE_PATH}: component {} names no image repository", k.name)));
        }
        if k.sources.is_empty() {
            return Err(Error(format!("{SOURCE_PATH}: component {} cites no upstream source", k.name)));
        }
        if let Some(h) = &k.health {
            let complete = match h.kind {
                HealthKind::Exec => !h.command.is_empty(),
                HealthKind::Http => h.port.is_some() && h.path.is_some(),
                HealthKind::Tcp => h.port.is_some(),
            };
            let startup_ok = h.startup.as_ref().is_none_or(|s| s.period_seconds > 0 && s.failure_threshold > 0);
            if !complete || h.timeout_seconds == 0 || !startup_ok {
                return Err(Error(format!("{SOURCE_PATH}: component {}: incomplete health check", k.name)));
            }
        }
        if k.migrate.as_ref().is_some_and(|m| m.wait_command.is_empty()) {
            return Err(Error(format!("{SOURCE_PATH}: component {}: a migration needs a wait command", k.name)));
        }
        for p in &k.writable_paths {
            if !p.starts_with('/') {
                return Err(Error(format!("{SOURCE_PATH}: component {}: writable path {p} is not absolute", k.name)));
            }
        }
    }
    Ok(())
}

/// The embedded runtime contracts.
///
/// The data is part of the binary and validated by this crate's tests, so a broken file is a
/// build defect, not an input error: it stops loudly here instead of leaving every contract
/// check silently vacuous.
pub fn contracts() -> &'static Contracts {
    static C: OnceLock<Contracts> = OnceLock::new();
    C.get_or_init(|| match parse(SOURCE) {
        Ok(c) => c,
        Err(e) => panic!("embedded runtime contracts are invalid: {e}"),
    })
}

/// Lookup by component name.
pub fn by_name(name: &str) -> Option<&'static Contract> {
    contracts().by_name(name)
}

/// The contract of a container (image plus command and args), if any.
pub fn for_container(image: &str, command: &[String], args: &[String]) -> Option<&'static Contract> {
    contracts().for_container(image, command, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_embedded_file_parses_and_validates() {
        let c = parse(SOURCE).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.components.len() >= 4);
        assert_eq!(contracts().components.len(), c.components.len());
        for role in ["airflow-scheduler", "airflow-webserver", "airflow-worker", "airflow-triggerer"] {
            assert!(by_name(role).is_some(), "{role} has no contract");
        }
        // One role of the Airflow image runs the migration; every role waits for it.
        let airflow: Vec<&Contract> = c.components.iter().filter(|k| k.name.starts_with("airflow-")).collect();
        assert!(airflow.iter().all(|k| k.migrate.is_some()), "an Airflow role does not wait for its schema");
        let runners = airflow.iter().filter(|k| k.migrate.as_ref().is_some_and(|m| !m.command.is_empty())).count();
        assert_eq!(runners, 1, "exactly one Airflow role runs `airflow db migrate`");
    }

    #[test]
    fn a_broken_file_is_an_error_with_its_position() {
        let e = parse("{\"components\": [ {\"name\": 1} ]}").err().map(|e| e.0).unwrap_or_default();
        assert!(e.starts_with("data/runtime-contracts.json:1:"), "{e}");
        let dup = r#"{"components":[
            {"name":"a","imageRepositories":["x"],"config":{},"sources":["s"]},
            {"name":"a","imageRepositories":["x"],"config":{},"sources":["s"]}]}"#;
        assert!(parse(dup).is_err());
        let bad_health = r#"{"components":[
            {"name":"a","imageRepositories":["x"],"config":{},"sources":["s"],
             "health":{"kind":"http","timeoutSeconds":3}}]}"#;
        assert!(parse(bad_health).is_err());
        let no_budget = r#"{"components":[
            {"name":"a","imageRepositories":["x"],"config":{},"sources":["s"],
             "health":{"kind":"tcp","port":1,"timeoutSeconds":3,
                       "startup":{"periodSeconds":10,"failureThreshold":0,"why":"w"}}}]}"#;
        assert!(parse(no_budget).is_err());
        let no_wait = r#"{"components":[
            {"name":"a","imageRepositories":["x"],"config":{},"sources":["s"],
             "migrate":{"command":["m"],"waitCommand":[],"why":"w"}}]}"#;
        assert!(parse(no_wait).is_err());
    }

    #[test]
    fn every_iam_reference_is_in_the_repository() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let refs: Vec<&str> =
            contracts().components.iter().filter_map(|c| c.iam_actions_reference.as_deref()).collect();
        assert!(refs.len() >= 5, "controllers without IAM reference: {refs:?}");
        for r in refs {
            assert!(root.join(r).is_file(), "{r} is named by a contract but not in the repository");
        }
    }

    #[test]
    fn repository_strips_tag_and_digest_but_not_a_registry_port() {
        assert_eq!(repository_of("r.io:5000/cerverus/airflow:2.10.5@sha256:ab"), "r.io:5000/cerverus/airflow");
        assert_eq!(repository_of("apache/airflow"), "apache/airflow");
        assert_eq!(repository_of("apache/airflow@sha256:ab"), "apache/airflow");
    }

    #[test]
    fn a_container_selects_the_role_its_args_name() {
        let img = "111122223333.dkr.ecr.us-east-1.amazonaws.com/cerverus/airflow:2.10.5@sha256:ab";
        let role =
            |cmd: &[&str], args: &[&str]| for_container(img, &strings(cmd), &strings(args)).map(|c| c.name.as_str());
        assert_eq!(role(&[], &["scheduler"]), Some("airflow-scheduler"));
        assert_eq!(role(&["airflow"], &["celery", "worker"]), Some("airflow-worker"));
        assert_eq!(role(&[], &["webserver"]), Some("airflow-webserver"));
        assert_eq!(role(&[], &["db", "migrate"]), None);
        assert_eq!(for_container("example.com/notairflow:1", &[], &strings(&["scheduler"])).map(|c| &c.name), None);
        assert_eq!(
            for_container("example.com/x-cerverus/airflow:1", &[], &strings(&["scheduler"])).map(|c| &c.name),
            None
        );
    }

    #[test]
    fn indirect_forms_count_as_reading_the_key() {
        let Some(c) = by_name("airflow-scheduler") else { panic!("no scheduler contract") };
        let key = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN";
        assert!(c.reads_env(key, key));
        assert!(c.reads_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD", key));
        assert!(c.reads_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET", key));
        assert!(!c.reads_env("SQL_ALCHEMY_CONN", key));
        assert!(!c.reads_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_FILE", key));
        // Airflow runs `_CMD` only for its sensitive options, not for the executor.
        assert!(!c.reads_env("AIRFLOW__CORE__EXECUTOR_CMD", "AIRFLOW__CORE__EXECUTOR"));
        assert!(c.reads_indirect("AIRFLOW__CELERY__BROKER_URL", "_CMD"));
    }
}
