//! The local development stack (`compose/`): every service has a health check, limits and
//! reservations and a profile; waits are on health (or completion for one-shots); each Cerverus
//! service runs as its image and its pods do (user, health command, ports, environment, secret
//! files); the env template covers every variable and holds no secret; the network has its own
//! subnet, outside every VPC. [`lint`] is the check, and it rejects broken copies.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use cerverus_model::{Platform, Workload};
use cerverus_render::packaging::compose::{
    self, CORE, FULL, ML, MONITORING, NETWORK, SUBNET, env_file_values, expectations, expected_health, image_of,
    interpolated, lint, migration_service, secret_looking, unescape,
};
use cerverus_render::packaging::docker::{Image, images};
use cerverus_spec::WorkloadKind;
use serde_json::{Value, json};

fn bundle() -> (Platform, Bundle) {
    cerverus::build_default().expect("default spec builds")
}

fn text(b: &Bundle, path: &str) -> String {
    String::from_utf8(b.get(path).unwrap_or_else(|| panic!("{path} in the bundle")).to_vec()).expect("utf8")
}

fn compose_doc(b: &Bundle) -> Value {
    serde_saphyr::from_str(&text(b, "compose/compose.yaml")).expect("compose.yaml parses")
}

fn services(doc: &Value) -> &serde_json::Map<String, Value> {
    doc["services"].as_object().expect("services")
}

fn env(p: &Platform) -> &cerverus_model::Env {
    compose::source_env(p).expect("an environment")
}

/// Long-running workloads: one service each.
fn running(p: &Platform) -> Vec<&Workload> {
    env(p).workloads.iter().filter(|w| w.spec.kind.is_long_running()).collect()
}

fn findings(doc: &Value, env_example: &str, p: &Platform) -> Vec<String> {
    lint(doc, env_example, &expectations(env(p), &images(p))).iter().map(ToString::to_string).collect()
}

#[test]
fn the_rendered_stack_passes_its_lint() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    let found = findings(&doc, &text(&b, "compose/.env.example"), &p);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn every_service_has_a_health_check_limits_reservations_and_a_profile() {
    let (_, b) = bundle();
    let doc = compose_doc(&b);
    for (name, s) in services(&doc) {
        let one_shot = s["restart"] == "no";
        if one_shot {
            // Its image's HEALTHCHECK probes a server a one-shot does not start.
            assert_eq!(s["healthcheck"]["disable"], true, "{name}");
        } else {
            let test = s["healthcheck"]["test"].as_array().unwrap_or_else(|| panic!("{name}: no healthcheck"));
            assert!(test.len() > 1 && test[0] == "CMD", "{name}: {test:?}");
        }
        for part in ["limits", "reservations"] {
            for field in ["cpus", "memory"] {
                assert!(s["deploy"]["resources"][part][field].is_string(), "{name}: {part}.{field}");
            }
        }
        let profiles: Vec<&str> =
            s["profiles"].as_array().expect("profiles").iter().filter_map(Value::as_str).collect();
        assert!(profiles.contains(&FULL), "{name}: {profiles:?}");
        assert!(profiles.iter().any(|p| [CORE, ML, MONITORING].contains(p)), "{name}: {profiles:?}");
        assert_eq!(s["read_only"], true, "{name}");
        assert_eq!(s["cap_drop"], json!(["ALL"]), "{name}");
        assert_eq!(s["security_opt"], json!(["no-new-privileges:true"]), "{name}");
    }
}

#[test]
fn waits_are_on_health_or_on_completion() {
    let (_, b) = bundle();
    let doc = compose_doc(&b);
    let all = services(&doc);
    let mut waits = 0;
    for (name, s) in all {
        for (dep, cond) in s["depends_on"].as_object().into_iter().flatten() {
            let target = all.get(dep).unwrap_or_else(|| panic!("{name} depends on unknown {dep}"));
            let want = if target["restart"] == "no" { "service_completed_successfully" } else { "service_healthy" };
            assert_eq!(cond["condition"], want, "{name} -> {dep}");
            waits += 1;
        }
    }
    assert!(waits > 5, "the stack waits for its dependencies ({waits} waits)");
}

#[test]
fn the_spec_dependencies_are_the_waits() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    let e = env(&p);
    for w in running(&p) {
        let deps = &services(&doc)[w.name()]["depends_on"];
        for edge in e.graph.from(w.name()) {
            match &edge.to {
                cerverus_model::Target::Postgres { name } | cerverus_model::Target::Redis { name } => {
                    assert_eq!(deps[name]["condition"], "service_healthy", "{} -> {name}", w.name());
                }
                _ => {}
            }
        }
    }
}

#[test]
fn each_profile_starts_on_its_own() {
    let (_, b) = bundle();
    let doc = compose_doc(&b);
    let all = services(&doc);
    for profile in [CORE, ML, MONITORING, FULL] {
        let members: BTreeSet<&str> = all
            .iter()
            .filter(|(_, s)| s["profiles"].as_array().is_some_and(|a| a.iter().any(|p| p == profile)))
            .map(|(n, _)| n.as_str())
            .collect();
        assert!(!members.is_empty(), "{profile}");
        for m in &members {
            for dep in all[*m]["depends_on"].as_object().into_iter().flatten().map(|(d, _)| d) {
                assert!(members.contains(dep.as_str()), "{profile}: {m} waits for {dep}, which is not in it");
            }
        }
    }
    let full: BTreeSet<&String> = all.keys().collect();
    assert_eq!(full.len(), all.len());
}

#[test]
fn the_data_stores_and_airflow_and_the_api_and_the_workers_are_in_core() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    let all = services(&doc);
    let core = |n: &str| all[n]["profiles"].as_array().is_some_and(|a| a.iter().any(|x| x == CORE));
    for w in running(&p).iter().filter(|w| w.spec.resources.gpu == 0) {
        assert!(core(w.name()), "{}", w.name());
    }
    for s in env(&p).postgres.iter().map(|s| &s.name).chain(env(&p).redis.iter().map(|s| &s.name)) {
        assert!(core(s), "{s}");
    }
    assert!(all["prometheus"]["profiles"].as_array().is_some_and(|a| a.iter().any(|x| x == MONITORING)));
    assert!(all["grafana"]["profiles"].as_array().is_some_and(|a| a.iter().any(|x| x == MONITORING)));
}

#[test]
fn gpu_workloads_reserve_an_nvidia_device_in_profile_ml() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    let gpu: Vec<&Workload> = running(&p).into_iter().filter(|w| w.spec.resources.gpu > 0).collect();
    assert!(!gpu.is_empty());
    for w in gpu {
        let s = &services(&doc)[w.name()];
        assert_eq!(
            s["deploy"]["resources"]["reservations"]["devices"],
            json!([{ "driver": "nvidia", "count": w.spec.resources.gpu, "capabilities": ["gpu"] }]),
            "{}",
            w.name()
        );
        assert_eq!(s["profiles"], json!([FULL, ML]), "{}: GPU services stay out of core", w.name());
    }
}

#[test]
fn health_checks_are_the_images_health_commands() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    let imgs = images(&p);
    for w in running(&p) {
        let test: Vec<String> = services(&doc)[w.name()]["healthcheck"]["test"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no test", w.name()))
            .iter()
            .skip(1)
            .filter_map(Value::as_str)
            .map(unescape)
            .collect();
        let image = image_of(&imgs, w).unwrap_or_else(|| panic!("{}: no image", w.name()));
        if w.contract.and_then(|c| c.health.as_ref()).is_none() {
            assert_eq!(Some(&test), image.health_command.as_ref(), "{}", w.name());
        } else {
            // Roles sharing an image (Airflow's) are checked as their runtime contract says.
            assert_eq!(Some(test), expected_health(w, Some(image)), "{}", w.name());
        }
    }
}

/// The pod template of `w` in the dev environment's manifests.
fn pod_spec(b: &Bundle, env: &str, w: &Workload) -> Value {
    let prefix = format!("kubernetes/{env}/{}/", w.namespace());
    for (path, bytes) in b.iter().filter(|(p, _)| p.starts_with(&prefix)) {
        let v: Value = serde_saphyr::from_str(std::str::from_utf8(bytes).expect("utf8")).expect(path);
        let kinds = ["Deployment", "StatefulSet", "Rollout"];
        if v["metadata"]["name"] == w.name() && kinds.iter().any(|k| v["kind"] == *k) {
            return v["spec"]["template"]["spec"].clone();
        }
    }
    panic!("no pod template of {}", w.name())
}

#[test]
fn services_run_as_the_image_user_and_the_pods_run_as_user() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    let imgs = images(&p);
    for w in running(&p) {
        let image = image_of(&imgs, w).unwrap_or_else(|| panic!("{}: no image", w.name()));
        let pod = pod_spec(&b, &env(&p).name, w);
        let want = format!("{}:{}", image.uid, image.gid);
        assert_eq!(services(&doc)[w.name()]["user"], want, "{}", w.name());
        assert_eq!(pod["securityContext"]["runAsUser"], image.uid, "{}", w.name());
        assert_eq!(pod["securityContext"]["runAsGroup"], image.gid, "{}", w.name());
    }
}

#[test]
fn published_and_internal_ports_are_the_images_ports() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    let imgs = images(&p);
    for w in running(&p) {
        let image: &Image = image_of(&imgs, w).unwrap_or_else(|| panic!("{}: no image", w.name()));
        let s = &services(&doc)[w.name()];
        let mut ports = BTreeSet::new();
        for published in s["ports"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            // Published on the loopback only.
            assert!(published.starts_with("127.0.0.1:"), "{}: {published}", w.name());
            ports.insert(published.rsplit(':').next().and_then(|c| c.parse::<u16>().ok()).expect("container port"));
        }
        for internal in s["expose"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            ports.insert(internal.parse::<u16>().expect("port"));
        }
        assert_eq!(ports, image.ports.iter().copied().collect::<BTreeSet<_>>(), "{}", w.name());
    }
}

#[test]
fn services_get_the_pods_environment_and_secret_files() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    let e = env(&p);
    for w in running(&p) {
        let pod = pod_spec(&b, &e.name, w);
        let c = &pod["containers"][0];
        let s = &services(&doc)[w.name()];
        let mut want: BTreeMap<String, String> = BTreeMap::new();
        for v in c["env"].as_array().into_iter().flatten() {
            let value = v["value"].as_str().expect("no secretKeyRef in this spec: secrets are files");
            want.insert(v["name"].as_str().expect("name").into(), value.into());
        }
        want.extend(w.spec.config.clone());
        let got: BTreeMap<String, String> = s["environment"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), unescape(v.as_str().expect("string"))))
            .collect();
        assert_eq!(got, want, "{}", w.name());
        // Secret files: every file the pod's secret volumes project, at the same path.
        let volumes = pod["volumes"].as_array().expect("volumes");
        let mut files = BTreeSet::new();
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            // A StatefulSet's claim is no pod volume.
            let Some(vol) = volumes.iter().find(|v| v["name"] == m["name"]) else { continue };
            let Some(secret) = vol["secret"]["secretName"].as_str() else { continue };
            // Without items the volume projects every key of the Secret.
            let keys: Vec<String> = match vol["secret"]["items"].as_array() {
                Some(items) => items.iter().map(|i| i["path"].as_str().expect("path").to_string()).collect(),
                None => w.secrets.iter().find(|s| s.name == secret).expect("secret").keys.clone(),
            };
            for k in keys {
                files.insert(format!("{}/{k}", m["mountPath"].as_str().expect("path")));
            }
        }
        let targets: BTreeSet<String> = s["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x["target"].as_str().expect("target").to_string())
            .collect();
        assert_eq!(targets, files, "{}", w.name());
        for x in s["secrets"].as_array().into_iter().flatten() {
            let source = x["source"].as_str().expect("source");
            let file = doc["secrets"][source]["file"].as_str().expect("secret file");
            assert!(file.starts_with("./secrets/"), "{file}");
        }
        assert_eq!(s["read_only"], true);
    }
}

#[test]
fn airflow_roles_wait_for_the_one_shot_migration() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    let all = services(&doc);
    let mut checked = 0;
    for w in running(&p) {
        if w.contract.and_then(|c| c.migrate.as_ref()).is_none() {
            continue;
        }
        let runner = running(&p)
            .into_iter()
            .find(|o| {
                o.spec.part_of == w.spec.part_of
                    && o.contract.and_then(|c| c.migrate.as_ref()).is_some_and(|m| !m.command.is_empty())
            })
            .expect("a role runs the migration");
        let mig = migration_service(runner);
        let m = runner.contract.and_then(|c| c.migrate.as_ref()).expect("migrate");
        assert_eq!(all[w.name()]["depends_on"][&mig]["condition"], "service_completed_successfully", "{}", w.name());
        assert_eq!(all[&mig]["entrypoint"], json!(m.command), "{mig}");
        assert_eq!(all[&mig]["restart"], "no");
        checked += 1;
    }
    assert!(checked >= 4, "webserver, scheduler, triggerer, worker");
    // The API waits for its own Job (alembic) the same way.
    for j in env(&p).workloads.iter().filter(|j| j.spec.kind == WorkloadKind::Job) {
        assert_eq!(all[j.name()]["restart"], "no");
        for w in running(&p).into_iter().filter(|w| w.spec.image.repository == j.spec.image.repository) {
            assert_eq!(all[w.name()]["depends_on"][j.name()]["condition"], "service_completed_successfully");
        }
    }
}

#[test]
fn every_variable_is_in_the_env_template_and_no_secret_has_a_value() {
    let (_, b) = bundle();
    let doc = compose_doc(&b);
    let example = env_file_values(&text(&b, "compose/.env.example"));
    let vars = interpolated(&doc);
    assert!(!vars.is_empty());
    for v in &vars {
        assert!(example.contains_key(v), "{v} missing from .env.example");
        // Required: compose stops with the variable's name when it is unset.
        assert!(text(&b, "compose/compose.yaml").contains(&format!("${{{v}:?")), "{v} is not required");
    }
    for (k, v) in &example {
        assert!(!secret_looking(k) || v.is_empty(), "{k} has a value");
    }
    let ignored: BTreeSet<String> = text(&b, "compose/.gitignore").lines().map(str::to_string).collect();
    assert!(ignored.contains("/.env") && ignored.contains("/secrets/"), "{ignored:?}");
    assert!(b.get("compose/README.md").is_some_and(|r| std::str::from_utf8(r).expect("utf8").contains("--profile ml")));
}

#[test]
fn the_network_has_its_own_subnet_outside_every_vpc() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    let subnet: ipnet::Ipv4Net =
        doc["networks"][NETWORK]["ipam"]["config"][0]["subnet"].as_str().expect("subnet").parse().expect("CIDR");
    assert_eq!(subnet.to_string(), SUBNET);
    for e in &p.environments {
        let vpc = e.network.vpc_cidr;
        assert!(!vpc.contains(&subnet.network()) && !subnet.contains(&vpc.network()), "{} overlaps {vpc}", e.name);
    }
    for (name, s) in services(&doc) {
        assert!(s["networks"][NETWORK].is_object(), "{name}");
    }
}

#[test]
fn third_party_images_are_pinned_by_digest() {
    let (_, b) = bundle();
    let doc = compose_doc(&b);
    for (name, s) in services(&doc) {
        let image = s["image"].as_str().expect("image");
        let digest = image.rsplit_once("@sha256:").map(|(_, d)| d).unwrap_or_else(|| panic!("{name}: {image}"));
        assert!(digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()), "{name}: {image}");
    }
}

#[test]
fn bind_mounts_are_bundle_files_and_secrets_are_not() {
    let (p, b) = bundle();
    let doc = compose_doc(&b);
    for (name, s) in services(&doc) {
        for v in s["volumes"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let Some(source) = v.split(':').next().and_then(|x| x.strip_prefix("./")) else { continue };
            let path = format!("compose/{source}");
            assert!(
                b.paths().any(|x| x == path || x.starts_with(&format!("{path}/"))),
                "{name}: {v} is not in the bundle"
            );
        }
    }
    for (name, secret) in doc["secrets"].as_object().expect("secrets") {
        let file = secret["file"].as_str().expect("file");
        assert!(file.starts_with("./secrets/"), "{name}: {file}");
        let path = format!("compose/{}", file.trim_start_matches("./"));
        assert!(b.get(&path).is_none(), "{path}: a secret file is in the bundle");
    }
    // The feature flags are the pods' ConfigMap's.
    let e = env(&p);
    for w in running(&p).into_iter().filter(|w| !w.spec.feature_flags.is_empty()) {
        let cm: Value = serde_saphyr::from_str(&text(
            &b,
            &format!("kubernetes/{}/{}/configmap-{}-feature-flags.yaml", e.name, w.namespace(), w.name()),
        ))
        .expect("configmap");
        let file = text(&b, &format!("compose/config/{}/flags.json", w.name()));
        let flags: Value = serde_json::from_str(&file).expect("json");
        let cluster: Value = serde_json::from_str(cm["data"]["flags.json"].as_str().expect("flags")).expect("json");
        assert_eq!(flags, cluster, "{}", w.name());
    }
}

#[test]
fn prometheus_scrapes_every_metrics_port() {
    let (p, b) = bundle();
    let config: Value = serde_saphyr::from_str(&text(&b, "compose/prometheus/prometheus.yml")).expect("prometheus.yml");
    let targets: BTreeSet<String> = config["scrape_configs"]
        .as_array()
        .expect("jobs")
        .iter()
        .flat_map(|j| j["static_configs"][0]["targets"].as_array().expect("targets").clone())
        .map(|t| t.as_str().expect("target").to_string())
        .collect();
    let want: BTreeSet<String> =
        running(&p).iter().filter_map(|w| w.metrics_port().map(|m| format!("{}:{}", w.name(), m.port))).collect();
    assert!(!want.is_empty());
    assert_eq!(targets, want);
}

#[test]
fn each_application_gets_its_database() {
    let (_, b) = bundle();
    let sql = text(&b, "compose/postgres/initdb/10-databases.sql");
    let readme = text(&b, "compose/README.md");
    for db in ["alerts_api_db", "airflow_metadata_db"] {
        assert!(sql.contains(&format!("CREATE DATABASE \"{db}\";")), "{sql}");
        assert!(readme.contains(&format!("@cerverus-db:5432/{db}")), "{db}");
    }
}

// ---- The lint rejects broken stacks --------------------------------------------------------

fn broken(mutate: impl FnOnce(&mut Value, &mut String)) -> Vec<String> {
    let (p, b) = bundle();
    let mut doc = compose_doc(&b);
    let mut example = text(&b, "compose/.env.example");
    mutate(&mut doc, &mut example);
    findings(&doc, &example, &p)
}

fn first_workload(doc: &Value) -> String {
    services(doc)
        .iter()
        .find(|(_, s)| s["networks"][NETWORK]["aliases"].is_array())
        .map(|(n, _)| n.clone())
        .expect("a workload")
}

fn assert_names(found: &[String], needle: &str) {
    assert!(found.iter().any(|f| f.contains(needle)), "expected a finding with {needle:?}: {found:#?}");
}

#[test]
fn lint_rejects_a_service_without_a_health_check() {
    let found = broken(|d, _| {
        let s = first_workload(d);
        d["services"][&s].as_object_mut().expect("svc").remove("healthcheck");
    });
    assert_names(&found, "has no health check");
}

#[test]
fn lint_rejects_a_service_without_limits_or_profile() {
    let found = broken(|d, _| {
        let s = first_workload(d);
        d["services"][&s]["deploy"]["resources"].as_object_mut().expect("res").remove("limits");
        d["services"][&s]["profiles"] = json!(["core"]);
    });
    assert_names(&found, "deploy.resources.limits.cpus");
    assert_names(&found, "lack `full`");
}

#[test]
fn lint_rejects_an_unknown_variable_and_a_secret_value() {
    let found = broken(|d, e| {
        let s = first_workload(d);
        d["services"][&s]["environment"]["X"] = json!("${NOT_IN_TEMPLATE:?set it}");
        e.push_str("\nDB_PASSWORD=hunter2\n");
    });
    assert_names(&found, "`NOT_IN_TEMPLATE` is interpolated");
    assert_names(&found, "`DB_PASSWORD` has a value");
}

#[test]
fn lint_rejects_unknown_and_wrong_waits() {
    let found = broken(|d, _| {
        let s = first_workload(d);
        d["services"][&s]["depends_on"] = json!({ "no-such-service": { "condition": "service_healthy" }, "prometheus": { "condition": "service_started" } });
    });
    assert_names(&found, "unknown service `no-such-service`");
    assert_names(&found, "waits for `prometheus` with `service_started`");
}

#[test]
fn lint_rejects_a_wrong_user_health_command_port_or_subnet() {
    let found = broken(|d, _| {
        let s = first_workload(d);
        d["services"][&s]["user"] = json!("0:0");
        d["services"][&s]["healthcheck"]["test"] = json!(["CMD", "true"]);
        d["services"][&s]["expose"] = json!(["1"]);
        d["networks"][NETWORK]["ipam"]["config"] = json!([]);
    });
    assert_names(&found, "runs as root");
    assert_names(&found, "is not the image's");
    assert_names(&found, "ports");
    assert_names(&found, "has no IPv4 subnet");
}

#[test]
fn lint_rejects_a_writable_privileged_service() {
    let found = broken(|d, _| {
        let s = first_workload(d);
        d["services"][&s]["read_only"] = json!(false);
        d["services"][&s]["cap_drop"] = json!([]);
        d["services"][&s].as_object_mut().expect("svc").remove("security_opt");
    });
    assert_names(&found, "not read_only");
    assert_names(&found, "ALL capabilities");
    assert_names(&found, "new privileges");
}
