//! Container images: one `docker/<image>/Dockerfile` (+ `.dockerignore`) per image repository
//! the spec's workloads run, and this project's own `docker/cerverus/Dockerfile` (+
//! `Dockerfile.dockerignore`, since its build context is this repository's root).
//!
//! What an image promises ([`Image`]: user, ports, writable paths, entrypoint, health command) is
//! derived from the workloads that run it — their pods' security context, ports, writable
//! volumes, probes and runtime contracts — so the Dockerfile, the Kubernetes objects and compose
//! agree by construction; [`pod_disagreements`] and [`dockerfile_disagreements`] say where they
//! do not (the tests run them on the rendered bundle and on broken copies). The Dockerfiles are
//! values of [`dockerfile::Dockerfile`] built by `recipes.rs` per kind of image (a Python
//! service, its GPU variant, the Airflow image, the Rust CLI) and printed by its one printer.
//! Base images are pinned by digest in `data/base-images.json`.

pub mod base;
pub mod dockerfile;
mod recipes;

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use cerverus_model::contracts::HealthKind;
use cerverus_model::{APP_UID, Platform, Workload};
use serde_json::Value;

use self::dockerfile::{BaseRef, Dockerfile, Healthcheck, User};
use crate::RenderError;

/// What a built image promises to whoever runs it (Kubernetes pods, compose services): the
/// facts both packagings must agree with, and the Dockerfile is printed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Directory under `docker/`: the image repository's last segment (`alerts-api`, `airflow`).
    pub name: String,
    /// Image repository as the spec names it (`cerverus/alerts-api`).
    pub repository: String,
    /// Workloads of the spec that run this image.
    pub workloads: Vec<String>,
    /// Numeric user and group the image runs as (the pods' `runAsUser` / `runAsGroup`).
    pub uid: i64,
    pub gid: i64,
    /// `ENTRYPOINT` (exec form); workloads' `args` follow it.
    pub entrypoint: Vec<String>,
    /// Default arguments (`CMD`), if any.
    pub cmd: Vec<String>,
    /// Ports the program listens on (`EXPOSE`).
    pub ports: Vec<u16>,
    /// Paths the program writes to; everything else is read-only at run time.
    pub writable_paths: Vec<String>,
    /// Health command (exec form) for `HEALTHCHECK` and compose, when the image has one.
    pub health_command: Option<Vec<String>>,
    /// Whether the image needs NVIDIA GPUs (CUDA runtime base).
    pub gpu: bool,
}

/// Directory of this project's own image under `docker/`.
pub const CERVERUS_IMAGE: &str = "cerverus";
/// Where the Python services' virtualenv lives (builder and runtime alike).
pub const VENV: &str = "/opt/venv";
/// Where a Python service's source tree is (the working directory: `alembic.ini` and the like
/// are found relative to it).
pub const APP_DIR: &str = "/app";
/// Scratch space every pod mounts (an emptyDir); every program may write there.
pub const SCRATCH: &str = "/tmp";
/// Probe timeout of programs without a runtime contract saying more (as the pods have it).
const DEFAULT_PROBE_TIMEOUT: u32 = 3;

/// The kind of image a repository needs, from what its workloads are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// A Python service on the slim Python base.
    Python,
    /// A Python service on the CUDA runtime (a workload requests `nvidia.com/gpu`).
    Gpu,
    /// An image derived from the upstream Airflow image (its workloads' runtime contracts name
    /// it).
    Airflow,
}

/// Workloads of every environment by image repository (an environment may override replicas,
/// never what a workload runs), each workload once.
fn by_repository(platform: &Platform) -> BTreeMap<String, Vec<&Workload>> {
    let mut out: BTreeMap<String, Vec<&Workload>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for env in &platform.environments {
        for w in &env.workloads {
            if seen.insert(w.name().to_string()) {
                out.entry(w.spec.image.repository.clone()).or_default().push(w);
            }
        }
    }
    out
}

fn flavour(bases: &base::BaseImages, ws: &[&Workload]) -> Flavour {
    let upstream = &bases.airflow.upstream;
    if ws.iter().any(|w| w.contract.is_some_and(|c| c.image_repositories.iter().any(|r| r == upstream))) {
        Flavour::Airflow
    } else if ws.iter().any(|w| w.spec.resources.gpu > 0) {
        Flavour::Gpu
    } else {
        Flavour::Python
    }
}

/// The Python module a service runs (`python -m <module>`): the image name with `-` as `_`,
/// the convention the service repositories follow.
pub fn module_name(image: &str) -> String {
    image.replace('-', "_")
}

/// The command that checks `w` the way its liveness probe does, run inside its container: the
/// probe's own command for an exec probe; for an HTTP or TCP probe, the image's Python (slim
/// images have no curl) fetching the path or connecting to the port on loopback, within the
/// probe's timeout. `None`: the workload has no liveness probe.
pub fn health_command(w: &Workload) -> Option<Vec<String>> {
    let probe = w.spec.probes.as_ref()?.liveness.as_ref()?;
    if !probe.exec.is_empty() {
        return Some(probe.exec.clone());
    }
    let port = w.spec.ports.iter().find(|p| Some(&p.name) == probe.port.as_ref())?.port;
    let timeout = probe_timeout(w, probe);
    let code = match &probe.path {
        Some(path) => {
            format!("import urllib.request; urllib.request.urlopen('{}', timeout={timeout})", url(port, path))
        }
        None => format!("import socket; socket.create_connection(('127.0.0.1', {port}), timeout={timeout}).close()"),
    };
    Some(vec!["python".into(), "-c".into(), code])
}

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// The timeout the pods' probe gets: the contract's, when its check is of the probe's form (an
/// HTTP check's for an HTTP probe), never below the default.
fn probe_timeout(w: &Workload, probe: &cerverus_spec::Probe) -> u32 {
    let form = match (&probe.path, &probe.port) {
        (Some(_), Some(_)) => HealthKind::Http,
        (None, Some(_)) => HealthKind::Tcp,
        _ => HealthKind::Exec,
    };
    w.contract
        .and_then(|c| c.health.as_ref())
        .filter(|h| h.kind == form)
        .map_or(DEFAULT_PROBE_TIMEOUT, |h| h.timeout_seconds.max(DEFAULT_PROBE_TIMEOUT))
}

/// The images of the spec's workloads, in name order. Empty only if `data/base-images.json`
/// does not parse, which [`render`] reports as an error of the build itself.
pub fn images(platform: &Platform) -> Vec<Image> {
    match base::load() {
        Ok(bases) => facts(platform, &bases).into_iter().map(|(image, _)| image).collect(),
        Err(_) => Vec::new(),
    }
}

fn facts<'a>(platform: &'a Platform, bases: &base::BaseImages) -> Vec<(Image, Vec<&'a Workload>)> {
    let mut out: Vec<(Image, Vec<&Workload>)> = by_repository(platform)
        .into_iter()
        .map(|(repository, ws)| {
            let name = repository.rsplit('/').next().unwrap_or(&repository).to_string();
            let flavour = flavour(bases, &ws);
            let entrypoint = match flavour {
                Flavour::Airflow => {
                    let mut e = bases.airflow.init.clone();
                    e.push(bases.airflow.program.clone());
                    e
                }
                Flavour::Python | Flavour::Gpu => vec![
                    format!("{VENV}/bin/dumb-init"),
                    "--".into(),
                    format!("{VENV}/bin/python"),
                    "-m".into(),
                    module_name(&name),
                ],
            };
            let ports: BTreeSet<u16> = ws.iter().flat_map(|w| w.spec.ports.iter().map(|p| p.port)).collect();
            let mut writable: BTreeSet<String> = BTreeSet::from([SCRATCH.to_string()]);
            for w in &ws {
                writable.extend(w.contract.iter().flat_map(|c| c.writable_paths.iter().cloned()));
                writable.extend(w.spec.storage.iter().map(|s| s.mount_path.clone()));
            }
            // One HEALTHCHECK serves every role only if the roles are checked alike; an image
            // whose roles differ (Airflow's) leaves the check to whoever picks the role.
            let checks: BTreeSet<Vec<String>> = ws.iter().filter_map(|w| health_command(w)).collect();
            let health_command = if checks.len() == 1 { checks.into_iter().next() } else { None };
            let image = Image {
                name,
                repository,
                workloads: ws.iter().map(|w| w.name().to_string()).collect::<BTreeSet<_>>().into_iter().collect(),
                uid: APP_UID,
                gid: APP_UID,
                entrypoint,
                cmd: Vec::new(),
                ports: ports.into_iter().collect(),
                writable_paths: writable.into_iter().collect(),
                health_command,
                gpu: ws.iter().any(|w| w.spec.resources.gpu > 0),
            };
            (image, ws)
        })
        .collect();
    out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    out
}

/// Every Dockerfile of the bundle by directory under `docker/`: one per image, then this
/// project's own.
pub fn dockerfiles(platform: &Platform) -> Result<Vec<(String, Dockerfile)>, RenderError> {
    let bases = base::load()?;
    let mut out = Vec::new();
    for (image, ws) in facts(platform, &bases) {
        if image.name == CERVERUS_IMAGE {
            return Err(RenderError::Invalid(format!(
                "image repository `{}` would take docker/{CERVERUS_IMAGE}/, the directory of this project's own image",
                image.repository
            )));
        }
        let file = match flavour(&bases, &ws) {
            Flavour::Python => recipes::python_service(platform, &bases, &bases.python, &image, &ws),
            Flavour::Gpu => recipes::python_service(platform, &bases, &bases.cuda, &image, &ws),
            Flavour::Airflow => recipes::airflow(platform, &bases, &image, &ws),
        };
        out.push((image.name.clone(), file));
    }
    out.push((CERVERUS_IMAGE.to_string(), recipes::cerverus(&bases)));
    Ok(out)
}

pub fn render(platform: &Platform) -> Result<Bundle, RenderError> {
    let mut bundle = Bundle::new();
    for (dir, file) in dockerfiles(platform)? {
        bundle.add(format!("{dir}/Dockerfile"), file.print())?;
        if dir == CERVERUS_IMAGE {
            // Built from the repository root: BuildKit reads `<Dockerfile>.dockerignore` next to
            // the Dockerfile before the context root's `.dockerignore`.
            bundle.add(format!("{dir}/Dockerfile.dockerignore"), recipes::cerverus_dockerignore())?;
        } else {
            bundle.add(format!("{dir}/.dockerignore"), recipes::service_dockerignore())?;
        }
    }
    Ok(bundle)
}

/// Whether an `ENV`/`ARG` name looks like it carries a secret (which would then sit in the
/// image's history and config for anyone who pulls it).
pub fn secret_like(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["SECRET", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL", "PRIVATE_KEY", "ACCESS_KEY", "API_KEY", "APIKEY", "FERNET"]
        .iter()
        .any(|s| n.contains(s))
        || n.ends_with("_KEY")
}

/// Where a Dockerfile breaks the rules every image keeps, or disagrees with the image's facts:
/// at least two stages (build tools never reach the runtime), every base pinned by digest, a
/// numeric non-root final `USER` equal to the image's, `EXPOSE` of exactly its ports, its
/// `ENTRYPOINT`, its `HEALTHCHECK` (or `NONE` where it has none), no secret-like `ENV`/`ARG`,
/// no runtime `RUN` after an `ARG` (per-build values would defeat the layer cache), and a `HOME`
/// set in the runtime (the pods' UID has no passwd entry).
pub fn dockerfile_disagreements(image: &Image, file: &Dockerfile) -> Vec<String> {
    let mut out = Vec::new();
    let n = &image.name;
    if file.stages.len() < 2 {
        out.push(format!(
            "{n}: {} stage(s); a Dockerfile that builds needs a builder and a runtime",
            file.stages.len()
        ));
    }
    for s in &file.stages {
        if let BaseRef::Image { repository, digest, .. } = &s.from
            && !base::is_digest(digest)
        {
            out.push(format!("{n}: FROM {repository} is not pinned by a sha256 digest"));
        }
        for var in s.variable_names() {
            if secret_like(var) {
                out.push(format!("{n}: `{var}` looks like a secret and would be baked into the image"));
            }
        }
    }
    let Some(runtime) = file.runtime() else { return out };
    for arg in runtime.args_before_run() {
        out.push(format!(
            "{n}: ARG {arg} comes before a RUN of the runtime stage: a new value would rebuild every later RUN"
        ));
    }
    if runtime.env("HOME").is_none() {
        out.push(format!(
            "{n}: the runtime sets no HOME; for UID {} without a passwd entry it would be `/`",
            image.uid
        ));
    }
    match runtime.user() {
        Some(User::Numeric { uid, gid }) if *uid != 0 && (*uid, *gid) == (image.uid, image.gid) => {}
        other => out.push(format!(
            "{n}: final USER is {other:?}; the pods run as {}:{} (numeric, non-root)",
            image.uid, image.gid
        )),
    }
    let exposed: BTreeSet<u16> = runtime.exposed().into_iter().collect();
    let ports: BTreeSet<u16> = image.ports.iter().copied().collect();
    if exposed != ports {
        out.push(format!("{n}: EXPOSE {exposed:?}, the program listens on {ports:?}"));
    }
    if runtime.entrypoint() != Some(image.entrypoint.as_slice()) {
        out.push(format!("{n}: ENTRYPOINT {:?}, the image's is {:?}", runtime.entrypoint(), image.entrypoint));
    }
    let check = runtime.healthcheck().map(|h| h.as_ref().map(|h: &Healthcheck| h.command.clone()));
    if check != Some(image.health_command.clone()) {
        out.push(format!("{n}: HEALTHCHECK runs {check:?}, the image's check is {:?}", image.health_command));
    }
    out
}

/// The pod template of a workload object.
fn pod_template(v: &Value) -> Option<&Value> {
    match v["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "Job" | "Rollout" => Some(&v["spec"]["template"]),
        "CronJob" => Some(&v["spec"]["jobTemplate"]["spec"]["template"]),
        _ => None,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

/// Whether a container's image reference is of `repository` (`<registry>/<repository>:<tag>…`).
fn runs(container: &Value, repository: &str) -> bool {
    container["image"].as_str().is_some_and(|r| {
        let no_digest = r.split('@').next().unwrap_or(r);
        let name = no_digest.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(no_digest, |(n, _)| n);
        name == repository || name.ends_with(&format!("/{repository}"))
    })
}

/// Where the rendered workload objects of one environment (plain data, as read back from the
/// bundle) disagree with the images their containers run: the user (`runAsUser`/`runAsGroup`
/// against `USER`), every `containerPort` exposed, the writable mounts (emptyDir, volume claims)
/// of a read-only root filesystem exactly the image's writable paths, the liveness probe the
/// image's health command, and the command (`ENTRYPOINT` + the pod's `args`, or the pod's own
/// `command`) the one the spec and the runtime contract expect.
pub fn pod_disagreements(platform: &Platform, env: &str, images: &[Image], objects: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let spec_env = platform.env(env);
    let mut liveness: BTreeMap<&str, BTreeSet<Vec<String>>> = BTreeMap::new();
    for obj in objects {
        let Some(template) = pod_template(obj) else { continue };
        let pod = &template["spec"];
        for c in pod["containers"].as_array().into_iter().flatten() {
            let Some(image) = images.iter().find(|i| runs(c, &i.repository)) else { continue };
            let name = c["name"].as_str().unwrap_or_default();
            let at = format!("{env}/{name} ({})", image.name);
            // The workload the pod is (its name label); a pod no workload names is a one-shot
            // derived from one, such as a runtime contract's migration Job.
            let pod_of = template["metadata"]["labels"]["app.kubernetes.io/name"].as_str().unwrap_or_default();
            let workload = spec_env.and_then(|e| e.workload(pod_of));
            if workload.is_some() && !image.workloads.iter().any(|w| w == pod_of) {
                out.push(format!("{at}: runs the image, which does not list `{pod_of}` among its workloads"));
            }
            // User: the container's security context wins over the pod's.
            for (field, want) in [("runAsUser", image.uid), ("runAsGroup", image.gid)] {
                let got = c["securityContext"][field].as_i64().or_else(|| pod["securityContext"][field].as_i64());
                if got != Some(want) {
                    out.push(format!("{at}: {field} {got:?}, the image's USER is {}:{}", image.uid, image.gid));
                }
            }
            // Ports.
            let mut named_ports = BTreeMap::new();
            for p in c["ports"].as_array().into_iter().flatten() {
                let port = p["containerPort"].as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(0);
                named_ports.insert(p["name"].as_str().unwrap_or_default().to_string(), port);
                if !image.ports.contains(&port) {
                    out.push(format!("{at}: containerPort {port} is not exposed by the image"));
                }
            }
            // Writable paths.
            if c["securityContext"]["readOnlyRootFilesystem"].as_bool() == Some(true) {
                let writable = writable_mounts(obj, pod, c);
                let want: BTreeSet<String> = image.writable_paths.iter().cloned().collect();
                for p in want.difference(&writable) {
                    out.push(format!("{at}: the image writes {p}, which the pod does not mount writable"));
                }
                for p in writable.difference(&want) {
                    out.push(format!(
                        "{at}: the pod mounts {p} writable, which is not among the image's writable paths"
                    ));
                }
            }
            // Liveness.
            if let Some(cmd) = probe_check(&c["livenessProbe"], &named_ports) {
                match &image.health_command {
                    Some(have) if !agrees(have, &cmd) => {
                        out.push(format!("{at}: the liveness probe checks {cmd:?}, the image's HEALTHCHECK {have:?}"))
                    }
                    _ => {}
                }
                liveness.entry(image.name.as_str()).or_default().insert(cmd);
            }
            // Command.
            let command = strings(&c["command"]);
            let args = strings(&c["args"]);
            match workload {
                Some(w) => {
                    if command != w.spec.command || args != w.spec.args {
                        out.push(format!(
                            "{at}: runs command {command:?} args {args:?}, the spec says {:?} {:?}",
                            w.spec.command, w.spec.args
                        ));
                    }
                    if command.is_empty() && image.entrypoint.is_empty() {
                        out.push(format!("{at}: no command and the image has no ENTRYPOINT"));
                    }
                    if let Some(contract) = w.contract.filter(|c| !c.args.is_empty() && command.is_empty())
                        && args != contract.args
                    {
                        out.push(format!(
                            "{at}: ENTRYPOINT {:?} + args {args:?} is not the role {:?} the runtime contract `{}` runs",
                            image.entrypoint, contract.args, contract.name
                        ));
                    }
                }
                None => {
                    let one_shots: BTreeSet<&Vec<String>> = spec_env
                        .into_iter()
                        .flat_map(|e| &e.workloads)
                        .filter(|w| image.workloads.iter().any(|n| n == w.name()))
                        .filter_map(|w| w.contract?.migrate.as_ref().map(|m| &m.command))
                        .filter(|c| !c.is_empty())
                        .collect();
                    if !one_shots.contains(&command) || !args.is_empty() {
                        out.push(format!(
                            "{at}: runs command {command:?} args {args:?}, which is neither a workload of `{env}` nor a runtime contract's migration {one_shots:?}"
                        ));
                    }
                }
            }
        }
    }
    for image in images {
        let checks = liveness.get(image.name.as_str()).cloned().unwrap_or_default();
        if image.health_command.is_none() && checks.len() == 1 {
            out.push(format!(
                "{}: its pods have one liveness check {checks:?} but the image has no HEALTHCHECK",
                image.name
            ));
        }
    }
    out
}

/// A health command agrees with a probe's check: the same command for an exec probe, the same
/// URL or loopback port for an HTTP or TCP probe.
fn agrees(have: &[String], probe: &[String]) -> bool {
    match probe {
        [kind, target] if kind == "http" => have.iter().any(|w| w.contains(&format!("'{target}'"))),
        [kind, port] if kind == "tcp" => have.iter().any(|w| w.contains(&format!("('127.0.0.1', {port})"))),
        _ => have == probe,
    }
}

/// What a probe checks: `["http", url]`, `["tcp", port]` or the exec command.
fn probe_check(probe: &Value, named_ports: &BTreeMap<String, u16>) -> Option<Vec<String>> {
    let port_of =
        |v: &Value| v.as_u64().and_then(|n| u16::try_from(n).ok()).or_else(|| named_ports.get(v.as_str()?).copied());
    if let Some(get) = probe.get("httpGet") {
        let port = port_of(&get["port"])?;
        return Some(vec!["http".into(), url(port, get["path"].as_str().unwrap_or("/"))]);
    }
    if let Some(tcp) = probe.get("tcpSocket") {
        return Some(vec!["tcp".into(), port_of(&tcp["port"])?.to_string()]);
    }
    let exec = strings(&probe["exec"]["command"]);
    (!exec.is_empty()).then_some(exec)
}

/// Mount paths of a container that are writable storage: not read-only, backed by an emptyDir,
/// a volume claim or a StatefulSet's claim template.
fn writable_mounts(obj: &Value, pod: &Value, container: &Value) -> BTreeSet<String> {
    let mut storage: BTreeSet<String> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| {
            v.get("emptyDir").is_some() || v.get("persistentVolumeClaim").is_some() || v.get("ephemeral").is_some()
        })
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    storage.extend(
        obj["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["metadata"]["name"].as_str().map(str::to_string)),
    );
    container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["readOnly"].as_bool() != Some(true))
        .filter(|m| m["name"].as_str().is_some_and(|n| storage.contains(n)))
        .filter_map(|m| m["mountPath"].as_str().map(str::to_string))
        .collect()
}
