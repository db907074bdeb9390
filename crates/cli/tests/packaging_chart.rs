//! The Helm chart of the workloads (`helm/charts/`, ADR 0008): chart metadata, values that pass
//! the generated schemas (and bad values that do not), the chart's scope in `kubernetes/<env>/`
//! complete by rule, and values that follow the spec. Rendering the chart with Helm's engine and
//! comparing the objects with `kubernetes/<env>/` is the validator's part
//! (`scripts/validators/packaging_chart.py`), which needs the Go engine.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use cerverus_model::Platform;
use cerverus_render::packaging::chart::{self, scope};
use serde_json::{Value, json};

const CHARTS: &str = "helm/charts";

fn built() -> (Platform, Bundle) {
    cerverus::build_default().expect("default spec builds")
}

fn yaml(bundle: &Bundle, path: &str) -> Value {
    let bytes = bundle.get(path).unwrap_or_else(|| panic!("{path} in the bundle"));
    serde_saphyr::from_str(std::str::from_utf8(bytes).expect("UTF-8")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_file(bundle: &Bundle, path: &str) -> Value {
    serde_json::from_slice(bundle.get(path).unwrap_or_else(|| panic!("{path} in the bundle"))).expect("JSON")
}

fn umbrella(p: &Platform) -> String {
    format!("{CHARTS}/{}", p.name)
}

/// Each environment's values as Helm sees them: values.yaml with values-<env>.yaml over it.
fn env_values(p: &Platform, b: &Bundle) -> BTreeMap<String, Value> {
    let base = yaml(b, &format!("{}/values.yaml", umbrella(p)));
    p.environments
        .iter()
        .map(|e| {
            let over = yaml(b, &format!("{}/values-{}.yaml", umbrella(p), e.name));
            (e.name.clone(), chart::merge_values(&base, &over))
        })
        .collect()
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && (p == &"0" || !p.starts_with('0')))
}

fn charts(b: &Bundle) -> Vec<String> {
    b.paths()
        .filter(|p| p.starts_with(CHARTS) && p.ends_with("/Chart.yaml"))
        .map(|p| p.trim_end_matches("/Chart.yaml").to_string())
        .collect()
}

#[test]
fn every_chart_has_a_semver_version_and_its_images_tag_as_app_version() {
    let (p, b) = built();
    let values = env_values(&p, &b);
    let tag = |w: &str| p.environments[0].workloads.iter().find(|x| x.name() == w).map(|x| x.spec.image.tag.clone());
    let all = charts(&b);
    assert!(all.len() >= 3, "library, umbrella and groups: {all:?}");
    for dir in &all {
        let meta = yaml(&b, &format!("{dir}/Chart.yaml"));
        let version = meta["version"].as_str().expect("version");
        assert!(is_semver(version), "{dir}: version `{version}` is not SemVer");
        assert_eq!(meta["apiVersion"], "v2", "{dir}");
        if meta["type"] == "library" {
            continue;
        }
        // The workloads this chart installs: every workload for the umbrella, the group's for a
        // subchart.
        let group = dir.rsplit('/').next().expect("name");
        let mut workloads = BTreeSet::new();
        for v in values.values() {
            let sections: Vec<&Value> = if *dir == umbrella(&p) {
                v.as_object().expect("values").iter().filter(|(k, _)| *k != "global").map(|(_, s)| s).collect()
            } else {
                v.get(group).into_iter().collect()
            };
            for s in sections {
                for o in s["objects"].as_object().expect("objects").values() {
                    workloads.insert(o["workload"].as_str().expect("workload").to_string());
                }
            }
        }
        assert!(!workloads.is_empty(), "{dir}: installs no workload");
        let tags = workloads.iter().map(|w| tag(w).expect("a workload of the spec"));
        assert_eq!(meta["appVersion"], chart::app_version(tags), "{dir}: appVersion is its images' tag");
        for d in meta["dependencies"].as_array().into_iter().flatten() {
            assert!(is_semver(d["version"].as_str().expect("dependency version")), "{dir}: {d}");
        }
    }
}

#[test]
fn every_environments_values_pass_the_generated_schemas_and_bad_values_do_not() {
    let (p, b) = built();
    let root = umbrella(&p);
    let top = jsonschema::validator_for(&json_file(&b, &format!("{root}/values.schema.json"))).expect("compiles");
    for (env, v) in env_values(&p, &b) {
        let errors: Vec<String> = top.iter_errors(&v).map(|e| format!("{}: {e}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{env}: umbrella schema rejects its values: {errors:?}");
        for (group, section) in v.as_object().expect("values").iter().filter(|(k, _)| *k != "global") {
            let schema = json_file(&b, &format!("{root}/charts/{group}/values.schema.json"));
            let sub = jsonschema::validator_for(&schema).expect("compiles");
            // Helm hands a subchart its section with the globals.
            let mut section = section.clone();
            section["global"] = v["global"].clone();
            let errors: Vec<String> =
                sub.iter_errors(&section).map(|e| format!("{}: {e}", e.instance_path())).collect();
            assert!(errors.is_empty(), "{env}/{group}: schema rejects its values: {errors:?}");

            let mut bad = section.clone();
            bad["replicaCount"] = json!(3);
            assert!(!sub.is_valid(&bad), "{group}: an unknown key passes");
            if let Some((_, first)) = bad["objects"].as_object_mut().and_then(|m| m.iter_mut().next()) {
                first["kind"] = json!(7);
                first.as_object_mut().expect("object").remove("replicaCount");
                assert!(!sub.is_valid(&bad), "{group}: an object whose kind is a number passes");
            }
        }
        let mut bad = v.clone();
        bad["global"]["workloads"]["not-a-workload"] = json!({ "name": "x", "replicas": "three" });
        assert!(!top.is_valid(&bad), "{env}: a workload without image and with replicas as text passes");
        let mut bad = v.clone();
        bad["imageTag"] = json!("latest");
        assert!(!top.is_valid(&bad), "{env}: an unknown top-level key passes");
    }
}

#[test]
fn every_object_of_a_workload_namespace_is_the_charts_or_named_by_a_platform_rule() {
    let (p, b) = built();
    for env in &p.environments {
        let objects = cerverus_render::kubernetes::render_env(&p, env).expect("renders");
        let items = scope::classify(&p, env, &objects).expect("classifies");
        let loose: Vec<&str> = items.iter().filter(|c| c.scope.is_none()).map(|c| c.path.as_str()).collect();
        assert!(loose.is_empty(), "{}: unclassified: {loose:?}", env.name);
        // Every workload's controller and Service are the chart's, in the workload's group.
        for w in &env.workloads {
            let controller = items.iter().find(|c| c.name == w.name() && scope::pod_template(&c.object).is_some());
            let Some(c) = controller else { panic!("{}: no controller for {}", env.name, w.name()) };
            let expected = if c.kind == "Job" { scope::GROUP_JOBS.to_string() } else { scope::workload_group(&p, w) };
            assert_eq!(
                c.scope,
                Some(scope::Scope::Chart { group: expected, workload: w.name().to_string() }),
                "{}: {}",
                env.name,
                c.path
            );
        }
        // The scope file the comparison reads lists exactly these, every file of the workload
        // namespaces once.
        let manifest = json_file(&b, &format!("{CHARTS}/scope/{}.json", env.name));
        let listed: BTreeSet<&str> = ["chart", "platform"]
            .iter()
            .flat_map(|k| manifest[k].as_object().expect("map").keys().map(String::as_str))
            .collect();
        let namespaces: BTreeSet<&str> = env.workloads.iter().map(|w| w.namespace()).collect();
        let on_disk: BTreeSet<&str> =
            objects.paths().filter(|p| p.split_once('/').is_some_and(|(ns, _)| namespaces.contains(ns))).collect();
        assert_eq!(listed, on_disk, "{}: scope/{}.json vs kubernetes/{}/", env.name, env.name, env.name);
        let chart_count = manifest["chart"].as_object().expect("map").len();
        assert!(chart_count > manifest["platform"].as_object().expect("map").len(), "{}", env.name);
    }
}

#[test]
fn an_object_no_rule_covers_is_left_unclassified() {
    let (p, _) = built();
    let env = &p.environments[0];
    let ns = env.workloads[0].namespace().to_string();
    let stray = |kind: &str, labels: Value| scope::Classified {
        path: format!("{ns}/{}-stray.yaml", kind.to_ascii_lowercase()),
        kind: kind.to_string(),
        name: "stray".into(),
        object: json!({ "apiVersion": "v1", "kind": kind, "metadata": { "name": "stray", "namespace": ns, "labels": labels } }),
        scope: None,
    };
    let mut items = vec![
        // Not mounted by any workload, not labelled by one.
        stray("ConfigMap", json!({})),
        // Labelled with an instance that is no workload, and no pod of it runs as a workload.
        stray("Service", json!({ "app.kubernetes.io/instance": "nobody" })),
        // A binding of a ServiceAccount no workload uses.
        scope::Classified {
            object: json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": { "name": "stray", "namespace": ns },
                "subjects": [{ "kind": "ServiceAccount", "name": "nobody", "namespace": ns }] }),
            ..stray("RoleBinding", json!({}))
        },
        // A quota is the platform's.
        stray("ResourceQuota", json!({})),
    ];
    scope::classify_objects(&p, env, &mut items);
    let got: Vec<Option<&scope::Scope>> = items.iter().map(|c| c.scope.as_ref()).collect();
    assert_eq!(&got[..3], &[None, None, None], "{items:#?}");
    assert_eq!(got[3], Some(&scope::Scope::Platform { rule: scope::PlatformRule::NamespaceGuardrail }));
}

#[test]
fn values_follow_the_spec() {
    let (p, b) = built();
    let replicas = |values: &BTreeMap<String, Value>, env: &str, w: &str| {
        values[env]["global"]["workloads"][w].get("replicas").and_then(Value::as_u64)
    };
    let before = env_values(&p, &b);
    // A workload without an autoscaler: its replica count is the chart's value.
    let target = p.environments[0]
        .workloads
        .iter()
        .find(|w| w.spec.autoscaling.is_none() && w.spec.kind.is_long_running())
        .expect("a workload with fixed replicas");
    let name = target.name().to_string();
    let line = format!("      {name}: {{ replicas: 1 }}");
    assert!(cerverus_spec::DEFAULT_SPEC.contains(&line), "the spec's override of {name} moved; update this test");
    let variant = cerverus_spec::DEFAULT_SPEC.replacen(&line, &format!("      {name}: {{ replicas: 5 }}"), 1);
    let loaded = cerverus_spec::load("variant.yaml", &variant).expect("variant loads");
    let (vp, vb) = cerverus::build_bundle("variant.yaml", &loaded, &[]).expect("variant builds");
    let after = env_values(&vp, &vb);
    let changed: Vec<&String> =
        after.keys().filter(|e| replicas(&after, e, &name) != replicas(&before, e, &name)).collect();
    assert_eq!(changed.len(), 1, "one environment's override changed: {changed:?}");
    let env = changed[0];
    assert_eq!(replicas(&after, env, &name), Some(5));
    // The Deployment that kubernetes/<env>/ holds says the same.
    let ns = target.namespace();
    let kind = format!("{:?}", target.spec.kind).to_ascii_lowercase();
    let deployment = yaml(&vb, &format!("kubernetes/{env}/{ns}/{kind}-{name}.yaml"));
    assert_eq!(deployment["spec"]["replicas"], json!(5));
    // Config, feature flags and ports are the spec's, as values (the ConfigMaps' data derive from them).
    for w in &vp.environments[0].workloads {
        let values = &after[&vp.environments[0].name]["global"]["workloads"][w.name()];
        if !w.spec.config.is_empty() {
            assert_eq!(values["config"], json!(w.spec.config), "{}", w.name());
        }
        if !w.spec.feature_flags.is_empty() {
            assert_eq!(values["featureFlags"], json!(w.spec.feature_flags), "{}", w.name());
        }
        // Ports: the spec's names and numbers, wherever the workload has a Service.
        if let Some(ports) = values.get("ports").and_then(Value::as_array) {
            let got: BTreeSet<(String, u64)> = ports
                .iter()
                .map(|p| (p["name"].as_str().expect("name").to_string(), p["port"].as_u64().expect("port")))
                .collect();
            let want: BTreeSet<(String, u64)> =
                w.spec.ports.iter().map(|p| (p.name.clone(), u64::from(p.port))).collect();
            assert_eq!(got, want, "{}", w.name());
        }
    }
    // And the image is the spec's, pinned by digest.
    let image = &after[env]["global"]["workloads"][&name]["image"];
    assert_eq!(image["tag"], json!(target.spec.image.tag));
    assert_eq!(image["digest"], json!(target.spec.image.digest));
}

#[test]
fn values_files_merge_back_into_each_environments_values() {
    let base = json!({ "a": { "keep": 1, "drop": [1, 2], "map": { "x": "1" } }, "list": [1], "same": true });
    let full = json!({ "a": { "keep": 1, "map": { "x": "2", "y": "3" } }, "list": [1, 2], "same": true, "new": {} });
    let over = chart::override_values(&full, &base).expect("differs");
    assert_eq!(over["a"]["drop"], Value::Null, "a key the environment lacks is nulled");
    assert!(over.get("same").is_none(), "what equals values.yaml is not repeated");
    assert_eq!(chart::merge_values(&base, &over), full);
    assert_eq!(chart::override_values(&base, &base), None);
    // And on the real files: every environment's override is no larger than what differs.
    let (p, b) = built();
    let first = &p.environments[0].name;
    let over = yaml(&b, &format!("{}/values-{first}.yaml", umbrella(&p)));
    assert_eq!(over, json!({}), "values.yaml is the first environment's values");
}

/// The controller (Deployment, StatefulSet, Rollout) of workload `name` in kubernetes/<env>/.
fn controller(b: &Bundle, env: &str, ns: &str, name: &str) -> Option<Value> {
    ["deployment", "statefulset", "rollout"]
        .iter()
        .map(|k| format!("kubernetes/{env}/{ns}/{k}-{name}.yaml"))
        .find(|p| b.get(p).is_some())
        .map(|p| yaml(b, &p))
}

#[test]
fn every_helm_test_asks_its_workloads_readiness_path_through_its_service_on_the_port_its_policies_admit() {
    let (p, b) = built();
    let values = env_values(&p, &b);
    for env in &p.environments {
        let v = &values[&env.name];
        let tests: Vec<(&String, &Value)> = v
            .as_object()
            .expect("values")
            .iter()
            .filter(|(k, _)| *k != "global")
            .flat_map(|(_, s)| s["tests"].as_object().expect("tests").iter())
            .collect();
        // Every workload with a Service and an HTTP readiness probe has one.
        let expected: BTreeSet<&str> = env
            .workloads
            .iter()
            .filter(|w| {
                w.spec.probes.as_ref().and_then(|pr| pr.readiness.as_ref()).and_then(|r| r.path.as_ref()).is_some()
            })
            .filter(|w| {
                b.get(&format!("kubernetes/{}/{}/service-{}.yaml", env.name, w.namespace(), w.name())).is_some()
            })
            .map(|w| w.name())
            .collect();
        let got: BTreeSet<&str> = tests.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got, expected, "{}: helm test per Service with a readiness path", env.name);
        for (name, t) in tests {
            let w = env.workloads.iter().find(|w| w.name() == t["workload"]).expect("a workload of the spec");
            let ns = w.namespace();
            let probe = w.spec.probes.as_ref().and_then(|pr| pr.readiness.as_ref()).expect("readiness probe");
            assert_eq!(t["path"], json!(probe.path), "{name}: the probe's path");
            // The policies judge the container port; the URL names the Service port that
            // forwards to it.
            let c = controller(&b, &env.name, ns, w.name()).expect("controller");
            let container = c["spec"]["template"]["spec"]["containers"]
                .as_array()
                .expect("containers")
                .iter()
                .find(|k| k["name"] == json!(w.name()))
                .expect("the workload's container");
            let cport = container["ports"]
                .as_array()
                .expect("ports")
                .iter()
                .find(|pt| pt["name"] == json!(probe.port))
                .expect("the probe's named port");
            assert_eq!(t["targetPort"], cport["containerPort"], "{name}: target port");
            let svc = yaml(&b, &format!("kubernetes/{}/{ns}/service-{}.yaml", env.name, w.name()));
            let sport = svc["spec"]["ports"]
                .as_array()
                .expect("service ports")
                .iter()
                .find(|pt| pt["targetPort"] == json!(probe.port) || pt["targetPort"] == cport["containerPort"])
                .expect("a Service port forwarding to it");
            let url = format!(
                "http://{}.{ns}.svc.cluster.local:{}{}",
                w.name(),
                sport["port"],
                t["path"].as_str().expect("path")
            );
            assert_eq!(t["url"], json!(url), "{name}");
            assert_eq!(
                t["runAsUser"], c["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
                "{name}: the workload's UID"
            );
            // The test hooks add an Istio ALLOW; a DENY (or CUSTOM) policy would override it.
            for f in b.paths().filter(|f| f.starts_with(&format!("kubernetes/{}/{ns}/authorizationpolicy-", env.name)))
            {
                let ap = yaml(&b, f);
                let action = ap["spec"]["action"].as_str().unwrap_or("ALLOW");
                assert_eq!(action, "ALLOW", "{f}: would override the helm test's ALLOW");
            }
            // And where the workload's own policy requires a JWT (requestPrincipals), the
            // readiness path is among the paths it admits without one: the probe's and the
            // test's requests carry none.
            if let Some(ap) = b
                .get(&format!("kubernetes/{}/{ns}/authorizationpolicy-{}.yaml", env.name, w.name()))
                .map(|_| yaml(&b, &format!("kubernetes/{}/{ns}/authorizationpolicy-{}.yaml", env.name, w.name())))
            {
                let port = cport["containerPort"].to_string();
                let rules = ap["spec"]["rules"].as_array().cloned().unwrap_or_default();
                let on_port = |r: &Value| {
                    r["to"].as_array().into_iter().flatten().any(|to| {
                        to["operation"]["ports"]
                            .as_array()
                            .is_none_or(|ps| ps.iter().any(|pp| pp.as_str() == Some(&port)))
                    })
                };
                let jwt = rules.iter().any(|r| {
                    on_port(r)
                        && r["from"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|f| f["source"]["requestPrincipals"].is_array())
                });
                if jwt {
                    let exempt =
                        rules.iter().any(|r| {
                            on_port(r)
                                && r["from"]
                                    .as_array()
                                    .into_iter()
                                    .flatten()
                                    .all(|f| f["source"]["requestPrincipals"].is_null())
                                && r["to"].as_array().into_iter().flatten().any(|to| {
                                    to["operation"]["paths"].as_array().is_some_and(|ps| ps.contains(&t["path"]))
                                })
                        });
                    assert!(exempt, "{name}: readiness path {} needs a JWT on port {port}", t["path"]);
                }
            }
        }
    }
}

/// Files of the library chart that differ from, or are missing in, the copy vendored at `copy`.
fn vendoring_drift(b: &Bundle, lib: &str, copy: &str, overrides: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let read = |p: &str| overrides.get(p).cloned().or_else(|| b.get(p).map(<[u8]>::to_vec));
    b.paths()
        .filter(|p| p.starts_with(&format!("{lib}/")) && !p.ends_with("README.md"))
        .filter_map(|p| {
            let vendored = format!("{copy}/{}", p.trim_start_matches(&format!("{lib}/")));
            (read(p) != read(&vendored)).then_some(vendored)
        })
        .collect()
}

#[test]
fn every_service_group_vendors_the_library_byte_for_byte() {
    let (p, b) = built();
    let lib = format!("{CHARTS}/{}", chart::LIB);
    let groups: Vec<String> = charts(&b)
        .into_iter()
        .filter(|c| c.starts_with(&format!("{}/charts/", umbrella(&p))) && !c.ends_with(chart::LIB))
        .collect();
    assert!(!groups.is_empty());
    let lib_version = yaml(&b, &format!("{lib}/Chart.yaml"))["version"].clone();
    for g in &groups {
        let copy = format!("{g}/charts/{}", chart::LIB);
        assert_eq!(vendoring_drift(&b, &lib, &copy, &BTreeMap::new()), Vec::<String>::new(), "{g}");
        let meta = yaml(&b, &format!("{g}/Chart.yaml"));
        let dep = meta["dependencies"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["name"] == chart::LIB))
            .expect("lib dependency");
        assert_eq!(dep["version"], lib_version, "{g}: depends on the library's version");
    }
    // A copy that lost a byte is caught.
    let copy = format!("{}/charts/{}", groups[0], chart::LIB);
    let tpl = format!("{copy}/templates/_object.tpl");
    let mut changed = b.get(&tpl).expect("vendored template").to_vec();
    changed.pop();
    assert_eq!(vendoring_drift(&b, &lib, &copy, &BTreeMap::from([(tpl.clone(), changed)])), vec![tpl]);
}

#[test]
fn the_umbrella_readme_names_every_custom_kind_the_chart_installs() {
    // Kubernetes' own API groups; any other group the chart renders needs its CRD first.
    const BUILTIN: &[&str] = &[
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "scheduling.k8s.io",
    ];
    let (p, b) = built();
    let readme =
        String::from_utf8(b.get(&format!("{}/README.md", umbrella(&p))).expect("README").to_vec()).expect("UTF-8");
    let section = readme.split("## Before installing").nth(1).and_then(|s| s.split("\n## ").next()).expect("section");
    let mut custom = BTreeMap::<String, BTreeSet<String>>::new();
    for v in env_values(&p, &b).values() {
        for (_, s) in v.as_object().expect("values").iter().filter(|(k, _)| *k != "global") {
            for o in s["objects"].as_object().expect("objects").values() {
                let api = o["apiVersion"].as_str().expect("apiVersion");
                if let Some((group, _)) = api.rsplit_once('/').filter(|(g, _)| !BUILTIN.contains(g)) {
                    custom.entry(group.to_string()).or_default().insert(o["kind"].as_str().expect("kind").to_string());
                }
            }
        }
    }
    assert!(custom.contains_key("argoproj.io") && custom.contains_key("external-secrets.io"), "{custom:?}");
    for (group, kinds) in &custom {
        let line = section
            .lines()
            .find(|l| l.starts_with(&format!("- `{group}`:")))
            .unwrap_or_else(|| panic!("README lacks {group}"));
        for k in kinds {
            assert!(line.split([':', ',']).any(|w| w.trim() == k), "README: {group} lacks {k}: {line}");
        }
    }
    assert!(!section.contains("- `apps`") && !section.contains("- `batch`"), "built-in groups need no CRD");
}

/// Secrets and ConfigMaps a pod spec references (volumes, projected sources, env, envFrom).
fn pod_references(v: &Value, out: &mut BTreeSet<(&'static str, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let kind = match k.as_str() {
                    "secret" | "secretRef" | "secretKeyRef" => Some("Secret"),
                    "configMap" | "configMapRef" | "configMapKeyRef" => Some("ConfigMap"),
                    _ => None,
                };
                if let Some(n) = kind.and(child.get("secretName").or_else(|| child.get("name")).and_then(Value::as_str))
                {
                    out.insert((kind.expect("kind"), n.to_string()));
                }
                pod_references(child, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| pod_references(c, out)),
        _ => {}
    }
}

/// What a Job the chart runs as a Helm hook (an Argo CD sync hook in kubernetes/<env>/) needs
/// and the release does not provide as a normal object: a hook runs before (pre-upgrade) or
/// after (post-install) the release's objects, never with them, so its ServiceAccount, the
/// ExternalSecrets behind its Secrets and its ConfigMaps must be normal chart objects.
fn hook_prerequisites_missing(b: &Bundle, env: &str, chart_paths: &BTreeSet<String>, job: &Value) -> Vec<String> {
    let ns = job["metadata"]["namespace"].as_str().expect("namespace");
    let name = job["metadata"]["name"].as_str().expect("name");
    let spec = &job["spec"]["template"]["spec"];
    let mut missing = Vec::new();
    let sa = spec["serviceAccountName"].as_str().unwrap_or("default");
    if sa != "default" && !chart_paths.contains(&format!("{ns}/serviceaccount-{sa}.yaml")) {
        missing.push(format!("{name}: ServiceAccount {sa}"));
    }
    let mut refs = BTreeSet::new();
    pod_references(spec, &mut refs);
    for (kind, r) in refs {
        let found = match kind {
            // A Secret of the workloads is written by External Secrets from an ExternalSecret.
            "Secret" => chart_paths.iter().filter(|p| p.starts_with(&format!("{ns}/externalsecret-"))).any(|p| {
                let es = yaml(b, &format!("kubernetes/{env}/{p}"));
                es["spec"]["target"]["name"] == json!(r)
                    && es["metadata"]["annotations"]["argocd.argoproj.io/hook"].is_null()
            }),
            _ => chart_paths.contains(&format!("{ns}/configmap-{r}.yaml")),
        };
        if !found {
            missing.push(format!("{name}: {kind} {r}"));
        }
    }
    missing
}

#[test]
fn hook_jobs_find_their_service_account_secrets_and_config_among_the_charts_normal_objects() {
    let (p, b) = built();
    let mut hooks = 0;
    for env in &p.environments {
        let scope = json_file(&b, &format!("{CHARTS}/scope/{}.json", env.name));
        let chart_paths: BTreeSet<String> = scope["chart"].as_object().expect("chart").keys().cloned().collect();
        for path in &chart_paths {
            let o = yaml(&b, &format!("kubernetes/{}/{path}", env.name));
            if o["kind"] != "Job" || o["metadata"]["annotations"]["argocd.argoproj.io/hook"].is_null() {
                continue;
            }
            hooks += 1;
            let missing = hook_prerequisites_missing(&b, &env.name, &chart_paths, &o);
            assert!(missing.is_empty(), "{}/{path}: {missing:?}", env.name);
            // The negative case: a Secret nothing in the chart creates.
            let mut broken = o.clone();
            broken["spec"]["template"]["spec"]["volumes"]
                .as_array_mut()
                .expect("volumes")
                .push(json!({ "name": "stray", "secret": { "secretName": "not-in-the-chart" } }));
            let missing = hook_prerequisites_missing(&b, &env.name, &chart_paths, &broken);
            assert_eq!(missing.len(), 1, "{missing:?}");
            assert!(missing[0].ends_with("Secret not-in-the-chart"), "{missing:?}");
        }
    }
    assert!(hooks >= p.environments.len(), "every environment runs its migrations as hooks");
}

#[test]
fn the_schema_rejects_a_replica_count_beside_an_autoscaler() {
    let (p, b) = built();
    let schema = json_file(&b, &format!("{}/values.schema.json", umbrella(&p)));
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    let (env, mut v) = env_values(&p, &b).into_iter().next().expect("an environment");
    let scaled = v["global"]["workloads"]
        .as_object()
        .expect("workloads")
        .iter()
        .find(|(_, w)| w.get("autoscaling").is_some())
        .map(|(n, _)| n.clone())
        .expect("an autoscaled workload");
    assert!(validator.is_valid(&v), "{env}: its own values pass");
    v["global"]["workloads"][&scaled]["replicas"] = json!(3);
    assert!(!validator.is_valid(&v), "{env}: replicas beside autoscaling on {scaled} must be rejected");
}
