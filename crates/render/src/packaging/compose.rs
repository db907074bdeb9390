//! The local development stack: `compose/compose.yaml` runs the spec's workloads on a laptop
//! with the data stores they depend on, and lands in the bundle as
//!
//! - `compose/compose.yaml`: one service per long-running workload (a Job workload becomes a
//!   one-shot the services of its image wait for), the schema migration a runtime contract names
//!   (`airflow db migrate`) as a one-shot every role of that application waits for, one
//!   PostgreSQL and one Redis service per store the workloads depend on, and Prometheus and
//!   Grafana (profile `monitoring`);
//! - `compose/.env.example`: every variable the file interpolates (`${VAR:?…}`, so compose stops
//!   with the variable's name when one is unset), none of them a secret;
//! - `compose/postgres/initdb/10-databases.sql`, `compose/prometheus/prometheus.yml`,
//!   `compose/grafana/provisioning/datasources/prometheus.yaml`: the files those services read;
//! - `compose/README.md`: the profiles, the secret files to create, how to start each profile.
//!
//! A workload's service is its Kubernetes pod, in compose terms: the same image, arguments,
//! environment (`kubernetes::workloads::runtime_env`, the one the pods get), secret files at the
//! same paths (compose `secrets:` from `compose/secrets/<secret>/<KEY>`, the layout of the
//! pods' secret volumes), the image's user, a read-only root with tmpfs for the writable paths,
//! no capabilities. PostgreSQL, Redis, Prometheus and Grafana are pinned by digest in the
//! `compose` entry of `data/base-images.json` (with the source of each pin).
//!
//! Only fields both the compose specification and Debian's docker-compose 1.29.2 accept are
//! used: no top-level `name:` (COMPOSE_PROJECT_NAME in `.env` instead), secrets from files (1.29.2
//! knows no `environment:` secret source), no `depends_on.required` and no healthcheck
//! `start_interval` (so a wait on a service outside the waiting one's profiles is dropped, not
//! made optional). What differs from the cluster is said where it is decided, and [`lint`]
//! checks what must hold of any compose file of this stack (the tests run it on the rendered
//! one and on broken copies).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use cerverus_bundle::Bundle;
use cerverus_model::contracts::HealthKind;
use cerverus_model::{Env, Platform, Target, Workload};
use cerverus_spec::{Exposure, WorkloadKind};
use k8s_openapi::api::core::v1::EnvVar;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::docker::{self, Image};
use crate::RenderError;
use crate::kubernetes::{rollouts, workloads, yaml};

/// The pinned images (data file, with the source of each digest): its `compose` entry.
const IMAGES_JSON: &str = include_str!("../../../../data/base-images.json");
const IMAGES_PATH: &str = "data/base-images.json";

/// The stack's one network. A /24 in 172.16.0.0/12, away from Docker's default pools' first
/// allocations (172.17-172.20) and from every VPC of the spec (10.x, checked by the tests), so a
/// developer on the VPN reaches both.
pub const SUBNET: &str = "172.29.42.0/24";
/// Network name.
pub const NETWORK: &str = "cerverus";
/// Profiles: every service is in [`FULL`] and in at least one of the others.
pub const CORE: &str = "core";
pub const ML: &str = "ml";
pub const MONITORING: &str = "monitoring";
pub const FULL: &str = "full";
/// Where the developer keeps secret files, relative to the compose file (git-ignored by the
/// README's instructions; never in the bundle).
pub const SECRETS_DIR: &str = "./secrets";
/// The spec's per-pod requests and limits are divided by this: a laptop runs one replica of
/// everything at once, and the cluster sizes are for production traffic.
pub const LAPTOP_DIVISOR: f64 = 2.0;
/// Floors after dividing, below which the programs do not start at all.
const MIN_CPUS: f64 = 0.1;
const MIN_MEMORY_MIB: u64 = 128;
/// Health-check defaults where neither the spec's probes nor a runtime contract say more.
const DEFAULT_INTERVAL: u32 = 10;
const DEFAULT_TIMEOUT: u32 = 5;
const DEFAULT_RETRIES: u32 = 3;
/// Variable holding the registry the Cerverus images are pulled from.
pub const REGISTRY_VAR: &str = "CERVERUS_REGISTRY";

/// Error text of every required variable: compose prints it with the variable's name.
const REQUIRED: &str = "set it in .env (see .env.example)";

// ---------------------------------------------------------------------------------------------
// The compose file, typed. Field order is output order.

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ComposeFile {
    pub services: BTreeMap<String, Service>,
    pub networks: BTreeMap<String, Network>,
    pub volumes: BTreeMap<String, NamedVolume>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretSource>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Service {
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceSecret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(default)]
    pub networks: BTreeMap<String, NetworkAttachment>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    pub healthcheck: Healthcheck,
    pub deploy: Deploy,
    pub restart: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServiceSecret {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkAttachment {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DependsOn {
    pub condition: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Deploy {
    pub resources: Resources,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    pub limits: Amounts,
    pub reservations: Amounts,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Amounts {
    pub cpus: String,
    pub memory: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Device {
    pub driver: String,
    pub count: u32,
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Network {
    pub driver: String,
    pub ipam: Ipam,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Ipam {
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IpamConfig {
    pub subnet: String,
}

/// A named volume; compose's defaults (local driver) suffice.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NamedVolume {}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SecretSource {
    pub file: String,
}

// ---------------------------------------------------------------------------------------------
// Pinned third-party images.

#[derive(Debug, Clone, Deserialize)]
struct DataFile {
    compose: PinnedImages,
}

#[derive(Debug, Clone, Deserialize)]
struct PinnedImages {
    images: BTreeMap<String, Pinned>,
}

#[derive(Debug, Clone, Deserialize)]
struct Pinned {
    repository: String,
    tag: String,
    digest: String,
    uid: i64,
    gid: i64,
}

impl Pinned {
    fn reference(&self) -> String {
        format!("{}:{}@{}", self.repository, self.tag, self.digest)
    }

    fn user(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }
}

fn pinned() -> Result<PinnedImages, RenderError> {
    serde_json::from_str::<DataFile>(IMAGES_JSON)
        .map(|d| d.compose)
        .map_err(|e| RenderError::Yaml(IMAGES_PATH.into(), e.to_string()))
}

fn pin<'a>(p: &'a PinnedImages, name: &str) -> Result<&'a Pinned, RenderError> {
    p.images.get(name).ok_or_else(|| RenderError::Yaml(IMAGES_PATH.into(), format!("no compose image `{name}`")))
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// A variable the compose file interpolates, as `.env.example` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The example value; empty for a secret, which the developer sets.
    pub example: String,
    pub about: String,
    pub secret: bool,
}

/// A secret file the developer creates under `compose/secrets/`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SecretFile {
    path: String,
    holds: String,
}

/// Everything rendered, before it is printed.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub compose: ComposeFile,
    pub variables: BTreeMap<String, Variable>,
    secret_files: Vec<SecretFile>,
    /// Databases the PostgreSQL init script creates, per store.
    databases: BTreeMap<String, BTreeSet<String>>,
    /// Prometheus scrape targets: (job, `host:port`).
    scrape_targets: Vec<(String, String)>,
    /// Dependencies of the spec compose does not wait for, with why.
    not_waited: Vec<String>,
}

/// The environment the stack is taken from: the first in promotion order (dev), whose registry
/// and image references a developer pulls.
pub fn source_env(platform: &Platform) -> Option<&Env> {
    platform.environments.first()
}

pub fn render(platform: &Platform) -> Result<Bundle, RenderError> {
    let mut bundle = Bundle::new();
    let Some(env) = source_env(platform) else { return Ok(bundle) };
    let stack = stack(platform, env, &docker::images(platform))?;
    let add = |b: &mut Bundle, path: &str, text: String| {
        b.add(path, text).map_err(|e| RenderError::Yaml(format!("compose/{path}"), e.to_string()))
    };
    add(&mut bundle, "compose.yaml", document("compose.yaml", &stack.compose)?)?;
    add(&mut bundle, ".env.example", env_example(&stack.variables))?;
    // What holds the developer's values never reaches git.
    add(&mut bundle, ".gitignore", format!("/.env\n/{}/\n", SECRETS_DIR.trim_start_matches("./")))?;
    add(&mut bundle, "postgres/initdb/10-databases.sql", init_sql(&stack.databases))?;
    add(&mut bundle, "prometheus/prometheus.yml", document("prometheus/prometheus.yml", &prometheus_config(&stack))?)?;
    add(
        &mut bundle,
        "grafana/provisioning/datasources/prometheus.yaml",
        document("grafana/provisioning/datasources/prometheus.yaml", &grafana_datasources())?,
    )?;
    add(&mut bundle, "README.md", readme(platform, env, &stack))?;
    for w in env.workloads.iter().filter(|w| included(w) && !w.spec.feature_flags.is_empty()) {
        // The same JSON the pods' feature-flag ConfigMap holds (`rollouts.rs`).
        let json = serde_json::to_string_pretty(&w.spec.feature_flags)
            .map_err(|e| RenderError::Yaml(format!("compose/config/{}", w.name()), e.to_string()))?;
        add(&mut bundle, &format!("config/{}/{}", w.name(), rollouts::FEATURE_FLAGS_KEY), json + "\n")?;
    }
    Ok(bundle)
}

/// A typed document as YAML, by the project's writer.
fn document<T: Serialize>(path: &str, v: &T) -> Result<String, RenderError> {
    yaml::document(v).map_err(|e| RenderError::Yaml(format!("compose/{path}"), e.to_string()))
}

/// Whether `w` runs in the stack: long-running workloads and one-shot Jobs. CronJobs do not (a
/// schedule has no meaning in a stack started by hand; `docker compose run` of the image does
/// what one run does).
fn included(w: &Workload) -> bool {
    w.spec.kind != WorkloadKind::CronJob
}

fn one_shot(w: &Workload) -> bool {
    w.spec.kind == WorkloadKind::Job
}

/// The image a workload runs, by the docker renderer's account.
pub fn image_of<'a>(images: &'a [Image], w: &Workload) -> Option<&'a Image> {
    images
        .iter()
        .find(|i| i.workloads.iter().any(|n| n == w.name()))
        .or_else(|| images.iter().find(|i| i.repository == w.spec.image.repository))
}

/// The name of the one-shot that runs a runtime contract's schema migration for `w`'s
/// application (the Kubernetes Job's name).
pub fn migration_service(w: &Workload) -> String {
    workloads::migration_job_name(w)
}

/// `$` is compose's interpolation character: every literal from the spec is escaped.
pub fn escape(text: &str) -> String {
    text.replace('$', "$$")
}

/// The inverse of [`escape`], for comparing a rendered literal with its source.
pub fn unescape(text: &str) -> String {
    text.replace("$$", "$")
}

fn required(var: &str) -> String {
    format!("${{{var}:?{REQUIRED}}}")
}

fn env_var_name(parts: &[&str]) -> String {
    parts.join("_").to_ascii_uppercase().replace(['-', '.'], "_")
}

fn seconds(s: u32) -> String {
    format!("{s}s")
}

/// The health check of a Cerverus workload's service: its runtime contract's check when it has
/// one (the Airflow roles share an image but not a check), else the image's health command.
pub fn expected_health(w: &Workload, image: Option<&Image>) -> Option<Vec<String>> {
    if let Some(h) = w.contract.and_then(|c| c.health.as_ref()) {
        let command = match h.kind {
            HealthKind::Exec => h.command.clone(),
            // The Airflow image ships curl (Airflow's own compose file checks /health with it).
            HealthKind::Http => vec![
                "curl".into(),
                "--fail".into(),
                "--silent".into(),
                "--show-error".into(),
                "--max-time".into(),
                h.timeout_seconds.to_string(),
                format!("http://127.0.0.1:{}{}", h.port.unwrap_or(0), h.path.clone().unwrap_or_default()),
            ],
            HealthKind::Tcp => return image.and_then(|i| i.health_command.clone()),
        };
        return Some(command);
    }
    image.and_then(|i| i.health_command.clone())
}

fn healthcheck(w: &Workload, image: Option<&Image>) -> Healthcheck {
    let Some(command) = expected_health(w, image) else { return Healthcheck::default() };
    let probes = w.spec.probes.as_ref();
    let liveness = probes.and_then(|p| p.liveness.as_ref());
    let health = w.contract.and_then(|c| c.health.as_ref());
    // A startup budget (the spec's startup probe, else the contract's) becomes the grace period
    // in which failures do not count.
    let start = probes
        .and_then(|p| p.startup.as_ref())
        .map(|s| s.period_seconds * s.failure_threshold)
        .or_else(|| health.and_then(|h| h.startup.as_ref()).map(|s| s.period_seconds * s.failure_threshold));
    let mut test = vec!["CMD".to_string()];
    test.extend(command.iter().map(|c| escape(c)));
    Healthcheck {
        test: Some(test),
        interval: Some(seconds(liveness.map_or(DEFAULT_INTERVAL, |l| l.period_seconds))),
        timeout: Some(seconds(health.map_or(DEFAULT_TIMEOUT, |h| h.timeout_seconds.max(DEFAULT_TIMEOUT)))),
        retries: Some(liveness.map_or(DEFAULT_RETRIES, |l| l.failure_threshold)),
        start_period: start.map(seconds),
        disable: None,
    }
}

/// A one-shot's check is disabled explicitly: its image's `HEALTHCHECK` probes a server the
/// one-shot does not start, and nothing waits for it to be healthy (only to complete).
fn one_shot_healthcheck() -> Healthcheck {
    Healthcheck { disable: Some(true), ..Default::default() }
}

fn cpus(text: &str) -> String {
    let v = cerverus_model::quantity::parse(text).unwrap_or(MIN_CPUS) / LAPTOP_DIVISOR;
    let v = (v.max(MIN_CPUS) * 100.0).round() / 100.0;
    format!("{v}")
}

fn memory(text: &str) -> String {
    let bytes = cerverus_model::quantity::parse(text).unwrap_or(0.0) / LAPTOP_DIVISOR;
    let mib = ((bytes / (1024.0 * 1024.0)).round() as u64).max(MIN_MEMORY_MIB);
    format!("{mib}M")
}

fn workload_resources(w: &Workload) -> Resources {
    let r = &w.spec.resources;
    let devices = if r.gpu > 0 {
        vec![Device { driver: "nvidia".into(), count: r.gpu, capabilities: vec!["gpu".into()] }]
    } else {
        Vec::new()
    };
    Resources {
        limits: Amounts { cpus: cpus(&r.limits.cpu), memory: memory(&r.limits.memory), devices: Vec::new() },
        reservations: Amounts { cpus: cpus(&r.requests.cpu), memory: memory(&r.requests.memory), devices },
    }
}

/// Sizes of the third-party services (no spec numbers: a laptop's).
fn fixed_resources(limit_cpus: &str, limit_mem: &str, req_cpus: &str, req_mem: &str) -> Resources {
    Resources {
        limits: Amounts { cpus: limit_cpus.into(), memory: limit_mem.into(), devices: Vec::new() },
        reservations: Amounts { cpus: req_cpus.into(), memory: req_mem.into(), devices: Vec::new() },
    }
}

fn hardened(image: String, user: Option<String>) -> Service {
    Service {
        image,
        user,
        read_only: true,
        cap_drop: vec!["ALL".into()],
        security_opt: vec!["no-new-privileges:true".into()],
        networks: BTreeMap::from([(NETWORK.to_string(), NetworkAttachment::default())]),
        restart: "unless-stopped".into(),
        ..Default::default()
    }
}

/// tmpfs mounts owned by the service's user (a fresh tmpfs is root's otherwise), sized by the
/// pod's ephemeral-storage request: tmpfs is memory, and the request is what the program is
/// expected to write.
fn tmpfs(paths: &BTreeSet<String>, size: &str, uid: i64, gid: i64) -> Vec<String> {
    let bytes = cerverus_model::quantity::parse(size).unwrap_or(64.0 * 1024.0 * 1024.0) as u64;
    paths.iter().map(|p| format!("{p}:size={bytes},uid={uid},gid={gid},mode=0700")).collect()
}

fn condition_healthy() -> DependsOn {
    DependsOn { condition: "service_healthy".into() }
}

fn condition_completed() -> DependsOn {
    DependsOn { condition: "service_completed_successfully".into() }
}

/// The stack of `env`'s workloads.
pub fn stack(platform: &Platform, env: &Env, images: &[Image]) -> Result<Stack, RenderError> {
    let pins = pinned()?;
    let mut st = Stack::default();
    st.compose.networks.insert(
        NETWORK.into(),
        Network { driver: "bridge".into(), ipam: Ipam { config: vec![IpamConfig { subnet: SUBNET.into() }] } },
    );
    st.variables.insert(
        REGISTRY_VAR.into(),
        Variable {
            example: env.registry.clone(),
            about: format!("Registry of the Cerverus images (the {} environment's ECR registry).", env.name),
            secret: false,
        },
    );
    // Base profiles; data stores and one-shots get those of whoever depends on them.
    let mut profiles: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut host_ports: BTreeSet<u16> = BTreeSet::new();

    let ws: Vec<&Workload> = env.workloads.iter().filter(|w| included(w)).collect();
    let names: BTreeSet<&str> = ws.iter().map(|w| w.name()).collect();
    for w in &ws {
        let image = image_of(images, w);
        let svc = workload_service(platform, env, w, image, &mut st, &mut host_ports);
        st.compose.services.insert(w.name().to_string(), svc);
        let base = if w.spec.resources.gpu > 0 { ML } else { CORE };
        if !one_shot(w) {
            profiles.entry(w.name().to_string()).or_default().insert(base.into());
        }
        // The schema migration a runtime contract names runs once, from the role that runs it
        // in the cluster (the Job built from that role's pod).
        if workloads::runs_migration(w)
            && let Some(m) = w.contract.and_then(|c| c.migrate.as_ref())
        {
            let mut mig = workload_service(platform, env, w, image, &mut st, &mut BTreeSet::new());
            mig.entrypoint = Some(m.command.iter().map(|c| escape(c)).collect());
            mig.command = Some(Vec::new());
            mig.ports.clear();
            mig.expose.clear();
            mig.healthcheck = one_shot_healthcheck();
            mig.restart = "no".into();
            mig.stop_grace_period = None;
            if let Some(a) = mig.networks.get_mut(NETWORK) {
                a.aliases.clear();
            }
            mig.depends_on.retain(|_, d| d.condition == "service_healthy");
            mig.depends_on.retain(|k, _| !names.contains(k.as_str()));
            st.compose.services.insert(migration_service(w), mig);
        }
    }

    // depends_on from the graph, the migrations and the Job one-shots. Edges a runtime contract
    // adds (the webserver fetching task logs from the workers' log servers) are calls made per
    // request, not start dependencies: nothing waits for them.
    let contract_edges = cerverus_model::runtime::contract_edges(&env.workloads);
    for w in &ws {
        let mut deps: BTreeMap<String, DependsOn> = BTreeMap::new();
        for e in env.graph.from(w.name()).filter(|e| !contract_edges.contains(e)) {
            match &e.to {
                Target::Postgres { name } | Target::Redis { name } => {
                    deps.insert(name.clone(), condition_healthy());
                }
                Target::Workload { name, .. } if names.contains(name.as_str()) && name != w.name() => {
                    deps.insert(name.clone(), condition_healthy());
                }
                _ => {}
            }
        }
        if !one_shot(w) {
            if w.contract.and_then(|c| c.migrate.as_ref()).is_some() {
                // Every role of the application waits for its migration (the init container's
                // `check-migrations` in the cluster).
                if let Some(runner) =
                    ws.iter().find(|o| o.spec.part_of == w.spec.part_of && workloads::runs_migration(o))
                {
                    deps.insert(migration_service(runner), condition_completed());
                }
            }
            // A Job of the same image (the API's `alembic upgrade head`) is its schema migration.
            for j in ws.iter().filter(|j| one_shot(j) && j.spec.image.repository == w.spec.image.repository) {
                deps.insert(j.name().to_string(), condition_completed());
            }
        }
        if let Some(s) = st.compose.services.get_mut(w.name()) {
            s.depends_on = deps.clone();
        }
        if workloads::runs_migration(w)
            && let Some(s) = st.compose.services.get_mut(&migration_service(w))
        {
            s.depends_on = deps
                .into_iter()
                .filter(|(k, d)| d.condition == "service_healthy" && !names.contains(k.as_str()))
                .collect();
        }
    }

    data_stores(env, &pins, &ws, &mut st)?;
    monitoring(&pins, &mut st, &mut host_ports, &mut profiles, &ws)?;

    // Profiles flow from a service to what it waits for, except between workloads: a workload
    // keeps its own (the inference service needs a GPU, so it is `ml` only).
    let workload_names: BTreeSet<String> = ws.iter().filter(|w| !one_shot(w)).map(|w| w.name().to_string()).collect();
    loop {
        let mut changed = false;
        let snapshot = profiles.clone();
        for (name, svc) in &st.compose.services {
            let mine = snapshot.get(name).cloned().unwrap_or_default();
            for dep in svc.depends_on.keys() {
                if workload_names.contains(dep) {
                    continue;
                }
                let entry = profiles.entry(dep.clone()).or_default();
                let before = entry.len();
                entry.extend(mine.iter().cloned());
                changed |= entry.len() != before;
            }
        }
        if !changed {
            break;
        }
    }
    // A wait on a workload outside the waiting service's profiles would fail to start the
    // profile: it is dropped, and the README says so.
    let mut not_waited = Vec::new();
    for (name, svc) in st.compose.services.iter_mut() {
        let mine = profiles.get(name).cloned().unwrap_or_default();
        svc.depends_on.retain(|dep, _| {
            let theirs = profiles.get(dep).cloned().unwrap_or_default();
            let keep = mine.is_subset(&theirs);
            if !keep {
                not_waited.push(format!(
                    "`{name}` does not wait for `{dep}`: `{name}` runs in {}, where `{dep}` does not (it runs in {}); `{name}` must tolerate `{dep}` being absent.",
                    join(&mine.difference(&theirs).cloned().collect()),
                    join(&theirs)
                ));
            }
            keep
        });
        let mut p = mine;
        p.insert(FULL.into());
        svc.profiles = p.into_iter().collect();
    }
    st.not_waited = not_waited;
    Ok(st)
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// A long-running workload's (or a Job's) service: its pod in compose terms.
fn workload_service(
    platform: &Platform,
    env: &Env,
    w: &Workload,
    image: Option<&Image>,
    st: &mut Stack,
    host_ports: &mut BTreeSet<u16>,
) -> Service {
    let reference = w.image_ref.strip_prefix(&env.registry).unwrap_or(&w.image_ref);
    let mut svc = hardened(
        format!(
            "{}{}",
            required(REGISTRY_VAR),
            if reference.starts_with('/') { reference.to_string() } else { format!("/{reference}") }
        ),
        image.map(|i| format!("{}:{}", i.uid, i.gid)),
    );
    if !w.spec.command.is_empty() {
        svc.entrypoint = Some(w.spec.command.iter().map(|c| escape(c)).collect());
    }
    if !w.spec.args.is_empty() {
        svc.command = Some(w.spec.args.iter().map(|c| escape(c)).collect());
    }
    // The pod's environment, and the ConfigMap it loads.
    for EnvVar { name, value, value_from } in workloads::runtime_env(platform, env, w) {
        match (value, value_from) {
            (Some(v), _) => {
                svc.environment.insert(name, escape(&v));
            }
            // A key the program reads from its environment only: the developer's `.env` holds
            // it (never `.env.example`).
            (None, Some(_)) => {
                svc.environment.insert(name.clone(), required(&name));
                st.variables.insert(
                    name.clone(),
                    Variable {
                        example: String::new(),
                        about: format!("Secret read by {} from its environment.", w.name()),
                        secret: true,
                    },
                );
            }
            (None, None) => {}
        }
    }
    for (k, v) in &w.spec.config {
        svc.environment.insert(k.clone(), escape(v));
    }
    // Secret files at the paths the pods' secret volumes put them.
    for (secret, keys) in workloads::secret_files(platform, env, w) {
        let keys = keys
            .unwrap_or_else(|| w.secrets.iter().find(|s| s.name == secret).map(|s| s.keys.clone()).unwrap_or_default());
        for key in keys {
            let source = format!("{secret}.{key}");
            let file = format!("{SECRETS_DIR}/{secret}/{key}");
            st.compose.secrets.insert(source.clone(), SecretSource { file: file.clone() });
            let holds = if key == cerverus_model::runtime::redis_keys::URL {
                format!(
                    "the Redis URL of store `{}`: `redis://{}:6379/0`",
                    secret.trim_start_matches("redis-"),
                    secret.trim_start_matches("redis-")
                )
            } else if crate::kubernetes::certificates::rotation::DATABASE_URL_KEYS.contains(&key.as_str()) {
                let store = env
                    .graph
                    .from(w.name())
                    .find_map(|e| match &e.to {
                        Target::Postgres { name } => Some(name.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                format!(
                    "a PostgreSQL URL: `postgresql://postgres:<password of {store}>@{store}:5432/{}`",
                    database_name(&secret)
                )
            } else {
                format!("`{key}` of secret `{secret}`")
            };
            if !st.secret_files.iter().any(|f| f.path == file) {
                st.secret_files.push(SecretFile { path: file, holds });
            }
            svc.secrets.push(ServiceSecret { source, target: workloads::secret_file(&secret, &key) });
        }
    }
    if !w.spec.feature_flags.is_empty() {
        svc.volumes.push(format!(
            "./config/{}/{}:{}/{}:ro",
            w.name(),
            rollouts::FEATURE_FLAGS_KEY,
            rollouts::FEATURE_FLAGS_DIR,
            rollouts::FEATURE_FLAGS_KEY
        ));
    }
    // Writable paths: the image's and the contract's, /tmp always (the pods' emptyDirs); a path
    // the workload's volume claim backs is a named volume instead.
    let mut writable: BTreeSet<String> = BTreeSet::from(["/tmp".to_string()]);
    writable.extend(image.map(|i| i.writable_paths.clone()).unwrap_or_default());
    writable.extend(w.contract.map(|c| c.writable_paths.clone()).unwrap_or_default());
    if let Some(storage) = &w.spec.storage {
        writable.remove(&storage.mount_path);
        let volume = format!("{}-data", w.name());
        st.compose.volumes.insert(volume.clone(), NamedVolume {});
        svc.volumes.push(format!("{volume}:{}", storage.mount_path));
    }
    let (uid, gid) = image.map_or((0, 0), |i| (i.uid, i.gid));
    svc.tmpfs = tmpfs(&writable, &w.spec.resources.requests.ephemeral_storage, uid, gid);
    // Ports: serving HTTP ports of exposed workloads are published on the loopback, the rest
    // are reachable on the network only.
    let ports: Vec<u16> = image.map_or_else(|| w.spec.ports.iter().map(|p| p.port).collect(), |i| i.ports.clone());
    let published: BTreeMap<u16, String> = if w.spec.exposure == Exposure::None || one_shot(w) {
        BTreeMap::new()
    } else {
        w.serving_http_ports().map(|p| (p.port, p.name.clone())).collect()
    };
    for port in ports {
        match published.get(&port) {
            Some(name) => {
                let var = env_var_name(&[w.name(), name, "port"]);
                let host = free_port(host_ports, port);
                st.variables.insert(
                    var.clone(),
                    Variable {
                        example: host.to_string(),
                        about: format!("Host port (on 127.0.0.1) of {}'s `{name}` port {port}.", w.name()),
                        secret: false,
                    },
                );
                svc.ports.push(format!("127.0.0.1:{}:{port}", required(&var)));
            }
            None => svc.expose.push(port.to_string()),
        }
    }
    // The cluster's DNS names resolve to the service too, so a URL written for the cluster works.
    if let Some(a) = svc.networks.get_mut(NETWORK) {
        a.aliases = vec![
            format!("{}.{}.svc", w.name(), w.namespace()),
            format!("{}.{}.svc.cluster.local", w.name(), w.namespace()),
        ];
    }
    svc.deploy = Deploy { resources: workload_resources(w) };
    if one_shot(w) {
        // A one-shot serves nothing.
        svc.ports.clear();
        svc.expose.clear();
        svc.healthcheck = one_shot_healthcheck();
        svc.restart = "no".into();
        if let Some(a) = svc.networks.get_mut(NETWORK) {
            a.aliases.clear();
        }
    } else {
        svc.healthcheck = healthcheck(w, image);
        svc.stop_grace_period = w.contract.and_then(|c| c.termination_grace_period_seconds).map(|s| seconds(s.max(10)));
    }
    svc
}

fn free_port(used: &mut BTreeSet<u16>, wanted: u16) -> u16 {
    let mut p = wanted;
    while !used.insert(p) {
        p = p.saturating_add(1);
    }
    p
}

/// The local database of a secret holding a database URL: named after the secret, one per
/// application, as each has its own database (and `alembic_version` table) on RDS.
fn database_name(secret: &str) -> String {
    secret.replace('-', "_")
}

/// One PostgreSQL and one Redis service per store the included workloads depend on.
fn data_stores(env: &Env, pins: &PinnedImages, ws: &[&Workload], st: &mut Stack) -> Result<(), RenderError> {
    let postgres = pin(pins, "postgres")?;
    let redis = pin(pins, "redis")?;
    let depended: BTreeSet<&Target> =
        env.graph.edges.iter().filter(|e| ws.iter().any(|w| w.name() == e.from)).map(|e| &e.to).collect();
    for store in &env.postgres {
        if !depended.contains(&Target::Postgres { name: store.name.clone() }) {
            continue;
        }
        let dbs: BTreeSet<String> = ws
            .iter()
            .filter(|w| env.graph.from(w.name()).any(|e| e.to == Target::Postgres { name: store.name.clone() }))
            .flat_map(|w| w.secrets.iter())
            .filter(|s| {
                s.keys
                    .iter()
                    .any(|k| crate::kubernetes::certificates::rotation::DATABASE_URL_KEYS.contains(&k.as_str()))
            })
            .map(|s| database_name(&s.name))
            .collect();
        st.databases.insert(store.name.clone(), dbs);
        // Named for whose it is: the bundle never holds anything spelled like a password entry.
        let password = format!("{}.superuser", store.name);
        let file = format!("{SECRETS_DIR}/{}/password", store.name);
        st.compose.secrets.insert(password.clone(), SecretSource { file: file.clone() });
        st.secret_files.push(SecretFile {
            path: file,
            holds: format!("the password of `postgres` on `{}` (the one in the database URLs)", store.name),
        });
        let volume = format!("{}-data", store.name);
        st.compose.volumes.insert(volume.clone(), NamedVolume {});
        let mut svc = hardened(postgres.reference(), Some(postgres.user()));
        svc.environment = BTreeMap::from([
            ("POSTGRES_PASSWORD_FILE".to_string(), "/run/secrets/postgres-password".to_string()),
            ("PGDATA".to_string(), "/var/lib/postgresql/data/pgdata".to_string()),
        ]);
        svc.secrets = vec![ServiceSecret { source: password, target: "/run/secrets/postgres-password".into() }];
        svc.volumes = vec![
            format!("{volume}:/var/lib/postgresql/data"),
            "./postgres/initdb:/docker-entrypoint-initdb.d:ro".into(),
        ];
        svc.tmpfs = tmpfs(
            &BTreeSet::from(["/tmp".to_string(), "/var/run/postgresql".to_string()]),
            "64Mi",
            postgres.uid,
            postgres.gid,
        );
        svc.expose = vec!["5432".into()];
        svc.healthcheck = Healthcheck {
            test: Some(vec![
                "CMD".into(),
                "pg_isready".into(),
                "--host=127.0.0.1".into(),
                "--username=postgres".into(),
                "--dbname=postgres".into(),
            ]),
            interval: Some(seconds(5)),
            timeout: Some(seconds(DEFAULT_TIMEOUT)),
            retries: Some(10),
            start_period: Some(seconds(30)),
            disable: None,
        };
        svc.deploy = Deploy { resources: fixed_resources("1", "1024M", "0.25", "256M") };
        svc.stop_grace_period = Some(seconds(60));
        st.compose.services.insert(store.name.clone(), svc);
    }
    for store in &env.redis {
        if !depended.contains(&Target::Redis { name: store.name.clone() }) {
            continue;
        }
        let volume = format!("{}-data", store.name);
        st.compose.volumes.insert(volume.clone(), NamedVolume {});
        let mut svc = hardened(redis.reference(), Some(redis.user()));
        // No AUTH and no TLS locally (ElastiCache has both): the store is reachable on the
        // stack's network only, never published; the URL files say `redis://`.
        svc.command = Some(vec!["redis-server".into(), "--appendonly".into(), "yes".into()]);
        svc.volumes = vec![format!("{volume}:/data")];
        svc.tmpfs = tmpfs(&BTreeSet::from(["/tmp".to_string()]), "64Mi", redis.uid, redis.gid);
        svc.expose = vec!["6379".into()];
        svc.healthcheck = Healthcheck {
            test: Some(vec!["CMD".into(), "redis-cli".into(), "ping".into()]),
            interval: Some(seconds(5)),
            timeout: Some(seconds(DEFAULT_TIMEOUT)),
            retries: Some(10),
            start_period: Some(seconds(10)),
            disable: None,
        };
        svc.deploy = Deploy { resources: fixed_resources("0.5", "512M", "0.1", "64M") };
        st.compose.services.insert(store.name.clone(), svc);
    }
    Ok(())
}

/// Prometheus scraping every service's metrics port, and Grafana on it (profile `monitoring`).
fn monitoring(
    pins: &PinnedImages,
    st: &mut Stack,
    host_ports: &mut BTreeSet<u16>,
    profiles: &mut BTreeMap<String, BTreeSet<String>>,
    ws: &[&Workload],
) -> Result<(), RenderError> {
    let prom = pin(pins, "prometheus")?;
    let grafana = pin(pins, "grafana")?;
    // The platform's convention: the port named `metrics` (what the PodMonitors scrape).
    st.scrape_targets = ws
        .iter()
        .filter(|w| !one_shot(w))
        .filter_map(|w| w.metrics_port().map(|p| (w.name().to_string(), format!("{}:{}", w.name(), p.port))))
        .collect();
    let mut publish = |st: &mut Stack, service: &str, port: u16| {
        let var = env_var_name(&[service, "port"]);
        let host = free_port(host_ports, port);
        st.variables.insert(
            var.clone(),
            Variable {
                example: host.to_string(),
                about: format!("Host port (on 127.0.0.1) of {service}'s web UI."),
                secret: false,
            },
        );
        format!("127.0.0.1:{}:{port}", required(&var))
    };

    st.compose.volumes.insert("prometheus-data".into(), NamedVolume {});
    let mut p = hardened(prom.reference(), Some(prom.user()));
    p.command = Some(vec![
        "--config.file=/etc/prometheus/prometheus.yml".into(),
        "--storage.tsdb.path=/prometheus".into(),
        "--storage.tsdb.retention.time=7d".into(),
    ]);
    p.volumes = vec![
        "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro".into(),
        "prometheus-data:/prometheus".into(),
    ];
    p.tmpfs = tmpfs(&BTreeSet::from(["/tmp".to_string()]), "64Mi", prom.uid, prom.gid);
    p.ports = vec![publish(st, "prometheus", 9090)];
    p.healthcheck = wget_check("http://127.0.0.1:9090/-/healthy", 10);
    p.deploy = Deploy { resources: fixed_resources("1", "1024M", "0.25", "256M") };
    st.compose.services.insert("prometheus".into(), p);

    st.compose.volumes.insert("grafana-data".into(), NamedVolume {});
    let admin = "grafana.admin".to_string();
    let file = format!("{SECRETS_DIR}/grafana/admin-password");
    st.compose.secrets.insert(admin.clone(), SecretSource { file: file.clone() });
    st.secret_files.push(SecretFile { path: file, holds: "the password of Grafana's `admin` user".into() });
    let mut g = hardened(grafana.reference(), Some(grafana.user()));
    g.environment = BTreeMap::from([
        // Grafana reads any setting from a file with the `__FILE` suffix.
        ("GF_SECURITY_ADMIN_PASSWORD__FILE".to_string(), "/run/secrets/grafana-admin-password".to_string()),
        ("GF_LOG_MODE".to_string(), "console".to_string()),
        ("GF_ANALYTICS_REPORTING_ENABLED".to_string(), "false".to_string()),
    ]);
    g.secrets = vec![ServiceSecret { source: admin, target: "/run/secrets/grafana-admin-password".into() }];
    g.volumes = vec![
        "./grafana/provisioning/datasources:/etc/grafana/provisioning/datasources:ro".into(),
        "grafana-data:/var/lib/grafana".into(),
    ];
    g.tmpfs =
        tmpfs(&BTreeSet::from(["/tmp".to_string(), "/var/log/grafana".to_string()]), "64Mi", grafana.uid, grafana.gid);
    g.ports = vec![publish(st, "grafana", 3000)];
    g.depends_on = BTreeMap::from([("prometheus".to_string(), condition_healthy())]);
    g.healthcheck = wget_check("http://127.0.0.1:3000/api/health", 30);
    g.deploy = Deploy { resources: fixed_resources("0.5", "512M", "0.1", "128M") };
    st.compose.services.insert("grafana".into(), g);
    for s in ["prometheus", "grafana"] {
        profiles.entry(s.into()).or_default().insert(MONITORING.into());
    }
    Ok(())
}

/// `prometheus/prometheus.yml`: one job per workload with a metrics port.
fn prometheus_config(st: &Stack) -> Value {
    let jobs: Vec<Value> = st
        .scrape_targets
        .iter()
        .map(|(job, target)| serde_json::json!({ "job_name": job, "static_configs": [{ "targets": [target] }] }))
        .collect();
    serde_json::json!({
        "global": { "scrape_interval": "30s", "evaluation_interval": "30s" },
        "scrape_configs": jobs,
    })
}

/// Grafana's provisioned data source: the stack's Prometheus.
fn grafana_datasources() -> Value {
    serde_json::json!({
        "apiVersion": 1,
        "datasources": [{
            "name": "Prometheus",
            "type": "prometheus",
            "access": "proxy",
            "url": "http://prometheus:9090",
            "isDefault": true,
            "editable": false,
        }],
    })
}

/// The PostgreSQL image runs `/docker-entrypoint-initdb.d/*.sql` once, on an empty data
/// directory: one database per application, as on RDS.
fn init_sql(databases: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut out = String::from(
        "-- Generated by cerverus from the platform spec. Do not edit: change the spec and run `cerverus build`.\n\
         -- Run once by the PostgreSQL image on an empty data directory: one database per application.\n",
    );
    for (store, dbs) in databases {
        out.push_str(&format!("-- store {store}\n"));
        for db in dbs {
            out.push_str(&format!("CREATE DATABASE \"{db}\";\n"));
        }
    }
    out
}

/// `.env.example`: every interpolated variable, secrets empty.
fn env_example(vars: &BTreeMap<String, Variable>) -> String {
    let mut out = String::from(
        "# Generated by cerverus from the platform spec. Do not edit: change the spec and run `cerverus build`.\n\
         # Copy to .env and fill in the empty values; compose refuses to start while one is unset.\n\
         # Secret values never go in this file: the services read them from files under secrets/ (see README.md).\n\
         COMPOSE_PROJECT_NAME=cerverus\n",
    );
    for (name, v) in vars {
        out.push_str(&format!("\n# {}\n{name}={}\n", v.about, if v.secret { "" } else { &v.example }));
    }
    out
}

fn readme(platform: &Platform, env: &Env, st: &Stack) -> String {
    let mut out = String::new();
    out.push_str("<!-- Generated by cerverus from the platform spec. Do not edit: change the spec and run `cerverus build`. -->\n");
    out.push_str(&format!("# {} — local development stack\n\n", platform.name));
    out.push_str(&format!(
        "`compose.yaml` runs the spec's workloads as the {} environment's pods run them: the same images, arguments, \
         environment and secret files (at the same paths), the image's user, a read-only root filesystem with tmpfs for \
         the paths the program writes, no capabilities and no privilege escalation. PostgreSQL and Redis stand in for \
         RDS and ElastiCache; Prometheus and Grafana for the monitoring stack.\n\n",
        env.name
    ));
    out.push_str("## Profiles\n\n| Profile | Services |\n|---|---|\n");
    let mut by_profile: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, svc) in &st.compose.services {
        for p in &svc.profiles {
            by_profile.entry(p.as_str()).or_default().push(name);
        }
    }
    for (p, names) in &by_profile {
        out.push_str(&format!(
            "| `{p}` | {} |\n",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    out.push_str(
        "\n`ml` needs an NVIDIA GPU and the NVIDIA Container Toolkit (the service reserves the device with the \
         `nvidia` driver).\n\n## Start\n\n```sh\ncp .env.example .env        # then fill in the empty values\n\
         mkdir -p secrets             # then create every file listed below\n\
         docker compose --profile core up -d\n\
         docker compose --profile core --profile monitoring up -d\n\
         docker compose --profile ml up -d\n\
         docker compose --profile full up -d\n\
         docker compose --profile full ps   # every service reports (healthy), one-shots exited 0\n```\n\n\
         Services start in dependency order: the data stores first (healthy), then the schema migrations \
         (completed), then the workloads.\n\n",
    );
    let users: BTreeSet<&str> = st.compose.services.values().filter_map(|s| s.user.as_deref()).collect();
    out.push_str(&format!(
        "## Secret files\n\nNothing secret is generated or committed (`.gitignore` here keeps `.env` and `secrets/` out of \
         git). Create these files, one value each without a trailing newline (Airflow's `_CMD` reads the file as it is). \
         Compose bind-mounts them with their own permissions, so the services' users ({}) must be able to read them: \
         `chmod 0644` on a single-user machine.\n\n| File | Holds |\n|---|---|\n",
        users.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ")
    ));
    for f in &st.secret_files {
        out.push_str(&format!("| `{}` | {} |\n", f.path, f.holds));
    }
    out.push_str(&format!(
        "\nDatabases (created on first start by `postgres/initdb/10-databases.sql`): {}.\n\n",
        st.databases.values().flatten().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
    ));
    out.push_str(&format!(
        "## Differences from the cluster\n\n\
         - One replica per workload; limits and reservations are the spec's per-pod values divided by {LAPTOP_DIVISOR} \
           (at least {MIN_CPUS} CPU and {MIN_MEMORY_MIB} MiB).\n\
         - Redis has no AUTH and no TLS (ElastiCache has both); it is reachable on the stack's network only.\n\
         - The network is `{SUBNET}`; services also answer to their cluster DNS names (`<name>.<namespace>.svc`).\n\
         - CronJobs do not run; run one with `docker compose run`.\n\
         - Addresses of cluster-only services in the pods' environment (Airflow's OpenTelemetry collector) do not \
           resolve here: those programs log export errors and carry on.\n"
    ));
    for n in &st.not_waited {
        out.push_str(&format!("- {n}\n"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// What must hold of a compose file of this stack.

/// One problem with a compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub service: Option<String>,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.service {
            Some(s) => write!(f, "service {s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Variables a compose document interpolates (`${NAME…}`, not the escaped `$${…}`).
pub fn interpolated(doc: &Value) -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::String(s) => {
                let b = s.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    if b[i] == b'$' && b.get(i + 1) == Some(&b'$') {
                        i += 2;
                        continue;
                    }
                    if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
                        let rest = &s[i + 2..];
                        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                        out.insert(rest[..end].to_string());
                    }
                    i += 1;
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(doc, &mut out);
    out
}

/// `NAME=value` lines of an env file.
pub fn env_file_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Whether a variable's name says it holds a secret.
pub fn secret_looking(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "_KEY", "CONN", "CREDENTIAL", "FERNET"].iter().any(|m| n.contains(m))
}

/// Problems of compose document `doc` (as parsed from `compose.yaml`) with env template
/// `env_example`: for every service a health check (a test, or disabled on a one-shot that
/// nothing waits on as healthy), limits and reservations, a profile among them `full`, the
/// hardening; `depends_on` only on services that exist, with the condition their kind calls
/// for; every interpolated variable in the template and no secret-looking variable with a value
/// there; the network with a subnet. With `expected` (the Cerverus services' facts from the
/// model and the images), each service's check, user and ports agree with them.
pub fn lint(doc: &Value, env_example: &str, expected: &[Expected]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut bad =
        |service: Option<&str>, message: String| out.push(Finding { service: service.map(str::to_string), message });
    let empty = serde_json::Map::new();
    let services = doc.get("services").and_then(Value::as_object).unwrap_or(&empty);
    if services.is_empty() {
        bad(None, "no services".into());
    }
    let one_shot = |s: &Value| s.get("restart").and_then(Value::as_str) == Some("no");
    let has_test = |s: &Value| {
        s.pointer("/healthcheck/test").and_then(Value::as_array).is_some_and(|t| t.len() > 1)
            && s.pointer("/healthcheck/disable").and_then(Value::as_bool) != Some(true)
    };
    for (name, s) in services {
        let n = Some(name.as_str());
        if !has_test(s) {
            let disabled = s.pointer("/healthcheck/disable").and_then(Value::as_bool) == Some(true);
            if !(disabled && one_shot(s)) {
                bad(n, "has no health check".into());
            }
        }
        for part in ["limits", "reservations"] {
            for field in ["cpus", "memory"] {
                if s.pointer(&format!("/deploy/resources/{part}/{field}")).is_none() {
                    bad(n, format!("has no deploy.resources.{part}.{field}"));
                }
            }
        }
        let profiles: Vec<&str> = s
            .get("profiles")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !profiles.contains(&FULL) || !profiles.iter().any(|p| [CORE, ML, MONITORING].contains(p)) {
            bad(n, format!("profiles {profiles:?} lack `{FULL}` or one of `{CORE}`, `{ML}`, `{MONITORING}`"));
        }
        if s.get("read_only").and_then(Value::as_bool) != Some(true) {
            bad(n, "root filesystem is not read_only".into());
        }
        if !s.get("cap_drop").and_then(Value::as_array).is_some_and(|a| a.iter().any(|c| c == "ALL")) {
            bad(n, "does not drop ALL capabilities".into());
        }
        if !s
            .get("security_opt")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|c| c == "no-new-privileges:true"))
        {
            bad(n, "allows new privileges".into());
        }
        if s.get("user").and_then(Value::as_str).is_none_or(|u| u.is_empty() || u.starts_with("0:") || u == "0") {
            bad(n, "runs as root (no numeric non-root user)".into());
        }
        if s.pointer(&format!("/networks/{NETWORK}")).is_none() {
            bad(n, format!("is not on network `{NETWORK}`"));
        }
        if let Some(deps) = s.get("depends_on").and_then(Value::as_object) {
            for (dep, cond) in deps {
                let condition = cond.get("condition").and_then(Value::as_str).unwrap_or("");
                match services.get(dep) {
                    None => bad(n, format!("depends on unknown service `{dep}`")),
                    Some(t) if one_shot(t) && condition != "service_completed_successfully" => bad(
                        n,
                        format!("waits for one-shot `{dep}` with `{condition}`, not service_completed_successfully"),
                    ),
                    Some(t) if !one_shot(t) && has_test(t) && condition != "service_healthy" => {
                        bad(n, format!("waits for `{dep}` with `{condition}`, not service_healthy"))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    let subnet = doc.pointer(&format!("/networks/{NETWORK}/ipam/config/0/subnet")).and_then(Value::as_str);
    let valid = |s: &str| {
        s.split_once('/').is_some_and(|(a, p)| {
            a.parse::<std::net::Ipv4Addr>().is_ok() && p.parse::<u8>().is_ok_and(|p| (8..=30).contains(&p))
        })
    };
    if !subnet.is_some_and(valid) {
        bad(None, format!("network `{NETWORK}` has no IPv4 subnet"));
    }
    let values = env_file_values(env_example);
    for var in interpolated(doc) {
        if !values.contains_key(&var) {
            bad(None, format!("variable `{var}` is interpolated but not in .env.example"));
        }
    }
    for (var, value) in &values {
        if secret_looking(var) && !value.is_empty() {
            bad(None, format!("secret-looking variable `{var}` has a value in .env.example"));
        }
    }
    for e in expected {
        let n = Some(e.service.as_str());
        let Some(s) = services.get(&e.service) else {
            bad(n, "missing".into());
            continue;
        };
        let test: Option<Vec<String>> = s
            .pointer("/healthcheck/test")
            .and_then(Value::as_array)
            .map(|a| a.iter().skip(1).filter_map(Value::as_str).map(unescape).collect());
        match (&e.health, test) {
            (None, _) => bad(n, "its image has no health command".into()),
            (Some(want), Some(got)) if *want == got => {}
            (Some(want), got) => bad(n, format!("health check {got:?} is not the image's {want:?}")),
        }
        match &e.user {
            None => bad(n, "no image: its user is unknown".into()),
            Some(u) if s.get("user").and_then(Value::as_str) == Some(u.as_str()) => {}
            Some(u) => bad(n, format!("user {:?} is not the image's {u}", s.get("user"))),
        }
        let mut ports: BTreeSet<u16> = BTreeSet::new();
        for p in s.get("ports").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if let Some(c) = p.rsplit(':').next().and_then(|c| c.parse().ok()) {
                ports.insert(c);
            }
        }
        for p in s.get("expose").and_then(Value::as_array).into_iter().flatten() {
            if let Some(c) =
                p.as_str().and_then(|c| c.parse().ok()).or_else(|| p.as_u64().and_then(|c| u16::try_from(c).ok()))
            {
                ports.insert(c);
            }
        }
        if ports != e.ports {
            bad(n, format!("ports {ports:?} are not the image's {:?}", e.ports));
        }
    }
    out
}

/// What a Cerverus workload's service must say, from the model and its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub service: String,
    pub health: Option<Vec<String>>,
    pub user: Option<String>,
    pub ports: BTreeSet<u16>,
}

/// The expectations of every long-running workload's service in `env`.
pub fn expectations(env: &Env, images: &[Image]) -> Vec<Expected> {
    env.workloads
        .iter()
        .filter(|w| included(w) && !one_shot(w))
        .map(|w| {
            let image = image_of(images, w);
            Expected {
                service: w.name().to_string(),
                health: expected_health(w, image),
                user: image.map(|i| format!("{}:{}", i.uid, i.gid)),
                ports: image.map(|i| i.ports.iter().copied().collect()).unwrap_or_default(),
            }
        })
        .collect()
}

/// The health check of a third-party web UI: an HTTP GET with the `wget` its image carries.
fn wget_check(url: &str, start_period: u32) -> Healthcheck {
    Healthcheck {
        test: Some(["CMD", "wget", "-q", "-O", "/dev/null", url].map(String::from).to_vec()),
        interval: Some(seconds(10)),
        timeout: Some(seconds(DEFAULT_TIMEOUT)),
        retries: Some(3),
        start_period: Some(seconds(start_period)),
        disable: None,
    }
}
