//! The library behind the `cerverus` binary: the pipeline in one call each, so tests and
//! benchmarks run exactly what the CLI runs.
//!
//! ```text
//! spec (YAML) ──load──▶ LoadedSpec ──resolve──▶ Platform ──render──▶ Bundle ──write──▶ deploy/
//! ```

pub mod tfschema;

use std::fmt::Write as _;
use std::path::Path;

use cerverus_bundle::Bundle;
use cerverus_model::Platform;
use cerverus_spec::{DEFAULT_SPEC, DEFAULT_SPEC_NAME, Diagnostics, LoadedSpec};

/// Anything that stops a build. Every variant renders as a message for a person.
#[derive(Debug)]
pub enum BuildError {
    /// The spec file could not be read.
    Read(String),
    /// The spec is malformed or inconsistent: located diagnostics.
    Spec(Diagnostics),
    /// Rendering failed (a bug: the model was valid).
    Render(String),
    /// Writing the bundle failed; nothing was changed.
    Write(String),
    /// A simulation could not run on its inputs (not a failed verdict).
    Simulate(String),
}

impl BuildError {
    pub fn render(&self, _color: bool) -> String {
        match self {
            BuildError::Read(m) => format!("error: {m}\n"),
            BuildError::Spec(d) => d.render(),
            BuildError::Render(m) => format!(
                "error: rendering failed: {m}\n  = hint: this is a bug in cerverus; please report it with the spec\n"
            ),
            BuildError::Write(m) => format!("error: {m}\n  = note: the output directory was left unchanged\n"),
            BuildError::Simulate(m) => format!("error: simulate: {m}\n"),
        }
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Read and parse the spec at `path`, or the embedded default. Returns the name used in
/// diagnostics and the loaded spec.
pub fn load_spec(path: Option<&Path>) -> Result<(String, LoadedSpec), BuildError> {
    let (name, text) = match path {
        None => (DEFAULT_SPEC_NAME.to_string(), DEFAULT_SPEC.to_string()),
        Some(p) => {
            let name = p.display().to_string();
            let bytes = std::fs::read(p).map_err(|e| BuildError::Read(format!("cannot read spec `{name}`: {e}")))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                BuildError::Read(format!("spec `{name}` is not UTF-8 (byte {})", e.utf8_error().valid_up_to()))
            })?;
            (name, text)
        }
    };
    let loaded = cerverus_spec::load(&name, &text).map_err(BuildError::Spec)?;
    Ok((name, loaded))
}

/// Resolve and render: the whole pipeline up to (not including) the write.
pub fn build_bundle(_name: &str, loaded: &LoadedSpec, envs: &[String]) -> Result<(Platform, Bundle), BuildError> {
    let platform = cerverus_model::resolve(loaded).map_err(BuildError::Spec)?;
    let bundle = cerverus_render::render(&platform, envs).map_err(|e| BuildError::Render(e.to_string()))?;
    Ok((platform, bundle))
}

/// Build the embedded default spec for all environments (what `cerverus build` does). The spec
/// is compiled in and rendering is deterministic, so the first successful build of a process is
/// kept and later calls get a copy (the test suites call this hundreds of times).
pub fn build_default() -> Result<(Platform, Bundle), BuildError> {
    static BUILT: std::sync::OnceLock<(Platform, Bundle)> = std::sync::OnceLock::new();
    if let Some(built) = BUILT.get() {
        return Ok(built.clone());
    }
    let built = build_default_uncached()?;
    Ok(BUILT.get_or_init(|| built).clone())
}

/// [`build_default`] rendered anew on every call (what proves two renders are identical).
pub fn build_default_uncached() -> Result<(Platform, Bundle), BuildError> {
    let (name, loaded) = load_spec(None)?;
    build_bundle(&name, &loaded, &[])
}

/// `cerverus simulate`: load and resolve the spec at `spec` (the embedded one when `None`), render
/// environment `env` (`prod` when the spec has it and none is named, else its only one) and run
/// the models of `opts` over it.
pub fn simulate(
    spec: Option<&Path>,
    env: Option<&str>,
    opts: &cerverus_simulate::Options,
) -> Result<cerverus_simulate::Report, BuildError> {
    let (name, loaded) = load_spec(spec)?;
    let platform = cerverus_model::resolve(&loaded).map_err(BuildError::Spec)?;
    let env = match env {
        None if platform.env("prod").is_some() => "prod",
        e => pick_env(&platform, e).map_err(BuildError::Read)?.name.as_str(),
    };
    let env_name = env.to_string();
    let bundle = cerverus_render::render(&platform, std::slice::from_ref(&env_name))
        .map_err(|e| BuildError::Render(e.to_string()))?;
    simulate_bundle(&name, &platform, &env_name, &bundle, opts)
}

/// Run the models of `opts` over environment `env` of an already rendered `bundle`.
pub fn simulate_bundle(
    _name: &str,
    platform: &Platform,
    env: &str,
    bundle: &Bundle,
    opts: &cerverus_simulate::Options,
) -> Result<cerverus_simulate::Report, BuildError> {
    let env = pick_env(platform, Some(env)).map_err(BuildError::Read)?;
    let inputs = cerverus_simulate::Inputs::from_bundle(platform, env, bundle)
        .map_err(|e| BuildError::Simulate(e.to_string()))?;
    cerverus_simulate::simulate(&inputs, opts).map_err(|e| BuildError::Simulate(e.to_string()))
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader sees the old file or the whole new one, never a half-written one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    let tmp = dir.join(format!(".{file}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The verification summary printed after a build: what the model holds per environment.
pub fn summary(platform: &Platform, envs: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:>9} {:>10} {:>8} {:>7} {:>7}",
        "env", "workloads", "dep-edges", "subnets", "pools", "nat"
    );
    for e in platform.environments.iter().filter(|e| envs.is_empty() || envs.contains(&e.name)) {
        let _ = writeln!(
            s,
            "{:<10} {:>9} {:>10} {:>8} {:>7} {:>7}",
            e.name,
            e.workloads.len(),
            e.graph.edges.len(),
            e.network.subnets.len(),
            e.node_pools.len(),
            format!("{:?}", e.network.nat).to_ascii_lowercase()
        );
    }
    s
}

/// A connection: `(namespace/from, namespace/to, port)`.
pub type Connection = (String, String, u16);

/// Reachability under the policies of `inv` against the declared workload-to-workload edges of
/// `env`: (declared but not allowed, allowed but not declared, declared count, allowed count).
pub fn reachability_vs_spec(
    inv: &cerverus_check::Inventory,
    env: &cerverus_model::Env,
) -> (Vec<Connection>, Vec<Connection>, usize, usize) {
    use std::collections::BTreeSet;
    let net = cerverus_check::reach::Network::new(inv);
    let workloads: BTreeSet<String> = env.workloads.iter().map(|w| format!("{}/{}", w.namespace(), w.name())).collect();
    let declared: BTreeSet<(String, String, u16)> = env
        .graph
        .edges
        .iter()
        .filter_map(|e| match &e.to {
            cerverus_model::Target::Workload { name, namespace, .. } => {
                Some((format!("{}/{}", e.from_namespace, e.from), format!("{namespace}/{name}"), e.port?))
            }
            _ => None,
        })
        .collect();
    let allowed: BTreeSet<(String, String, u16)> = net
        .matrix()
        .into_iter()
        .filter(|e| workloads.contains(&e.from) && workloads.contains(&e.to))
        .map(|e| (e.from, e.to, e.port))
        .collect();
    (
        declared.difference(&allowed).cloned().collect(),
        allowed.difference(&declared).cloned().collect(),
        declared.len(),
        allowed.len(),
    )
}

/// The environment of `platform` named `env`, or its only one.
pub fn pick_env<'a>(platform: &'a Platform, env: Option<&str>) -> Result<&'a cerverus_model::Env, String> {
    match (env, platform.environments.len()) {
        (Some(name), _) => platform.env(name).ok_or_else(|| format!("no environment `{name}` in the spec")),
        (None, 1) => platform.environments.first().ok_or_else(|| "the spec has no environment".to_string()),
        (None, _) => {
            let names: Vec<&str> = platform.environments.iter().map(|e| e.name.as_str()).collect();
            Err(format!("the spec has several environments; say which with --env ({})", names.join(", ")))
        }
    }
}
