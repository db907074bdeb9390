//! The CI/CD pipeline of the Cerverus service repositories: reusable GitHub Actions workflows
//! (`on: workflow_call`) and what they run, rendered from the model.
//!
//! ```text
//! github/workflows/service-ci.yml        test (pytest, coverage ≥ threshold), SAST (bandit),
//!                                        per-platform image builds (amd64, arm64) of the
//!                                        Dockerfile the bundle renders for the image, with Buildx
//!                                        and the GHA layer cache, only when the service's paths
//!                                        changed; then one multi-arch index, Trivy (fails on
//!                                        CRITICAL), push to GHCR and ECR, Cosign keyless
//!                                        signature and SPDX SBOM attestation
//! github/workflows/service-deploy.yml    bump the image in the platform spec, rebuild the bundle,
//!                                        commit (Argo CD syncs staging), k6 load test against
//!                                        staging with a baseline check, production behind an
//!                                        environment with required reviewers (syncs prod's Argo
//!                                        CD Applications), Slack
//! github/workflows/service-rollback.yml  set the image a deploy replaced again, rebuild (staging
//!                                        syncs), production after approval
//! github/workflows/examples/<image>.yml  a caller per image the spec runs
//! github/README.md                      the images, their callers, what a service repository
//!                                        configures
//! loadtest/<workload>.js                 k6 script per HTTP workload with an SLO
//! loadtest/baseline.json                 the regression baseline, seeded from the SLOs
//! ```
//!
//! Actions are pinned by commit SHA from `data/github-actions.json` (the one list, also held
//! against the repository's own `.github/workflows/` by a test). GitHub only runs a reusable
//! workflow from a repository's `.github/workflows/`, so the three `service-*.yml` are also
//! committed there, byte for byte (tested); callers use
//! `<org>/platform/.github/workflows/service-ci.yml@<sha>`.
//!
//! Per-platform builds on native runners (`ubuntu-24.04` and `ubuntu-24.04-arm`) then a manifest
//! merge, rather than one multi-platform build: an arm64 build under QEMU emulation is several
//! times slower (Python wheels compile in the builder stage), and per-platform jobs keep a layer
//! cache scope each, so one platform's cache never evicts the other's.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform, Workload};
use cerverus_spec::{Exposure, WorkloadKind};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::RenderError;
use crate::gitops::{BUNDLE_DIR, REPO_URL};
use crate::kubernetes::yaml;

/// The pins: every action by commit SHA, with its release tag and where it was looked up.
const PINS_JSON: &str = include_str!("../../../../data/github-actions.json");

const BUMP_SH: &str = include_str!("workflows/bump.sh");
const PREVIOUS_SH: &str = include_str!("workflows/previous.sh");
const DOCKERFILE_SH: &str = include_str!("workflows/dockerfile.sh");
/// Where the service CI's build job checks out the platform repository's rendered Dockerfile.
const PLATFORM_CHECKOUT: &str = ".cerverus-platform";
const ARGOCD_SH: &str = include_str!("workflows/argocd.sh");
const LOADTEST_SH: &str = include_str!("workflows/loadtest.sh");
const K6_JS: &str = include_str!("workflows/k6.js");

/// Reusable workflows, by file name (also their copies in the repository's `.github/workflows/`).
pub const REUSABLE: [&str; 3] = ["service-ci.yml", "service-deploy.yml", "service-rollback.yml"];

/// Where the spec lives in the platform repository (what the deploy job edits).
const SPEC_PATH: &str = "platform/cerverus.yaml";
/// Load per replica the staging load test offers: a steady, modest rate so p95 is measured well
/// inside the capacity the autoscaling targets plan for, not a stress test.
const RATE_PER_REPLICA: u32 = 10;
const LOADTEST_DURATION: &str = "5m";
/// A p95 more than this much above the baseline fails the load test, SLO met or not.
const REGRESSION_PERCENT: u32 = 10;
/// Job time limits, minutes: a hung step never holds a runner (or the bump) for GitHub's 6 h.
const SHORT: u32 = 10;
const LONG: u32 = 30;
const RUNNER: &str = "ubuntu-24.04";
const ARM_RUNNER: &str = "ubuntu-24.04-arm";
/// k6 release the load test runs (setup-k6-action installs exactly this one).
const K6_VERSION: &str = "0.57.0";

#[derive(Debug, Deserialize)]
struct PinFile {
    actions: BTreeMap<String, Pin>,
    tools: BTreeMap<String, Value>,
}

/// One action's pin.
#[derive(Debug, Clone, Deserialize)]
pub struct Pin {
    pub sha: String,
    pub version: String,
    pub source: String,
}

/// Every pinned action, `owner/repo` → pin.
#[derive(Debug, Clone)]
pub struct Pins {
    pub actions: BTreeMap<String, Pin>,
    tools: BTreeMap<String, Value>,
}

impl Pins {
    /// The data file, checked: every SHA is 40 lowercase hex digits, every version a tag.
    pub fn load() -> Result<Self, RenderError> {
        let file: PinFile = serde_json::from_str(PINS_JSON)
            .map_err(|e| RenderError::Invalid(format!("data/github-actions.json: {e}")))?;
        for (name, pin) in &file.actions {
            if pin.sha.len() != 40 || !pin.sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(RenderError::Invalid(format!(
                    "data/github-actions.json: `{name}` sha `{}` is not a 40-hex commit",
                    pin.sha
                )));
            }
            if !pin.version.starts_with('v') || pin.source.is_empty() {
                return Err(RenderError::Invalid(format!(
                    "data/github-actions.json: `{name}` needs a `v…` version and a source"
                )));
            }
        }
        Ok(Pins { actions: file.actions, tools: file.tools })
    }

    /// `uses:` for an action or one of its sub-actions (`github/codeql-action/upload-sarif`).
    fn uses(&self, action: &str) -> Result<String, RenderError> {
        let repo: String = action.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
        let pin = self
            .actions
            .get(&repo)
            .ok_or_else(|| RenderError::Invalid(format!("`{repo}` is not pinned in data/github-actions.json")))?;
        Ok(format!("{action}@{}", pin.sha))
    }

    /// A tool's pinned version (`tools.<name>.version`).
    fn tool_version(&self, name: &str) -> Result<String, RenderError> {
        self.tools
            .get(name)
            .and_then(|t| t["version"].as_str())
            .map(str::to_string)
            .ok_or_else(|| RenderError::Invalid(format!("tool `{name}` has no version in data/github-actions.json")))
    }
}

/// One container image the spec runs, and the workloads that run it.
#[derive(Debug, Clone)]
pub struct Service<'a> {
    /// The image repository's last segment (`alerts-api` of `cerverus/alerts-api`).
    pub name: String,
    /// ECR repository, as the spec names it.
    pub repository: String,
    pub workloads: Vec<&'a Workload>,
}

impl Service<'_> {
    /// The Argo CD Applications that sync this image's workloads (one per namespace).
    pub fn argocd_apps(&self) -> BTreeSet<String> {
        self.workloads.iter().map(|w| format!("manifests-{}", w.namespace())).collect()
    }
}

/// Every image the given environments run, by repository; each workload once (the first
/// environment that declares it).
pub fn services<'a>(envs: &[&'a Env]) -> Vec<Service<'a>> {
    let mut by_repo: BTreeMap<&str, Service<'a>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for env in envs {
        for w in &env.workloads {
            if !seen.insert(w.name()) {
                continue;
            }
            let repo = w.spec.image.repository.as_str();
            let name = repo.rsplit('/').next().unwrap_or(repo).to_string();
            by_repo
                .entry(repo)
                .or_insert_with(|| Service { name, repository: repo.to_string(), workloads: Vec::new() })
                .workloads
                .push(w);
        }
    }
    by_repo.into_values().collect()
}

/// A workload the load test targets: long-running, reachable (public or internal), serving HTTP,
/// with an SLO to hold it to.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadTarget {
    pub workload: String,
    pub namespace: String,
    pub port: u16,
    pub path: String,
    pub latency_p95_ms: Option<u32>,
    pub availability_percent: f64,
    pub replicas: u32,
}

pub fn load_target(w: &Workload, staging: Option<&Env>) -> Option<LoadTarget> {
    if !matches!(w.spec.kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet)
        || matches!(w.spec.exposure, Exposure::None)
    {
        return None;
    }
    let slo = w.spec.slo.as_ref()?;
    let port = w.serving_http_ports().next()?;
    // The readiness path answers on the serving port without side effects; the spec names no
    // other route.
    let path = w
        .spec
        .probes
        .as_ref()
        .and_then(|p| p.readiness.as_ref())
        .filter(|p| p.port.as_deref() == Some(port.name.as_str()))
        .and_then(|p| p.path.clone())
        .unwrap_or_else(|| "/".into());
    let replicas = staging.and_then(|e| e.workload(w.name())).map_or(w.spec.replicas, |sw| sw.spec.replicas);
    Some(LoadTarget {
        workload: w.name().to_string(),
        namespace: w.namespace().to_string(),
        port: port.port,
        path,
        latency_p95_ms: slo.latency_p95_ms,
        availability_percent: slo.availability_percent,
        replicas: replicas.max(1),
    })
}

/// The error budget as a rate (`99.95` → `0.0005`), exact to a millionth, printed without float
/// noise.
fn error_budget(availability_percent: f64) -> Value {
    let ppm = ((100.0 - availability_percent) * 10_000.0).round().max(0.0) as u64;
    // `serde_json::Number` from the decimal string keeps `0.0005` as written.
    let text = format!("{}.{:06}", ppm / 1_000_000, ppm % 1_000_000);
    let text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Every workflow and load-test file, at bundle-root paths.
///
/// Read from every environment of the platform: the pipeline serves all of them (it deploys to
/// staging, then production), and a one-environment build must write the same files as a full one.
pub fn render(platform: &Platform) -> Result<Bundle, RenderError> {
    let pins = Pins::load()?;
    let mut bundle = Bundle::new();
    let envs: Vec<&Env> = platform.environments.iter().collect();
    let envs = envs.as_slice();
    if envs.is_empty() {
        return Ok(bundle);
    }
    let registry = registry(envs)?;
    let platform_repo = REPO_URL
        .strip_prefix("https://github.com/")
        .map(|r| r.trim_end_matches(".git").to_string())
        .filter(|r| r.split('/').count() == 2)
        .ok_or_else(|| RenderError::Invalid(format!("gitops::REPO_URL `{REPO_URL}` is not a GitHub repository URL")))?;
    let ctx = Ctx { pins: &pins, platform, registry, platform_repo };

    bundle.add("github/workflows/service-ci.yml", workflow_file(&service_ci(&ctx)?, &pins)?)?;
    bundle.add("github/workflows/service-deploy.yml", workflow_file(&service_deploy(&ctx)?, &pins)?)?;
    bundle.add("github/workflows/service-rollback.yml", workflow_file(&service_rollback(&ctx)?, &pins)?)?;

    let staging = envs
        .iter()
        .copied()
        .find(|e| e.name == "staging")
        .or_else(|| envs.iter().copied().find(|e| !e.is_production()));
    let mut baseline = Map::new();
    for service in services(envs) {
        let targets: Vec<LoadTarget> = service.workloads.iter().filter_map(|w| load_target(w, staging)).collect();
        for t in &targets {
            bundle.add(format!("loadtest/{}.js", t.workload), k6_script(t)?)?;
            baseline.insert(
                t.workload.clone(),
                json!({
                    "p95Ms": t.latency_p95_ms,
                    "errorRate": error_budget(t.availability_percent),
                    "source": "seeded from the spec's SLO; replace with a measured run (the deploy workflow uploads each run's k6 summary)",
                }),
            );
        }
        bundle.add(
            format!("github/workflows/examples/{}.yml", service.name),
            workflow_file(&example(&ctx, &service, &targets), &pins)?,
        )?;
    }
    let baseline = json!({
        "_comment": format!("Load-test baseline per workload: the deploy workflow fails when a run's p95 is more than its regression-percent input (default {REGRESSION_PERCENT}) above p95Ms, or its error rate above errorRate. A service repository's own loadtest/baseline.json (same shape, measured) takes precedence."),
        "services": baseline,
    });
    let mut text = serde_json::to_string_pretty(&baseline).map_err(|e| RenderError::Invalid(e.to_string()))?;
    text.push('\n');
    bundle.add("loadtest/baseline.json", text)?;
    bundle.add("github/README.md", readme(&ctx, &services(envs), staging))?;
    Ok(bundle)
}

/// How a service repository adopts the pipeline: one row per image the spec runs, and what the
/// repository must configure (the names the callers use).
fn readme(ctx: &Ctx<'_>, services: &[Service<'_>], staging: Option<&Env>) -> String {
    let mut rows = String::new();
    for s in services {
        let workloads: Vec<&str> = s.workloads.iter().map(|w| w.name()).collect();
        let apps: Vec<String> = s.argocd_apps().into_iter().collect();
        let targets: Vec<String> = s
            .workloads
            .iter()
            .filter_map(|w| load_target(w, staging))
            .map(|t| format!("`loadtest/{}.js`", t.workload))
            .collect();
        rows.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            s.repository,
            format_args!("github/workflows/examples/{}.yml", s.name),
            workloads.join(", "),
            apps.join(", "),
            if targets.is_empty() {
                "none (no reachable HTTP workload with an SLO)".to_string()
            } else {
                targets.join(", ")
            },
        ));
    }
    format!(
        "<!-- Generated by cerverus from the platform spec. Do not edit: change the spec and run `cerverus build`. -->\n\
# Service pipelines\n\n\
Reusable workflows (`on: workflow_call`) for the repositories that build the platform's images. GitHub runs a \
reusable workflow only from a repository's `.github/workflows/`, so the three `service-*.yml` here are committed \
byte for byte in `{repo}`'s `.github/workflows/` as well; a service repository copies its caller from `examples/`.\n\n\
| image (ECR repository) | caller | workloads | Argo CD Applications | load tests |\n|---|---|---|---|---|\n{rows}\n\
## What a service repository configures\n\n\
- variables: `AWS_ECR_PUSH_ROLE_ARN`, the bootstrap Terraform's output `ci_image_push_role_arn` \
(`{bundle}/terraform/bootstrap`; list this repository in its `github_service_repositories`): the role may push to \
`{registry}` and trusts GitHub's OIDC tokens whose subject is `repo:<owner>/<this repository>:ref:refs/heads/main`. \
The job that assumes it (service-ci's `publish`) runs on pushes to main and in no GitHub environment, so its token \
carries exactly that subject (a job in an environment gets `repo:…:environment:<name>` instead, which the role \
refuses); `ARGOCD_SERVER_STAGING`, `ARGOCD_SERVER_PROD` (Argo CD API hosts); for an image with a load test, \
`LOADTEST_BASE_URL` (the staging URL of its HTTP workload; without it the script targets the in-cluster Service and \
`LOADTEST_RUNNER` must name a self-hosted runner inside staging, a GitHub-hosted runner cannot reach it);\n\
- secrets (the callers pass them with `secrets: inherit`): repository secrets `PLATFORM_REPO_TOKEN` (may push to \
`{repo}` main, past its branch protection: the bump commits go straight to main) and `SLACK_WEBHOOK_URL`; \
environment secrets `ARGOCD_TOKEN_STAGING` (read; environment `staging`) and `ARGOCD_TOKEN_PROD` (sync; \
environment `production` only, never a repository secret: any workflow of the repository could read that, and \
sync production without the reviewers);\n\
- package access: the deploy and rollback jobs pull `ghcr.io/{org}/cerverus` (published by `{repo}`'s release \
workflow) with their own token, so unless that package is public it must grant this repository read access \
(package settings, Manage Actions access);\n\
- environments: `staging`, and `production` with required reviewers and main as its only deployment branch (the \
production job of a deploy and of a rollback wait for one).\n\n\
The image is built from the Dockerfile this bundle renders for it (`{bundle}/docker/<image>/Dockerfile` of `{repo}`, \
read with `PLATFORM_REPO_TOKEN`; a caller may set the `dockerfile` input to one of its own instead). \
A push to main tests, builds (`linux/amd64` and `linux/arm64` on native runners), scans, pushes to GHCR and ECR, signs \
and attests the image, then bumps its digest in `{spec}`, rebuilds `{bundle}/` and pushes the commit: Argo CD syncs \
staging, k6 runs against it and is held to the SLO and to `loadtest/baseline.json`, and production syncs once a \
reviewer approves. Running the caller by hand (`workflow_dispatch`) rolls back the service's last deploy: the image \
that deploy replaced is set in the spec again and the bundle rebuilt (a new commit, not a `git revert` of rendered \
files), staging syncs, and production once a reviewer approves.\n",
        repo = ctx.platform_repo,
        org = ctx.platform_repo.split('/').next().unwrap_or_default(),
        registry = ctx.registry,
        spec = SPEC_PATH,
        bundle = BUNDLE_DIR,
    )
}

struct Ctx<'a> {
    pins: &'a Pins,
    platform: &'a Platform,
    /// ECR registry host of the platform's images.
    registry: String,
    /// `owner/name` of the platform repository (the spec and the GitOps tree).
    platform_repo: String,
}

/// The one ECR registry the environments pull from (they share the account and region).
fn registry(envs: &[&Env]) -> Result<String, RenderError> {
    let regs: BTreeSet<&str> = envs.iter().map(|e| e.registry.as_str()).collect();
    match regs.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => Ok((*one).to_string()),
        many => Err(RenderError::Invalid(format!(
            "the service pipeline pushes to one ECR registry; the environments use {}",
            many.join(", ")
        ))),
    }
}

/// YAML with the release tag after every pinned `uses:` (what Dependabot and a reviewer read).
fn workflow_file(workflow: &Value, pins: &Pins) -> Result<String, RenderError> {
    let text = yaml::document(workflow).map_err(|e| RenderError::Yaml("workflow".into(), e.to_string()))?;
    let mut out = String::with_capacity(text.len() + 512);
    for line in text.lines() {
        out.push_str(line);
        if let Some((_, reference)) = line.trim_start().split_once("uses: ")
            && let Some((action, sha)) = reference.split_once('@')
        {
            let repo: String = action.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
            if let Some(pin) = pins.actions.get(&repo).filter(|p| p.sha == sha) {
                out.push_str(" # ");
                out.push_str(&pin.version);
            }
        }
        out.push('\n');
    }
    Ok(out)
}

fn checkout(ctx: &Ctx<'_>) -> Result<Value, RenderError> {
    Ok(json!({
        "name": "Check out",
        "uses": ctx.pins.uses("actions/checkout")?,
        // The token is not left in .git/config for later steps to read.
        "with": { "persist-credentials": false },
    }))
}

/// Setting one key of a step built elsewhere.
trait With {
    fn with(self, key: &str, value: Value) -> Value;
}

impl With for Value {
    fn with(mut self, key: &str, value: Value) -> Value {
        if let Some(m) = self.as_object_mut() {
            m.insert(key.to_string(), value);
        }
        self
    }
}

fn run(name: &str, script: &str, env: Value) -> Value {
    let mut step = json!({ "name": name });
    if env.as_object().is_some_and(|m| !m.is_empty()) {
        step["env"] = env;
    }
    step["run"] = Value::String(script.to_string());
    step
}

fn workflow_call(name: &str, inputs: Value, secrets: Value, outputs: Option<Value>) -> Value {
    let mut call = json!({ "inputs": inputs });
    if secrets.as_object().is_some_and(|m| !m.is_empty()) {
        call["secrets"] = secrets;
    }
    if let Some(o) = outputs {
        call["outputs"] = o;
    }
    json!({
        "name": name,
        "on": { "workflow_call": call },
        // Nothing by default; each job asks for what it needs.
        "permissions": {},
    })
}

fn input(kind: &str, description: &str, default: Option<Value>) -> Value {
    let mut i = json!({ "description": description, "type": kind, "required": default.is_none() });
    if let Some(d) = default {
        i["default"] = d;
    }
    i
}

/// The image platforms built, each on a native runner: (platform, arch, runner label).
const PLATFORMS: [(&str, &str, &str); 2] = [("linux/amd64", "amd64", RUNNER), ("linux/arm64", "arm64", ARM_RUNNER)];

/// Trivy on one platform's image of the published index; a CRITICAL finding with a fix fails it.
fn trivy_scan(ctx: &Ctx<'_>, platform: &str) -> Result<Value, RenderError> {
    Ok(json!({
        "name": format!("Trivy image scan, {platform} (CRITICAL fails)"),
        "uses": ctx.pins.uses("aquasecurity/trivy-action")?,
        "env": { "TRIVY_PLATFORM": platform },
        "with": { "image-ref": "${{ env.GHCR_IMAGE }}@${{ steps.index.outputs.digest }}", "severity": "CRITICAL", "exit-code": "1", "ignore-unfixed": true, "format": "table" },
    }))
}

fn service_ci(ctx: &Ctx<'_>) -> Result<Value, RenderError> {
    let p = ctx.pins;
    let ghcr = "ghcr.io/${{ github.repository_owner }}/${{ inputs.service }}";
    let mut wf = workflow_call(
        "service-ci",
        json!({
            "service": input("string", "Service name: the GHCR image name and the cache scope (the image repository's last segment)", None),
            "image-repository": input("string", "ECR repository the spec names for this image (e.g. cerverus/alerts-api)", None),
            "push": input("boolean", "Publish the image (false on pull requests: test and build only)", Some(json!(true))),
            "paths": input("string", "dorny/paths-filter rules: a `build` filter over the paths that change the image", Some(json!("build:\n  - 'src/**'\n  - 'tests/**'\n  - 'requirements*.txt'\n  - 'pyproject.toml'\n  - 'Dockerfile'\n"))),
            "python-version": input("string", "Python of the test job", Some(json!("3.12"))),
            "requirements": input("string", "Requirements file with the test dependencies (pytest, pytest-cov)", Some(json!("requirements-dev.txt"))),
            "source-dir": input("string", "Package directory bandit scans and coverage measures", Some(json!("src"))),
            "coverage-threshold": input("number", "Minimum line coverage, percent", Some(json!(80))),
            "context": input("string", "Docker build context", Some(json!("."))),
            "dockerfile": input("string", "Dockerfile in the service repository; empty: the one the spec renders for this image (the platform bundle's docker/<service>/Dockerfile, with its .dockerignore)", Some(json!(""))),
            "aws-role-arn": input("string", "IAM role the job assumes through GitHub's OIDC provider to push to ECR", None),
        }),
        json!({
            "PLATFORM_REPO_TOKEN": { "description": "Token that may read the platform repository (the rendered Dockerfile); not needed with a dockerfile of the service repository's own", "required": false },
        }),
        Some(json!({
            "digest": { "description": "Digest of the published multi-arch index (empty when nothing was built)", "value": "${{ jobs.publish.outputs.digest }}" },
            "version": { "description": "Tag the image was published with", "value": "${{ jobs.publish.outputs.version }}" },
        })),
    );
    // A newer push to a pull request cancels the older run; on main a run is never cancelled
    // halfway through publishing (an index pushed to GHCR but not yet scanned, copied or signed):
    // the newer one waits.
    wf["concurrency"] = json!({
        "group": "service-ci-${{ inputs.service }}-${{ github.ref }}",
        "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
    });
    wf["jobs"] = json!({
        "changes": {
            "name": "Changed paths",
            "runs-on": RUNNER,
            "timeout-minutes": SHORT,
            // paths-filter reads a pull request's files through the API.
            "permissions": { "contents": "read", "pull-requests": "read" },
            "outputs": { "build": "${{ steps.filter.outputs.build }}" },
            "steps": [
                // On a push, paths-filter diffs against the commit before it with local git and
                // fetches that commit itself (the checkout is shallow): without the persisted
                // token the fetch is anonymous and fails on a private repository. The token is
                // this job's read-only one, and nothing else runs here.
                checkout(ctx)?.with("with", json!({ "persist-credentials": true })),
                { "name": "Which paths changed", "id": "filter", "uses": p.uses("dorny/paths-filter")?, "with": { "filters": "${{ inputs.paths }}" } },
            ],
        },
        "test": {
            "name": "pytest (coverage ≥ ${{ inputs.coverage-threshold }}%)",
            "needs": "changes",
            "if": "needs.changes.outputs.build == 'true'",
            "runs-on": RUNNER,
            "timeout-minutes": LONG,
            "permissions": { "contents": "read" },
            "steps": [
                checkout(ctx)?,
                { "name": "Python", "uses": p.uses("actions/setup-python")?, "with": { "python-version": "${{ inputs.python-version }}", "cache": "pip", "cache-dependency-path": "${{ inputs.requirements }}" } },
                run("Dependencies", "python -m pip install --requirement \"$REQUIREMENTS\"\n", json!({ "REQUIREMENTS": "${{ inputs.requirements }}" })),
                // Coverage of the package, not of everything under the checkout: a bare --cov
                // measures the test files too, which run in full and inflate the total.
                run(
                    "pytest with coverage",
                    "python -m pytest --cov=\"$SOURCE_DIR\" --cov-report=xml --cov-report=term-missing --cov-fail-under=\"$THRESHOLD\"\n",
                    json!({ "THRESHOLD": "${{ inputs.coverage-threshold }}", "SOURCE_DIR": "${{ inputs.source-dir }}" }),
                ),
                { "name": "Coverage report", "if": "always()", "uses": p.uses("actions/upload-artifact")?, "with": { "name": "coverage-${{ inputs.service }}", "path": "coverage.xml", "retention-days": 14, "if-no-files-found": "ignore" } },
            ],
        },
        "sast": {
            "name": "SAST (bandit)",
            "needs": "changes",
            "if": "needs.changes.outputs.build == 'true'",
            "runs-on": RUNNER,
            "timeout-minutes": SHORT,
            "permissions": { "contents": "read" },
            "steps": [
                checkout(ctx)?,
                { "name": "Python", "uses": p.uses("actions/setup-python")?, "with": { "python-version": "${{ inputs.python-version }}" } },
                run(
                    "bandit (medium severity and confidence and above fail)",
                    "python -m pip install \"bandit==$BANDIT_VERSION\"\nbandit --recursive --severity-level medium --confidence-level medium \"$SOURCE_DIR\"\n",
                    json!({ "BANDIT_VERSION": p.tool_version("bandit")?, "SOURCE_DIR": "${{ inputs.source-dir }}" }),
                ),
            ],
        },
        "build": {
            "name": "Build ${{ matrix.platform }}",
            "needs": ["changes", "test", "sast"],
            "if": "needs.changes.outputs.build == 'true'",
            "runs-on": "${{ matrix.runner }}",
            "timeout-minutes": LONG,
            "permissions": { "contents": "read", "packages": "write" },
            "strategy": {
                "fail-fast": true,
                "matrix": { "include": [
                    { "platform": PLATFORMS[0].0, "arch": PLATFORMS[0].1, "runner": PLATFORMS[0].2 },
                    { "platform": PLATFORMS[1].0, "arch": PLATFORMS[1].1, "runner": PLATFORMS[1].2 },
                ]},
            },
            "steps": [
                checkout(ctx)?,
                // The Dockerfile the spec renders, so the image's user, ports, writable paths and
                // health check are the ones its pods and compose expect (tested on the platform
                // side); only its folder, outside the build context (the ignore file says so).
                {
                    "name": format!("The rendered Dockerfile ({})", ctx.platform_repo),
                    "if": "inputs.dockerfile == ''",
                    "uses": p.uses("actions/checkout")?,
                    "with": {
                        "repository": ctx.platform_repo,
                        "path": PLATFORM_CHECKOUT,
                        "sparse-checkout": format!("{BUNDLE_DIR}/docker/${{{{ inputs.service }}}}"),
                        "token": "${{ secrets.PLATFORM_REPO_TOKEN }}",
                        "persist-credentials": false,
                    },
                },
                run(
                    "Dockerfile and image version",
                    DOCKERFILE_SH,
                    json!({
                        "DOCKERFILE": "${{ inputs.dockerfile }}",
                        "RENDERED_DIR": format!("{PLATFORM_CHECKOUT}/{BUNDLE_DIR}/docker/${{{{ inputs.service }}}}"),
                        "PLATFORM_CHECKOUT": PLATFORM_CHECKOUT,
                    }),
                )
                .with("id", json!("dockerfile")),
                { "name": "Buildx", "uses": p.uses("docker/setup-buildx-action")? },
                { "name": "Log in to GHCR", "if": "inputs.push", "uses": p.uses("docker/login-action")?, "with": { "registry": "ghcr.io", "username": "${{ github.actor }}", "password": "${{ secrets.GITHUB_TOKEN }}" } },
                {
                    "name": "Build (and push by digest)",
                    "id": "build",
                    "uses": p.uses("docker/build-push-action")?,
                    "with": {
                        "context": "${{ inputs.context }}",
                        "file": "${{ steps.dockerfile.outputs.file }}",
                        // The image's OCI labels (the rendered Dockerfiles' VERSION and REVISION).
                        "build-args": "VERSION=${{ steps.dockerfile.outputs.version }}\nREVISION=${{ github.sha }}\n",
                        "platforms": "${{ matrix.platform }}",
                        "provenance": "mode=max",
                        "outputs": format!("type=image,name={ghcr},push-by-digest=true,name-canonical=true,push=${{{{ inputs.push }}}}"),
                        // One cache scope per service and platform: the two platforms' layers never
                        // evict each other.
                        "cache-from": "type=gha,scope=${{ inputs.service }}-${{ matrix.arch }}",
                        "cache-to": "type=gha,mode=max,scope=${{ inputs.service }}-${{ matrix.arch }}",
                    },
                },
                run(
                    "Record the digest",
                    "mkdir -p \"$RUNNER_TEMP/digests\"\ntouch \"$RUNNER_TEMP/digests/${DIGEST#sha256:}\"\n",
                    json!({ "DIGEST": "${{ steps.build.outputs.digest }}" }),
                )
                .with("if", json!("inputs.push")),
                // The merge job needs every platform's digest: artifacts carry them between jobs.
                { "name": "Hand the digest to the merge job", "if": "inputs.push", "uses": p.uses("actions/upload-artifact")?, "with": { "name": "digests-${{ inputs.service }}-${{ matrix.arch }}", "path": "${{ runner.temp }}/digests/*", "retention-days": 1, "if-no-files-found": "error" } },
            ],
        },
        "publish": {
            "name": "Scan, push to ECR, sign, attest",
            "needs": ["changes", "build"],
            "if": "inputs.push && needs.changes.outputs.build == 'true'",
            "runs-on": RUNNER,
            "timeout-minutes": LONG,
            // id-token: Cosign keyless signing (Fulcio certificate) and the AWS role (OIDC).
            "permissions": { "contents": "read", "packages": "write", "id-token": "write" },
            "outputs": { "digest": "${{ steps.index.outputs.digest }}", "version": "${{ steps.index.outputs.version }}" },
            "env": { "GHCR_IMAGE": ghcr, "ECR_IMAGE": format!("{}/${{{{ inputs.image-repository }}}}", ctx.registry) },
            "steps": [
                { "name": "Platform digests", "uses": p.uses("actions/download-artifact")?, "with": { "pattern": "digests-${{ inputs.service }}-*", "merge-multiple": true, "path": "${{ runner.temp }}/digests" } },
                { "name": "Buildx", "uses": p.uses("docker/setup-buildx-action")? },
                { "name": "Log in to GHCR", "uses": p.uses("docker/login-action")?, "with": { "registry": "ghcr.io", "username": "${{ github.actor }}", "password": "${{ secrets.GITHUB_TOKEN }}" } },
                run(
                    "Multi-arch index",
                    concat!(
                        "version=\"sha-${GITHUB_SHA::12}\"\n",
                        "cd \"$RUNNER_TEMP/digests\"\n",
                        "sources=()\n",
                        "for d in *; do sources+=(\"$GHCR_IMAGE@sha256:$d\"); done\n",
                        "docker buildx imagetools create --tag \"$GHCR_IMAGE:$version\" \"${sources[@]}\"\n",
                        "digest=$(docker buildx imagetools inspect \"$GHCR_IMAGE:$version\" --format '{{json .Manifest}}' | jq -r .digest)\n",
                        "echo \"version=$version\" >>\"$GITHUB_OUTPUT\"\n",
                        "echo \"digest=$digest\" >>\"$GITHUB_OUTPUT\"\n",
                    ),
                    json!({}),
                )
                .with("id", json!("index")),
                // Before the image reaches ECR (what the clusters pull): a CRITICAL finding stops here.
                // Given an index, Trivy scans the runner's platform only: one scan per platform
                // built (TRIVY_PLATFORM is its --platform).
                trivy_scan(ctx, PLATFORMS[0].0)?,
                trivy_scan(ctx, PLATFORMS[1].0)?,
                { "name": "AWS credentials (OIDC)", "uses": p.uses("aws-actions/configure-aws-credentials")?, "with": { "role-to-assume": "${{ inputs.aws-role-arn }}", "aws-region": ctx.platform.region } },
                { "name": "Log in to ECR", "uses": p.uses("aws-actions/amazon-ecr-login")? },
                run(
                    "Copy the index to ECR",
                    concat!(
                        "docker buildx imagetools create --tag \"$ECR_IMAGE:$VERSION\" \"$GHCR_IMAGE@$DIGEST\"\n",
                        "# The spec pins one digest for both registries: the copy must be byte-identical.\n",
                        "copied=$(docker buildx imagetools inspect \"$ECR_IMAGE:$VERSION\" --format '{{json .Manifest}}' | jq -r .digest)\n",
                        "if [ \"$copied\" != \"$DIGEST\" ]; then\n",
                        "  echo \"::error::ECR has $copied, GHCR $DIGEST\"\n",
                        "  exit 1\n",
                        "fi\n",
                    ),
                    json!({ "VERSION": "${{ steps.index.outputs.version }}", "DIGEST": "${{ steps.index.outputs.digest }}" }),
                ),
                { "name": "Cosign", "uses": p.uses("sigstore/cosign-installer")? },
                { "name": "SBOM (SPDX)", "uses": p.uses("anchore/sbom-action")?, "with": { "image": "${{ env.GHCR_IMAGE }}@${{ steps.index.outputs.digest }}", "format": "spdx-json", "output-file": "${{ runner.temp }}/sbom.spdx.json" } },
                run(
                    "Sign and attest (keyless)",
                    concat!(
                        "for image in \"$GHCR_IMAGE@$DIGEST\" \"$ECR_IMAGE@$DIGEST\"; do\n",
                        "  cosign sign --yes \"$image\"\n",
                        "  cosign attest --yes --type spdxjson --predicate \"$RUNNER_TEMP/sbom.spdx.json\" \"$image\"\n",
                        "done\n",
                    ),
                    json!({ "DIGEST": "${{ steps.index.outputs.digest }}" }),
                ),
            ],
        },
    });
    Ok(wf)
}

fn argocd_step(name: &str, server: &str, token: &str, revision: &str, sync: bool) -> Value {
    run(
        name,
        ARGOCD_SH,
        json!({
            "ARGOCD_SERVER": server,
            "ARGOCD_AUTH_TOKEN": token,
            "APPS": "${{ inputs.argocd-apps }}",
            "REVISION": revision,
            "SYNC": sync.to_string(),
            "WAIT_SECONDS": "900",
            "PLATFORM_DIR": "platform",
        }),
    )
}

fn platform_checkout(ctx: &Ctx<'_>, reference: Option<&str>) -> Result<Value, RenderError> {
    let mut with = json!({ "repository": ctx.platform_repo, "path": "platform", "fetch-depth": 0 });
    if let Some(r) = reference {
        with["ref"] = json!(r);
    }
    // The platform repository needs a token of its own (the caller's GITHUB_TOKEN only reaches
    // the service repository): to push the bump, or to fetch main while waiting for a sync.
    with["token"] = json!("${{ secrets.PLATFORM_REPO_TOKEN }}");
    Ok(
        json!({ "name": format!("Check out {}", ctx.platform_repo), "uses": ctx.pins.uses("actions/checkout")?, "with": with }),
    )
}

/// mikefarah/yq at the pinned version into `$RUNNER_TEMP/bin` (the scripts call it by that path,
/// never the runner image's own, unpinned `yq`). `go install` resolves the version through the Go
/// module proxy and checks it against the checksum database.
fn yq_step(ctx: &Ctx<'_>) -> Result<Value, RenderError> {
    Ok(run(
        "yq",
        "GOBIN=\"$RUNNER_TEMP/bin\" go install \"github.com/mikefarah/yq/v4@${YQ_VERSION}\"\n",
        json!({ "YQ_VERSION": ctx.pins.tool_version("yq")? }),
    ))
}

/// Log in to GHCR with the job's token (`packages: read`) to pull the cerverus image: the platform's
/// packages are private unless made public, and the package must grant the service repository
/// read access (package settings, Actions access).
fn ghcr_pull_login(ctx: &Ctx<'_>) -> Result<Value, RenderError> {
    Ok(json!({
        "name": "Log in to GHCR (the cerverus image)",
        "uses": ctx.pins.uses("docker/login-action")?,
        "with": { "registry": "ghcr.io", "username": "${{ github.actor }}", "password": "${{ secrets.GITHUB_TOKEN }}" },
    }))
}

/// Concurrency of one job: `cancel-in-progress: false` throughout (a bump or an Argo CD sync is
/// never stopped halfway). GitHub keeps one pending job per group and cancels an older pending
/// one, so a newer bump supersedes an older one that has not started.
fn job_concurrency(group: &str) -> Value {
    json!({ "group": group, "cancel-in-progress": false })
}

fn slack(ctx: &Ctx<'_>, text: &str) -> Result<Value, RenderError> {
    Ok(json!({
        "name": "Slack",
        "uses": ctx.pins.uses("slackapi/slack-github-action")?,
        "with": {
            "webhook": "${{ secrets.SLACK_WEBHOOK_URL }}",
            "webhook-type": "incoming-webhook",
            "payload": format!("text: {text}\n"),
        },
    }))
}

/// What bump.sh reads: the commit kind, the image to set, where the spec and the bundle are.
fn bump_env(kind: &str, version: &str, digest: &str) -> Value {
    json!({
        "KIND": kind,
        "PLATFORM_DIR": "platform",
        "SPEC": SPEC_PATH,
        "BUNDLE_DIR": BUNDLE_DIR,
        "SERVICE": "${{ inputs.service }}",
        "REPOSITORY": "${{ inputs.image-repository }}",
        "VERSION": version,
        "DIGEST": digest,
        "CERVERUS_IMAGE": "${{ inputs.cerverus-image }}",
    })
}

/// The `cerverus-image` input: the image `cerverus build` runs from (release.yml publishes it).
fn cerverus_image_input(ctx: &Ctx<'_>) -> Value {
    let org = ctx.platform_repo.split('/').next().unwrap_or_default();
    let version = env!("CARGO_PKG_VERSION");
    input(
        "string",
        "The cerverus image that rebuilds the bundle",
        Some(json!(format!("ghcr.io/{org}/cerverus:{version}"))),
    )
}

fn service_deploy(ctx: &Ctx<'_>) -> Result<Value, RenderError> {
    let p = ctx.pins;
    let mut wf = workflow_call(
        "service-deploy",
        json!({
            "service": input("string", "Service name (messages, artifact names)", None),
            "image-repository": input("string", "ECR repository of the image in the spec (every workload running it is bumped)", None),
            "digest": input("string", "Digest of the published index (service-ci's output)", None),
            "version": input("string", "Tag the image was published with (service-ci's output)", None),
            "argocd-apps": input("string", "Argo CD Applications running the image, space-separated (manifests-<namespace>)", None),
            "loadtest-targets": input("string", "Workloads with a k6 script in the bundle's loadtest/, space-separated; empty skips the load test", Some(json!(""))),
            "loadtest-base-url": input("string", "Staging URL of the target; empty: the Service's in-cluster address (needs a runner inside staging)", Some(json!(""))),
            "loadtest-runner": input("string", "Runner label of the load-test job", Some(json!(RUNNER))),
            "regression-percent": input("number", "p95 above the baseline by more than this fails", Some(json!(REGRESSION_PERCENT))),
            "argocd-server-staging": input("string", "Staging Argo CD API host", None),
            "argocd-server-prod": input("string", "Production Argo CD API host", None),
            "cerverus-image": cerverus_image_input(ctx),
        }),
        json!({
            "PLATFORM_REPO_TOKEN": { "description": "Token that may push to the platform repository", "required": true },
            "ARGOCD_TOKEN_STAGING": { "description": "Argo CD API token (read) for staging: a secret of the `staging` environment", "required": false },
            "ARGOCD_TOKEN_PROD": { "description": "Argo CD API token (sync) for production: a secret of the `production` environment, so only the approved job can read it", "required": false },
            "SLACK_WEBHOOK_URL": { "description": "Slack incoming webhook", "required": true },
        }),
        Some(
            json!({ "commit": { "description": "The bump commit in the platform repository", "value": "${{ jobs.staging.outputs.commit }}" } }),
        ),
    );
    // Concurrency per job, not per run: a run-wide group would be held while the production job
    // waits for a reviewer (hours, days), and every later bump of the service, even to staging,
    // would queue behind that approval. Bumps of one service run one at a time (staging), so do
    // load tests (two at once would skew p95) and production syncs; none is cancelled halfway.
    wf["jobs"] = json!({
        "staging": {
            "name": "Bump the spec, rebuild the bundle (staging syncs)",
            "runs-on": RUNNER,
            "timeout-minutes": LONG,
            "environment": { "name": "staging" },
            "concurrency": job_concurrency("service-deploy-staging-${{ inputs.service }}"),
            "permissions": { "contents": "read", "packages": "read" },
            "outputs": { "commit": "${{ steps.bump.outputs.commit }}" },
            "steps": [
                platform_checkout(ctx, None)?,
                yq_step(ctx)?,
                ghcr_pull_login(ctx)?,
                {
                    "name": "Bump and rebuild",
                    "id": "bump",
                    "env": bump_env("deploy", "${{ inputs.version }}", "${{ inputs.digest }}"),
                    "run": BUMP_SH,
                },
            ],
        },
        "loadtest": {
            "name": "k6 against staging",
            "needs": "staging",
            "if": "inputs.loadtest-targets != ''",
            "runs-on": "${{ inputs.loadtest-runner }}",
            "timeout-minutes": LONG,
            // Where ARGOCD_TOKEN_STAGING lives.
            "environment": { "name": "staging" },
            "concurrency": job_concurrency("service-loadtest-staging-${{ inputs.service }}"),
            "permissions": { "contents": "read" },
            "steps": [
                checkout(ctx)?.with("with", json!({ "persist-credentials": false, "path": "service" })),
                platform_checkout(ctx, Some("${{ needs.staging.outputs.commit }}"))?,
                argocd_step("Wait until staging runs the bump", "${{ inputs.argocd-server-staging }}", "${{ secrets.ARGOCD_TOKEN_STAGING }}", "${{ needs.staging.outputs.commit }}", false),
                { "name": "k6", "uses": p.uses("grafana/setup-k6-action")?, "with": { "k6-version": K6_VERSION } },
                run(
                    "Load test and baseline check",
                    LOADTEST_SH,
                    json!({
                        "PLATFORM_DIR": "platform",
                        "SERVICE_DIR": "service",
                        "BUNDLE_DIR": BUNDLE_DIR,
                        "TARGETS": "${{ inputs.loadtest-targets }}",
                        "BASE_URL": "${{ inputs.loadtest-base-url }}",
                        "REGRESSION_PERCENT": "${{ inputs.regression-percent }}",
                    }),
                ),
                { "name": "k6 summaries (a measured baseline)", "if": "always()", "uses": p.uses("actions/upload-artifact")?, "with": { "name": "loadtest-${{ inputs.service }}", "path": "${{ runner.temp }}/loadtest/", "retention-days": 30, "if-no-files-found": "ignore" } },
            ],
        },
        "production": {
            "name": "Production (approved) syncs Argo CD",
            "needs": ["staging", "loadtest"],
            // Runs after a skipped load test (no HTTP target), never after a failed one.
            "if": "!cancelled() && needs.staging.result == 'success' && (needs.loadtest.result == 'success' || needs.loadtest.result == 'skipped')",
            "runs-on": RUNNER,
            "timeout-minutes": LONG,
            // The `production` environment has required reviewers: this job waits for one.
            "environment": { "name": "production" },
            "concurrency": job_concurrency("service-deploy-production-${{ inputs.service }}"),
            "permissions": { "contents": "read" },
            "steps": [
                platform_checkout(ctx, Some("${{ needs.staging.outputs.commit }}"))?,
                argocd_step("Sync production to the bump", "${{ inputs.argocd-server-prod }}", "${{ secrets.ARGOCD_TOKEN_PROD }}", "${{ needs.staging.outputs.commit }}", true),
            ],
        },
        "notify": {
            "name": "Slack",
            "needs": ["staging", "loadtest", "production"],
            "if": "always()",
            "runs-on": RUNNER,
            "timeout-minutes": SHORT,
            "permissions": {},
            "steps": [slack(ctx, "\"${{ inputs.service }} ${{ inputs.version }}: staging ${{ needs.staging.result }}, load test ${{ needs.loadtest.result }}, production ${{ needs.production.result }} (${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }})\"")?],
        },
    });
    Ok(wf)
}

fn service_rollback(ctx: &Ctx<'_>) -> Result<Value, RenderError> {
    let mut wf = workflow_call(
        "service-rollback",
        json!({
            "service": input("string", "Service name (messages, the deploy commits' subject)", None),
            "image-repository": input("string", "ECR repository of the image in the spec (every workload running it is set back)", None),
            "commit": input("string", "The deploy commit to roll back (service-deploy's `commit` output); empty: the service's last deploy on main", Some(json!(""))),
            "argocd-apps": input("string", "Argo CD Applications running the image, space-separated", None),
            "production": input("boolean", "Also sync production to the rollback (staging syncs by itself); production's reviewers approve it", Some(json!(false))),
            "argocd-server-prod": input("string", "Production Argo CD API host", None),
            "cerverus-image": cerverus_image_input(ctx),
        }),
        json!({
            "PLATFORM_REPO_TOKEN": { "description": "Token that may push to the platform repository", "required": true },
            "ARGOCD_TOKEN_PROD": { "description": "Argo CD API token (sync) for production: a secret of the `production` environment, so only the approved job can read it", "required": false },
            "SLACK_WEBHOOK_URL": { "description": "Slack incoming webhook", "required": true },
        }),
        Some(
            json!({ "commit": { "description": "The rollback commit in the platform repository", "value": "${{ jobs.restore.outputs.commit }}" } }),
        ),
    );
    // Its own group: a rollback never waits behind a deploy's pending production approval, and a
    // deploy queued after it never cancels it while it is pending. Against a concurrent bump the
    // push retry of bump.sh decides the order, as between two services' bumps.
    wf["concurrency"] = json!({ "group": "service-rollback-${{ inputs.service }}", "cancel-in-progress": false });
    let sync = argocd_step(
        "Sync production to the rollback",
        "${{ inputs.argocd-server-prod }}",
        "${{ secrets.ARGOCD_TOKEN_PROD }}",
        "${{ needs.restore.outputs.commit }}",
        true,
    );
    wf["jobs"] = json!({
        "restore": {
            "name": "Set the image before the deploy again, rebuild (staging syncs)",
            "runs-on": RUNNER,
            "timeout-minutes": LONG,
            "environment": { "name": "staging" },
            "permissions": { "contents": "read", "packages": "read" },
            "outputs": {
                "commit": "${{ steps.bump.outputs.commit }}",
                "bump": "${{ steps.previous.outputs.bump }}",
                "version": "${{ steps.previous.outputs.version }}",
            },
            "steps": [
                platform_checkout(ctx, None)?,
                yq_step(ctx)?,
                ghcr_pull_login(ctx)?,
                run(
                    "The image before the deploy",
                    PREVIOUS_SH,
                    json!({
                        "PLATFORM_DIR": "platform",
                        "SPEC": SPEC_PATH,
                        "SERVICE": "${{ inputs.service }}",
                        "REPOSITORY": "${{ inputs.image-repository }}",
                        "COMMIT": "${{ inputs.commit }}",
                    }),
                )
                .with("id", json!("previous")),
                {
                    "name": "Set it and rebuild",
                    "id": "bump",
                    "env": bump_env("rollback", "${{ steps.previous.outputs.version }}", "${{ steps.previous.outputs.digest }}"),
                    "run": BUMP_SH,
                },
            ],
        },
        "production": {
            "name": "Production (approved) syncs Argo CD",
            "needs": "restore",
            "if": "inputs.production",
            "runs-on": RUNNER,
            "timeout-minutes": LONG,
            // A production change: the same reviewers approve it.
            "environment": { "name": "production" },
            "permissions": { "contents": "read" },
            "steps": [platform_checkout(ctx, Some("${{ needs.restore.outputs.commit }}"))?, sync],
        },
        "notify": {
            "name": "Slack",
            "needs": ["restore", "production"],
            "if": "always()",
            "runs-on": RUNNER,
            "timeout-minutes": SHORT,
            "permissions": {},
            "steps": [slack(ctx, "\"${{ inputs.service }}: rollback of ${{ needs.restore.outputs.bump }} to ${{ needs.restore.outputs.version }}: ${{ needs.restore.result }}, production ${{ needs.production.result }} (${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }})\"")?],
        },
    });
    Ok(wf)
}

/// A service repository's caller: CI on every push and pull request, deploy from main, rollback
/// by hand. The image, its workloads, their Argo CD Applications and load-test targets come from
/// the spec.
fn example(ctx: &Ctx<'_>, service: &Service<'_>, targets: &[LoadTarget]) -> Value {
    let at = "main";
    let reusable = |name: &str| format!("{}/.github/workflows/{name}@{at}", ctx.platform_repo);
    let apps: Vec<String> = service.argocd_apps().into_iter().collect();
    let targets: Vec<&str> = targets.iter().map(|t| t.workload.as_str()).collect();
    let mut caller = json!({
        "name": service.name,
        "on": {
            "push": { "branches": ["main"] },
            "pull_request": {},
            // Rollback by hand, without inputs (a dispatch input could change what is built,
            // checkov CKV_GHA_7): it reverts the service's last bump, behind production's reviewers.
            "workflow_dispatch": {},
        },
        "permissions": {},
        // Pull requests: a newer push cancels the older run. Pushes to main and dispatches get a
        // group of their own run: the called workflows serialise what must not overlap, job by
        // job; a run-wide group here would hold every later push's CI (and a rollback) behind a
        // production approval.
        "concurrency": {
            "group": "${{ github.workflow }}-${{ github.event_name == 'pull_request' && github.ref || github.run_id }}",
            "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
        },
        "jobs": {
            "ci": {
                "if": "github.event_name != 'workflow_dispatch'",
                // A caller grants at most what the called jobs need: the publish job signs
                // (OIDC) and pushes packages.
                "permissions": { "contents": "read", "packages": "write", "id-token": "write", "pull-requests": "read" },
                "uses": reusable("service-ci.yml"),
                // PLATFORM_REPO_TOKEN reads the rendered Dockerfile from the platform repository.
                "secrets": "inherit",
                "with": {
                    "service": service.name,
                    "image-repository": service.repository,
                    "push": "${{ github.event_name == 'push' }}",
                    "aws-role-arn": "${{ vars.AWS_ECR_PUSH_ROLE_ARN }}",
                },
            },
            "deploy": {
                "needs": "ci",
                "if": "github.event_name == 'push' && needs.ci.outputs.digest != ''",
                // Pulls the cerverus image from GHCR to rebuild the bundle.
                "permissions": { "contents": "read", "packages": "read" },
                "uses": reusable("service-deploy.yml"),
                "with": {
                    "service": service.name,
                    "image-repository": service.repository,
                    "digest": "${{ needs.ci.outputs.digest }}",
                    "version": "${{ needs.ci.outputs.version }}",
                    "argocd-apps": apps.join(" "),
                    "loadtest-targets": targets.join(" "),
                    // A GitHub-hosted runner reaches staging only through a public URL; without
                    // one the load test needs a self-hosted runner inside staging.
                    "loadtest-base-url": "${{ vars.LOADTEST_BASE_URL }}",
                    "loadtest-runner": format!("${{{{ vars.LOADTEST_RUNNER || '{RUNNER}' }}}}"),
                    "argocd-server-staging": "${{ vars.ARGOCD_SERVER_STAGING }}",
                    "argocd-server-prod": "${{ vars.ARGOCD_SERVER_PROD }}",
                },
                // Inherited, not mapped: the Argo CD tokens are environment secrets, which only a
                // called job in that environment (production: after its approval) can read, and
                // GitHub resolves them there only for inherited secrets. A mapped repository
                // secret would be readable by any workflow of the repository, a pull request's
                // included, and production's reviewers could be bypassed with it.
                "secrets": "inherit",
            },
            "rollback": {
                "if": "github.event_name == 'workflow_dispatch'",
                "permissions": { "contents": "read", "packages": "read" },
                "uses": reusable("service-rollback.yml"),
                "with": {
                    "service": service.name,
                    "image-repository": service.repository,
                    "argocd-apps": apps.join(" "),
                    "production": true,
                    "argocd-server-prod": "${{ vars.ARGOCD_SERVER_PROD }}",
                },
                "secrets": "inherit",
            },
        },
    });
    if targets.is_empty()
        && let Some(with) = caller["jobs"]["deploy"]["with"].as_object_mut()
    {
        with.retain(|k, _| k != "loadtest-base-url" && k != "loadtest-runner");
    }
    caller
}

/// The k6 script of one target: its numbers (from the spec) as a JSON constant, then the static
/// test body.
fn k6_script(t: &LoadTarget) -> Result<String, RenderError> {
    let mut thresholds = Map::new();
    if let Some(p95) = t.latency_p95_ms {
        thresholds.insert("http_req_duration".into(), json!([format!("p(95)<{p95}")]));
    }
    let budget = error_budget(t.availability_percent);
    thresholds.insert("http_req_failed".into(), json!([format!("rate<{budget}")]));
    let rate = t.replicas * RATE_PER_REPLICA;
    let target = json!({
        "workload": t.workload,
        "inClusterUrl": format!("http://{}.{}.svc.cluster.local:{}", t.workload, t.namespace, t.port),
        "path": t.path,
        "ratePerSecond": rate,
        "duration": LOADTEST_DURATION,
        // Enough VUs for the rate at a latency of several times the SLO.
        "preAllocatedVUs": rate,
        "maxVUs": rate * 4,
        "thresholds": thresholds,
    });
    let config = serde_json::to_string_pretty(&target).map_err(|e| RenderError::Invalid(e.to_string()))?;
    Ok(format!(
        "// Generated by cerverus from the platform spec (workload `{}`: its SLO, port and readiness path).\n// Do not edit: change the spec and run `cerverus build`.\nconst TARGET = {config};\n\n{K6_JS}",
        t.workload
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_budget_is_exact() {
        assert_eq!(error_budget(99.95).to_string(), "0.0005");
        assert_eq!(error_budget(99.9).to_string(), "0.001");
        assert_eq!(error_budget(99.5).to_string(), "0.005");
    }

    #[test]
    fn pins_load_and_resolve_sub_actions() {
        let pins = Pins::load().expect("pins");
        let u = pins.uses("github/codeql-action/upload-sarif").expect("pinned");
        assert!(u.starts_with("github/codeql-action/upload-sarif@"));
        assert!(pins.uses("tj-actions/changed-files").is_err());
    }
}
