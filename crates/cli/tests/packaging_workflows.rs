//! The CI/CD workflows: the service pipelines `cerverus build` renders (`github/workflows/`,
//! `loadtest/`) and this repository's own `.github/workflows/`, held to one lint — top-level
//! least-privilege `permissions`, `concurrency`, `timeout-minutes` on every job, every action
//! pinned by a commit SHA listed in `data/github-actions.json`, `id-token: write` exactly where
//! OIDC is used, every `inputs.*`/`secrets.*` declared, no `${{ }}` pasted into a shell — and to
//! the spec: the images, their workloads, Argo CD Applications and load-test targets are the
//! spec's. Each lint rule has a negative case.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use cerverus_model::Platform;
use cerverus_spec::{Exposure, WorkloadKind};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `owner/repo` → (sha, version), from the data file.
fn pins() -> BTreeMap<String, (String, String)> {
    let text = fs::read_to_string(repo().join("data/github-actions.json")).expect("data/github-actions.json");
    let data: Value = serde_json::from_str(&text).expect("valid JSON");
    data["actions"]
        .as_object()
        .expect("actions")
        .iter()
        .map(|(k, v)| {
            let sha = v["sha"].as_str().expect("sha").to_string();
            let version = v["version"].as_str().expect("version").to_string();
            (k.clone(), (sha, version))
        })
        .collect()
}

/// The platform repository (the reusable workflows' home), from the GitOps module's URL.
fn platform_repo() -> String {
    cerverus_render::gitops::REPO_URL.trim_start_matches("https://github.com/").trim_end_matches(".git").to_string()
}

fn build() -> (Platform, BTreeMap<String, String>) {
    let (platform, bundle) = cerverus::build_default().expect("build");
    let files = bundle
        .iter()
        .filter(|(p, _)| p.starts_with("github/") || p.starts_with("loadtest/"))
        .map(|(p, b)| (p.to_string(), String::from_utf8(b.to_vec()).expect("utf8")))
        .collect();
    (platform, files)
}

fn rendered_workflows(files: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    files.iter().filter(|(p, _)| p.ends_with(".yml")).map(|(p, t)| (p.clone(), t.clone())).collect()
}

fn hand_written() -> BTreeMap<String, String> {
    let dir = repo().join(".github/workflows");
    let mut out = BTreeMap::new();
    for e in fs::read_dir(&dir).expect(".github/workflows") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            let name = format!(".github/workflows/{}", p.file_name().expect("name").to_string_lossy());
            out.insert(name, fs::read_to_string(&p).expect("read"));
        }
    }
    assert!(out.len() >= 4, "expected the repository's workflows, found {:?}", out.keys());
    out
}

fn parse(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("workflow YAML")
}

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every `<ctx>.<name>` reference in expressions of `text` (e.g. `inputs.service`).
fn references(text: &str, ctx: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for expr in text.split("${{").skip(1).filter_map(|s| s.split("}}").next()) {
        let needle = format!("{ctx}.");
        let mut rest = expr;
        while let Some(i) = rest.find(&needle) {
            let before = rest[..i].chars().last();
            let after = &rest[i + needle.len()..];
            let name: String =
                after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') && !name.is_empty() {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

/// Whether a job uses GitHub's OIDC token: AWS role assumption or Cosign keyless signing in its
/// steps, or a call to a reusable workflow one of whose jobs does.
fn needs_oidc(job: &Value, reusable: &BTreeMap<String, Value>) -> bool {
    if let Some(uses) = job["uses"].as_str() {
        let file = uses.split('@').next().unwrap_or_default().rsplit('/').next().unwrap_or_default();
        return reusable.get(file).is_some_and(|wf| {
            wf["jobs"].as_object().into_iter().flatten().any(|(_, j)| j["permissions"]["id-token"] == "write")
        });
    }
    job["steps"].as_array().into_iter().flatten().any(|s| {
        s["uses"].as_str().is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@"))
            || s["run"].as_str().is_some_and(|r| r.contains("cosign sign") || r.contains("cosign attest"))
    })
}

/// The lint every workflow must pass: each problem names the file.
fn lint(
    file: &str,
    text: &str,
    pins: &BTreeMap<String, (String, String)>,
    reusable: &BTreeMap<String, Value>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let wf: Value = match serde_saphyr::from_str(text) {
        Ok(v) => v,
        Err(e) => return vec![format!("{file}: not valid YAML: {e}")],
    };
    match &wf["permissions"] {
        Value::Null => problems.push(format!("{file}: no top-level permissions")),
        Value::String(s) if s.contains("write") => problems.push(format!("{file}: top-level permissions {s}")),
        Value::Object(m) if m.iter().any(|(k, v)| v != "read" || k == "id-token") => {
            problems.push(format!("{file}: top-level permissions grant more than read: {m:?}"));
        }
        _ => {}
    }
    // A group for the whole run, or one on every job that deploys (runs in an environment): the
    // service deploy serialises job by job, so a production approval holds no other job.
    let env_jobs: Vec<&Value> =
        wf["jobs"].as_object().into_iter().flatten().map(|(_, j)| j).filter(|j| !j["environment"].is_null()).collect();
    if wf["concurrency"].is_null() && (env_jobs.is_empty() || env_jobs.iter().any(|j| j["concurrency"].is_null())) {
        problems.push(format!("{file}: no concurrency group"));
    }
    let on = &wf["on"];
    let call = &on["workflow_call"];
    // Inputs and secrets referenced must be declared (workflow_call, or workflow_dispatch).
    let mut declared: BTreeSet<String> =
        call["inputs"].as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
    declared.extend(on["workflow_dispatch"]["inputs"].as_object().into_iter().flatten().map(|(k, _)| k.clone()));
    for name in references(text, "inputs") {
        if !declared.contains(&name) {
            problems.push(format!("{file}: inputs.{name} is used but not declared"));
        }
    }
    if !call.is_null() {
        let secrets: BTreeSet<String> =
            call["secrets"].as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
        for name in references(text, "secrets") {
            if name != "GITHUB_TOKEN" && !secrets.contains(&name) {
                problems.push(format!("{file}: secrets.{name} is used but not declared"));
            }
        }
    }
    let jobs = wf["jobs"].as_object().cloned().unwrap_or_default();
    if jobs.is_empty() {
        problems.push(format!("{file}: no jobs"));
    }
    for (name, job) in &jobs {
        let calls = job["uses"].as_str();
        // A job that calls a reusable workflow may not set timeout-minutes (the called jobs do).
        if calls.is_none() && job["timeout-minutes"].as_u64().is_none_or(|m| m == 0) {
            problems.push(format!("{file}: job {name} has no timeout-minutes"));
        }
        let oidc = job["permissions"]["id-token"] == "write";
        let needs = needs_oidc(job, reusable);
        if oidc && !needs {
            problems.push(format!("{file}: job {name} has id-token: write but uses no OIDC"));
        }
        if needs && !oidc {
            problems.push(format!("{file}: job {name} uses OIDC without id-token: write"));
        }
        if let Some(uses) = calls {
            let (path, reference) = uses.split_once('@').unwrap_or((uses, ""));
            let first_party = path.starts_with(&format!("{}/.github/workflows/", platform_repo()))
                && reusable.contains_key(path.rsplit('/').next().unwrap_or_default());
            // A workflow of the same repository at the same commit (`./.github/workflows/…`).
            let local = uses.starts_with("./.github/workflows/")
                && reusable.contains_key(uses.rsplit('/').next().unwrap_or_default());
            // The platform's own reusable workflows follow its main branch (the version the
            // GitOps tree is at); anything else must be pinned like an action.
            if !(pinned(uses, pins) || local || (first_party && reference == "main")) {
                problems.push(format!("{file}: job {name} calls `{uses}`, not pinned"));
            }
        }
        for step in job["steps"].as_array().into_iter().flatten() {
            if let Some(uses) = step["uses"].as_str()
                && !pinned(uses, pins)
            {
                problems.push(format!(
                    "{file}: job {name}: `{uses}` is not pinned to the commit in data/github-actions.json"
                ));
            }
            if let Some(run) = step["run"].as_str()
                && run.contains("${{")
            {
                problems.push(format!("{file}: job {name}: `${{{{ }}}}` inside run: (pass it through env:)"));
            }
        }
    }
    // The release tag next to each pin, as the data file records it.
    for line in text.lines() {
        if let Some((_, r)) = line.split_once("uses: ")
            && let Some((action, sha)) = r.split_once('@')
            && is_sha(&sha[..sha.len().min(40)])
        {
            let repo: String = action.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
            if let Some((_, version)) = pins.get(&repo)
                && !line.ends_with(&format!("# {version}"))
            {
                problems.push(format!("{file}: `{}` lacks its `# {version}` comment", line.trim()));
            }
        }
    }
    problems
}

/// `owner/repo[/path]@<sha>` with the sha the data file gives `owner/repo`.
fn pinned(uses: &str, pins: &BTreeMap<String, (String, String)>) -> bool {
    let Some((action, sha)) = uses.split_once('@') else { return false };
    let repo: String = action.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
    is_sha(sha) && pins.get(&repo).is_some_and(|(s, _)| s == sha)
}

/// The reusable workflows by file name, parsed: the rendered service pipelines and the
/// repository's own called workflows (release.yml).
fn reusable(files: &BTreeMap<String, String>) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = files
        .iter()
        .filter(|(p, _)| p.starts_with("github/workflows/service-"))
        .map(|(p, t)| (p.rsplit('/').next().expect("name").to_string(), parse(t)))
        .collect();
    for (p, t) in hand_written() {
        let wf = parse(&t);
        if !wf["on"]["workflow_call"].is_null() {
            out.entry(p.rsplit('/').next().expect("name").to_string()).or_insert(wf);
        }
    }
    out
}

#[test]
fn every_workflow_passes_the_lint() {
    let (_, files) = build();
    let pins = pins();
    let reusable = reusable(&files);
    assert_eq!(
        reusable.keys().map(String::as_str).collect::<Vec<_>>(),
        ["release.yml", "service-ci.yml", "service-deploy.yml", "service-rollback.yml"]
    );
    let mut all = rendered_workflows(&files);
    all.extend(hand_written());
    let problems: Vec<String> = all.iter().flat_map(|(f, t)| lint(f, t, &pins, &reusable)).collect();
    assert!(problems.is_empty(), "workflow lint:\n{}", problems.join("\n"));
}

#[test]
fn the_lint_rejects_each_mutation() {
    let (_, files) = build();
    let pins = pins();
    let reusable = reusable(&files);
    let ci = &files["github/workflows/service-ci.yml"];
    let repo_ci = &hand_written()[".github/workflows/ci.yml"];
    let deploy = &files["github/workflows/service-deploy.yml"];
    let (checkout_sha, _) = &pins["actions/checkout"];
    let cases: Vec<(&str, &String, String, &str)> = vec![
        ("no top-level permissions", ci, ci.replacen("\npermissions: {}\n", "\n", 1), "no top-level permissions"),
        ("write-all", ci, ci.replacen("\npermissions: {}\n", "\npermissions: write-all\n", 1), "top-level permissions write-all"),
        ("no concurrency", repo_ci, repo_ci.replacen(
                "concurrency:\n  group: ci-${{ github.ref }}\n  cancel-in-progress: ${{ github.event_name == 'pull_request' }}\n",
                "",
                1,
            ), "no concurrency group"),
        (
            "a deploy job without its group",
            deploy,
            deploy.replacen(
                "    concurrency:\n      group: service-deploy-production-${{ inputs.service }}\n      cancel-in-progress: false\n",
                "",
                1,
            ),
            "no concurrency group",
        ),
        ("no timeout", ci, ci.replacen("    timeout-minutes: 10\n", "", 1), "has no timeout-minutes"),
        ("moved tag", ci, ci.replacen(&format!("actions/checkout@{checkout_sha}"), "actions/checkout@v4", 1), "`actions/checkout@v4` is not pinned"),
        ("other sha", ci, ci.replacen(checkout_sha, "0000000000000000000000000000000000000000", 1), "is not pinned to the commit"),
        (
            "compromised action",
            repo_ci,
            repo_ci.replacen(
                "      - run: cargo fmt --all -- --check\n",
                "      - uses: tj-actions/changed-files@2f7c5bfce28377bc069a65ba478de0a74aa0ca32\n      - run: cargo fmt --all -- --check\n",
                1,
            ),
            "tj-actions/changed-files",
        ),
        (
            "id-token without OIDC",
            ci,
            ci.replacen(
                "      contents: read\n      pull-requests: read\n",
                "      contents: read\n      pull-requests: read\n      id-token: write\n",
                1,
            ),
            "has id-token: write but uses no OIDC",
        ),
        ("OIDC without id-token", ci, ci.replacen("      id-token: write\n", "", 1), "uses OIDC without id-token: write"),
        ("undeclared input", ci, ci.replacen("${{ inputs.python-version }}", "${{ inputs.python }}", 1), "inputs.python is used but not declared"),
        (
            "expression in run",
            ci,
            ci.replacen("--cov-fail-under=\"$THRESHOLD\"", "--cov-fail-under=${{ inputs.coverage-threshold }}", 1),
            "inside run:",
        ),
        ("missing version comment", repo_ci, repo_ci.replacen(" # v4.2.2", "", 1), "lacks its `# v4.2.2` comment"),
    ];
    for (what, original, mutated, expected) in cases {
        assert_ne!(&mutated, original, "{what}: the mutation did not apply");
        let problems = lint(what, &mutated, &pins, &reusable);
        assert!(problems.iter().any(|p| p.contains(expected)), "{what}: expected `{expected}`, got {problems:?}");
    }
    // And the unmutated texts pass (the failures above are the mutations').
    assert!(lint("ci", ci, &pins, &reusable).is_empty());
    assert!(lint("repo ci", repo_ci, &pins, &reusable).is_empty());
    assert!(lint("deploy", deploy, &pins, &reusable).is_empty());
}

#[test]
fn the_pins_are_commits_and_exclude_compromised_actions() {
    let pins = pins();
    assert!(pins.len() >= 15);
    for (action, (sha, version)) in &pins {
        assert!(is_sha(sha), "{action}: {sha}");
        assert!(version.starts_with('v'), "{action}: {version}");
    }
    assert!(!pins.contains_key("tj-actions/changed-files"), "compromised in 2025; dorny/paths-filter instead");
}

#[test]
fn the_reusable_workflows_are_committed_where_github_runs_them() {
    let (_, files) = build();
    let committed = hand_written();
    for name in cerverus_render::packaging::workflows::REUSABLE {
        let rendered = &files[&format!("github/workflows/{name}")];
        let copy = committed.get(&format!(".github/workflows/{name}"));
        assert_eq!(
            copy,
            Some(rendered),
            ".github/workflows/{name} differs from what the spec builds: \
             `cerverus build --out deploy && cp deploy/github/workflows/{name} .github/workflows/`"
        );
    }
}

/// What the spec says about the images: repository → (workloads, their namespaces).
fn spec_images(platform: &Platform) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for env in &platform.environments {
        for w in &env.workloads {
            let e = out.entry(w.spec.image.repository.clone()).or_default();
            e.0.insert(w.spec.name.clone());
            e.1.insert(w.spec.namespace.clone());
        }
    }
    out
}

#[test]
fn the_callers_are_the_specs_images() {
    let (platform, files) = build();
    let images = spec_images(&platform);
    let examples: BTreeMap<String, Value> = files
        .iter()
        .filter(|(p, _)| p.starts_with("github/workflows/examples/"))
        .map(|(p, t)| (p.clone(), parse(t)))
        .collect();
    assert_eq!(examples.len(), images.len(), "one caller per image: {:?}", examples.keys());
    let mut seen = BTreeSet::new();
    for (path, wf) in &examples {
        let ci = &wf["jobs"]["ci"]["with"];
        let repository = ci["image-repository"].as_str().expect("image-repository");
        let (workloads, namespaces) =
            images.get(repository).unwrap_or_else(|| panic!("{path}: {repository} is not in the spec"));
        assert!(path.ends_with(&format!("/{}.yml", repository.rsplit('/').next().expect("name"))));
        seen.insert(repository.to_string());
        let deploy = &wf["jobs"]["deploy"]["with"];
        assert_eq!(deploy["image-repository"], repository);
        let apps: BTreeSet<String> =
            deploy["argocd-apps"].as_str().expect("apps").split(' ').map(str::to_string).collect();
        let want: BTreeSet<String> = namespaces.iter().map(|n| format!("manifests-{n}")).collect();
        assert_eq!(apps, want, "{path}: the Argo CD Applications of its workloads' namespaces");
        // Load-test targets: its reachable HTTP workloads with an SLO.
        let targets: BTreeSet<String> = deploy["loadtest-targets"]
            .as_str()
            .expect("targets")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let want: BTreeSet<String> = workloads
            .iter()
            .filter(|w| {
                let w = platform.environments.iter().find_map(|e| e.workload(w)).expect("workload");
                matches!(w.spec.kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet)
                    && w.spec.exposure != Exposure::None
                    && w.spec.slo.is_some()
                    && w.serving_http_ports().next().is_some()
            })
            .cloned()
            .collect();
        assert_eq!(targets, want, "{path}: load-test targets");
        // A target gets the staging URL and runner from the repository's variables (a
        // GitHub-hosted runner cannot reach an in-cluster address); no target, no such inputs.
        assert_eq!(deploy["loadtest-base-url"].is_string(), !targets.is_empty(), "{path}: loadtest-base-url");
        assert_eq!(deploy["loadtest-runner"].is_string(), !targets.is_empty(), "{path}: loadtest-runner");
        let rollback = &wf["jobs"]["rollback"]["with"];
        assert_eq!(rollback["image-repository"], repository, "{path}: the rollback sets this image");
        for t in &targets {
            assert!(files.contains_key(&format!("loadtest/{t}.js")), "loadtest/{t}.js");
        }
    }
    assert_eq!(seen, images.keys().cloned().collect::<BTreeSet<_>>());
}

#[test]
fn the_load_tests_hold_the_slos() {
    let (platform, files) = build();
    let baseline: Value = serde_json::from_str(&files["loadtest/baseline.json"]).expect("baseline JSON");
    let scripts: Vec<(&String, &String)> = files.iter().filter(|(p, _)| p.ends_with(".js")).collect();
    assert!(!scripts.is_empty());
    assert_eq!(baseline["services"].as_object().expect("services").len(), scripts.len());
    for (path, text) in scripts {
        let json = text.split_once("const TARGET = ").and_then(|(_, r)| r.split_once("};")).expect("TARGET").0;
        let target: Value = serde_json::from_str(&format!("{json}}}")).expect("TARGET is JSON");
        let name = target["workload"].as_str().expect("workload");
        let w = platform.environments.iter().find_map(|e| e.workload(name)).expect("a spec workload");
        let slo = w.spec.slo.as_ref().expect("slo");
        let budget = (100.0 - slo.availability_percent) / 100.0;
        let rate = target["thresholds"]["http_req_failed"][0].as_str().expect("rate");
        let got: f64 = rate.trim_start_matches("rate<").parse().expect("number");
        assert!((got - budget).abs() < 1e-9, "{path}: {rate} vs budget {budget}");
        assert!((baseline["services"][name]["errorRate"].as_f64().expect("errorRate") - budget).abs() < 1e-9);
        match slo.latency_p95_ms {
            Some(p95) => {
                assert_eq!(target["thresholds"]["http_req_duration"][0], format!("p(95)<{p95}"), "{path}");
                assert_eq!(baseline["services"][name]["p95Ms"], p95);
            }
            None => assert!(target["thresholds"]["http_req_duration"].is_null()),
        }
        let port = w.serving_http_ports().next().expect("http port").port;
        assert_eq!(
            target["inClusterUrl"],
            format!("http://{name}.{}.svc.cluster.local:{port}", w.spec.namespace),
            "{path}"
        );
    }
}

#[test]
fn the_service_pipeline_does_what_the_issue_asks() {
    let (platform, files) = build();
    let ci = parse(&files["github/workflows/service-ci.yml"]);
    let ci_text = &files["github/workflows/service-ci.yml"];
    let jobs = &ci["jobs"];
    assert!(ci_text.contains("--cov-fail-under=\"$THRESHOLD\""));
    // Coverage of the package the repository ships, not of its tests.
    assert!(ci_text.contains("python -m pytest --cov=\"$SOURCE_DIR\" "), "coverage scoped to the source");
    assert_eq!(ci["on"]["workflow_call"]["inputs"]["coverage-threshold"]["default"], 80);
    assert!(ci_text.contains("bandit --recursive"));
    let platforms: BTreeSet<&str> = jobs["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix")
        .iter()
        .filter_map(|m| m["platform"].as_str())
        .collect();
    assert_eq!(platforms, BTreeSet::from(["linux/amd64", "linux/arm64"]));
    let build = &jobs["build"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "build")
        .expect("build step")["with"];
    assert!(build["cache-from"].as_str().expect("cache-from").starts_with("type=gha"));
    assert!(build["cache-to"].as_str().expect("cache-to").starts_with("type=gha,mode=max"));
    let publish = jobs["publish"]["steps"].as_array().expect("steps");
    // Every platform built is scanned (given an index, Trivy scans one platform only).
    let mut scanned = BTreeSet::new();
    for trivy in
        publish.iter().filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("aquasecurity/trivy-action@")))
    {
        assert_eq!(trivy["with"]["severity"], "CRITICAL");
        assert_eq!(trivy["with"]["exit-code"], "1");
        assert_eq!(trivy["with"]["image-ref"], "${{ env.GHCR_IMAGE }}@${{ steps.index.outputs.digest }}", "by digest");
        scanned.insert(trivy["env"]["TRIVY_PLATFORM"].as_str().expect("TRIVY_PLATFORM"));
    }
    assert_eq!(scanned, platforms, "a Trivy scan per platform built");
    // By default the image is built from the Dockerfile the spec renders (the platform bundle's),
    // with its ignore file beside it, and labelled with the version the index is tagged with.
    assert_eq!(ci["on"]["workflow_call"]["inputs"]["dockerfile"]["default"], "");
    let build_steps = jobs["build"]["steps"].as_array().expect("steps");
    let rendered = build_steps.iter().find(|s| s["if"] == "inputs.dockerfile == ''").expect("platform checkout");
    assert_eq!(rendered["with"]["repository"], platform_repo());
    assert_eq!(rendered["with"]["sparse-checkout"], "deploy/docker/${{ inputs.service }}");
    let dockerfile = build_steps.iter().find(|s| s["id"] == "dockerfile").expect("dockerfile step");
    let script = dockerfile["run"].as_str().expect("run");
    assert!(script.contains("cp \"$RENDERED_DIR/.dockerignore\" \"$file.dockerignore\""));
    assert!(script.contains("echo \"version=sha-${GITHUB_SHA::12}\""));
    assert!(ci_text.contains("version=\"sha-${GITHUB_SHA::12}\""), "the publish job tags the same version");
    assert_eq!(build["file"], "${{ steps.dockerfile.outputs.file }}");
    assert!(
        build["build-args"].as_str().expect("build-args").contains("VERSION=${{ steps.dockerfile.outputs.version }}")
    );
    let (_, bundle) = cerverus::build_default().expect("build");
    for service in cerverus_render::packaging::workflows::services(&platform.environments.iter().collect::<Vec<_>>()) {
        for f in ["Dockerfile", ".dockerignore"] {
            assert!(
                bundle.get(&format!("docker/{}/{f}", service.name)).is_some(),
                "docker/{}/{f} is rendered",
                service.name
            );
        }
    }
    // paths-filter fetches the commit before a push with the persisted (read-only) token.
    let changes = jobs["changes"]["steps"].as_array().expect("steps");
    assert_eq!(changes[0]["with"]["persist-credentials"], true);
    assert_eq!(jobs["changes"]["permissions"], serde_json::json!({ "contents": "read", "pull-requests": "read" }));
    assert!(ci_text.contains("cosign sign --yes") && ci_text.contains("cosign attest --yes --type spdxjson"));
    assert!(ci_text.contains("dorny/paths-filter@") && !ci_text.contains("tj-actions"));
    let registries: BTreeSet<&str> = platform.environments.iter().map(|e| e.registry.as_str()).collect();
    assert_eq!(registries.len(), 1);
    let registry = registries.into_iter().next().expect("registry");
    assert_eq!(jobs["publish"]["env"]["ECR_IMAGE"], format!("{registry}/${{{{ inputs.image-repository }}}}"));

    let deploy = parse(&files["github/workflows/service-deploy.yml"]);
    assert_eq!(deploy["jobs"]["staging"]["environment"]["name"], "staging");
    assert_eq!(deploy["jobs"]["production"]["environment"]["name"], "production");
    assert!(deploy["jobs"]["production"]["needs"].as_array().expect("needs").contains(&Value::from("loadtest")));
    let deploy_text = &files["github/workflows/service-deploy.yml"];
    assert!(deploy_text.contains("slackapi/slack-github-action@"));
    assert!(deploy_text.contains("go install \"github.com/mikefarah/yq/v4@${YQ_VERSION}\""));
    assert!(deploy_text.contains("SPEC: platform/cerverus.yaml"));
    let rollback_text = &files["github/workflows/service-rollback.yml"];
    // The rollback sets the image the deploy replaced through the spec and a rebuild (the same
    // script as a deploy), never a `git revert` of rendered files.
    assert!(!rollback_text.lines().any(|l| l.trim_start().starts_with("git revert")), "a git revert command");
    let rollback = parse(rollback_text);
    let restore = rollback["jobs"]["restore"]["steps"].as_array().expect("steps");
    let bump = restore.iter().find(|s| s["id"] == "bump").expect("bump step");
    assert_eq!(bump["env"]["KIND"], "rollback");
    assert_eq!(bump["env"]["DIGEST"], "${{ steps.previous.outputs.digest }}");
    assert!(restore.iter().any(|s| s["id"] == "previous"));
    assert_eq!(rollback["jobs"]["production"]["environment"]["name"], "production");
    assert_eq!(rollback["jobs"]["production"]["if"], "inputs.production");
    let deploy_bump =
        deploy["jobs"]["staging"]["steps"].as_array().expect("steps").iter().find(|s| s["id"] == "bump").expect("bump");
    assert_eq!(deploy_bump["run"], bump["run"], "deploy and rollback run one bump script");
    assert_eq!(deploy_bump["env"]["KIND"], "deploy");
}

/// Concurrency as GitHub applies it: a group is held by a running job (a job waiting for a
/// reviewer included) and keeps one pending run, cancelling an older pending one.
#[test]
fn concurrency_never_queues_a_deploy_behind_an_approval() {
    let (_, files) = build();
    let deploy = parse(&files["github/workflows/service-deploy.yml"]);
    // No run-wide group: it would be held while production waits for its reviewer.
    assert!(deploy["concurrency"].is_null(), "service-deploy: a run-wide concurrency group");
    let mut groups = BTreeSet::new();
    for job in ["staging", "loadtest", "production"] {
        let c = &deploy["jobs"][job]["concurrency"];
        assert_eq!(c["cancel-in-progress"], false, "{job}: never cancelled halfway");
        let group = c["group"].as_str().expect("group");
        assert!(group.contains("${{ inputs.service }}"), "{job}: per service");
        groups.insert(group.to_string());
    }
    assert_eq!(groups.len(), 3, "staging, load test and production each have their own group");
    // A rollback neither waits behind a deploy's approval nor is cancelled by a later deploy.
    let rollback = parse(&files["github/workflows/service-rollback.yml"]);
    let group = rollback["concurrency"]["group"].as_str().expect("rollback group");
    assert!(!groups.contains(group), "the rollback shares a deploy group: {group}");
    assert_eq!(rollback["concurrency"]["cancel-in-progress"], false);
    // CI cancels only pull requests' older runs, never a publish on main.
    let ci = parse(&files["github/workflows/service-ci.yml"]);
    assert_eq!(ci["concurrency"]["cancel-in-progress"], "${{ github.event_name == 'pull_request' }}");
    // The callers: one group per pull request, one per run otherwise.
    for (path, text) in files.iter().filter(|(p, _)| p.starts_with("github/workflows/examples/")) {
        let c = &parse(text)["concurrency"];
        assert_eq!(c["cancel-in-progress"], "${{ github.event_name == 'pull_request' }}", "{path}");
        let group = c["group"].as_str().expect("group");
        assert!(group.contains("github.run_id") && group.contains("github.ref"), "{path}: {group}");
    }
}

/// The service repositories' OIDC tokens meet the bootstrap's image-push role: the job that
/// assumes it runs on pushes to main in no GitHub environment (subject
/// `repo:<owner>/<name>:ref:refs/heads/main`, what the role trusts); a job in an environment
/// would present `repo:…:environment:<name>` and be refused.
#[test]
fn the_push_role_trusts_the_subject_the_publish_job_presents() {
    let (_, bundle) = cerverus::build_default().expect("build");
    let text = |p: &str| String::from_utf8(bundle.get(p).unwrap_or_else(|| panic!("{p}")).to_vec()).expect("utf8");
    let bootstrap = text("terraform/bootstrap/main.tf");
    assert!(bootstrap.contains("\"repo:${r}:ref:refs/heads/main\""), "the push role's trust changed");
    let ci = parse(&text("github/workflows/service-ci.yml"));
    let mut assuming = Vec::new();
    for (name, job) in ci["jobs"].as_object().expect("jobs") {
        let assumes = job["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@")));
        if assumes {
            assert!(job["environment"].is_null(), "{name}: an environment changes the OIDC subject");
            assert_eq!(job["if"], "inputs.push && needs.changes.outputs.build == 'true'", "{name}");
            assuming.push(name.clone());
        }
    }
    assert_eq!(assuming, ["publish"]);
    for (path, _) in bundle.iter().filter(|(p, _)| p.starts_with("github/workflows/examples/")) {
        let wf = parse(&text(path));
        assert_eq!(wf["on"]["push"]["branches"], serde_json::json!(["main"]), "{path}");
        assert_eq!(wf["jobs"]["ci"]["with"]["push"], "${{ github.event_name == 'push' }}", "{path}");
        assert_eq!(wf["jobs"]["ci"]["with"]["aws-role-arn"], "${{ vars.AWS_ECR_PUSH_ROLE_ARN }}", "{path}");
    }
    let readme = text("github/README.md");
    assert!(readme.contains("`AWS_ECR_PUSH_ROLE_ARN`, the bootstrap Terraform's output `ci_image_push_role_arn`"));
    assert!(readme.contains("repo:<owner>/<this repository>:ref:refs/heads/main"));
    let outputs = text("terraform/bootstrap/outputs.tf");
    assert!(outputs.contains("output \"ci_image_push_role_arn\""));
}

#[test]
fn a_one_environment_build_writes_the_same_pipeline() {
    let (_, full) = build();
    let (name, loaded) = cerverus::load_spec(None).expect("spec");
    for env in ["dev", "prod"] {
        let (_, bundle) = cerverus::build_bundle(&name, &loaded, &[env.to_string()]).expect("build");
        let scoped: BTreeMap<String, String> = bundle
            .iter()
            .filter(|(p, _)| p.starts_with("github/") || p.starts_with("loadtest/"))
            .map(|(p, b)| (p.to_string(), String::from_utf8(b.to_vec()).expect("utf8")))
            .collect();
        assert_eq!(scoped, full, "--env {env}");
    }
}

/// Jobs reading an environment secret (`ARGOCD_TOKEN_<ENV>`) outside that environment: there it
/// resolves empty, or, as a repository secret, would let any job sync without the reviewers.
fn environment_secret_problems(file: &str, wf: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, job) in wf["jobs"].as_object().into_iter().flatten() {
        let text = serde_json::to_string(job).expect("json");
        for (secret, env) in [("ARGOCD_TOKEN_PROD", "production"), ("ARGOCD_TOKEN_STAGING", "staging")] {
            if text.contains(&format!("secrets.{secret}")) && job["environment"]["name"] != env {
                problems.push(format!("{file}: job {name} reads {secret} outside the `{env}` environment"));
            }
        }
    }
    problems
}

#[test]
fn the_argo_cd_tokens_are_read_only_in_their_environments() {
    let (_, files) = build();
    for name in ["service-deploy.yml", "service-rollback.yml"] {
        let wf = parse(&files[&format!("github/workflows/{name}")]);
        assert!(environment_secret_problems(name, &wf).is_empty(), "{:?}", environment_secret_problems(name, &wf));
        let declared = &wf["on"]["workflow_call"]["secrets"];
        assert_eq!(declared["ARGOCD_TOKEN_PROD"]["required"], false, "{name}: an environment secret, not the caller's");
    }
    // Negative: the production sync moved out of its environment is named.
    let mut deploy = parse(&files["github/workflows/service-deploy.yml"]);
    deploy["jobs"]["production"].as_object_mut().expect("job").remove("environment");
    let problems = environment_secret_problems("deploy", &deploy);
    assert!(problems.iter().any(|p| p.contains("job production reads ARGOCD_TOKEN_PROD")), "{problems:?}");
    // The callers inherit (environment secrets resolve in called jobs only for inherited secrets).
    for (path, text) in files.iter().filter(|(p, _)| p.starts_with("github/workflows/examples/")) {
        let wf = parse(text);
        for job in ["deploy", "rollback"] {
            assert_eq!(wf["jobs"][job]["secrets"], "inherit", "{path}: {job}");
        }
    }
}

/// This repository publishes (the chart, the image the service pipelines render with) only from
/// a commit whose checks passed: release.yml runs only when ci.yml calls it, after them.
#[test]
fn releases_wait_for_the_checks() {
    let workflows = hand_written();
    let release = parse(&workflows[".github/workflows/release.yml"]);
    let triggers: Vec<&String> = release["on"].as_object().expect("on").keys().collect();
    assert_eq!(triggers, ["workflow_call"], "release.yml runs only when called");
    let ci = parse(&workflows[".github/workflows/ci.yml"]);
    let callers: Vec<(&String, &Value)> = ci["jobs"]
        .as_object()
        .expect("jobs")
        .iter()
        .filter(|(_, j)| j["uses"] == "./.github/workflows/release.yml")
        .collect();
    assert_eq!(callers.len(), 1);
    let (_, job) = callers[0];
    let needs: BTreeSet<&str> = job["needs"].as_array().expect("needs").iter().filter_map(Value::as_str).collect();
    let checks: BTreeSet<&str> = ci["jobs"]
        .as_object()
        .expect("jobs")
        .iter()
        .filter(|(_, j)| j["uses"].is_null())
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(needs, checks, "the release needs every check of ci.yml");
    assert_eq!(job["if"], "github.event_name == 'push'");
    // A published chart version is never replaced: main publishes pre-releases, a tag its
    // version once.
    let chart = release["jobs"]["chart"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find_map(|s| s["run"].as_str().filter(|r| r.contains("helm push")))
        .expect("helm push step");
    assert!(chart.contains("version=\"$version-main.$GITHUB_RUN_NUMBER\""));
    assert!(chart.contains("if helm show chart \"oci://ghcr.io/$owner/charts/$name\" --version \"$version\""));
    assert!(chart.contains("helm package \"$CHART\" --version \"$version\""));
}
