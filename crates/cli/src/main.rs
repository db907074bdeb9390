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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Build { spec, out, envs, check } => build(spec.as_deref(), &out, &envs, check),
        Command::Schema => print(&cerverus_spec::json_schema_text()),
        Command::Spec => print(cerverus_spec::DEFAULT_SPEC),
    }
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
