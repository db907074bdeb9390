//! CV-RT-001..003: containers that break their component's runtime contract.
//!
//! A runtime contract (`data/runtime-contracts.json`, crate `cerverus-contracts`) says how a
//! program reads its configuration and secrets, where it writes and how it reports health. A
//! container matches a contract by image repository and args. Judged from the files alone:
//!
//! - CV-RT-001: a setting the program reads from the environment (a key with one of the
//!   contract's env prefixes, e.g. `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`) arrives as a *file* of a
//!   mounted Secret or ConfigMap, and no environment variable delivers it — neither the variable
//!   itself (`env`, `envFrom`) nor an indirect form (`_CMD`, `_SECRET`). The program never sees it.
//! - CV-RT-002: with `readOnlyRootFilesystem: true`, a path the program writes is not under a
//!   writable volume mount.
//! - CV-RT-003: an exec or HTTP probe whose timeout is below the contract's: a healthy program
//!   answers too late and is restarted or taken out of service.
//!
//! Secret and ConfigMap keys (what a volume's file names are) come from the objects themselves or
//! from the ExternalSecrets that create them, indexed once by (scope, namespace, name).

use std::collections::{BTreeSet, HashMap};

use cerverus_contracts::Contract;
use serde_json::Value;

use super::Sink;
use super::k8s::{pod_spec, waivers};
use super::netpol::{Place, place};
use crate::inventory::{Inventory, K8sObject};

/// What a claim template contributes to a pod: a PVC volume.
static CLAIM: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| serde_json::json!({ "persistentVolumeClaim": { "claimName": "" } }));

/// Keys of Secrets and ConfigMaps by (place, kind, name).
type Keys<'a> = HashMap<(Place, &'static str, &'a str), BTreeSet<String>>;

fn object_keys(o: &K8sObject) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for field in ["data", "stringData", "binaryData"] {
        keys.extend(o.value[field].as_object().into_iter().flatten().map(|(k, _)| k.clone()));
    }
    keys
}

fn index(inv: &Inventory) -> Keys<'_> {
    let mut keys: Keys<'_> = HashMap::new();
    for o in &inv.k8s {
        let (kind, name, found) = match o.kind() {
            "Secret" => ("Secret", o.name(), object_keys(o)),
            "ConfigMap" => ("ConfigMap", o.name(), object_keys(o)),
            "ExternalSecret" => {
                let spec = &o.value["spec"];
                let target = spec["target"]["name"].as_str().unwrap_or(o.name());
                let mut k: BTreeSet<String> = spec["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["secretKey"].as_str().map(str::to_string))
                    .collect();
                // A template's data keys are the Secret's keys too.
                k.extend(spec["target"]["template"]["data"].as_object().into_iter().flatten().map(|(k, _)| k.clone()));
                ("Secret", target, k)
            }
            _ => continue,
        };
        keys.entry((place(o), kind, name)).or_default().extend(found);
    }
    keys
}

/// The file names a volume puts into the container: its `items` paths, else the keys of the
/// Secret or ConfigMap it shows (projected volumes: every source).
fn volume_files(keys: &Keys<'_>, at: &Place, volume: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut source = |kind: &'static str, src: &Value, name_field: &str| {
        let Some(name) = src[name_field].as_str() else { return };
        match src["items"].as_array() {
            Some(items) => out.extend(
                items.iter().filter_map(|i| i["path"].as_str()).map(|p| p.rsplit('/').next().unwrap_or(p).to_string()),
            ),
            None => out.extend(keys.get(&(at.clone(), kind, name)).into_iter().flatten().cloned()),
        }
    };
    source("Secret", &volume["secret"], "secretName");
    source("ConfigMap", &volume["configMap"], "name");
    for s in volume["projected"]["sources"].as_array().into_iter().flatten() {
        source("Secret", &s["secret"], "name");
        source("ConfigMap", &s["configMap"], "name");
    }
    out
}

/// Environment variable names a container gets: `env` names and the keys of `envFrom` sources.
fn env_names(keys: &Keys<'_>, at: &Place, c: &Value) -> BTreeSet<String> {
    let mut names: BTreeSet<String> =
        c["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str().map(str::to_string)).collect();
    for ef in c["envFrom"].as_array().into_iter().flatten() {
        let prefix = ef["prefix"].as_str().unwrap_or("");
        for (kind, r) in [("Secret", &ef["secretRef"]), ("ConfigMap", &ef["configMapRef"])] {
            if let Some(name) = r["name"].as_str() {
                let found = keys.get(&(at.clone(), kind, name)).into_iter().flatten();
                names.extend(found.map(|k| format!("{prefix}{k}")));
            }
        }
    }
    names
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

/// Volumes a container can write through: emptyDir, PVCs, ephemeral and host paths (Secret,
/// ConfigMap, projected and downwardAPI volumes are read-only whatever the mount says).
fn writable_volume(v: &Value) -> bool {
    ["emptyDir", "persistentVolumeClaim", "ephemeral", "hostPath", "csi", "nfs", "awsElasticBlockStore"]
        .iter()
        .any(|k| v[*k].is_object())
}

/// Is `path` at or under `mount`?
fn under(path: &str, mount: &str) -> bool {
    let mount = mount.trim_end_matches('/');
    path == mount || mount.is_empty() || path.strip_prefix(mount).is_some_and(|rest| rest.starts_with('/'))
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let keys = index(inv);
    for o in &inv.k8s {
        let Some((pod, path)) = pod_spec(o) else { continue };
        let at = place(o);
        let mut volumes: HashMap<&str, &Value> =
            pod["volumes"].as_array().into_iter().flatten().filter_map(|v| Some((v["name"].as_str()?, v))).collect();
        // A StatefulSet's claim templates are volumes of its pods (writable PVCs).
        for t in o.value["spec"]["volumeClaimTemplates"].as_array().into_iter().flatten() {
            if let Some(name) = t["metadata"]["name"].as_str() {
                volumes.insert(name, &CLAIM);
            }
        }
        for (i, c) in pod["containers"].as_array().into_iter().flatten().enumerate() {
            let image = c["image"].as_str().unwrap_or("");
            let Some(contract) =
                cerverus_contracts::for_container(image, &strings(&c["command"]), &strings(&c["args"]))
            else {
                continue;
            };
            let idx = i.to_string();
            let mut at_path: Vec<&str> = path.clone();
            at_path.extend(["containers", idx.as_str()]);
            let ctx = Ctx { o, contract, container: c, at_path: &at_path };
            secrets_as_files(&ctx, &keys, &at, &volumes, sink);
            writable_paths(&ctx, &volumes, sink);
            probe_timeouts(&ctx, sink);
        }
    }
}

/// One container under one contract.
struct Ctx<'c> {
    o: &'c K8sObject,
    contract: &'c Contract,
    container: &'c Value,
    at_path: &'c [&'c str],
}

impl Ctx<'_> {
    fn report(&self, sink: &mut Sink<'_>, id: &str, field: &[&str], message: String) {
        let mut p = self.at_path.to_vec();
        p.extend(field);
        sink.report(id, &self.o.file, self.o.line_of(&p), &self.o.id(), message, &waivers(self.o));
    }

    fn name(&self) -> &str {
        self.container["name"].as_str().unwrap_or("")
    }
}

/// CV-RT-001.
fn secrets_as_files(ctx: &Ctx<'_>, keys: &Keys<'_>, at: &Place, volumes: &HashMap<&str, &Value>, sink: &mut Sink<'_>) {
    let env = env_names(keys, at, ctx.container);
    for m in ctx.container["volumeMounts"].as_array().into_iter().flatten() {
        let Some(v) = m["name"].as_str().and_then(|n| volumes.get(n)) else { continue };
        let mount = m["mountPath"].as_str().unwrap_or("");
        let files = match m["subPath"].as_str() {
            // A subPath mounts one key at mountPath itself.
            Some(sub) => vec![sub.rsplit('/').next().unwrap_or(sub).to_string()],
            None => volume_files(keys, at, v),
        };
        for file in files.iter().filter(|f| ctx.contract.is_config_env(f)) {
            if env.iter().any(|name| ctx.contract.reads_env(name, file)) {
                continue;
            }
            let suffixes: Vec<String> =
                ctx.contract.config.indirect_env_suffixes.iter().map(|s| format!("{file}{s}")).collect();
            ctx.report(
                sink,
                "CV-RT-001",
                &["volumeMounts"],
                format!(
                    "container `{}` ({}) gets `{file}` as a file under {mount}, but {} reads it only from the environment: set `{file}`{}",
                    ctx.name(),
                    ctx.contract.name,
                    ctx.contract.name,
                    if suffixes.is_empty() { String::new() } else { format!(" or {}", suffixes.join(" / ")) }
                ),
            );
        }
    }
}

/// CV-RT-002.
fn writable_paths(ctx: &Ctx<'_>, volumes: &HashMap<&str, &Value>, sink: &mut Sink<'_>) {
    if ctx.container["securityContext"]["readOnlyRootFilesystem"] != true {
        return;
    }
    let writable: Vec<&str> = ctx.container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["readOnly"] != true)
        .filter(|m| m["name"].as_str().and_then(|n| volumes.get(n)).is_some_and(|v| writable_volume(v)))
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    let missing: Vec<&str> = ctx
        .contract
        .writable_paths
        .iter()
        .map(String::as_str)
        .filter(|p| !writable.iter().any(|m| under(p, m)))
        .collect();
    if !missing.is_empty() {
        ctx.report(
            sink,
            "CV-RT-002",
            &["securityContext", "readOnlyRootFilesystem"],
            format!(
                "container `{}` ({}) has a read-only root filesystem and no writable volume at {} (writable: {})",
                ctx.name(),
                ctx.contract.name,
                missing.join(", "),
                if writable.is_empty() { "none".to_string() } else { writable.join(", ") }
            ),
        );
    }
}

/// CV-RT-003.
fn probe_timeouts(ctx: &Ctx<'_>, sink: &mut Sink<'_>) {
    let Some(health) = &ctx.contract.health else { return };
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let p = &ctx.container[probe];
        if !(p["exec"].is_object() || p["httpGet"].is_object()) {
            continue;
        }
        // Kubernetes' default probe timeout is one second.
        let timeout = p["timeoutSeconds"].as_u64().unwrap_or(1);
        if timeout < u64::from(health.timeout_seconds) {
            ctx.report(
                sink,
                "CV-RT-003",
                &[probe],
                format!(
                    "container `{}` ({}): {probe} times out after {timeout}s; the component's health check needs {}s",
                    ctx.name(),
                    ctx.contract.name,
                    health.timeout_seconds
                ),
            );
        }
    }
}
