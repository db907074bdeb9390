//! GitOps (`gitops/<env>/`): the app-of-apps installs every chart and every rendered manifest,
//! once each, in an order where nothing is applied before the chart that provides its CRD.
//!
//! The Applications are read back from the bundle and evaluated the way Argo CD evaluates them:
//! directory sources by walking the bundle with `recurse`/`include`/`exclude` (gobwas/glob
//! semantics, matched against the path relative to the source path — `matcher` below), charts by
//! their multi-source spec. Each invariant also runs on a broken variant that it must reject.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use cerverus_render::addons::CHARTS;
use serde_json::Value;

/// Where the bundle sits in the repository (Application paths start with it).
const BUNDLE_DIR: &str = "deploy/";

struct Built {
    platform: cerverus_model::Platform,
    /// Every path of the bundle.
    paths: BTreeSet<String>,
    /// Parsed YAML files under `kubernetes/` and `gitops/`.
    docs: BTreeMap<String, Value>,
    /// Parsed values files under `helm/addons/`.
    values: BTreeMap<String, Value>,
}

fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let (platform, bundle) = cerverus::build_default().expect("the default spec builds");
        let mut docs = BTreeMap::new();
        let mut values = BTreeMap::new();
        for (p, bytes) in bundle.iter().filter(|(p, _)| p.ends_with(".yaml")) {
            let parse = || -> Value {
                serde_saphyr::from_str(std::str::from_utf8(bytes).expect("utf-8")).expect("yaml parses")
            };
            if p.starts_with("kubernetes/") || p.starts_with("gitops/") {
                docs.insert(p.to_string(), parse());
            } else if p.starts_with("helm/addons/") && p.ends_with(".values.yaml") {
                values.insert(p.to_string(), parse());
            }
        }
        Built { platform, paths: bundle.paths().map(str::to_string).collect(), docs, values }
    })
}

fn envs() -> Vec<&'static cerverus_model::Env> {
    built().platform.environments.iter().collect()
}

/// Argo CD's glob matching (github.com/gobwas/glob compiled without separators, as
/// `util/glob.Match(pattern, relPath)` does for `directory.include`/`exclude`): `*` matches any
/// run of characters including `/`, `?` one character, `[…]`/`[!…]` a class, `{a,b}` either.
mod matcher {
    /// Expand the first top-level `{…}` into its alternatives, recursively.
    fn expand(pattern: &str) -> Vec<String> {
        let chars: Vec<char> = pattern.chars().collect();
        let Some(open) = chars.iter().position(|&c| c == '{') else { return vec![pattern.to_string()] };
        let mut depth = 0;
        let mut parts = Vec::new();
        let mut start = open + 1;
        for (i, &c) in chars.iter().enumerate().skip(open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        parts.push(chars[start..i].iter().collect::<String>());
                        let prefix: String = chars[..open].iter().collect();
                        let suffix: String = chars[i + 1..].iter().collect();
                        return parts.iter().flat_map(|p| expand(&format!("{prefix}{p}{suffix}"))).collect();
                    }
                }
                ',' if depth == 1 => {
                    parts.push(chars[start..i].iter().collect::<String>());
                    start = i + 1;
                }
                _ => {}
            }
        }
        vec![pattern.to_string()]
    }

    /// One class `[…]` at `p[0]`: (matches `c`, length of the class in the pattern).
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        let end = p.iter().position(|&x| x == ']')?;
        let body = &p[1..end];
        let (negated, body) = match body.first() {
            Some('!') => (true, &body[1..]),
            _ => (false, body),
        };
        let mut hit = false;
        let mut i = 0;
        while i < body.len() {
            if i + 2 < body.len() && body[i + 1] == '-' {
                hit |= body[i] <= c && c <= body[i + 2];
                i += 3;
            } else {
                hit |= body[i] == c;
                i += 1;
            }
        }
        Some((hit != negated, end + 1))
    }

    fn simple(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|k| simple(&p[1..], &t[k..])),
            Some('?') => !t.is_empty() && simple(&p[1..], &t[1..]),
            Some('[') => match (t.first(), class(p, t.first().copied().unwrap_or('\0'))) {
                (Some(_), Some((true, len))) => simple(&p[len..], &t[1..]),
                _ => false,
            },
            Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && simple(&p[2..], &t[1..]),
            Some(c) => t.first() == Some(c) && simple(&p[1..], &t[1..]),
        }
    }

    pub fn matches(pattern: &str, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        expand(pattern).iter().any(|alt| simple(&alt.chars().collect::<Vec<_>>(), &t))
    }
}

#[test]
fn the_glob_matcher_behaves_like_gobwas_without_separators() {
    use matcher::matches;
    assert!(matches("*/networkpolicy-*.yaml", "cerverus-data/networkpolicy-default-deny.yaml"));
    assert!(matches("*.yaml", "a/b.yaml"), "without separators * crosses /");
    assert!(!matches("clusterrole-*.yaml", "clusterrolebinding-x.yaml"));
    assert!(matches("{namespace-*.yaml,clusterrole-*.yaml}", "clusterrole-x.yaml"));
    assert!(!matches("{namespace-*.yaml,clusterrole-*.yaml}", "storageclass-x.yaml"));
    assert!(matches("a{b,c{d,e}}f", "acef"));
    assert!(matches("[a-c]?.yaml", "bx.yaml"));
    assert!(!matches("[!a-c]?.yaml", "bx.yaml"));
    assert!(!matches("*/configmap-*.yaml", "configmap-x.yaml"));
}

/// An Application as the tests need it.
#[derive(Debug, Clone)]
struct App {
    file: String,
    name: String,
    project: String,
    wave: i64,
    namespace: String,
    spec: Value,
}

fn apps_of(docs: &BTreeMap<String, Value>, env: &str) -> Vec<App> {
    let prefix = format!("gitops/{env}/apps/");
    docs.iter()
        .filter(|(p, v)| p.starts_with(&prefix) && v["kind"] == "Application")
        .map(|(p, v)| App {
            file: p.clone(),
            name: v["metadata"]["name"].as_str().unwrap_or_default().to_string(),
            project: v["spec"]["project"].as_str().unwrap_or_default().to_string(),
            wave: v["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                .as_str()
                .and_then(|w| w.parse().ok())
                .expect("every Application has a sync wave"),
            namespace: v["spec"]["destination"]["namespace"].as_str().unwrap_or_default().to_string(),
            spec: v["spec"].clone(),
        })
        .collect()
}

/// The bundle paths a directory source syncs, evaluated like Argo CD's repo server.
fn synced_paths(app: &App, paths: &BTreeSet<String>) -> BTreeSet<String> {
    let Some(source) = app.spec.get("source") else { return BTreeSet::new() };
    let Some(path) = source["path"].as_str() else { return BTreeSet::new() };
    let Some(root) = path.strip_prefix(BUNDLE_DIR) else { return BTreeSet::new() };
    let dir = &source["directory"];
    let recurse = dir["recurse"].as_bool().unwrap_or(false);
    let include = dir["include"].as_str();
    let exclude = dir["exclude"].as_str();
    paths
        .iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(&format!("{root}/"))?;
            let file = rel.rsplit('/').next().unwrap_or(rel);
            let manifest = file.ends_with(".yaml") || file.ends_with(".yml") || file.ends_with(".json");
            let keep = manifest
                && (recurse || !rel.contains('/'))
                && !exclude.is_some_and(|e| matcher::matches(e, rel))
                && include.is_none_or(|i| matcher::matches(i, rel));
            keep.then(|| p.clone())
        })
        .collect()
}

fn api_group(obj: &Value) -> String {
    let api = obj["apiVersion"].as_str().unwrap_or_default();
    api.rsplit_once('/').map_or("", |(g, _)| g).to_string()
}

/// The release whose chart ships the CRD of `group`/`kind`, written down here from the charts'
/// CRD lists independently of the renderer's table, so a wrong entry there shows.
fn crd_chart(group: &str, kind: &str) -> Option<&'static str> {
    Some(match group {
        // Its CRDs alone, from the same chart (the stack itself mounts Secrets that charts with
        // ServiceMonitors create).
        "monitoring.coreos.com" => "kube-prometheus-stack-crds",
        "networking.istio.io" | "security.istio.io" | "telemetry.istio.io" | "extensions.istio.io" => "istio-base",
        "external-secrets.io" => "external-secrets",
        "keda.sh" => "keda",
        "autoscaling.k8s.io" => "vpa",
        "cert-manager.io" => "cert-manager",
        "velero.io" => "velero",
        "argoproj.io" if matches!(kind, "Rollout" | "AnalysisTemplate" | "ClusterAnalysisTemplate") => "argo-rollouts",
        "argoproj.io" if matches!(kind, "Application" | "AppProject") => "argo-cd",
        "templates.gatekeeper.sh" | "constraints.gatekeeper.sh" | "config.gatekeeper.sh" => "gatekeeper",
        "chaos-mesh.org" => "chaos-mesh",
        "elbv2.k8s.aws" => "aws-load-balancer-controller",
        _ => return None,
    })
}

/// Chart Applications of `apps`: release name → (app, chart source).
fn chart_apps(apps: &[App]) -> BTreeMap<String, (&App, &Value)> {
    let mut out = BTreeMap::new();
    for app in apps {
        let single = std::iter::once(&app.spec["source"]);
        for s in app.spec["sources"].as_array().into_iter().flatten().chain(single) {
            if let Some(release) = s["helm"]["releaseName"].as_str() {
                out.insert(release.to_string(), (app, s));
            }
        }
    }
    out
}

/// Every synced file whose kind's CRD is not installed by a chart Application in a strictly
/// lower wave.
fn wave_violations(docs: &BTreeMap<String, Value>, paths: &BTreeSet<String>, apps: &[App]) -> Vec<String> {
    let charts = chart_apps(apps);
    let mut out = Vec::new();
    for app in apps {
        for p in synced_paths(app, paths) {
            let Some(obj) = docs.get(&p) else { continue };
            let group = api_group(obj);
            if cerverus_render::gitops::is_core_group(&group) {
                continue;
            }
            let kind = obj["kind"].as_str().unwrap_or_default();
            match crd_chart(&group, kind).map(|c| (c, charts.get(c))) {
                None => out.push(format!("{p}: {group}/{kind}: no chart provides this CRD")),
                Some((chart, None)) => out.push(format!("{p}: {group}/{kind} needs {chart}, which has no Application")),
                Some((chart, Some((provider, _)))) if provider.wave >= app.wave => out.push(format!(
                    "{p}: {group}/{kind} synced by {} in wave {} but {chart} installs in wave {}",
                    app.name, app.wave, provider.wave
                )),
                Some(_) => {}
            }
        }
    }
    out
}

#[test]
fn every_installed_chart_has_exactly_one_pinned_application_with_its_values_file() {
    let b = built();
    for env in envs() {
        let apps = apps_of(&b.docs, &env.name);
        assert!(!apps.is_empty(), "{}: no Applications", env.name);
        for chart in CHARTS {
            let matching: Vec<(&App, &Value)> = apps
                .iter()
                .flat_map(|a| a.spec["sources"].as_array().into_iter().flatten().map(move |s| (a, s)))
                .filter(|(_, s)| s["chart"] == chart.chart && s["helm"]["releaseName"] == chart.name)
                .collect();
            if !chart.installed_in(env) {
                assert!(
                    matching.is_empty(),
                    "{}: {} is not installed here but has an Application",
                    env.name,
                    chart.name
                );
                continue;
            }
            assert_eq!(matching.len(), 1, "{}: {} must have exactly one Application", env.name, chart.name);
            let (app, source) = matching[0];
            assert_eq!(source["repoURL"], chart.repository, "{}: {} repository", env.name, chart.name);
            assert_eq!(source["targetRevision"], chart.version, "{}: {} pinned version", env.name, chart.name);
            assert_eq!(app.namespace, chart.namespace, "{}: {} destination namespace", env.name, chart.name);
            let files = source["helm"]["valueFiles"].as_array().expect("valueFiles");
            assert_eq!(files.len(), 1);
            let file = files[0].as_str().unwrap_or_default();
            let in_repo = file.strip_prefix("$values/").expect("values come from the `values` source");
            let in_bundle = in_repo.strip_prefix(BUNDLE_DIR).expect("values live in the bundle");
            assert_eq!(in_bundle, format!("helm/addons/{}/{}.values.yaml", env.name, chart.name));
            assert!(
                b.paths.contains(in_bundle),
                "{}: {} points at {in_bundle}, which the bundle lacks",
                env.name,
                chart.name
            );
            let values_ref = app.spec["sources"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["ref"] == "values")
                .expect("a `ref: values` source");
            assert_eq!(values_ref["repoURL"], cerverus_render::gitops::REPO_URL);
        }
    }
}

/// (file, the Applications syncing it) for every manifest whose count is not one.
fn coverage_errors(env: &str, paths: &BTreeSet<String>, apps: &[App]) -> Vec<String> {
    let mut count: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in paths.iter().filter(|p| p.starts_with(&format!("kubernetes/{env}/")) && p.ends_with(".yaml")) {
        count.insert(p.clone(), Vec::new());
    }
    for app in apps {
        for p in synced_paths(app, paths) {
            count.entry(p).or_default().push(app.name.clone());
        }
    }
    count.into_iter().filter(|(_, a)| a.len() != 1).map(|(p, a)| format!("{p}: synced by {a:?}")).collect()
}

#[test]
fn every_manifest_is_synced_by_exactly_one_application() {
    let b = built();
    for env in envs() {
        let apps = apps_of(&b.docs, &env.name);
        let errors = coverage_errors(&env.name, &b.paths, &apps);
        assert!(errors.is_empty(), "{}:\n{}", env.name, errors.join("\n"));
        let synced: usize = apps.iter().map(|a| synced_paths(a, &b.paths).len()).sum();
        assert!(synced > 100, "{}: only {synced} files synced", env.name);
    }
}

#[test]
fn a_widened_include_is_caught_as_double_sync() {
    let b = built();
    let mut apps = apps_of(&b.docs, "prod");
    let guard = apps.iter_mut().find(|a| a.name == "namespace-guardrails").expect("guardrails app");
    guard.spec["source"]["directory"]["include"] = Value::Null;
    let errors = coverage_errors("prod", &b.paths, &apps);
    assert!(errors.iter().any(|e| e.contains("deployment-")), "{errors:?}");
    let mut apps = apps_of(&b.docs, "prod");
    apps.retain(|a| a.name != "cluster-foundation");
    let errors = coverage_errors("prod", &b.paths, &apps);
    assert!(errors.iter().any(|e| e.contains("namespace-") && e.contains("[]")), "{errors:?}");
}

#[test]
fn every_application_syncs_after_the_charts_that_provide_its_crds() {
    let b = built();
    for env in envs() {
        let apps = apps_of(&b.docs, &env.name);
        let v = wave_violations(&b.docs, &b.paths, &apps);
        assert!(v.is_empty(), "{}:\n{}", env.name, v.join("\n"));
    }
}

#[test]
fn a_scaled_object_application_before_keda_is_rejected() {
    let b = built();
    let mut apps = apps_of(&b.docs, "prod");
    let keda_wave = chart_apps(&apps).get("keda").map(|(a, _)| a.wave).expect("keda Application");
    let with_scaled_object = apps
        .iter_mut()
        .find(|a| synced_paths(a, &b.paths).iter().any(|p| b.docs.get(p).is_some_and(|o| o["kind"] == "ScaledObject")))
        .expect("some Application syncs a ScaledObject");
    with_scaled_object.wave = keda_wave;
    let v = wave_violations(&b.docs, &b.paths, &apps);
    assert!(v.iter().any(|e| e.contains("keda.sh/ScaledObject") && e.contains("keda installs")), "{v:?}");
}

#[test]
fn production_syncs_by_hand_and_staging_by_itself() {
    let b = built();
    for env in envs() {
        let mut apps: Vec<(String, Value)> =
            apps_of(&b.docs, &env.name).into_iter().map(|a| (a.name, a.spec)).collect();
        let root = b.docs.get(&format!("gitops/{}/root.yaml", env.name)).expect("root.yaml");
        apps.push(("root".into(), root["spec"].clone()));
        for (name, spec) in &apps {
            let policy = &spec["syncPolicy"];
            if env.is_production() {
                assert!(policy.get("automated").is_none(), "{}: {name} syncs automatically", env.name);
            } else {
                assert_eq!(policy["automated"]["prune"], true, "{}: {name}", env.name);
                assert_eq!(policy["automated"]["selfHeal"], true, "{}: {name}", env.name);
            }
            assert!(policy["retry"]["limit"].as_i64().unwrap_or(0) > 0, "{}: {name} has no retry", env.name);
            assert!(policy["retry"]["backoff"]["factor"].as_i64().unwrap_or(0) > 1, "{}: {name} no backoff", env.name);
            let options: Vec<&str> =
                policy["syncOptions"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            assert!(options.contains(&"CreateNamespace=false"), "{}: {name}", env.name);
        }
        if env.name == "staging" {
            assert!(apps.iter().all(|(_, s)| s["syncPolicy"]["automated"].is_object()));
        }
    }
    assert!(envs().iter().any(|e| e.is_production()) && envs().iter().any(|e| e.name == "staging"));
}

/// Namespaces the Applications of `project` deploy into: their destinations, the namespaces of
/// the files they sync, and the `namespaceOverride`s of their charts' values.
fn project_namespaces(b: &Built, env: &str, project: &str, apps: &[App]) -> BTreeSet<String> {
    fn overrides(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, c)| match (k.as_str(), c) {
                ("namespaceOverride", Value::String(s)) if !s.is_empty() => {
                    out.insert(s.clone());
                }
                _ => overrides(c, out),
            }),
            Value::Array(a) => a.iter().for_each(|c| overrides(c, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for app in apps.iter().filter(|a| a.project == project) {
        out.insert(app.namespace.clone());
        for p in synced_paths(app, &b.paths) {
            if let Some(ns) = b.docs.get(&p).and_then(|o| o["metadata"]["namespace"].as_str()) {
                out.insert(ns.to_string());
            }
        }
        for s in app.spec["sources"].as_array().into_iter().flatten() {
            if let Some(release) = s["helm"]["releaseName"].as_str()
                && let Some(v) = b.values.get(&format!("helm/addons/{env}/{release}.values.yaml"))
            {
                overrides(v, &mut out);
            }
        }
    }
    out
}

fn project_errors(b: &Built, env: &str, projects: &BTreeMap<String, Value>, apps: &[App]) -> Vec<String> {
    let mut errors = Vec::new();
    for app in apps {
        if !projects.contains_key(&app.project) {
            errors.push(format!("{}: project {} is not rendered", app.name, app.project));
        }
    }
    for (name, spec) in projects {
        let listed: BTreeSet<String> = spec["destinations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["namespace"].as_str().map(str::to_string))
            .collect();
        let used = project_namespaces(b, env, name, apps);
        if listed != used {
            errors.push(format!(
                "{name}: destinations {listed:?} but its Applications deploy to {used:?} (extra: {:?}, missing: {:?})",
                listed.difference(&used).collect::<Vec<_>>(),
                used.difference(&listed).collect::<Vec<_>>()
            ));
        }
        let repos: BTreeSet<&str> =
            spec["sourceRepos"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        for app in apps.iter().filter(|a| &a.project == name) {
            let sources = app.spec["sources"].as_array().cloned().unwrap_or_else(|| vec![app.spec["source"].clone()]);
            for s in sources {
                let url = s["repoURL"].as_str().unwrap_or_default();
                if !repos.contains(url) {
                    errors.push(format!("{name}: {} uses {url}, not in sourceRepos", app.name));
                }
            }
        }
    }
    errors
}

fn projects_of(docs: &BTreeMap<String, Value>, env: &str) -> BTreeMap<String, Value> {
    docs.iter()
        .filter(|(p, v)| p.starts_with(&format!("gitops/{env}/apps/")) && v["kind"] == "AppProject")
        .map(|(_, v)| (v["metadata"]["name"].as_str().unwrap_or_default().to_string(), v["spec"].clone()))
        .collect()
}

#[test]
fn app_projects_cover_exactly_the_namespaces_their_applications_deploy_to() {
    let b = built();
    for env in envs() {
        let apps = apps_of(&b.docs, &env.name);
        let projects = projects_of(&b.docs, &env.name);
        let errors = project_errors(b, &env.name, &projects, &apps);
        assert!(errors.is_empty(), "{}:\n{}", env.name, errors.join("\n"));
        // The workloads' project: only the workload namespaces, nothing cluster-scoped, and
        // none of the guardrails the platform owns.
        let w = &projects["cerverus-workloads"];
        let workload_ns: BTreeSet<String> = env.workloads.iter().map(|w| w.spec.namespace.clone()).collect();
        let dest: BTreeSet<String> = w["destinations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["namespace"].as_str().map(str::to_string))
            .collect();
        assert_eq!(dest, workload_ns, "{}: workloads project destinations", env.name);
        assert_eq!(w["clusterResourceWhitelist"], serde_json::json!([]), "{}", env.name);
        let black: Vec<&str> = w["namespaceResourceBlacklist"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k["kind"].as_str())
            .collect();
        for kind in ["ResourceQuota", "LimitRange", "NetworkPolicy", "Role", "RoleBinding"] {
            assert!(black.contains(&kind), "{}: workloads may manage {kind}", env.name);
        }
        // Argo CD itself is a platform Application in its own namespace.
        let argo = apps.iter().find(|a| a.name == "argo-cd").expect("argo-cd Application");
        assert_eq!((argo.project.as_str(), argo.namespace.as_str()), ("cerverus-platform", "argocd"));
    }
}

#[test]
fn a_project_missing_a_namespace_is_rejected() {
    let b = built();
    let apps = apps_of(&b.docs, "prod");
    let mut projects = projects_of(&b.docs, "prod");
    let w = projects.get_mut("cerverus-workloads").expect("workloads project");
    if let Some(d) = w["destinations"].as_array_mut() {
        d.pop();
    }
    let errors = project_errors(b, "prod", &projects, &apps);
    assert!(errors.iter().any(|e| e.contains("cerverus-workloads") && e.contains("missing")), "{errors:?}");
}

#[test]
fn the_root_application_points_at_the_apps_directory_and_argo_cd_waits_for_child_health() {
    let b = built();
    for env in envs() {
        let root = &b.docs[&format!("gitops/{}/root.yaml", env.name)];
        assert_eq!(root["spec"]["source"]["path"], format!("deploy/gitops/{}/apps", env.name));
        assert!(b.paths.iter().any(|p| p.starts_with(&format!("gitops/{}/apps/application-", env.name))));
        assert!(b.paths.contains(&format!("gitops/{}/README.md", env.name)));
        let values = &b.values[&format!("helm/addons/{}/argo-cd.values.yaml", env.name)];
        let lua = values["configs"]["cm"]["resource.customizations.health.argoproj.io_Application"].as_str();
        assert!(
            lua.is_some_and(|l| l.contains("obj.status.health.status")),
            "{}: no Application health check",
            env.name
        );
        assert_eq!(values["server"]["service"]["type"], "ClusterIP");
        // kube-prometheus-stack's CRDs only fit a server-side apply.
        let apps = apps_of(&b.docs, &env.name);
        let kps = apps.iter().find(|a| a.name == "kube-prometheus-stack").expect("kps");
        assert!(
            kps.spec["syncPolicy"]["syncOptions"].as_array().into_iter().flatten().any(|o| o == "ServerSideApply=true")
        );
        let _ = &kps.file;
    }
}

/// (wave, names) of the table in README's "How a cluster comes up".
fn readme_waves(readme: &str) -> Vec<(i64, Vec<String>)> {
    let start = readme.find("## How a cluster comes up").expect("README has the section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let wave: i64 = cells.get(1)?.parse().ok()?;
            let names = cells.get(2)?.split('`').skip(1).step_by(2).map(str::to_string).collect();
            Some((wave, names))
        })
        .collect()
}

/// Names the README puts in a wave other than the rendered one, and rendered waves it lacks.
fn readme_errors(rows: &[(i64, Vec<String>)], apps: &[App], projects: &BTreeMap<String, Value>) -> Vec<String> {
    let mut errors = Vec::new();
    for (wave, names) in rows {
        for name in names {
            match apps.iter().find(|a| &a.name == name) {
                Some(a) if a.wave != *wave => errors.push(format!("{name}: README wave {wave}, rendered {}", a.wave)),
                None if !(*wave == 0 && projects.contains_key(name)) => errors.push(format!("{name}: not rendered")),
                _ => {}
            }
        }
    }
    let listed: BTreeSet<i64> = rows.iter().map(|(w, _)| *w).filter(|w| *w > 0).collect();
    let rendered: BTreeSet<i64> = apps.iter().map(|a| a.wave).collect();
    if listed != rendered {
        errors.push(format!("README lists waves {listed:?}, prod has {rendered:?}"));
    }
    errors
}

#[test]
fn the_readme_shows_the_rendered_production_order() {
    let b = built();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README");
    let rows = readme_waves(&readme);
    assert!(rows.len() >= 5, "{rows:?}");
    let apps = apps_of(&b.docs, "prod");
    let projects = projects_of(&b.docs, "prod");
    let errors = readme_errors(&rows, &apps, &projects);
    assert!(errors.is_empty(), "README \"How a cluster comes up\" is out of date:\n{}", errors.join("\n"));
    // And the comparison notices a row in the wrong wave.
    let mut moved = rows.clone();
    if let Some(row) = moved.iter_mut().find(|(_, n)| n.iter().any(|x| x == "keda")) {
        row.0 += 1;
    }
    assert!(!readme_errors(&moved, &apps, &projects).is_empty());
}

/// Whether `v` holds `{"serviceMonitor"|"podMonitor"|"prometheusRule": {"enabled": true, …}}`
/// anywhere: the chart renders a Prometheus Operator object.
fn renders_monitors(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, c)| {
            (matches!(k.as_str(), "serviceMonitor" | "podMonitor" | "prometheusRule") && c["enabled"] == true)
                || renders_monitors(c)
        }),
        Value::Array(a) => a.iter().any(renders_monitors),
        _ => false,
    }
}

fn monitor_order_errors(b: &Built, env: &str, apps: &[App]) -> Vec<String> {
    let charts = chart_apps(apps);
    let Some((kps, _)) = charts.get("kube-prometheus-stack-crds") else {
        return vec!["no Application installs the Prometheus Operator CRDs".into()];
    };
    charts
        .iter()
        .filter(|(name, (app, _))| {
            name.as_str() != "kube-prometheus-stack"
                && app.wave <= kps.wave
                && b.values.get(&format!("helm/addons/{env}/{name}.values.yaml")).is_some_and(renders_monitors)
        })
        .map(|(name, (app, _))| {
            format!(
                "{name} (wave {}) renders monitors before the Prometheus Operator CRDs (wave {})",
                app.wave, kps.wave
            )
        })
        .collect()
}

#[test]
fn charts_that_render_monitors_install_after_the_prometheus_operator() {
    let b = built();
    for env in envs() {
        let apps = apps_of(&b.docs, &env.name);
        let errors = monitor_order_errors(b, &env.name, &apps);
        assert!(errors.is_empty(), "{}:\n{}", env.name, errors.join("\n"));
    }
    // external-secrets enables its ServiceMonitor: in kube-prometheus-stack's wave it must fail.
    let mut apps = apps_of(&b.docs, "prod");
    let kps_wave = chart_apps(&apps)["kube-prometheus-stack-crds"].0.wave;
    if let Some(es) = apps.iter_mut().find(|a| a.name == "external-secrets") {
        es.wave = kps_wave;
    }
    assert!(monitor_order_errors(b, "prod", &apps).iter().any(|e| e.starts_with("external-secrets")));
}

/// Secrets (and ConfigMaps, ServiceAccounts) the rendered manifests create: (namespace, name) →
/// the file creating it.
fn produced_secrets(b: &Built, env: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for (p, o) in b.docs.iter().filter(|(p, _)| p.starts_with(&format!("kubernetes/{env}/"))) {
        let ns = o["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
        let name = match (api_group(o).as_str(), o["kind"].as_str().unwrap_or_default()) {
            ("cert-manager.io", "Certificate") => o["spec"]["secretName"].as_str(),
            ("external-secrets.io", "ExternalSecret") => {
                o["spec"]["target"]["name"].as_str().or(o["metadata"]["name"].as_str())
            }
            ("", "Secret" | "ConfigMap" | "ServiceAccount") => o["metadata"]["name"].as_str(),
            _ => None,
        };
        if let Some(name) = name {
            out.insert((ns, name.to_string()), p.clone());
        }
    }
    out
}

fn strings(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Object(m) => m.values().for_each(|c| strings(c, out)),
        Value::Array(a) => a.iter().for_each(|c| strings(c, out)),
        _ => {}
    }
}

/// Charts whose values name a Secret (in a namespace the chart deploys to) that the manifests
/// create in a later wave: the chart's pods wait for it, its Application never becomes Healthy,
/// and the waves stop before the Secret's Application is ever synced.
fn secret_order_errors(b: &Built, env: &str, apps: &[App]) -> Vec<String> {
    let produced = produced_secrets(b, env);
    let mut syncer: BTreeMap<String, &App> = BTreeMap::new();
    for app in apps {
        for p in synced_paths(app, &b.paths) {
            syncer.insert(p, app);
        }
    }
    let mut errors = Vec::new();
    for (release, (app, _)) in chart_apps(apps) {
        let Some(values) = b.values.get(&format!("helm/addons/{env}/{release}.values.yaml")) else { continue };
        let mut named = BTreeSet::new();
        strings(values, &mut named);
        let mut namespaces = BTreeSet::from([app.namespace.clone()]);
        namespaces.extend(project_namespaces(b, env, &app.project, std::slice::from_ref(app)));
        for ((ns, secret), file) in &produced {
            if namespaces.contains(ns)
                && named.contains(secret)
                && let Some(producer) = syncer.get(file).filter(|p| p.wave > app.wave)
            {
                errors.push(format!(
                    "{release} (wave {}) uses Secret {ns}/{secret}, created by {file} in {} (wave {})",
                    app.wave, producer.name, producer.wave
                ));
            }
        }
    }
    errors
}

#[test]
fn no_chart_waits_for_a_secret_that_a_later_wave_creates() {
    let b = built();
    for env in envs() {
        let apps = apps_of(&b.docs, &env.name);
        let errors = secret_order_errors(b, &env.name, &apps);
        assert!(errors.is_empty(), "{}: bring-up would stop:\n{}", env.name, errors.join("\n"));
    }
}

/// Every dotted key path of `v` (objects only).
fn key_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(m) = v {
        for (k, c) in m {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            out.push(path.clone());
            key_paths(c, &path, out);
        }
    }
}

#[test]
fn the_prometheus_operator_crds_install_alone_before_the_stack() {
    let b = built();
    let reference: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/reference/helm/kube-prometheus-stack/88.5.3/values.yaml"
        ))
        .expect("reference values"),
    )
    .expect("yaml");
    for env in envs() {
        let apps = apps_of(&b.docs, &env.name);
        let charts = chart_apps(&apps);
        let (crds, source) = charts["kube-prometheus-stack-crds"];
        let (stack, stack_source) = charts["kube-prometheus-stack"];
        assert!(crds.wave <= stack.wave, "{}", env.name);
        assert_eq!(source["chart"], "kube-prometheus-stack");
        assert_eq!(source["targetRevision"], stack_source["targetRevision"], "same chart version");
        assert!(source["helm"].get("valueFiles").is_none(), "{}: the CRD Application takes no values file", env.name);
        let values = &source["helm"]["valuesObject"];
        assert_eq!(values["crds"]["enabled"], true);
        // Every key is one the chart has, and every component the chart enables by default is
        // off, so this release renders CRDs only.
        let mut paths = Vec::new();
        key_paths(values, "", &mut paths);
        for p in &paths {
            let found = p.split('.').try_fold(&reference, |v, k| v.get(k));
            assert!(found.is_some(), "{}: kube-prometheus-stack 88.5.3 has no key {p}", env.name);
        }
        for (k, v) in reference.as_object().expect("map") {
            if k != "crds" && (v["enabled"] == true || v["create"] == true) {
                assert!(values[k]["enabled"] == false || values[k]["create"] == false, "{}: {k} stays on", env.name);
            }
        }
        // The stack itself leaves its CRDs to that Application.
        assert_eq!(stack_source["helm"]["valuesObject"]["crds"]["enabled"], false, "{}", env.name);
    }
}

#[test]
fn a_secret_synced_after_the_chart_that_mounts_it_is_rejected() {
    let b = built();
    let mut apps = apps_of(&b.docs, "prod");
    let inputs = apps.iter_mut().find(|a| a.name == "chart-inputs").expect("a chart-inputs Application");
    inputs.wave += 10;
    let errors = secret_order_errors(b, "prod", &apps);
    assert!(errors.iter().any(|e| e.contains("created by") && e.contains("chart-inputs")), "{errors:?}");
}

/// Object-level wave (`argocd.argoproj.io/sync-wave`, default 0).
fn object_wave(o: &Value) -> i64 {
    o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].as_str().and_then(|w| w.parse().ok()).unwrap_or(0)
}

/// Gatekeeper constraints whose ConstraintTemplate (which makes their CRD) is not in the same
/// Application at a lower object wave.
fn constraint_errors(docs: &BTreeMap<String, Value>, paths: &BTreeSet<String>, apps: &[App]) -> Vec<String> {
    let mut errors = Vec::new();
    for app in apps {
        let synced = synced_paths(app, paths);
        let objects: Vec<(&String, &Value)> = synced.iter().filter_map(|p| docs.get(p).map(|o| (p, o))).collect();
        let templates: BTreeMap<&str, i64> = objects
            .iter()
            .filter(|(_, o)| o["kind"] == "ConstraintTemplate")
            .filter_map(|(_, o)| Some((o["spec"]["crd"]["spec"]["names"]["kind"].as_str()?, object_wave(o))))
            .collect();
        for (p, o) in objects.iter().filter(|(_, o)| api_group(o) == "constraints.gatekeeper.sh") {
            let kind = o["kind"].as_str().unwrap_or_default();
            match templates.get(kind) {
                Some(w) if *w < object_wave(o) => {}
                Some(w) => errors.push(format!("{p}: wave {} not after its template's {w}", object_wave(o))),
                None => errors.push(format!("{p}: no ConstraintTemplate for {kind} in {}", app.name)),
            }
        }
    }
    errors
}

#[test]
fn gatekeeper_constraints_sync_after_their_templates_in_the_same_application() {
    let b = built();
    for env in envs() {
        let apps = apps_of(&b.docs, &env.name);
        let errors = constraint_errors(&b.docs, &b.paths, &apps);
        assert!(errors.is_empty(), "{}:\n{}", env.name, errors.join("\n"));
    }
    // A template at the constraints' own wave is caught.
    let mut docs = b.docs.clone();
    for o in docs.values_mut().filter(|o| o["kind"] == "ConstraintTemplate") {
        o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] = Value::String("5".into());
    }
    let apps = apps_of(&docs, "prod");
    if b.docs.values().any(|o| api_group(o) == "constraints.gatekeeper.sh") {
        assert!(!constraint_errors(&docs, &b.paths, &apps).is_empty());
    }
}
