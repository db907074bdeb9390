//! Invariants over the rendered bundle, read back as plain data: what a reviewer would check by
//! hand on every file, checked on every build.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use serde_json::Value;

fn bundle() -> (cerverus_model::Platform, Bundle) {
    cerverus::build_default().expect("default spec builds")
}

/// Every Kubernetes object in the bundle: (path, object).
fn objects(b: &Bundle) -> Vec<(String, Value)> {
    b.iter()
        .filter(|(p, _)| p.starts_with("kubernetes/") && p.ends_with(".yaml"))
        .map(|(p, bytes)| {
            let text = std::str::from_utf8(bytes).expect("utf8");
            let v: Value = serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{p}: {e}"));
            (p.to_string(), v)
        })
        .collect()
}

fn of_kind<'a>(objs: &'a [(String, Value)], env: &str, kind: &str) -> Vec<&'a Value> {
    objs.iter()
        .filter(|(p, v)| p.starts_with(&format!("kubernetes/{env}/")) && v["kind"] == kind)
        .map(|(_, v)| v)
        .collect()
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector["matchLabels"].as_object().is_some_and(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

#[test]
fn every_deployment_meets_pod_security_restricted_and_has_probes_and_resources() {
    let (_, b) = bundle();
    let objs = objects(&b);
    // Rollouts carry the Deployment's pod template and are held to the same standard.
    let deployments: Vec<_> =
        objs.iter().filter(|(_, v)| v["kind"] == "Deployment" || v["kind"] == "Rollout").collect();
    assert!(!deployments.is_empty());
    for (path, d) in deployments {
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{path}");
        assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault", "{path}");
        assert!(pod["hostNetwork"].is_null() && pod["hostPID"].is_null() && pod["hostIPC"].is_null(), "{path}");
        for c in pod["containers"].as_array().expect("containers") {
            let sc = &c["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{path}");
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{path}");
            assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]), "{path}");
            assert!(sc["capabilities"]["add"].is_null(), "{path}");
            for k in ["cpu", "memory", "ephemeral-storage"] {
                assert!(c["resources"]["requests"][k].is_string(), "{path}: no {k} request");
                assert!(c["resources"]["limits"][k].is_string(), "{path}: no {k} limit");
            }
            assert!(c["livenessProbe"].is_object(), "{path}: no liveness probe");
            assert!(c["readinessProbe"].is_object(), "{path}: no readiness probe");
            let image = c["image"].as_str().expect("image");
            assert!(
                image.contains(".dkr.ecr.") && image.contains("@sha256:"),
                "{path}: image {image} not pinned to the registry and a digest"
            );
        }
        assert_eq!(
            pod["volumes"].as_array().map(|v| v.iter().any(|v| v["hostPath"].is_object())),
            Some(false),
            "{path}"
        );
    }
}

#[test]
fn every_multi_replica_deployment_has_a_pdb_that_allows_a_drain() {
    let (platform, b) = bundle();
    let objs = objects(&b);
    for env in &platform.environments {
        let pdbs = of_kind(&objs, &env.name, "PodDisruptionBudget");
        let rollouts = of_kind(&objs, &env.name, "Rollout");
        for d in of_kind(&objs, &env.name, "Deployment").into_iter().chain(rollouts) {
            let name = d["metadata"]["name"].as_str().expect("name");
            let w = env.workload(name).expect("deployment comes from a workload");
            let min = w.spec.autoscaling.as_ref().map_or(w.spec.replicas, |a| a.min.min(w.spec.replicas));
            let labels = &d["spec"]["template"]["metadata"]["labels"];
            let covering: Vec<_> = pdbs
                .iter()
                .filter(|p| {
                    p["metadata"]["namespace"] == d["metadata"]["namespace"]
                        && labels_match(&p["spec"]["selector"], labels)
                })
                .collect();
            if min > 1 {
                assert_eq!(covering.len(), 1, "{}/{name}: {min} replicas need exactly one PDB", env.name);
                let max_unavailable = covering[0]["spec"]["maxUnavailable"].as_i64().unwrap_or(0);
                assert!(max_unavailable >= 1, "{}/{name}: PDB blocks every drain", env.name);
                assert!(i64::from(min) - max_unavailable >= 1, "{}/{name}: a drain could take every replica", env.name);
            } else {
                // A PDB on a single replica would block drains forever.
                assert!(covering.is_empty(), "{}/{name}: single replica must not have a PDB", env.name);
            }
        }
    }
}

#[test]
fn every_namespace_denies_by_default() {
    let (platform, b) = bundle();
    let objs = objects(&b);
    for env in &platform.environments {
        // Every namespace of the spec, application or platform, starts from deny.
        let namespaces: BTreeSet<&str> = env.namespaces.iter().map(|n| n.name.as_str()).collect();
        // The seed's six, plus cerverus-node-agents (node-level agents, PSS privileged), minus
        // ingress-nginx (its chart was dropped; nothing ran there).
        assert_eq!(namespaces.len(), 6);
        for ns in namespaces {
            let deny = of_kind(&objs, &env.name, "NetworkPolicy").into_iter().find(|p| {
                p["metadata"]["namespace"] == ns
                    && p["spec"]["podSelector"].as_object().is_some_and(|m| m.is_empty())
                    && p["spec"]["policyTypes"] == serde_json::json!(["Ingress", "Egress"])
                    && p["spec"]["ingress"].is_null()
                    && p["spec"]["egress"].is_null()
            });
            assert!(deny.is_some(), "{}/{ns}: no default-deny NetworkPolicy", env.name);
        }
    }
}

/// Every ingress peer the NetworkPolicies allow: (caller namespace, caller pod labels as
/// `k=v,…`, callee name, port).
fn ingress_peers(objs: &[(String, Value)], env: &str) -> BTreeSet<(String, String, String, i64)> {
    let mut out = BTreeSet::new();
    for p in of_kind(objs, env, "NetworkPolicy") {
        // Workload policies only: the platform components' own policies are tested on their own.
        if p["metadata"]["annotations"]["cerverus.io/derived-from"].is_null() {
            continue;
        }
        let Some(callee) = p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"].as_str() else { continue };
        for rule in p["spec"]["ingress"].as_array().into_iter().flatten() {
            for from in rule["from"].as_array().into_iter().flatten() {
                let ns =
                    from["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str().unwrap_or("*");
                let pods: Vec<String> = from["podSelector"]["matchLabels"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?"))).collect())
                    .unwrap_or_default();
                for port in rule["ports"].as_array().into_iter().flatten() {
                    out.insert((
                        ns.to_string(),
                        pods.join(","),
                        callee.to_string(),
                        port["port"].as_i64().unwrap_or(-1),
                    ));
                }
            }
        }
    }
    out
}

/// Workload-to-workload edges allowed by the NetworkPolicies: (caller, callee, port). A peer
/// counts as a workload only when both its namespace and its name match one in the model.
fn allowed_workload_edges(objs: &[(String, Value)], env: &cerverus_model::Env) -> BTreeSet<(String, String, i64)> {
    ingress_peers(objs, &env.name)
        .into_iter()
        .filter_map(|(ns, pods, callee, port)| {
            let caller = env.workloads.iter().find(|w| {
                w.namespace() == ns
                    && pods == format!("app.kubernetes.io/instance={0},app.kubernetes.io/name={0}", w.name())
            })?;
            Some((caller.name().to_string(), callee, port))
        })
        .collect()
}

#[test]
fn network_policy_edges_are_exactly_the_declared_dependencies() {
    let (platform, b) = bundle();
    let objs = objects(&b);
    for env in &platform.environments {
        let declared: BTreeSet<(String, String, i64)> = env
            .graph
            .edges
            .iter()
            .filter_map(|e| match &e.to {
                cerverus_model::Target::Workload { name, .. } => {
                    Some((e.from.clone(), name.clone(), i64::from(e.port?)))
                }
                _ => None,
            })
            .collect();
        assert!(!declared.is_empty());
        assert_eq!(allowed_workload_edges(&objs, env), declared, "{}", env.name);

        // Every other ingress peer is one of the platform's own, named edges.
        let workload_peers = allowed_workload_edges(&objs, env).len();
        let mut platform_peers = 0;
        for (ns, pods, callee, port) in ingress_peers(&objs, &env.name) {
            let w = env.workload(&callee).expect("policy for a known workload");
            let scrape = ns == "cerverus-monitoring"
                && pods == "app.kubernetes.io/name=prometheus"
                && w.metrics_port().map(|p| i64::from(p.port)) == Some(port);
            let gateway = ns == "istio-system"
                && pods == "istio=ingressgateway"
                && w.serving_http_ports().any(|p| i64::from(p.port) == port);
            if scrape || gateway {
                platform_peers += 1;
            }
        }
        assert_eq!(
            ingress_peers(&objs, &env.name).len(),
            workload_peers + platform_peers,
            "{}: an ingress peer is neither declared nor a platform edge",
            env.name
        );
    }
}

#[test]
fn adding_a_dependency_opens_exactly_one_edge() {
    let text = cerverus_spec::DEFAULT_SPEC.replacen(
        "      - bucket: cerverus-bronze\n        access: read\n      - bucket: cerverus-gold\n        access: readWrite\n      - bucket: cerverus-feature-store",
        "      - workload: alerts-api\n        port: http\n      - bucket: cerverus-bronze\n        access: read\n      - bucket: cerverus-gold\n        access: readWrite\n      - bucket: cerverus-feature-store",
        1,
    );
    assert_ne!(text, cerverus_spec::DEFAULT_SPEC, "the edit must apply");
    let loaded = cerverus_spec::load("edited.yaml", &text).expect("loads");
    let platform = cerverus_model::resolve(&loaded).expect("resolves");
    let after = objects(&cerverus_render::render(&platform, &[]).expect("renders"));
    let (_, b) = bundle();
    let before = objects(&b);
    for env in &platform.environments {
        let old = allowed_workload_edges(&before, env);
        let new = allowed_workload_edges(&after, env);
        let added: Vec<_> = new.difference(&old).collect();
        assert_eq!(added, vec![&("stream-processor".to_string(), "alerts-api".to_string(), 8080)], "{}", env.name);
        assert!(old.is_subset(&new));
    }
}

#[test]
fn no_secret_values_and_no_secret_objects_in_the_bundle() {
    let (_, b) = bundle();
    for (path, v) in objects(&b) {
        assert_ne!(v["kind"], "Secret", "{path}: Secret objects come from External Secrets, never the bundle");
    }
    for (path, bytes) in b.iter() {
        let text = String::from_utf8_lossy(bytes).to_lowercase();
        for needle in ["aws_secret_access_key", "-----begin"] {
            assert!(!text.contains(needle), "{path} contains {needle}");
        }
        assert_eq!(password_values(&text), Vec::<String>::new(), "{path} has password values");
    }
    // The check itself: a literal password is found, a secret reference is not.
    assert_eq!(password_values("  password: hunter2\n"), vec!["password: hunter2".to_string()]);
    assert!(password_values("  password: ${{ secrets.github_token }}\n").is_empty());
}

/// Lines that give a password a value. A password may only be a reference GitHub resolves at
/// run time (a workflow's `password: ${{ secrets.X }}`), never a value.
fn password_values(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split_once("password:").map(|(_, v)| (line, v.trim())))
        .filter(|(_, v)| !v.starts_with("${{ secrets."))
        .map(|(line, _)| line.trim().to_string())
        .collect()
}

#[test]
fn terraform_roots_are_complete_and_state_keys_unique() {
    let (platform, b) = bundle();
    let mut keys = BTreeMap::new();
    for env in &platform.environments {
        for f in ["versions.tf", "providers.tf", "backend.tf"] {
            assert!(b.get(&format!("terraform/envs/{}/{f}", env.name)).is_some(), "{}/{f} missing", env.name);
        }
        let backend =
            String::from_utf8_lossy(b.get(&format!("terraform/envs/{}/backend.tf", env.name)).expect("backend"))
                .into_owned();
        let key = backend.lines().find(|l| l.trim_start().starts_with("key")).expect("key line").to_string();
        assert!(keys.insert(key.clone(), env.name.clone()).is_none(), "state key {key} shared");
        assert!(backend.contains("cerverus-terraform-state") && backend.contains("terraform-state-lock"));
    }
}

#[test]
fn every_file_is_canonical_text() {
    let (_, b) = bundle();
    for (path, bytes) in b.iter() {
        let text = std::str::from_utf8(bytes).unwrap_or_else(|_| panic!("{path} is not UTF-8"));
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{path}: must end with exactly one newline");
        assert!(!text.contains('\r') && !text.contains('\t'), "{path}: CR or tab");
        assert!(text.lines().all(|l| l == l.trim_end()), "{path}: trailing whitespace");
        if path.ends_with(".tf") {
            assert_eq!(cerverus_render::hcl::align_equals(text), text, "{path}: not in terraform fmt alignment");
        }
    }
}

/// The pod spec of any workload object.
fn pod_spec(v: &Value) -> Option<&Value> {
    match v["kind"].as_str()? {
        // A Rollout carries a Deployment's pod template (canary and blue-green workloads).
        "Deployment" | "StatefulSet" | "Job" | "Rollout" => Some(&v["spec"]["template"]["spec"]),
        "CronJob" => Some(&v["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
        _ => None,
    }
}

#[test]
fn every_workload_kind_is_rendered_and_meets_pod_security_restricted() {
    let (platform, b) = bundle();
    let objs = objects(&b);
    for env in &platform.environments {
        for w in &env.workloads {
            let kind = match w.spec.kind {
                // Canary and blue-green: Argo Rollouts runs the pods (tests/rollouts.rs).
                cerverus_spec::WorkloadKind::Deployment
                    if w.spec.rollout != cerverus_spec::RolloutStrategy::Rolling =>
                {
                    "Rollout"
                }
                cerverus_spec::WorkloadKind::Deployment => "Deployment",
                cerverus_spec::WorkloadKind::StatefulSet => "StatefulSet",
                cerverus_spec::WorkloadKind::CronJob => "CronJob",
                cerverus_spec::WorkloadKind::Job => "Job",
            };
            let found = of_kind(&objs, &env.name, kind).into_iter().any(|v| v["metadata"]["name"] == w.name());
            assert!(found, "{}: {kind} {} not rendered", env.name, w.name());
        }
    }
    let mut checked = 0;
    for (path, v) in &objs {
        let Some(pod) = pod_spec(v) else { continue };
        checked += 1;
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{path}");
        assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault", "{path}");
        for c in pod["containers"].as_array().expect("containers") {
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false, "{path}");
            assert_eq!(c["securityContext"]["capabilities"]["drop"], serde_json::json!(["ALL"]), "{path}");
            assert!(c["resources"]["limits"]["memory"].is_string(), "{path}");
        }
    }
    assert!(checked >= 30, "only {checked} pod specs");
}

#[test]
fn no_role_grants_a_wildcard_and_only_break_glass_reaches_cluster_admin() {
    let (_, b) = bundle();
    for (path, v) in objects(&b) {
        match v["kind"].as_str() {
            Some("Role") | Some("ClusterRole") => {
                for rule in v["rules"].as_array().into_iter().flatten() {
                    for key in ["verbs", "resources", "apiGroups"] {
                        for item in rule[key].as_array().into_iter().flatten() {
                            assert!(!item.as_str().unwrap_or("").contains('*'), "{path}: wildcard in {key}");
                        }
                    }
                }
            }
            Some("ClusterRoleBinding") | Some("RoleBinding") if v["roleRef"]["name"] == "cluster-admin" => {
                assert_eq!(
                    v["metadata"]["name"],
                    cerverus_render::kubernetes::rbac::BREAK_GLASS_BINDING,
                    "{path}: cluster-admin bound outside break-glass"
                );
                // Only the break-glass group; never a service account (pod creation in its
                // namespace would make that cluster-admin).
                let subjects = v["subjects"].as_array().expect("subjects");
                assert_eq!(subjects.len(), 1, "{path}");
                assert_eq!(subjects[0]["kind"], "Group", "{path}");
                assert_eq!(subjects[0]["name"], cerverus_model::break_glass_group("cerverus"), "{path}");
            }
            _ => {}
        }
    }
}

#[test]
fn autoscalers_are_consistent_and_every_workload_has_a_vpa() {
    let (platform, b) = bundle();
    let objs = objects(&b);
    for env in &platform.environments {
        let hpas = of_kind(&objs, &env.name, "HorizontalPodAutoscaler");
        let scaled = of_kind(&objs, &env.name, "ScaledObject");
        let vpas = of_kind(&objs, &env.name, "VerticalPodAutoscaler");
        for w in &env.workloads {
            let hpa = hpas.iter().find(|h| h["metadata"]["name"] == w.name());
            let so = scaled.iter().find(|h| h["metadata"]["name"] == w.name());
            match &w.spec.autoscaling {
                None => assert!(hpa.is_none() && so.is_none(), "{}: {} autoscaled without a spec", env.name, w.name()),
                Some(a) => {
                    assert!(
                        hpa.is_some() ^ so.is_some(),
                        "{}: {} needs exactly one of HPA/ScaledObject",
                        env.name,
                        w.name()
                    );
                    let (min, max) = match (hpa, so) {
                        (Some(h), _) => (h["spec"]["minReplicas"].as_u64(), h["spec"]["maxReplicas"].as_u64()),
                        (_, Some(s)) => (s["spec"]["minReplicaCount"].as_u64(), s["spec"]["maxReplicaCount"].as_u64()),
                        _ => (None, None),
                    };
                    assert_eq!(
                        (min, max),
                        (Some(u64::from(a.min)), Some(u64::from(a.max))),
                        "{}: {}",
                        env.name,
                        w.name()
                    );
                    assert!(a.min <= a.max);
                }
            }
            let vpa = vpas
                .iter()
                .find(|v| v["metadata"]["name"] == w.name())
                .unwrap_or_else(|| panic!("{}: no VPA for {}", env.name, w.name()));
            let acts_on_resources = w.spec.autoscaling.is_some();
            if acts_on_resources {
                assert_eq!(
                    vpa["spec"]["updatePolicy"]["updateMode"],
                    "Off",
                    "{}: VPA would fight the HPA of {}",
                    env.name,
                    w.name()
                );
            }
        }
        for fit in env.pool_fit() {
            assert!(fit.fits(), "{}: {fit:?}", env.name);
            assert!(fit.unknown_types.is_empty(), "{}: capacity table lacks {:?}", env.name, fit.unknown_types);
        }
    }
}

#[test]
fn every_mounted_secret_comes_from_an_external_secret_and_quotas_hold_max_scale() {
    let (platform, b) = bundle();
    let objs = objects(&b);
    for env in &platform.environments {
        let externals = of_kind(&objs, &env.name, "ExternalSecret");
        // A cert-manager Certificate's key pair is also never in the bundle: cert-manager writes
        // it to the Secret the Certificate names.
        let certificates = of_kind(&objs, &env.name, "Certificate");
        for (path, v) in objs.iter().filter(|(p, _)| p.starts_with(&format!("kubernetes/{}/", env.name))) {
            let Some(pod) = pod_spec(v) else { continue };
            for vol in pod["volumes"].as_array().into_iter().flatten() {
                let Some(secret) = vol["secret"]["secretName"].as_str() else { continue };
                let ns = &v["metadata"]["namespace"];
                let issued =
                    certificates.iter().any(|c| c["spec"]["secretName"] == secret && &c["metadata"]["namespace"] == ns);
                assert!(
                    issued
                        || externals
                            .iter()
                            .any(|e| e["metadata"]["name"] == secret && &e["metadata"]["namespace"] == ns),
                    "{path}: secret {secret} has no ExternalSecret or Certificate"
                );
            }
        }
        for e in &externals {
            assert_eq!(e["spec"]["secretStoreRef"]["kind"], "ClusterSecretStore");
            assert!(e["spec"]["refreshInterval"].as_str().is_some_and(|r| r.ends_with('m') || r.ends_with('h')));
            // Besides the environment's own secrets, External Secrets reads the AUTH tokens the
            // cache module writes (the ReadStoreCredentials grant of its role).
            let auth_tokens: BTreeSet<String> = env
                .workloads
                .iter()
                .flat_map(|w| env.redis_connections(&platform.name, w))
                .map(|r| r.auth_token_aws_name)
                .collect();
            for d in e["spec"]["data"].as_array().into_iter().flatten() {
                assert!(
                    d["remoteRef"]["key"]
                        .as_str()
                        .is_some_and(|k| k.starts_with(&format!("cerverus/{}/", env.name)) || auth_tokens.contains(k)),
                    "{}: {} reads {}",
                    env.name,
                    e["metadata"]["name"],
                    d["remoteRef"]["key"]
                );
            }
        }
        for q in of_kind(&objs, &env.name, "ResourceQuota") {
            let ns = q["metadata"]["namespace"].as_str().expect("ns");
            let cpu_quota =
                cerverus_model::quantity::parse(q["spec"]["hard"]["requests.cpu"].as_str().expect("cpu")).expect("q");
            let needed: f64 = env
                .workloads
                .iter()
                .filter(|w| w.namespace() == ns)
                .map(|w| {
                    f64::from(cerverus_render::kubernetes::quotas::max_pods(w))
                        * cerverus_model::quantity::parse(&w.spec.resources.requests.cpu).unwrap_or(0.0)
                })
                .sum();
            assert!(cpu_quota >= needed, "{}/{ns}: quota {cpu_quota} < needed {needed}", env.name);
        }
    }
}

#[test]
fn moving_a_workload_to_the_ml_pool_adds_its_toleration_and_selector() {
    let text = cerverus_spec::DEFAULT_SPEC.replacen(
        "    exposure: internal\n    nodePool: general\n    tier: standard\n",
        "    exposure: internal\n    nodePool: ml\n    tier: standard\n",
        1,
    );
    assert_ne!(text, cerverus_spec::DEFAULT_SPEC, "the edit must apply (airflow-webserver → ml)");
    let loaded = cerverus_spec::load("moved.yaml", &text).expect("loads");
    let platform = cerverus_model::resolve(&loaded).expect("resolves");
    let objs = objects(&cerverus_render::render(&platform, &[]).expect("renders"));
    let d = objs
        .iter()
        .find(|(p, _)| p == "kubernetes/prod/cerverus-data/deployment-airflow-webserver.yaml")
        .map(|(_, v)| v)
        .expect("deployment");
    let pod = &d["spec"]["template"]["spec"];
    let (_, before) = bundle();
    let old = objects(&before)
        .into_iter()
        .find(|(p, _)| p == "kubernetes/prod/cerverus-data/deployment-airflow-webserver.yaml")
        .map(|(_, v)| v)
        .expect("deployment");
    assert_eq!(old["spec"]["template"]["spec"]["nodeSelector"]["cerverus.io/pool"], "general");
    assert!(old["spec"]["template"]["spec"]["tolerations"].is_null(), "no tolerations on the general pool");
    assert_eq!(pod["nodeSelector"]["cerverus.io/pool"], "ml");
    let tolerations: Vec<&str> =
        pod["tolerations"].as_array().expect("tolerations").iter().filter_map(|t| t["key"].as_str()).collect();
    assert_eq!(tolerations, ["cerverus.io/dedicated", "nvidia.com/gpu"]);
    let values: Vec<&str> =
        pod["tolerations"].as_array().expect("tolerations").iter().filter_map(|t| t["value"].as_str()).collect();
    assert_eq!(values, ["ml", "true"]);
}

/// Rendered objects as (path, object).
type Objs = Vec<(String, Value)>;

/// Keys of the Secret `name` that a rendered ExternalSecret in `ns` makes: its template's keys
/// when templated, else its data keys.
fn external_secret_keys(objs: &[(String, Value)], env: &str, ns: &str, name: &str) -> Option<BTreeSet<String>> {
    let es = of_kind(objs, env, "ExternalSecret")
        .into_iter()
        .find(|e| e["metadata"]["namespace"] == ns && e["spec"]["target"]["name"] == name)?;
    Some(match es["spec"]["target"]["template"]["data"].as_object() {
        Some(t) => t.keys().cloned().collect(),
        None => es["spec"]["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["secretKey"].as_str().map(str::to_string))
            .collect(),
    })
}

/// Why KEDA triggers of environment `env` would have no data or no credentials:
/// - a Prometheus trigger whose query selects no scraped pods (no `namespace`/`pod` matchers
///   naming a workload a PodMonitor scrapes — the old `sum(airflow_executor_queued_tasks)`,
///   which nothing exports);
/// - an `authenticationRef` naming no rendered TriggerAuthentication in the namespace, or one
///   reading a Secret key no rendered ExternalSecret makes;
/// - a Redis trigger without TLS (ElastiCache enforces it) or without host/port/password.
fn keda_trigger_violations(objs: &[(String, Value)], env: &str) -> Vec<String> {
    let mut out = Vec::new();
    let auths = of_kind(objs, env, "TriggerAuthentication");
    let monitors = of_kind(objs, env, "PodMonitor");
    for so in of_kind(objs, env, "ScaledObject") {
        let ns = so["metadata"]["namespace"].as_str().unwrap_or("?");
        let at = format!("{env}/{ns}/{}", so["metadata"]["name"].as_str().unwrap_or("?"));
        for t in so["spec"]["triggers"].as_array().into_iter().flatten() {
            let meta = &t["metadata"];
            let params: BTreeSet<String> = match t["authenticationRef"]["name"].as_str() {
                None => BTreeSet::new(),
                Some(name) => {
                    let Some(auth) =
                        auths.iter().find(|a| a["metadata"]["namespace"] == ns && a["metadata"]["name"] == name)
                    else {
                        out.push(format!("{at}: authenticationRef {name} names no rendered TriggerAuthentication"));
                        continue;
                    };
                    let mut params = BTreeSet::new();
                    for r in auth["spec"]["secretTargetRef"].as_array().into_iter().flatten() {
                        let (s, k) = (r["name"].as_str().unwrap_or("?"), r["key"].as_str().unwrap_or("?"));
                        if !external_secret_keys(objs, env, ns, s).is_some_and(|keys| keys.contains(k)) {
                            out.push(format!(
                                "{at}: {name} reads key {k} of Secret {s}, which no ExternalSecret makes"
                            ));
                        }
                        params.extend(r["parameter"].as_str().map(str::to_string));
                    }
                    params
                }
            };
            match t["type"].as_str() {
                Some("prometheus") => {
                    let q = meta["query"].as_str().unwrap_or("");
                    let scraped = monitors.iter().any(|m| {
                        let m_ns = m["metadata"]["namespace"].as_str().unwrap_or("");
                        let pods =
                            m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"].as_str().unwrap_or("");
                        !pods.is_empty()
                            && q.contains(&format!("namespace=\"{m_ns}\""))
                            && q.contains(&format!("pod=~\"{pods}-.*\""))
                    });
                    if !scraped {
                        out.push(format!("{at}: Prometheus query `{q}` selects no pods a PodMonitor scrapes"));
                    }
                }
                Some("redis") => {
                    if meta["enableTLS"] != "true" {
                        out.push(format!("{at}: Redis trigger without enableTLS (ElastiCache enforces TLS)"));
                    }
                    for p in ["host", "port", "password"] {
                        if !params.contains(p) && meta[p].is_null() {
                            out.push(format!("{at}: Redis trigger has no {p}"));
                        }
                    }
                    if meta["listName"].as_str().is_none_or(str::is_empty) {
                        out.push(format!("{at}: Redis trigger names no list"));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn keda_triggers_have_data_and_credentials() {
    let (platform, b) = bundle();
    let objs = objects(&b);
    for env in &platform.environments {
        let v = keda_trigger_violations(&objs, &env.name);
        assert!(v.is_empty(), "{}", v.join("\n"));
    }
    // The Airflow worker scales on its Celery queue, with credentials from the Redis secret.
    let worker = of_kind(&objs, "dev", "ScaledObject")
        .into_iter()
        .find(|s| s["metadata"]["name"] == "airflow-worker")
        .expect("the worker's ScaledObject");
    let redis = worker["spec"]["triggers"].as_array().into_iter().flatten().find(|t| t["type"] == "redis");
    assert!(redis.is_some_and(|t| t["metadata"]["listName"] == "default"), "{worker}");

    let edit = |f: &dyn Fn(&mut Objs)| {
        let mut o = objs.clone();
        f(&mut o);
        keda_trigger_violations(&o, "dev").join("\n")
    };
    let worker_so = |o: &mut Objs| -> usize {
        o.iter()
            .position(|(_, v)| {
                v["kind"] == "ScaledObject"
                    && v["metadata"]["name"] == "airflow-worker"
                    && v["metadata"]["namespace"] == "cerverus-data"
            })
            .expect("worker ScaledObject")
    };
    // The old shape: a Prometheus query on a metric nothing exports.
    let v = edit(&|o| {
        let i = worker_so(o);
        o[i].1["spec"]["triggers"] = serde_json::json!([{ "type": "prometheus", "metricType": "AverageValue",
            "metadata": { "query": "sum(airflow_executor_queued_tasks)", "threshold": "8",
                          "serverAddress": "http://prometheus:9090" } }]);
    });
    assert!(v.contains("selects no pods a PodMonitor scrapes"), "{v}");
    // No TriggerAuthentication rendered.
    let v = edit(&|o| o.retain(|(p, v)| !(p.starts_with("kubernetes/dev/") && v["kind"] == "TriggerAuthentication")));
    assert!(v.contains("names no rendered TriggerAuthentication"), "{v}");
    // A key the ExternalSecret does not make.
    let v = edit(&|o| {
        for (_, v) in
            o.iter_mut().filter(|(p, v)| p.starts_with("kubernetes/dev/") && v["kind"] == "TriggerAuthentication")
        {
            v["spec"]["secretTargetRef"][2]["key"] = serde_json::json!("password");
        }
    });
    assert!(v.contains("reads key password of Secret redis-cerverus-cache"), "{v}");
    // TLS off.
    let v = edit(&|o| {
        let i = worker_so(o);
        for t in o[i].1["spec"]["triggers"].as_array_mut().into_iter().flatten() {
            if t["type"] == "redis" {
                t["metadata"]["enableTLS"] = serde_json::json!("false");
            }
        }
    });
    assert!(v.contains("without enableTLS"), "{v}");
}

#[test]
fn the_keda_operator_may_reach_the_redis_its_triggers_read() {
    let (platform, b) = bundle();
    let objs = objects(&b);
    let env = platform.environments.iter().find(|e| e.name == "dev").expect("dev");
    let policy = of_kind(&objs, "dev", "NetworkPolicy")
        .into_iter()
        .find(|p| p["metadata"]["namespace"] == "keda" && p["metadata"]["name"] == "keda-operator")
        .expect("a keda-operator egress policy");
    let data: BTreeSet<String> =
        env.network.tier(cerverus_model::SubnetTier::Data).map(|s| s.cidr.to_string()).collect();
    let to_redis = policy["spec"]["egress"].as_array().into_iter().flatten().any(|r| {
        let cidrs: BTreeSet<String> = r["to"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["ipBlock"]["cidr"].as_str().map(str::to_string))
            .collect();
        cidrs == data && r["ports"].as_array().is_some_and(|ps| ps.iter().any(|p| p["port"] == 6379))
    });
    assert!(to_redis, "{policy}");
    // Isolating the operator must not cut what its contract says it reaches.
    let contract = cerverus_model::contracts::by_name("keda-operator").expect("keda contract");
    for e in &contract.egress {
        let open = policy["spec"]["egress"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["ports"].as_array().is_some_and(|ps| ps.iter().any(|p| p["port"] == i64::from(e.port))));
        assert!(open, "keda-operator egress to {} on {} is cut: {policy}", e.to, e.port);
    }
}

/// Namespaced objects of one environment whose namespace the bundle does not create (`kube-system`
/// and `default` exist in every cluster): each would fail to apply.
fn objects_in_missing_namespaces(objs: &[(String, Value)], env: &str) -> Vec<String> {
    let prefix = format!("kubernetes/{env}/");
    let created: BTreeSet<&str> = objs
        .iter()
        .filter(|(p, v)| p.starts_with(&prefix) && v["kind"] == "Namespace")
        .filter_map(|(_, v)| v["metadata"]["name"].as_str())
        .chain(["kube-system", "default"])
        .collect();
    objs.iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .filter_map(|(p, v)| {
            v["metadata"]["namespace"].as_str().filter(|ns| !created.contains(ns)).map(|ns| format!("{p}: {ns}"))
        })
        .collect()
}

#[test]
fn every_namespace_an_object_lives_in_is_created_by_the_bundle() {
    let (platform, b) = bundle();
    let objs = objects(&b);
    for env in &platform.environments {
        let missing = objects_in_missing_namespaces(&objs, &env.name);
        assert!(missing.is_empty(), "objects in namespaces nothing creates: {missing:?}");
    }
    // The old shape: the KEDA operator's NetworkPolicy in a `keda` namespace only the chart made.
    let without_keda: Vec<(String, Value)> =
        objs.into_iter().filter(|(_, v)| !(v["kind"] == "Namespace" && v["metadata"]["name"] == "keda")).collect();
    let missing = objects_in_missing_namespaces(&without_keda, "prod");
    assert!(missing.iter().any(|m| m.ends_with(": keda")), "{missing:?}");
}

/// Workloads whose replica count an autoscaler owns (an HPA's or a KEDA ScaledObject's
/// `scaleTargetRef`) but which still set `spec.replicas`: every Argo CD sync would reset the
/// count the autoscaler chose. Returns the violations and how many autoscalers were looked at.
fn replicas_fought_over(objs: &[(String, Value)], env: &str) -> (usize, Vec<String>) {
    let mut out = Vec::new();
    let mut scalers = 0;
    for kind in ["HorizontalPodAutoscaler", "ScaledObject"] {
        for s in of_kind(objs, env, kind) {
            // KEDA's scaleTargetRef defaults to a Deployment.
            let t = &s["spec"]["scaleTargetRef"];
            let target_kind = t["kind"].as_str().unwrap_or("Deployment");
            let ns = &s["metadata"]["namespace"];
            // An HPA a ScaledObject owns is rendered by KEDA, not by us: only ours are here.
            scalers += 1;
            let Some(target) = of_kind(objs, env, target_kind)
                .into_iter()
                .find(|w| w["metadata"]["namespace"] == *ns && w["metadata"]["name"] == t["name"])
            else {
                out.push(format!("{env}: {kind} {} targets nothing rendered", s["metadata"]["name"]));
                continue;
            };
            if !target["spec"]["replicas"].is_null() {
                out.push(format!(
                    "{env}: {target_kind} {} sets spec.replicas although {kind} {} owns its count",
                    t["name"], s["metadata"]["name"]
                ));
            }
        }
    }
    (scalers, out)
}

#[test]
fn autoscaled_workloads_leave_replicas_to_their_autoscaler() {
    let (platform, b) = bundle();
    let objs = objects(&b);
    let mut scalers = 0;
    for env in &platform.environments {
        let (n, v) = replicas_fought_over(&objs, &env.name);
        assert!(v.is_empty(), "{}", v.join("\n"));
        scalers += n;
    }
    assert!(scalers >= 3, "only {scalers} autoscalers rendered");
    // The old shape: the worker StatefulSet its ScaledObject scales still sets replicas.
    let mut old = objs.clone();
    let worker = old
        .iter_mut()
        .find(|(p, _)| p == "kubernetes/dev/cerverus-data/statefulset-airflow-worker.yaml")
        .expect("the dev worker is rendered");
    worker.1["spec"]["replicas"] = serde_json::json!(2);
    let (_, v) = replicas_fought_over(&old, "dev");
    assert!(
        v.iter().any(|m| m.contains("StatefulSet \"airflow-worker\" sets spec.replicas")),
        "the old shape passes: {v:?}"
    );
}
