//! `cerverus`: compile the platform spec into deployable artifacts and prove them offline.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use cerverus::{BuildError, build_bundle, load_spec};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a check or verdict failed (e.g. `build --check` found drift)
  2  usage error, unreadable input or an invalid spec";

#[derive(Parser)]
#[command(name = "cerverus", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile the spec into the bundle (Terraform, Kubernetes manifests, …) and write it.
    #[command(after_help = EXIT_CODES)]
    Build {
        /// Spec file to build; the embedded Cerverus platform spec when omitted.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        /// Output directory.
        #[arg(long, value_name = "DIR", default_value = "deploy")]
        out: PathBuf,
        /// Build only this environment (repeatable); all environments when omitted.
        #[arg(long = "env", value_name = "ENV")]
        envs: Vec<String>,
        /// Write nothing; exit 1 if the output directory differs from what the spec builds.
        #[arg(long)]
        check: bool,
    },
    /// Print the JSON Schema of the spec language.
    #[command(after_help = EXIT_CODES)]
    Schema,
    /// Print the embedded default spec (the Cerverus platform), a starting point for your own.
    #[command(after_help = EXIT_CODES)]
    Spec,
    /// Check infrastructure files — Kubernetes YAML/JSON, Terraform, Dockerfiles, GitHub
    /// workflows — against the rules (`cerverus explain RULE` describes one).
    #[command(after_help = CHECK_EXIT_CODES)]
    Check {
        /// Files or directories (recursive); `-` reads YAML from stdin. Default: the current directory.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        /// Write the report here instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Lowest severity that fails the check: low, medium, high or critical.
        #[arg(long, value_name = "LEVEL", default_value = "low", value_parser = parse_severity)]
        severity: cerverus_check::Severity,
        /// Gatekeeper ConstraintTemplates + Constraints and/or `.rego` files (deny/violation rules)
        /// to evaluate as well (repeatable).
        #[arg(long = "policy", value_name = "DIR")]
        policies: Vec<PathBuf>,
        /// Rule adjustments: disabled rules, severity overrides, allowed registries (YAML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Compare the reachability the policies allow with this spec's declared dependencies
        /// (`default` for the embedded spec); differences are CV-NET-001/002 findings.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        /// Environment of --spec the files belong to (needed when the spec has several).
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
    },
    /// Who can reach whom, on which port, under the NetworkPolicies and Istio
    /// AuthorizationPolicies of PATH (one cluster's manifests). With --spec, compare the result
    /// with the spec's declared dependencies and exit 1 on any missing or extra edge.
    #[command(after_help = CHECK_EXIT_CODES)]
    Graph {
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: GraphFormat,
        /// Platform spec to compare with (`default` for the embedded one).
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        /// Environment of the spec the manifests belong to (needed when the spec has several).
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
    },
    /// Semantic diff of two directories of infrastructure files: objects added, removed and
    /// changed field by field (exit 1 when they differ).
    Diff {
        old: PathBuf,
        new: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
    },
    /// Answer before deploying, with documented models over the rendered bundle: HA when an AZ,
    /// the largest node or the spot capacity is lost; capacity and time to scale under a traffic
    /// surge; the Terraform critical path; monthly cost; RPO/RTO per data store and tier.
    #[command(after_help = SIMULATE_EXIT_CODES)]
    Simulate {
        /// Spec file; the embedded Cerverus platform spec when omitted.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        /// Environment to simulate; `prod` when the spec has it, else its only environment.
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
        /// steady, az-loss, node-loss, spot-loss, surge, provisioning, cost, recovery or all (repeatable).
        #[arg(long = "scenario", value_name = "NAME", default_value = "all")]
        scenarios: Vec<String>,
        /// Traffic multiplier of the surge.
        #[arg(long, value_name = "MULTIPLIER", default_value_t = 10.0)]
        traffic: f64,
        #[arg(long, value_enum, default_value = "text")]
        format: SimulateFormat,
        /// Write the report here (atomically) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Describe a rule: what it checks, why, how to fix it, references and the matching checkov checks.
    Explain {
        /// Rule ID, e.g. CV-K8S-005; `all` prints every rule as JSON.
        rule: String,
    },
}

const CHECK_EXIT_CODES: &str = "\
Exit codes:
  0  no unwaived finding at or above --severity
  1  findings at or above --severity
  2  usage error, an unreadable path, or a file that cannot be parsed";

const SIMULATE_EXIT_CODES: &str = "\
Exit codes:
  0  every verdict passes
  1  a verdict fails
  2  usage error, unreadable input or an invalid spec";

#[derive(Clone, Copy, clap::ValueEnum)]
enum SimulateFormat {
    Text,
    Json,
    Html,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DiffFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum GraphFormat {
    Text,
    Json,
    Dot,
    Mermaid,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Json,
    Sarif,
    Junit,
}

fn parse_severity(s: &str) -> Result<cerverus_check::Severity, String> {
    cerverus_check::Severity::parse(s).ok_or_else(|| format!("`{s}` is not a severity (low, medium, high, critical)"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Build { spec, out, envs, check } => build(spec.as_deref(), &out, &envs, check),
        Command::Schema => print(&cerverus_spec::json_schema_text()),
        Command::Spec => print(cerverus_spec::DEFAULT_SPEC),
        Command::Check { paths, format, output, severity, policies, config, spec, env } => check(
            paths,
            CheckOptions {
                format,
                output: output.as_deref(),
                threshold: severity,
                policy_dirs: &policies,
                config: config.as_deref(),
                spec: spec.as_deref(),
                env: env.as_deref(),
            },
        ),
        Command::Simulate { spec, env, scenarios, traffic, format, output } => {
            simulate(spec.as_deref(), env.as_deref(), &scenarios, traffic, format, output.as_deref())
        }
        Command::Explain { rule } => explain(&rule),
        Command::Diff { old, new, format } => match cerverus_check::diff::diff(&old, &new) {
            Ok(d) => {
                say(&cerverus_check::diff::render(
                    &d,
                    if matches!(format, DiffFormat::Json) { "json" } else { "text" },
                ));
                if d.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Graph { paths, format, spec, env } => graph(paths, format, spec.as_deref(), env.as_deref()),
    }
}

/// What `cerverus check` was asked to do.
struct CheckOptions<'a> {
    format: OutputFormat,
    output: Option<&'a Path>,
    threshold: cerverus_check::Severity,
    policy_dirs: &'a [PathBuf],
    config: Option<&'a Path>,
    spec: Option<&'a Path>,
    env: Option<&'a str>,
}

fn check(paths: Vec<PathBuf>, opts: CheckOptions<'_>) -> ExitCode {
    let CheckOptions { format, output, threshold, policy_dirs, config, spec, env } = opts;
    let config = match config.map(std::fs::read_to_string) {
        None => cerverus_check::config::Config::default(),
        Some(Ok(text)) => match cerverus_check::config::Config::parse(&text) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: --config: {e}");
                return ExitCode::from(2);
            }
        },
        Some(Err(e)) => {
            eprintln!("error: --config: {e}");
            return ExitCode::from(2);
        }
    };
    let policies = if policy_dirs.is_empty() {
        None
    } else {
        match cerverus_check::rego::Policies::load(policy_dirs) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("error: loading policies: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let paths = if paths.is_empty() { vec![PathBuf::from(".")] } else { paths };
    let (stdin, files): (Vec<PathBuf>, Vec<PathBuf>) = paths.into_iter().partition(|p| p.as_os_str() == "-");
    let mut inv = match cerverus_check::inventory::load(&files) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !stdin.is_empty() {
        let mut text = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            eprintln!("error: reading stdin: {e}");
            return ExitCode::from(2);
        }
        cerverus_check::inventory::load_text(&mut inv, "-", &text);
    }
    if inv.files > 1000 && std::io::stderr().is_terminal() {
        eprintln!("checked {} files", inv.files);
    }
    let mut report = cerverus_check::check_configured(&inv, policies.as_ref(), &config);
    if let Some(spec) = spec {
        let spec_path = (spec.as_os_str() != "default").then_some(spec);
        let loaded = match load_spec(spec_path) {
            Ok(l) => l,
            Err(e) => {
                eprint!("{}", e.render(false));
                return ExitCode::from(2);
            }
        };
        let platform = match cerverus_model::resolve(&loaded.1) {
            Ok(p) => p,
            Err(d) => {
                eprint!("{}", d.render());
                return ExitCode::from(2);
            }
        };
        let env = match cerverus::pick_env(&platform, env) {
            Ok(e) => e,
            Err(m) => {
                eprintln!("error: {m}");
                return ExitCode::from(2);
            }
        };
        let (missing, extra, _, _) = cerverus::reachability_vs_spec(&inv, env);
        for (rule, severity, edges, what) in [
            (
                "CV-NET-001",
                cerverus_check::Severity::High,
                missing,
                "declared in the spec but not allowed by the policies",
            ),
            (
                "CV-NET-002",
                cerverus_check::Severity::Medium,
                extra,
                "allowed by the policies but not declared in the spec",
            ),
        ] {
            for (f, t, p) in edges {
                report.findings.push(cerverus_check::Finding {
                    rule: rule.into(),
                    severity,
                    file: loaded.0.clone(),
                    line: 1,
                    object: format!("{f} -> {t}:{p}"),
                    message: what.into(),
                    waived: None,
                });
            }
        }
        report = config.apply(report);
    }
    let format = match format {
        OutputFormat::Text => cerverus_check::Format::Text,
        OutputFormat::Json => cerverus_check::Format::Json,
        OutputFormat::Sarif => cerverus_check::Format::Sarif,
        OutputFormat::Junit => cerverus_check::Format::Junit,
    };
    let color = output.is_none() && std::io::stdout().is_terminal();
    let rendered = cerverus_check::report::render(&report, format, threshold, color);
    match output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, rendered) {
                eprintln!("error: writing {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
        None => say(&rendered),
    }
    if report.summary.parse_errors > 0 {
        ExitCode::from(2)
    } else if report.failing(threshold).next().is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn simulate(
    spec: Option<&Path>,
    env: Option<&str>,
    scenarios: &[String],
    traffic: f64,
    format: SimulateFormat,
    output: Option<&Path>,
) -> ExitCode {
    let mut selected = Vec::new();
    for name in scenarios {
        if name == "all" {
            continue;
        }
        match cerverus_simulate::Scenario::parse(name) {
            Some(s) => selected.push(s),
            None => {
                let known: Vec<&str> = cerverus_simulate::Scenario::ALL.iter().map(|s| s.name()).collect();
                eprintln!("error: unknown scenario `{name}`\n  = hint: one of {}, or all", known.join(", "));
                return ExitCode::from(2);
            }
        }
    }
    if scenarios.iter().any(|s| s == "all") {
        selected.clear();
    }
    if !(traffic.is_finite() && traffic >= 1.0) {
        eprintln!("error: --traffic {traffic}: expected a multiplier of at least 1 (10 is ten times normal traffic)");
        return ExitCode::from(2);
    }
    let opts = cerverus_simulate::Options { scenarios: selected, traffic };
    let report = match cerverus::simulate(spec, env, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprint!("{}", e.render(std::io::stderr().is_terminal()));
            return ExitCode::from(2);
        }
    };
    let format = match format {
        SimulateFormat::Text => cerverus_simulate::report::Format::Text,
        SimulateFormat::Json => cerverus_simulate::report::Format::Json,
        SimulateFormat::Html => cerverus_simulate::report::Format::Html,
    };
    let rendered = match cerverus_simulate::report::render(&report, format) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match output {
        Some(path) => {
            if let Err(e) = cerverus::write_atomically(path, rendered.as_bytes()) {
                eprintln!("error: writing {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
        None => say(&rendered),
    }
    if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn graph(paths: Vec<PathBuf>, format: GraphFormat, spec: Option<&Path>, env: Option<&str>) -> ExitCode {
    let paths = if paths.is_empty() { vec![PathBuf::from(".")] } else { paths };
    let inv = match cerverus_check::inventory::load(&paths) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !inv.errors.is_empty() {
        for e in &inv.errors {
            eprintln!("error: {}:{}: {}", e.file, e.line, e.message);
        }
        return ExitCode::from(2);
    }
    let net = cerverus_check::reach::Network::new(&inv);
    let edges = net.matrix();
    let fmt = match format {
        GraphFormat::Text => "text",
        GraphFormat::Json => "json",
        GraphFormat::Dot => "dot",
        GraphFormat::Mermaid => "mermaid",
    };
    let Some(spec) = spec else {
        say(&cerverus_check::reach::render(&edges, fmt));
        return ExitCode::SUCCESS;
    };
    let spec_path = (spec.as_os_str() != "default").then_some(spec);
    let platform =
        match load_spec(spec_path).and_then(|(_, loaded)| cerverus_model::resolve(&loaded).map_err(BuildError::Spec)) {
            Ok(p) => p,
            Err(e) => {
                eprint!("{}", e.render(false));
                return ExitCode::from(2);
            }
        };
    let env = match cerverus::pick_env(&platform, env) {
        Ok(e) => e,
        Err(m) => {
            eprintln!("error: {m}");
            return ExitCode::from(2);
        }
    };
    let (missing, extra, declared, allowed) = cerverus::reachability_vs_spec(&inv, env);
    let mut out = String::new();
    for (f, t, p) in &missing {
        out.push_str(&format!("missing  {f} -> {t} :{p} (declared in the spec, not allowed by the policies)\n"));
    }
    for (f, t, p) in &extra {
        out.push_str(&format!("extra    {f} -> {t} :{p} (allowed by the policies, not declared in the spec)\n"));
    }
    let clean = out.is_empty();
    out.push_str(&format!("{} declared, {} allowed between spec workloads of `{}`\n", declared, allowed, env.name));
    say(&out);
    if clean { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn explain(id: &str) -> ExitCode {
    if id == "all" {
        let mut s = serde_json::to_string_pretty(cerverus_check::rules::RULES).unwrap_or_default();
        s.push('\n');
        say(&s);
        return ExitCode::SUCCESS;
    }
    let Some(r) = cerverus_check::rules::rule(&id.to_ascii_uppercase()) else {
        let ids: Vec<&str> = cerverus_check::rules::RULES.iter().map(|r| r.id).collect();
        eprintln!("error: no rule `{id}`\n  = expected: one of {}", ids.join(", "));
        return ExitCode::from(2);
    };
    let mut s =
        format!("{} ({}) {}\n\nWhy: {}\nFix: {}\n", r.id, r.severity.as_str(), r.title, r.rationale, r.remediation);
    if !r.references.is_empty() {
        s.push_str(&format!("References: {}\n", r.references.join("; ")));
    }
    if !r.checkov.is_empty() {
        s.push_str(&format!("checkov: {}\n", r.checkov.join(", ")));
    }
    s.push_str("Waive with a reason: annotation `cerverus.io/skip: ID=reason` (Kubernetes) or comment `# cerverus:skip=ID reason` (HCL, Dockerfile, workflow).\n");
    say(&s);
    ExitCode::SUCCESS
}

fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`cerverus schema | head`) is not an error worth reporting.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing to stdout: {e}");
            ExitCode::from(2)
        }
    }
}

/// Write to stdout; a closed pipe (`cerverus build | head`) is not an error worth a panic.
fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

fn build(spec: Option<&Path>, out: &Path, envs: &[String], check: bool) -> ExitCode {
    let started = Instant::now();
    let color = std::io::stderr().is_terminal();
    let result = load_spec(spec).and_then(|(name, loaded)| {
        for w in cerverus_model::support::warnings(&loaded, &cerverus_model::support::today()) {
            eprint!("{}", w.render(Some(&loaded.source)));
        }
        build_bundle(&name, &loaded, envs)
    });
    let (platform, bundle) = match result {
        Ok(x) => x,
        Err(e) => {
            eprint!("{}", e.render(color));
            return ExitCode::from(2);
        }
    };
    let in_scope = |p: &str| envs.is_empty() || envs.iter().any(|e| cerverus_render::path_in_env(p, e));

    if check {
        return match cerverus_bundle::check_scoped(&bundle, out, &in_scope) {
            Ok(report) if report.is_clean() => {
                say(&format!("{}: up to date ({} files)\n", out.display(), bundle.len()));
                ExitCode::SUCCESS
            }
            Ok(report) => {
                say(&format!(
                    "{} differs from what the spec builds:\n{report}\nrun `cerverus build` to update it, then review and commit the diff\n",
                    out.display()
                ));
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("error: reading {}: {e}", out.display());
                ExitCode::from(2)
            }
        };
    }

    match cerverus_bundle::write_scoped(&bundle, out, &in_scope) {
        Ok(report) => {
            say(&format!(
                "built {} environment(s) into {}: {} files ({} written, {} unchanged, {} removed) in {} ms\n",
                platform.environments.iter().filter(|e| envs.is_empty() || envs.contains(&e.name)).count(),
                out.display(),
                bundle.len(),
                report.written.len(),
                report.unchanged,
                report.removed.len(),
                started.elapsed().as_millis()
            ));
            say(&cerverus::summary(&platform, envs));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{}", BuildError::Write(e.to_string()).render(color));
            ExitCode::from(2)
        }
    }
}
