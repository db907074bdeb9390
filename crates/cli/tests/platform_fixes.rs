//! Invariants for the Kubernetes platform layer that a real cluster would reject or silently
//! ignore: GPUs nobody advertises, pods no launched node can hold, metrics autoscaling aimed at a
//! Prometheus nobody deploys or fed several series, escalation to cluster-admin, quotas that block
//! a max-scale rollout, StorageClasses that promise expansion, add-ons that do not support the
//! cluster's Kubernetes, node agents in restricted namespaces, Jobs that cannot be re-applied.
//!
//! Each judgement is a small function applied to the built bundle AND to a fixture of the old,
//! broken shape, which it must reject — so none of these can pass by construction.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use cerverus_render::addons::{CHARTS, NODE_AGENTS_NAMESPACE};
use serde_json::{Value, json};

fn bundle() -> (cerverus_model::Platform, Bundle) {
    cerverus::build_default().expect("default spec builds")
}

fn yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn file(b: &Bundle, path: &str) -> Value {
    let bytes = b.iter().find(|(p, _)| *p == path).map(|(_, b)| b).unwrap_or_else(|| panic!("{path} not in bundle"));
    yaml(std::str::from_utf8(bytes).expect("utf8"), path)
}

/// Every Kubernetes object of one environment: (path, object).
fn objects(b: &Bundle, env: &str) -> Vec<(String, Value)> {
    let prefix = format!("kubernetes/{env}/");
    b.iter()
        .filter(|(p, _)| p.starts_with(&prefix) && p.ends_with(".yaml"))
        .map(|(p, bytes)| (p.to_string(), yaml(std::str::from_utf8(bytes).expect("utf8"), p)))
        .collect()
}

fn values(b: &Bundle, env: &str, chart: &str) -> Value {
    file(b, &format!("helm/addons/{env}/{chart}.values.yaml"))
}

/// The folder a chart's reference copy is stored under: Istio's repository calls its charts
/// `base` and `gateway`, stored as `istio-base` and `istio-gateway` (as the checker reads them).
fn stored_as(chart: &str) -> &str {
    match chart {
        "base" => "istio-base",
        "gateway" => "istio-gateway",
        other => other,
    }
}

/// Whether the repository holds a reference copy of `chart` at `version`.
fn has_reference(chart: &str, version: &str) -> bool {
    let path =
        format!("{}/../../data/reference/helm/{}/{version}/values.yaml", env!("CARGO_MANIFEST_DIR"), stored_as(chart));
    std::path::Path::new(&path).exists()
}

/// The pinned chart's defaults, from the repository's copy of the upstream file.
fn chart_defaults(chart: &str, version: &str) -> Value {
    let path =
        format!("{}/../../data/reference/helm/{}/{version}/values.yaml", env!("CARGO_MANIFEST_DIR"), stored_as(chart));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // Whole-line comments go first, as the checker does: long commented examples (jaeger's)
    // exceed the YAML parser's look-ahead budget for comments.
    let uncommented: String =
        text.lines().filter(|l| !l.trim_start().starts_with('#')).map(|l| format!("{l}\n")).collect();
    yaml(&uncommented, &path)
}

fn pinned(name: &str) -> &'static cerverus_render::addons::Chart {
    CHARTS.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("{name} not pinned"))
}

// ---------------------------------------------------------------------------------------------
// GPU: the device plugin's node affinity must select every GPU node.

/// Whether a `nodeAffinity.requiredDuringScheduling…` selects a node with `labels` (terms are
/// ORed, expressions ANDed; only `In` and `Exists`, which is what the chart uses).
fn affinity_selects(affinity: &Value, labels: &BTreeMap<String, String>) -> bool {
    let terms = &affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
    let Some(terms) = terms.as_array() else { return true };
    terms.iter().any(|t| {
        t["matchExpressions"].as_array().into_iter().flatten().all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            match e["operator"].as_str() {
                Some("In") => labels
                    .get(key)
                    .is_some_and(|v| e["values"].as_array().into_iter().flatten().any(|x| x.as_str() == Some(v))),
                Some("Exists") => labels.contains_key(key),
                _ => false,
            }
        })
    })
}

fn selector_selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    selector.as_object().is_none_or(|m| m.iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str()))
}

#[test]
fn every_gpu_node_group_is_selected_by_the_device_plugin_and_the_dcgm_exporter() {
    let (platform, b) = bundle();
    let plugin = pinned("nvidia-device-plugin");
    let defaults = chart_defaults(plugin.chart, plugin.version);
    // Old shape: ml nodes labelled only with their pool.
    let old = BTreeMap::from([("cerverus.io/pool".to_string(), "ml".to_string())]);
    assert!(!affinity_selects(&defaults["affinity"], &old), "the chart's default affinity must reject the old labels");
    for env in &platform.environments {
        let ours = values(&b, &env.name, "nvidia-device-plugin");
        // Our values must not replace the chart's affinity or narrow it with a selector.
        let affinity = if ours["affinity"].is_null() { &defaults["affinity"] } else { &ours["affinity"] };
        let dcgm = values(&b, &env.name, "dcgm-exporter");
        let gpu_groups: Vec<_> = env.node_groups().into_iter().filter(|g| g.gpus_per_node > 0).collect();
        assert!(!gpu_groups.is_empty(), "{}: no GPU node group", env.name);
        for g in gpu_groups {
            assert!(affinity_selects(affinity, &g.labels), "{}: device plugin never lands on {}", env.name, g.name);
            assert!(selector_selects(&ours["nodeSelector"], &g.labels), "{}: plugin nodeSelector", env.name);
            assert!(
                selector_selects(&dcgm["nodeSelector"], &g.labels),
                "{}: dcgm nodeSelector misses {}",
                env.name,
                g.name
            );
            for t in &g.taints {
                let tolerated = |v: &Value| {
                    v["tolerations"].as_array().into_iter().flatten().any(|x| {
                        x["key"] == t.key.as_str() && (x["operator"] == "Exists" || x["value"] == t.value.as_str())
                    })
                };
                assert!(tolerated(&ours) || tolerated(&defaults), "{}: plugin does not tolerate {}", env.name, t.key);
                assert!(tolerated(&dcgm), "{}: dcgm-exporter does not tolerate {}", env.name, t.key);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Capacity: one pod against one node of the FIRST instance type of its pool.

#[test]
fn every_workload_fits_the_first_instance_type_of_its_pool() {
    let (platform, _) = bundle();
    for env in &platform.environments {
        for w in &env.workloads {
            let pool = env.node_pool(&w.spec.node_pool).expect("pool");
            let first = &pool.instance_types[0];
            let (c, m, g) = cerverus_model::capacity::allocatable(first).expect("known type");
            let (rc, rm, rg) = cerverus_model::capacity::pod_requests(w);
            assert!(c >= rc && m >= rm && g >= rg, "{}: {} does not fit {first}", env.name, w.name());
        }
    }
    // Old shape: g4dn.xlarge first (a 4 CPU / 16 GiB pod fits only the second type).
    let old = cerverus_spec::DEFAULT_SPEC.replacen(
        "instanceTypes: [g4dn.2xlarge]",
        "instanceTypes: [g4dn.xlarge, g4dn.2xlarge]",
        1,
    );
    assert_ne!(old, cerverus_spec::DEFAULT_SPEC);
    let loaded = cerverus_spec::load("old.yaml", &old).expect("loads");
    let err = cerverus_model::resolve(&loaded).expect_err("the spec check must reject the old ml pool");
    assert!(format!("{err:?}").contains("model-training"), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Metrics autoscaling.

/// What a KEDA Prometheus trigger needs from its query: one series (a top-level aggregation with
/// no grouping) and a metric type matching what the aggregation computes.
fn judge_trigger(query: &str, metric_type: &str) -> Result<(), String> {
    use promql_parser::parser::{Expr, LabelModifier, parse};
    let mut e = parse(query).map_err(|e| format!("does not parse: {e}"))?;
    while let Expr::Paren(p) = e {
        e = *p.expr;
    }
    let Expr::Aggregate(a) = e else { return Err("no top-level aggregation".into()) };
    if let Some(m) = &a.modifier {
        let empty_by = matches!(m, LabelModifier::Include(l) if l.labels.is_empty());
        if !empty_by {
            return Err("grouped aggregation returns several series".into());
        }
    }
    let expected = match a.op.to_string().as_str() {
        "sum" | "count" => "AverageValue",
        "avg" | "max" | "min" => "Value",
        op => return Err(format!("aggregation {op} has no defined metric type")),
    };
    if metric_type != expected {
        return Err(format!("{metric_type} on {} (expected {expected})", a.op));
    }
    Ok(())
}

#[test]
fn keda_prometheus_triggers_query_the_deployed_prometheus_for_one_series() {
    // Old shapes must be rejected.
    assert!(judge_trigger("sum(rate(http_requests_total[2m])) by (pod)", "AverageValue").is_err());
    assert!(judge_trigger("avg(DCGM_FI_DEV_GPU_UTIL)", "AverageValue").is_err());
    assert!(judge_trigger("max(cerverus_stream_lag_seconds)", "AverageValue").is_err());
    assert!(judge_trigger("sum(rate(x[", "AverageValue").is_err());
    assert!(judge_trigger("sum(airflow_executor_queued_tasks)", "AverageValue").is_ok());

    let (platform, b) = bundle();
    let kps = pinned("kube-prometheus-stack");
    let mut seen = 0;
    for env in &platform.environments {
        // The address KEDA uses must be the Service the add-on's values produce.
        let v = values(&b, &env.name, "kube-prometheus-stack");
        let full = v["fullnameOverride"].as_str().expect("kps fullnameOverride");
        let port = v["prometheus"]["service"]["port"].as_u64().unwrap_or(9090);
        let expected = format!("http://{full}-prometheus.{}.svc:{port}", kps.namespace);
        let objs = objects(&b, &env.name);
        let services: BTreeSet<String> = objs
            .iter()
            .filter(|(_, o)| o["kind"] == "Service")
            .map(|(_, o)| {
                format!(
                    "{}.{}",
                    o["metadata"]["name"].as_str().unwrap_or(""),
                    o["metadata"]["namespace"].as_str().unwrap_or("")
                )
            })
            .collect();
        for (path, so) in objs.iter().filter(|(_, o)| o["kind"] == "ScaledObject") {
            for t in so["spec"]["triggers"].as_array().into_iter().flatten().filter(|t| t["type"] == "prometheus") {
                seen += 1;
                let addr = t["metadata"]["serverAddress"].as_str().expect("serverAddress");
                let host = addr.trim_start_matches("http://").split(':').next().unwrap_or("").trim_end_matches(".svc");
                assert!(
                    addr == expected || services.contains(host),
                    "{path}: {addr} is no Service of the bundle or its add-ons"
                );
                let q = t["metadata"]["query"].as_str().expect("query");
                let mt = t["metricType"].as_str().expect("metricType");
                judge_trigger(q, mt).unwrap_or_else(|e| panic!("{path}: `{q}`: {e}"));
            }
        }
    }
    assert!(seen >= 4, "expected the spec's Prometheus triggers, saw {seen}");
}

#[test]
fn dcgm_exporter_keeps_the_pod_labels_the_gpu_query_matches() {
    let (platform, b) = bundle();
    let chart = pinned("dcgm-exporter");
    let defaults = chart_defaults(chart.chart, chart.version);
    assert_eq!(defaults["serviceMonitor"]["honorLabels"], false, "the old default renames pod/namespace");
    for env in &platform.environments {
        assert_eq!(values(&b, &env.name, "dcgm-exporter")["serviceMonitor"]["honorLabels"], true, "{}", env.name);
    }
}

/// Whether anything under `v` enables a ServiceMonitor.
fn renders_service_monitor(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            m.iter().any(|(k, x)| (k == "serviceMonitor" && x["enabled"] == true) || renders_service_monitor(x))
        }
        Value::Array(a) => a.iter().any(renders_service_monitor),
        _ => false,
    }
}

/// Charts that render a ServiceMonitor install in a later wave than the chart with the CRDs.
fn waves_respect_crds(charts: &Value, values_of: &dyn Fn(&str) -> Value) -> Result<(), String> {
    let list = charts["charts"].as_array().ok_or("no charts")?;
    let wave = |c: &Value| c["wave"].as_i64();
    let crds = list
        .iter()
        .find(|c| c["chart"] == "kube-prometheus-stack")
        .ok_or("no chart installs the ServiceMonitor CRD")?;
    let crd_wave = wave(crds).ok_or("kube-prometheus-stack has no wave")?;
    for c in list {
        let name = c["name"].as_str().unwrap_or_default();
        if name != "kube-prometheus-stack" && renders_service_monitor(&values_of(name)) {
            match wave(c) {
                Some(w) if w > crd_wave => {}
                _ => return Err(format!("{name} renders a ServiceMonitor but installs no later than its CRD")),
            }
        }
    }
    Ok(())
}

#[test]
fn charts_with_service_monitors_install_after_the_prometheus_operator_crds() {
    let (platform, b) = bundle();
    let charts = file(&b, "helm/addons/charts.yaml");
    for env in &platform.environments {
        // A chart not installed here (chaos-mesh in production) has no values file and no wave.
        let values_of = |n: &str| if pinned(n).installed_in(env) { values(&b, &env.name, n) } else { Value::Null };
        waves_respect_crds(&charts, &values_of).unwrap_or_else(|e| panic!("{}: {e}", env.name));
    }
    // Old shape: no Prometheus chart, no waves.
    let old = json!({"charts": [{"name": "dcgm-exporter", "chart": "dcgm-exporter"}]});
    assert!(waves_respect_crds(&old, &|_| json!({"serviceMonitor": {"enabled": true}})).is_err());
    let flat = json!({"charts": [
        {"name": "kube-prometheus-stack", "chart": "kube-prometheus-stack", "wave": 0},
        {"name": "dcgm-exporter", "chart": "dcgm-exporter", "wave": 0}]});
    assert!(waves_respect_crds(&flat, &|_| json!({"serviceMonitor": {"enabled": true}})).is_err());
}

// ---------------------------------------------------------------------------------------------
// RBAC: no path from pod creation to cluster-admin.

const WORKLOAD_CREATORS: &[&str] =
    &["pods", "jobs", "cronjobs", "deployments", "statefulsets", "replicasets", "daemonsets"];

/// Escalation through pod creation: a service account bound cluster-wide (ClusterRoleBinding)
/// is usable by anyone who may create pods or pod controllers in its namespace.
fn escalations(objs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let rules_of = |kind: &str, name: &str, ns: Option<&str>| -> Vec<Value> {
        objs.iter()
            .filter(|o| {
                o["kind"] == kind
                    && o["metadata"]["name"] == name
                    && (ns.is_none() || o["metadata"]["namespace"].as_str() == ns)
            })
            .flat_map(|o| o["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    for crb in objs.iter().filter(|o| o["kind"] == "ClusterRoleBinding") {
        for s in crb["subjects"].as_array().into_iter().flatten().filter(|s| s["kind"] == "ServiceAccount") {
            let sa_ns = s["namespace"].as_str().unwrap_or_default();
            if crb["roleRef"]["name"] == "cluster-admin" {
                out.push(format!("service account {sa_ns}/{} is cluster-admin", s["name"]));
            }
            for rb in objs.iter().filter(|o| o["kind"] == "RoleBinding" && o["metadata"]["namespace"] == sa_ns) {
                let kind = rb["roleRef"]["kind"].as_str().unwrap_or_default();
                let name = rb["roleRef"]["name"].as_str().unwrap_or_default();
                let rules = rules_of(kind, name, (kind == "Role").then_some(sa_ns));
                let creates = rules.iter().any(|r| {
                    r["verbs"].as_array().into_iter().flatten().any(|v| v == "create" || v == "*")
                        && r["resources"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|x| x.as_str().is_some_and(|x| WORKLOAD_CREATORS.contains(&x) || x == "*"))
                });
                if creates {
                    out.push(format!(
                        "{name} creates pods in {sa_ns}, where {} is bound by {}",
                        s["name"], crb["metadata"]["name"]
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn no_role_reaches_cluster_admin_through_pod_creation() {
    let (platform, b) = bundle();
    for env in &platform.environments {
        let objs: Vec<Value> = objects(&b, &env.name).into_iter().map(|(_, o)| o).collect();
        let found = escalations(&objs);
        assert!(found.is_empty(), "{}: {found:?}", env.name);
        for o in objs.iter().filter(|o| o["roleRef"]["name"] == "cluster-admin") {
            for s in o["subjects"].as_array().into_iter().flatten() {
                assert_eq!(s["kind"], "Group", "{}: cluster-admin bound to {s}", env.name);
            }
        }
    }
    // Old shape: cluster-admin on cerverus-system/cerverus-admin, operators may create Jobs there.
    let old = vec![
        json!({"kind": "ClusterRoleBinding", "metadata": {"name": "cerverus-admin-break-glass"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "ServiceAccount", "name": "cerverus-admin", "namespace": "cerverus-system"}]}),
        json!({"kind": "ClusterRole", "metadata": {"name": "cerverus-operator"}, "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete"]}]}),
        json!({"kind": "RoleBinding", "metadata": {"name": "operators", "namespace": "cerverus-system"}, "roleRef": {"kind": "ClusterRole", "name": "cerverus-operator"}}),
    ];
    assert_eq!(escalations(&old).len(), 2, "{:?}", escalations(&old));
}

// ---------------------------------------------------------------------------------------------
// Quotas: a max-scale rollout while the namespace's Jobs run.

fn surge(deployment: &Value, replicas: u32) -> u32 {
    let strategy = &deployment["spec"]["strategy"];
    // An Argo Rollout: blue-green runs a full second set before the switch; a canary surges by
    // its `maxSurge` (its weight steps are bounded by it, tests/rollouts.rs).
    if strategy["blueGreen"].is_object() {
        return replicas;
    }
    let max_surge = if strategy["canary"].is_object() {
        &strategy["canary"]["maxSurge"]
    } else {
        &strategy["rollingUpdate"]["maxSurge"]
    };
    match max_surge {
        Value::String(p) if p.ends_with('%') => {
            (replicas * p.trim_end_matches('%').parse::<u32>().unwrap_or(25)).div_ceil(100)
        }
        Value::Number(n) => n.as_u64().unwrap_or(1) as u32,
        // Kubernetes' default is 25%.
        _ => (replicas * 25).div_ceil(100),
    }
}

#[test]
fn quotas_hold_a_max_scale_rollout_while_jobs_run() {
    let (platform, b) = bundle();
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        let find = |kind: &str, ns: &str, name: &str| {
            objs.iter()
                .find(|(_, o)| o["kind"] == kind && o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
                .map(|(_, o)| o.clone())
        };
        let mut need: BTreeMap<String, (f64, u64, u64)> = BTreeMap::new();
        for w in &env.workloads {
            let ns = w.namespace().to_string();
            let max = w.spec.autoscaling.as_ref().map_or(w.spec.replicas, |a| a.max.max(w.spec.replicas));
            let pods = match w.spec.kind {
                cerverus_spec::WorkloadKind::Deployment => {
                    let d = find("Deployment", &ns, w.name())
                        .or_else(|| find("Rollout", &ns, w.name()))
                        .expect("deployment or rollout");
                    max + surge(&d, max)
                }
                cerverus_spec::WorkloadKind::StatefulSet => max,
                _ => 1,
            };
            let (cpu, _, gpu) = cerverus_model::capacity::pod_requests(w);
            let e = need.entry(ns).or_default();
            e.0 += f64::from(pods) * cpu;
            e.1 += u64::from(pods * gpu);
            e.2 += u64::from(pods);
        }
        for (ns, (cpu, gpu, pods)) in need {
            let q = find("ResourceQuota", &ns, "compute").expect("quota");
            let hard = &q["spec"]["hard"];
            let get = |k: &str| cerverus_model::quantity::parse(hard[k].as_str().unwrap_or("0")).unwrap_or(0.0);
            assert!(get("requests.cpu") >= cpu, "{}/{ns}: cpu {} < {cpu}", env.name, get("requests.cpu"));
            assert!(
                get("requests.nvidia.com/gpu") >= gpu as f64,
                "{}/{ns}: gpu {} < {gpu}",
                env.name,
                get("requests.nvidia.com/gpu")
            );
            assert!(get("pods") >= pods as f64, "{}/{ns}: pods", env.name);
        }
        // The old GPU quota (max + 1 per workload) is one short in cerverus-ml at prod scale.
        if env.name == "prod" {
            let inference = env.workload("inference-service").expect("inference");
            let max = inference.spec.autoscaling.as_ref().map_or(0, |a| a.max);
            let old_quota = (max + 1) + 1;
            let d = find("Deployment", "cerverus-ml", "inference-service")
                .or_else(|| find("Rollout", "cerverus-ml", "inference-service"))
                .expect("deployment or rollout");
            assert!(old_quota < max + surge(&d, max) + 1, "the old quota shape must be short");
        }
        // The ingress gateway's NLB needs one LoadBalancer Service in istio-system.
        if env.workloads.iter().any(|w| w.spec.exposure == cerverus_spec::Exposure::Public) {
            let q = find("ResourceQuota", "istio-system", "compute").expect("istio quota");
            assert_ne!(
                q["spec"]["hard"]["services.loadbalancers"], "0",
                "{}: gateway LoadBalancer forbidden",
                env.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// StorageClasses: expansion only where the driver implements it.

/// CSI drivers that implement ControllerExpandVolume: the EBS driver. The EFS CSI driver does not
/// (EFS is elastic; docs: "volume resizing is not supported"), Mountpoint for S3 neither
/// provisions nor resizes.
fn expansion_ok(sc: &Value) -> bool {
    sc["allowVolumeExpansion"] != true || sc["provisioner"] == "ebs.csi.aws.com"
}

#[test]
fn no_storage_class_claims_expansion_its_driver_lacks() {
    let (platform, b) = bundle();
    for env in &platform.environments {
        for (path, sc) in objects(&b, &env.name).iter().filter(|(_, o)| o["kind"] == "StorageClass") {
            assert!(expansion_ok(sc), "{path}");
        }
    }
    assert!(!expansion_ok(&json!({"provisioner": "efs.csi.aws.com", "allowVolumeExpansion": true})));
    assert!(!expansion_ok(&json!({"provisioner": "s3.csi.aws.com", "allowVolumeExpansion": true})));
}

// ---------------------------------------------------------------------------------------------
// Add-ons support the cluster's Kubernetes.

fn minor(v: &str) -> Option<(u32, u32)> {
    let mut it = v.trim_start_matches('v').split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn supports(table: &Value, chart: &str, version: &str, kubernetes: &str) -> Result<(), String> {
    let e = &table["addons"]["charts"][format!("{chart}@{version}")];
    if e.is_null() {
        return Err(format!("{chart}@{version} is not in data/support-windows.json"));
    }
    if e["source"].as_str().is_none_or(str::is_empty) {
        return Err(format!("{chart}@{version} has no source"));
    }
    let k = minor(kubernetes).ok_or("bad kubernetes version")?;
    let lo = e["min"].as_str().and_then(minor).ok_or("no min")?;
    if k < lo {
        return Err(format!("{chart}@{version} needs Kubernetes ≥ {lo:?}"));
    }
    if let Some(hi) = e["max"].as_str().and_then(minor)
        && k > hi
    {
        return Err(format!("{chart}@{version} supports Kubernetes ≤ {hi:?}, the cluster runs {kubernetes}"));
    }
    if e["exact_minor"] == true && e["app_version"].as_str().and_then(minor) != Some(k) {
        return Err(format!("{chart}@{version}: app minor must equal the cluster's"));
    }
    Ok(())
}

#[test]
fn every_add_on_supports_the_clusters_kubernetes() {
    let path = format!("{}/../../data/support-windows.json", env!("CARGO_MANIFEST_DIR"));
    let table: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("table")).expect("json");
    let (platform, _) = bundle();
    for env in &platform.environments {
        for c in CHARTS {
            supports(&table, c.chart, c.version, &env.kubernetes_version)
                .unwrap_or_else(|e| panic!("{}: {e}", env.name));
        }
    }
    // The old pins on 1.35.
    assert!(supports(&table, "cluster-autoscaler", "9.46.6", "1.35").is_err());
    assert!(supports(&table, "keda", "2.17.2", "1.35").is_err());
    assert!(supports(&table, "ingress-nginx", "4.12.1", "1.35").is_err());
}

// ---------------------------------------------------------------------------------------------
// Pod Security: node agents alone in a privileged namespace.

#[test]
fn node_agents_have_their_own_privileged_namespace_and_the_rest_stays_restricted() {
    let (platform, b) = bundle();
    let allowed_privileged: BTreeSet<&str> = [NODE_AGENTS_NAMESPACE, "istio-system"].into();
    for env in &platform.environments {
        for ns in &env.namespaces {
            let level = ns.pod_security.as_str();
            if allowed_privileged.contains(ns.name.as_str()) {
                assert!(ns.pod_security_reason.is_some(), "{}: {} relaxed without a reason", env.name, ns.name);
            } else {
                assert_eq!(level, "restricted", "{}: {} is {level}", env.name, ns.name);
            }
        }
        assert_eq!(env.namespace(NODE_AGENTS_NAMESPACE).map(|n| n.pod_security.as_str()), Some("privileged"));
        for agent in ["nvidia-device-plugin", "dcgm-exporter"] {
            assert_eq!(pinned(agent).namespace, NODE_AGENTS_NAMESPACE, "{agent}");
        }
        let kps = values(&b, &env.name, "kube-prometheus-stack");
        assert_eq!(kps["prometheus-node-exporter"]["namespaceOverride"], NODE_AGENTS_NAMESPACE, "{}", env.name);
    }
    // Old shape: monitoring at baseline "for node-exporter".
    let old = cerverus_spec::DEFAULT_SPEC.replacen(
        "    purpose: Prometheus, Alertmanager, Grafana and tracing (kube-prometheus-stack)\n    podSecurity: restricted\n",
        "    purpose: Prometheus, Alertmanager, Grafana and tracing\n    podSecurity: baseline\n    podSecurityReason: node-exporter\n",
        1,
    );
    assert_ne!(old, cerverus_spec::DEFAULT_SPEC);
    let p = cerverus_model::resolve(&cerverus_spec::load("old.yaml", &old).expect("loads")).expect("resolves");
    let monitoring = p.environments[0].namespace("cerverus-monitoring").expect("ns");
    assert_ne!(monitoring.pod_security.as_str(), "restricted", "the fixture is the old shape");
}

// ---------------------------------------------------------------------------------------------
// Node groups: one per AZ for GPU pools; controllers configured for IMDS-less nodes and queues.

#[test]
fn gpu_pools_have_one_node_group_per_zone() {
    let (platform, b) = bundle();
    for env in &platform.environments {
        for p in env.node_pools.iter().filter(|p| p.gpu.is_some()) {
            let groups: Vec<_> = env.node_groups().into_iter().filter(|g| g.pool == p.name).collect();
            let zones: BTreeSet<_> = groups.iter().filter_map(|g| g.zone.clone()).collect();
            assert!(groups.iter().all(|g| g.zone.is_some()), "{}: a {} group spans zones", env.name, p.name);
            assert_eq!(zones.len(), env.network.azs.len().min(p.scaling.max as usize), "{}: {}", env.name, p.name);
            assert_eq!(groups.iter().map(|g| g.max).sum::<u32>(), p.scaling.max);
        }
        let ca = values(&b, &env.name, "cluster-autoscaler");
        assert_eq!(ca["extraArgs"]["balance-similar-node-groups"], true);
    }
    // Old shape: one ml group across zones.
    let old = cerverus_spec::DEFAULT_SPEC.replacen("      perZone: true\n", "", 1);
    assert_ne!(old, cerverus_spec::DEFAULT_SPEC);
    let p = cerverus_model::resolve(&cerverus_spec::load("old.yaml", &old).expect("loads")).expect("resolves");
    assert!(p.environments.iter().all(|e| e.node_groups().iter().any(|g| g.pool == "ml" && g.zone.is_none())));
}

#[test]
fn controllers_get_what_imds_and_tags_would_have_told_them() {
    let (platform, b) = bundle();
    let nth = pinned("aws-node-termination-handler");
    let nth_defaults = chart_defaults(nth.chart, nth.version);
    for env in &platform.environments {
        let v = values(&b, &env.name, "aws-node-termination-handler");
        assert_eq!(v["enableSqsTerminationDraining"], true);
        assert!(
            v["queueURL"].as_str().is_some_and(|u| u.ends_with(&format!("/{}-node-termination", env.cluster_name)))
        );
        // Either the tag check is off, or the tag it checks is the one Terraform puts on every
        // node group's Auto Scaling group.
        let check = if v["checkTagBeforeDraining"].is_null() {
            &nth_defaults["checkTagBeforeDraining"]
        } else {
            &v["checkTagBeforeDraining"]
        };
        if check == true {
            let tag = v["managedTag"].as_str().or(nth_defaults["managedTag"].as_str()).expect("managedTag");
            let eks = b
                .iter()
                .find(|(p, _)| *p == "terraform/modules/eks/main.tf")
                .map(|(_, t)| std::str::from_utf8(t).expect("utf8"))
                .expect("eks module");
            assert!(eks.contains(&format!("\"{tag}\"")), "{}: no ASG carries {tag}", env.name);
        }
        let lbc = values(&b, &env.name, "aws-load-balancer-controller");
        assert_eq!(lbc["region"], platform.region.as_str());
        assert!(lbc["vpcId"].is_string() || lbc["vpcTags"].is_object(), "{}: LBC must be told its VPC", env.name);
    }
}

#[test]
fn jobs_are_sync_hooks_so_a_new_image_can_be_applied() {
    let (platform, b) = bundle();
    let mut jobs = 0;
    for env in &platform.environments {
        for (path, j) in objects(&b, &env.name).iter().filter(|(_, o)| o["kind"] == "Job") {
            jobs += 1;
            let a = &j["metadata"]["annotations"];
            assert!(a["argocd.argoproj.io/hook"].is_string(), "{path}: a plain Job cannot be re-applied");
            assert_eq!(a["argocd.argoproj.io/hook-delete-policy"], "BeforeHookCreation", "{path}");
        }
    }
    assert!(jobs > 0);
}

#[test]
fn reference_chart_copies_match_the_shared_reference_when_present() {
    let ours = format!("{}/../../data/reference/helm", env!("CARGO_MANIFEST_DIR"));
    let shared = format!("{}/../../../shared/reference/helm", env!("CARGO_MANIFEST_DIR"));
    for c in CHARTS {
        let dir = format!("{ours}/{}/{}", stored_as(c.chart), c.version);
        let values_yaml = std::path::Path::new(&dir).join("values.yaml");
        if !values_yaml.exists() {
            // Pins without a stored copy must say which version their values were checked against.
            let readme = std::fs::read_to_string(format!("{ours}/README.md")).expect("README");
            assert!(
                readme.contains(&format!("{} {}", c.chart, c.version)),
                "{}@{}: no copy and no note",
                c.chart,
                c.version
            );
            continue;
        }
        if std::path::Path::new(&shared).exists() {
            for f in ["Chart.yaml", "values.yaml", "values.schema.json"] {
                let a = std::fs::read(format!("{dir}/{f}"));
                let b = std::fs::read(format!("{shared}/{}/{}/{f}", stored_as(c.chart), c.version));
                match (a, b) {
                    (Ok(a), Ok(b)) => assert!(a == b, "{}/{f} differs from the shared reference", c.chart),
                    (Err(_), Err(_)) => {}
                    _ => panic!("{}/{f}: present on one side only", c.chart),
                }
            }
        }
    }
}

#[test]
fn gpu_node_groups_hold_a_max_scale_rollout_while_training_runs() {
    let (platform, b) = bundle();
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        for p in env.node_pools.iter().filter(|p| p.gpu.is_some()) {
            let gpus: u32 =
                env.node_groups().iter().filter(|g| g.pool == p.name).map(|g| g.max * g.gpus_per_node).sum();
            let mut need = 0;
            for w in env.workloads.iter().filter(|w| w.spec.node_pool == p.name) {
                let max = w.spec.autoscaling.as_ref().map_or(w.spec.replicas, |a| a.max.max(w.spec.replicas));
                let pods = match w.spec.kind {
                    cerverus_spec::WorkloadKind::Deployment => {
                        let d = objs
                            .iter()
                            .find(|(_, o)| {
                                (o["kind"] == "Deployment" || o["kind"] == "Rollout")
                                    && o["metadata"]["name"] == w.name()
                            })
                            .map(|(_, o)| o)
                            .expect("deployment or rollout");
                        // maxUnavailable 0: the surge pods must be scheduled for the rollout to
                        // move (a blue-green Rollout never takes pods away before the switch).
                        let strategy = &d["spec"]["strategy"];
                        if !strategy["blueGreen"].is_object() {
                            let ru = if strategy["canary"].is_object() {
                                &strategy["canary"]
                            } else {
                                &strategy["rollingUpdate"]
                            };
                            assert_eq!(ru["maxUnavailable"], 0);
                        }
                        max + surge(d, max)
                    }
                    cerverus_spec::WorkloadKind::StatefulSet => max,
                    _ => 1,
                };
                need += pods * w.spec.resources.gpu;
            }
            assert!(
                gpus >= need,
                "{}: pool {} has {gpus} GPUs at most, a max-scale rollout with training needs {need}",
                env.name,
                p.name
            );
        }
    }
    // Old shapes: 6 GPU nodes for 5 inference replicas + 2 surge + 1 training; 8 GPU nodes,
    // enough for a rolling update, not for the blue-green rollout's second set of 5.
    // (prod's ml pool is its own override: 5 warm GPU nodes, at most 11.)
    for old_max in [6, 8] {
        let old = cerverus_spec::DEFAULT_SPEC.replacen(
            "ml: { scaling: { min: 5, desired: 5, max: 11 } }",
            &format!("ml: {{ scaling: {{ min: 5, desired: 5, max: {old_max} }} }}"),
            1,
        );
        assert_ne!(old, cerverus_spec::DEFAULT_SPEC);
        let err = cerverus_model::resolve(&cerverus_spec::load("old.yaml", &old).expect("loads"))
            .expect_err("too few GPU nodes");
        assert!(format!("{err:?}").contains("`ml` in `prod`"), "{err:?}");
    }
    let old = cerverus_spec::DEFAULT_SPEC.replacen(
        "ml: { scaling: { min: 5, desired: 5, max: 11 } }",
        "ml: { scaling: { min: 5, desired: 5, max: 6 } }",
        1,
    );
    let err = cerverus_model::resolve(&cerverus_spec::load("old.yaml", &old).expect("loads"))
        .expect_err("6 GPU nodes are too few");
    assert!(format!("{err:?}").contains("`ml` in `prod`"), "{err:?}");
}

/// Whether a namespace quota admits `pods` DaemonSet pods that carry the LimitRange defaults.
fn admits_agents(hard: &Value, limit_range: &Value, pods: f64) -> bool {
    let q = |v: &Value| cerverus_model::quantity::parse(v.as_str().unwrap_or("0")).unwrap_or(0.0);
    let item = &limit_range["spec"]["limits"][0];
    ["cpu", "memory", "ephemeral-storage"].iter().all(|r| {
        q(&hard[format!("requests.{r}")]) >= pods * q(&item["defaultRequest"][r])
            && q(&hard[format!("limits.{r}")]) >= pods * q(&item["default"][r])
    }) && q(&hard["pods"]) >= pods
}

#[test]
fn the_node_agents_quota_admits_an_agent_pod_per_agent_on_every_node_at_max_size() {
    let (platform, b) = bundle();
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        let get = |kind: &str| {
            objs.iter()
                .find(|(_, o)| o["kind"] == kind && o["metadata"]["namespace"] == NODE_AGENTS_NAMESPACE)
                .map(|(_, o)| o.clone())
                .expect(kind)
        };
        let (quota, lr) = (get("ResourceQuota"), get("LimitRange"));
        let nodes: u32 = env.node_groups().iter().map(|g| g.max).sum();
        // node-exporter on every node; device plugin and DCGM exporter on GPU nodes.
        let gpu_nodes: u32 = env.node_groups().iter().filter(|g| g.gpus_per_node > 0).map(|g| g.max).sum();
        let pods = f64::from(nodes + 2 * gpu_nodes);
        assert!(admits_agents(&quota["spec"]["hard"], &lr, pods), "{}: {pods} agent pods refused", env.name);
        // Old shape: the fixed platform envelope (3 CPU / 6 GiB requests, 60 pods).
        let old = json!({"requests.cpu": "3750m", "limits.cpu": "7500m", "requests.memory": "7680Mi", "limits.memory": "11520Mi",
                         "requests.ephemeral-storage": "7680Mi", "limits.ephemeral-storage": "15360Mi", "pods": "75"});
        if pods > 20.0 {
            assert!(!admits_agents(&old, &lr, pods), "{}: the old envelope must be too small", env.name);
        }
    }
}

/// Whether some PodMonitor in `monitors` scrapes the pod template `pod` (labels + ports) of
/// namespace `ns` on its port named `port`.
fn scraped(monitors: &[Value], ns: &str, template: &Value, port: &str) -> bool {
    let labels = &template["metadata"]["labels"];
    let has_port = template["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["ports"].as_array().into_iter().flatten().any(|p| p["name"] == port));
    has_port
        && monitors.iter().any(|m| {
            m["metadata"]["namespace"] == ns
                && m["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .is_some_and(|sel| sel.iter().all(|(k, v)| &labels[k] == v))
                && m["spec"]["podMetricsEndpoints"].as_array().into_iter().flatten().any(|e| e["port"] == port)
        })
}

#[test]
fn every_workload_metrics_port_is_scraped_by_the_deployed_prometheus() {
    let (platform, b) = bundle();
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        let monitors: Vec<Value> =
            objs.iter().filter(|(_, o)| o["kind"] == "PodMonitor").map(|(_, o)| o.clone()).collect();
        let kps = values(&b, &env.name, "kube-prometheus-stack");
        let selected: Vec<&str> =
            kps["prometheus"]["prometheusSpec"]["podMonitorNamespaceSelector"]["matchExpressions"][0]["values"]
                .as_array()
                .expect("namespace selector")
                .iter()
                .filter_map(Value::as_str)
                .collect();
        let mut checked = 0;
        for w in env.workloads.iter().filter(|w| w.metrics_port().is_some()) {
            let (_, obj) = objs
                .iter()
                .find(|(_, o)| o["metadata"]["name"] == w.name() && o["spec"]["template"].is_object())
                .expect("workload object");
            let template = &obj["spec"]["template"];
            assert!(
                scraped(&monitors, w.namespace(), template, "metrics"),
                "{}: {} is never scraped",
                env.name,
                w.name()
            );
            assert!(
                selected.contains(&w.namespace()),
                "{}: Prometheus ignores monitors in {}",
                env.name,
                w.namespace()
            );
            // Old shape: no monitor at all.
            assert!(!scraped(&[], w.namespace(), template, "metrics"));
            checked += 1;
        }
        assert!(checked >= 4, "{}: {checked}", env.name);
    }
}

// ---------------------------------------------------------------------------------------------
// NetworkPolicies of the platform's own namespaces: who the default deny must still let in.

/// Whether the NetworkPolicies of `ns` admit `port`/TCP to a pod labelled `pod` from a peer that
/// `from` accepts (a policy selects the pod when its `podSelector.matchLabels` are all on the pod).
fn admits(objs: &[(String, Value)], ns: &str, pod: (&str, &str), port: i64, from: impl Fn(&Value) -> bool) -> bool {
    objs.iter().any(|(_, p)| {
        p["kind"] == "NetworkPolicy"
            && p["metadata"]["namespace"] == ns
            && p["spec"]["podSelector"]["matchLabels"]
                .as_object()
                .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| k == pod.0 && v == pod.1))
            && p["spec"]["ingress"].as_array().into_iter().flatten().any(|r| {
                r["ports"].as_array().into_iter().flatten().any(|x| x["port"] == port && x["protocol"] == "TCP")
                    && r["from"].as_array().into_iter().flatten().any(&from)
            })
    })
}

fn from_prometheus(peer: &Value) -> bool {
    use cerverus_render::kubernetes::network_policies::{MONITORING_NAMESPACE, PROMETHEUS_POD};
    peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == MONITORING_NAMESPACE
        && peer["podSelector"]["matchLabels"][PROMETHEUS_POD.0] == PROMETHEUS_POD.1
}

fn without_policy(objs: &[(String, Value)], ns: &str, name: &str) -> Vec<(String, Value)> {
    objs.iter()
        .filter(|(_, o)| {
            !(o["kind"] == "NetworkPolicy" && o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
        })
        .cloned()
        .collect()
}

#[test]
fn prometheus_may_scrape_the_node_agents_on_their_chart_ports() {
    use cerverus_render::kubernetes::network_policies::NODE_AGENT_SCRAPES;
    // The ports are the pinned charts' own (service port = container port in both charts).
    let dcgm = pinned("dcgm-exporter");
    assert_eq!(chart_defaults(dcgm.chart, dcgm.version)["service"]["port"], 9400);
    let node_exporter = chart_defaults("prometheus-node-exporter", "4.56.1");
    assert_eq!(node_exporter["service"]["port"], 9100);
    // node-exporter is a host-network pod: NetworkPolicies do not apply to it (documented next
    // to its rule); Prometheus reaches it on the node's address.
    assert_eq!(node_exporter["hostNetwork"], true);
    // Prometheus pods are labelled by the operator, not by the chart's values: the Prometheus
    // Operator sets `app.kubernetes.io/name: prometheus` on every Prometheus pod.
    assert_eq!(cerverus_render::kubernetes::network_policies::PROMETHEUS_POD, ("app.kubernetes.io/name", "prometheus"));
    assert_eq!(
        NODE_AGENT_SCRAPES.iter().map(|a| (a.pod.1, a.port)).collect::<Vec<_>>(),
        vec![("dcgm-exporter", 9400), ("prometheus-node-exporter", 9100)]
    );

    let (platform, b) = bundle();
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        for a in NODE_AGENT_SCRAPES {
            let port = i64::from(a.port);
            assert!(
                admits(&objs, NODE_AGENTS_NAMESPACE, a.pod, port, from_prometheus),
                "{}: {} :{port}",
                env.name,
                a.name
            );
            // Exactly the metrics port: nothing else is opened to Prometheus, nor to anyone else.
            for (_, p) in objs.iter().filter(|(_, p)| p["kind"] == "NetworkPolicy" && p["metadata"]["name"] == a.name) {
                assert_eq!(p["spec"]["ingress"].as_array().map(Vec::len), Some(1), "{}", a.name);
                assert_eq!(p["spec"]["ingress"][0]["ports"], json!([{"port": port, "protocol": "TCP"}]), "{}", a.name);
            }
        }
        // Old shape: the namespace had only default deny, DNS, same-namespace and API egress.
        let old = without_policy(&objs, NODE_AGENTS_NAMESPACE, "dcgm-exporter");
        assert!(!admits(
            &old,
            NODE_AGENTS_NAMESPACE,
            ("app.kubernetes.io/name", "dcgm-exporter"),
            9400,
            from_prometheus
        ));
    }
}

#[test]
fn the_api_server_reaches_every_webhook_and_aggregated_api_in_a_policed_namespace() {
    use cerverus_render::kubernetes::network_policies::{API_SERVER_CALLEES, chart_namespace};
    // Ports as the pinned charts serve them.
    let kps = pinned("kube-prometheus-stack");
    let kps_defaults = chart_defaults(kps.chart, kps.version);
    assert_eq!(kps_defaults["prometheusOperator"]["tls"]["internalPort"], 10250);
    assert_eq!(kps_defaults["prometheusOperator"]["admissionWebhooks"]["enabled"], true);
    assert_eq!(kps_defaults["prometheusOperator"]["admissionWebhooks"]["deployment"]["enabled"], false);
    let keda = chart_defaults("keda", "2.17.2");
    assert_eq!(keda["service"]["portHttpsTarget"], 6443);
    let ms = pinned("metrics-server");
    assert_eq!(chart_defaults(ms.chart, ms.version)["containerPort"], 10250);
    let port_of = |component: &str| API_SERVER_CALLEES.iter().find(|c| c.component == component).map(|c| c.port);
    assert_eq!(port_of("prometheus-operator"), Some(10250));
    assert_eq!(port_of("keda-admission-webhooks"), Some(9443));
    assert_eq!(port_of("keda-operator-metrics-apiserver"), Some(6443));
    assert_eq!(port_of("metrics-server"), Some(10250));
    // Every callee belongs to a pinned chart: the namespace is read from the add-on list.
    for c in API_SERVER_CALLEES {
        assert!(chart_namespace(c.chart).is_some(), "{} is not a pinned add-on", c.chart);
    }

    let (platform, b) = bundle();
    let mut policed_callees = 0;
    for env in &platform.environments {
        let objs = objects(&b, &env.name);
        let private: BTreeSet<String> =
            env.network.tier(cerverus_model::SubnetTier::Private).map(|s| s.cidr.to_string()).collect();
        let from_control_plane = |peer: &Value| peer["ipBlock"]["cidr"].as_str().is_some_and(|c| private.contains(c));
        // A namespace the bundle polices: it carries a default deny.
        let policed = |ns: &str| {
            objs.iter().any(|(_, p)| {
                p["kind"] == "NetworkPolicy"
                    && p["metadata"]["namespace"] == ns
                    && p["metadata"]["name"] == "default-deny"
            })
        };
        for c in API_SERVER_CALLEES {
            let Some(ns) = chart_namespace(c.chart) else { continue };
            let port = i64::from(c.port);
            if policed(ns) {
                policed_callees += 1;
                // From every private subnet (the control plane's ENIs may sit in any of them).
                for cidr in &private {
                    assert!(
                        admits(&objs, ns, c.pod, port, |p| p["ipBlock"]["cidr"] == cidr.as_str()),
                        "{}: {ns}/{} :{port} not reachable from {cidr}",
                        env.name,
                        c.component
                    );
                }
                // Old shape: no such policy, and nothing else lets the control plane in.
                let old = without_policy(&objs, ns, &format!("allow-api-server-to-{}", c.component));
                assert!(!admits(&old, ns, c.pod, port, from_control_plane), "{}: {}", env.name, c.component);
            } else {
                // Unpoliced namespaces get no policy selecting the pods: it would isolate them.
                assert!(
                    !objs.iter().any(|(_, p)| p["kind"] == "NetworkPolicy"
                        && p["metadata"]["namespace"] == ns
                        && p["spec"]["podSelector"]["matchLabels"][c.pod.0] == c.pod.1),
                    "{}: {ns}/{} isolated in a namespace the bundle does not police",
                    env.name,
                    c.component
                );
            }
        }
    }
    assert!(policed_callees > 0, "the Prometheus Operator's webhook sits in a policed namespace");
}

// ---------------------------------------------------------------------------------------------
// Namespaces: each one the spec declares holds something.

/// Spec namespaces that nothing installs into: no workload, no pinned add-on chart. The Istio
/// control plane's namespace is the mesh's (istiod and the ingress gateway, policed by the
/// bundle by name), so it counts as used.
fn empty_namespaces(platform: &cerverus_model::Platform) -> Vec<String> {
    use cerverus_render::kubernetes::network_policies::GATEWAY_NAMESPACE;
    let mut out = Vec::new();
    for env in &platform.environments {
        for ns in &env.namespaces {
            let used = env.workloads.iter().any(|w| w.namespace() == ns.name)
                || CHARTS.iter().any(|c| c.namespace == ns.name)
                || ns.name == GATEWAY_NAMESPACE;
            if !used {
                out.push(format!("{}/{}", env.name, ns.name));
            }
        }
    }
    out
}

#[test]
fn every_declared_namespace_holds_a_workload_or_an_addon() {
    let (platform, b) = bundle();
    assert_eq!(empty_namespaces(&platform), Vec::<String>::new());
    // No object of the bundle sits in, or names, the dropped controller's namespace.
    for (path, _) in b.iter() {
        assert!(!path.contains("ingress-nginx"), "{path}");
    }
    // Old shape: ingress-nginx declared after its chart was dropped.
    let old = cerverus_spec::DEFAULT_SPEC.replacen(
        "\nworkloads:\n",
        "  - name: ingress-nginx\n    purpose: ingress-nginx controller for non-mesh HTTP routes\n    podSecurity: restricted\n\nworkloads:\n",
        1,
    );
    assert_ne!(old, cerverus_spec::DEFAULT_SPEC);
    let p = cerverus_model::resolve(&cerverus_spec::load("old.yaml", &old).expect("loads")).expect("resolves");
    assert!(empty_namespaces(&p).iter().any(|n| n.ends_with("/ingress-nginx")), "{:?}", empty_namespaces(&p));
}

// ---------------------------------------------------------------------------------------------
// RBAC: the groups RoleBindings name are the groups EKS access entries map IAM roles to.

#[test]
fn every_bound_group_is_one_an_access_entry_carries() {
    let (platform, b) = bundle();
    let tfvars_groups = |env: &str| {
        b.iter()
            .find(|(p, _)| *p == format!("terraform/envs/{env}/terraform.tfvars"))
            .map(|(_, bytes)| String::from_utf8_lossy(bytes).to_string())
            .unwrap_or_default()
    };
    let mut bound = 0;
    for env in &platform.environments {
        let mut groups: BTreeSet<String> = env.access_groups(&platform.name).into_values().flatten().collect();
        groups.insert(cerverus_model::break_glass_group(&platform.name));
        let tfvars = tfvars_groups(&env.name);
        for (path, o) in objects(&b, &env.name) {
            if o["kind"] != "RoleBinding" && o["kind"] != "ClusterRoleBinding" {
                continue;
            }
            for s in o["subjects"].as_array().into_iter().flatten().filter(|s| s["kind"] == "Group") {
                let name = s["name"].as_str().unwrap_or_default();
                assert!(groups.contains(name), "{path}: group {name} is mapped from no IAM role");
                // …and the Terraform access entries carry it (break-glass through the admin roles).
                assert!(
                    tfvars.contains(name) || name == cerverus_model::break_glass_group(&platform.name),
                    "{path}: {name} not in tfvars"
                );
                bound += 1;
            }
        }
    }
    assert!(bound > 0);
    // Both sides name groups through the model's helpers, never their own format strings: the
    // old rbac.rs spelled `{platform}:platform-operators` and `{platform}:{ns}:developers` itself.
    let rbac = std::fs::read_to_string(format!("{}/../render/src/kubernetes/rbac.rs", env!("CARGO_MANIFEST_DIR")))
        .expect("rbac.rs");
    for spelled in [":platform-operators\"", ":developers\"", ":break-glass\""] {
        assert!(!rbac.contains(spelled), "rbac.rs spells a group name itself ({spelled})");
    }
}

// ---------------------------------------------------------------------------------------------
// Helm values as the chart sees them: our values deep-merged over the pinned chart's defaults.

/// Helm's coalescing of user values over chart defaults: maps merge key by key, `null` deletes
/// the default key, anything else (scalars, lists) replaces.
fn helm_merge(defaults: &Value, ours: &Value) -> Value {
    match (defaults, ours) {
        (Value::Object(d), Value::Object(o)) => {
            let mut out = d.clone();
            for (k, v) in o {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = match d.get(k) {
                        Some(dv) => helm_merge(dv, v),
                        None => v.clone(),
                    };
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        _ => ours.clone(),
    }
}

/// Subcharts whose defaults Helm merges under the parent's key, with their `condition` paths
/// from the parent's Chart.yaml: (parent, key, chart, version, condition).
const SUBCHARTS: &[(&str, &str, &str, &str, &[&str])] = &[
    ("kube-prometheus-stack", "grafana", "grafana", "12.11.1", &["grafana.enabled"]),
    ("kube-prometheus-stack", "kube-state-metrics", "kube-state-metrics", "8.4.0", &["kubeStateMetrics.enabled"]),
    (
        "kube-prometheus-stack",
        "prometheus-node-exporter",
        "prometheus-node-exporter",
        "4.56.1",
        &["nodeExporter.enabled"],
    ),
    (
        "kube-prometheus-stack",
        "prometheus-windows-exporter",
        "prometheus-windows-exporter",
        "0.12.8",
        &["windowsMonitoring.enabled"],
    ),
    ("nvidia-device-plugin", "nfd", "node-feature-discovery", "0.15.3", &["nfd.enabled", "gfd.enabled"]),
];

/// Helm's `condition`: the first listed path that exists decides; none existing means enabled.
fn condition_holds(values: &Value, paths: &[&str]) -> bool {
    paths.iter().find_map(|p| p.split('.').try_fold(values, |v, k| v.get(k)).and_then(Value::as_bool)).unwrap_or(true)
}

/// The values a pinned chart renders with: its defaults, then ours over them; each enabled
/// subchart's defaults under its key with the parent's section over them.
fn effective_values(chart: &cerverus_render::addons::Chart, ours: &Value) -> Value {
    let version = chart.values_checked_against.unwrap_or(chart.version);
    // A pin without a stored copy (istio's `cni`, see data/reference/helm/README.md): only ours.
    if !has_reference(chart.chart, version) {
        return ours.clone();
    }
    let mut eff = helm_merge(&chart_defaults(chart.chart, version), ours);
    for (_, key, sub, sub_version, condition) in SUBCHARTS.iter().filter(|s| s.0 == chart.chart) {
        if condition_holds(&eff, condition) {
            let merged = helm_merge(&chart_defaults(sub, sub_version), &eff[*key]);
            eff[*key] = merged;
        }
    }
    eff
}

/// A PDB value a chart template writes: Helm templates guard these with `if`, so `null` and ""
/// are not written (external-secrets 0.17.0 `templates/poddisruptionbudget.yaml` writes each of
/// `minAvailable` and `maxUnavailable` that is set).
fn written(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null)) && v != Some(&json!(""))
}

/// Every `podDisruptionBudget`/`pdb` map that would render with both `minAvailable` and
/// `maxUnavailable`, which the API server rejects (policy/v1: they are mutually exclusive).
fn pdb_clashes(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let here = format!("{path}.{k}");
                if (k == "podDisruptionBudget" || k.eq_ignore_ascii_case("pdb"))
                    && written(x.get("minAvailable"))
                    && written(x.get("maxUnavailable"))
                {
                    out.push(here.clone());
                }
                pdb_clashes(x, &here, out);
            }
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| pdb_clashes(x, &format!("{path}[{i}]"), out)),
        _ => {}
    }
}

#[test]
fn helm_merge_follows_helm() {
    let d = json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "s": "x"});
    let o = json!({"a": {"b": null, "d": 3}, "l": [3]});
    assert_eq!(helm_merge(&d, &o), json!({"a": {"c": 2, "d": 3}, "l": [3], "s": "x"}));
}

#[test]
fn no_add_on_renders_a_pdb_with_both_min_available_and_max_unavailable() {
    // Old shape: external-secrets with our maxUnavailable over the chart's minAvailable default.
    let es = pinned("external-secrets");
    let old = json!({"replicaCount": 2, "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1}});
    let mut found = Vec::new();
    pdb_clashes(&effective_values(es, &old), "", &mut found);
    assert_eq!(found, vec![".podDisruptionBudget".to_string()], "the old values must be caught");

    let (platform, b) = bundle();
    for env in &platform.environments {
        for c in CHARTS.iter().filter(|c| c.installed_in(env)) {
            let mut found = Vec::new();
            pdb_clashes(&effective_values(c, &values(&b, &env.name, c.name)), "", &mut found);
            assert!(
                found.is_empty(),
                "{}/{}: PDB with both minAvailable and maxUnavailable at {found:?}",
                env.name,
                c.name
            );
        }
    }
}

/// kube-prometheus-stack components whose targets EKS does not let Prometheus reach: the
/// managed control plane (etcd, scheduler, controller manager) and kube-proxy, whose metrics
/// listen on 127.0.0.1:10249 while nodes admit Prometheus on 10250 and 9100 only.
const UNREACHABLE_ON_EKS: &[&str] = &["kubeEtcd", "kubeControllerManager", "kubeScheduler", "kubeProxy"];

fn unreachable_targets(effective: &Value) -> Vec<&'static str> {
    UNREACHABLE_ON_EKS.iter().copied().filter(|k| effective[*k]["enabled"] != false).collect()
}

#[test]
fn kube_prometheus_stack_scrapes_nothing_eks_hides() {
    let kps = pinned("kube-prometheus-stack");
    // The chart's defaults enable all four; so did our values before kube-proxy was disabled.
    assert_eq!(unreachable_targets(&effective_values(kps, &json!({}))), UNREACHABLE_ON_EKS);
    let old = json!({"kubeEtcd": {"enabled": false}, "kubeControllerManager": {"enabled": false}, "kubeScheduler": {"enabled": false}});
    assert_eq!(unreachable_targets(&effective_values(kps, &old)), vec!["kubeProxy"]);

    let (platform, b) = bundle();
    for env in &platform.environments {
        let eff = effective_values(kps, &values(&b, &env.name, kps.name));
        assert!(unreachable_targets(&eff).is_empty(), "{}: {:?}", env.name, unreachable_targets(&eff));
    }
}

/// Whether a quota's `cerverus.io/derived-from` annotation states the GPU count the quota sets
/// (`GPUs: <n>`; the old text said `GPUs: none` over a quota of 8).
fn quota_annotation_true(quota: &Value) -> Result<(), String> {
    let hard = quota["spec"]["hard"]["requests.nvidia.com/gpu"].as_str().unwrap_or("0");
    let note = quota["metadata"]["annotations"]["cerverus.io/derived-from"].as_str().unwrap_or_default();
    let said = note.split("GPUs: ").nth(1).map(|r| r.split([',', ')', ' ']).next().unwrap_or_default());
    match said {
        Some(n) if n == hard => Ok(()),
        Some("none") if hard == "0" => Ok(()),
        other => Err(format!("annotation says GPUs {other:?}, quota sets {hard}")),
    }
}

#[test]
fn quota_annotations_state_the_gpus_the_quota_sets() {
    let old = json!({"spec": {"hard": {"requests.nvidia.com/gpu": "8"}},
        "metadata": {"annotations": {"cerverus.io/derived-from": "max replicas … +25% headroom (GPUs: none)"}}});
    assert!(quota_annotation_true(&old).is_err());
    let (platform, b) = bundle();
    let mut gpu_quotas = 0;
    for env in &platform.environments {
        for (path, q) in objects(&b, &env.name).iter().filter(|(_, o)| o["kind"] == "ResourceQuota") {
            quota_annotation_true(q).unwrap_or_else(|e| panic!("{path}: {e}"));
            gpu_quotas += usize::from(q["spec"]["hard"]["requests.nvidia.com/gpu"].as_str().unwrap_or("0") != "0");
        }
    }
    assert!(gpu_quotas > 0, "no quota grants GPUs: the check saw nothing to judge");
}

/// A node group (tfvars `node_groups` entry) with GPUs must carry `k8s.amazonaws.com/accelerator`
/// naming the GPU of every type it may launch, or Cluster Autoscaler scales up again while the
/// device plugin starts (kubernetes/autoscaler#1949, #3164). The eks module turns every label
/// into a `k8s.io/cluster-autoscaler/node-template/label/<key>` ASG tag, so scale-from-zero sees it.
fn accelerator_labelled(name: &str, group: &Value) -> Result<(), String> {
    let labels = &group["labels"];
    if labels[cerverus_model::GPU_PRESENT_LABEL.0] != cerverus_model::GPU_PRESENT_LABEL.1 {
        return Ok(());
    }
    let label = labels[cerverus_model::GPU_ACCELERATOR_LABEL]
        .as_str()
        .ok_or(format!("{name}: GPU group without accelerator label"))?;
    for t in group["instance_types"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let want =
            cerverus_model::capacity::gpu_accelerator(t).ok_or(format!("{name}: {t} has no GPU model in the data"))?;
        if want != label {
            return Err(format!("{name}: labelled {label}, but {t} carries {want}"));
        }
    }
    Ok(())
}

#[test]
fn gpu_node_groups_carry_the_accelerator_label_cluster_autoscaler_reads() {
    let old = json!({"instance_types": ["g4dn.2xlarge"], "labels": {"cerverus.io/pool": "ml", "nvidia.com/gpu.present": "true"}});
    assert!(accelerator_labelled("old", &old).is_err());
    let mixed = json!({"instance_types": ["g4dn.2xlarge", "g5.2xlarge"],
        "labels": {"nvidia.com/gpu.present": "true", "k8s.amazonaws.com/accelerator": "nvidia-tesla-t4"}});
    assert!(accelerator_labelled("mixed", &mixed).is_err());
    assert_eq!(cerverus_model::capacity::gpu_accelerator("g4dn.xlarge"), Some("nvidia-tesla-t4"));
    assert_eq!(cerverus_model::capacity::gpu_accelerator("m5.xlarge"), None);

    let (platform, b) = bundle();
    let mut gpu_groups = 0;
    for env in &platform.environments {
        let path = format!("terraform/envs/{}/terraform.tfvars", env.name);
        let bytes = b.iter().find(|(p, _)| *p == path).map(|(_, b)| b).unwrap_or_else(|| panic!("{path} missing"));
        let tfvars: Value =
            hcl::from_str(std::str::from_utf8(bytes).expect("utf8")).unwrap_or_else(|e| panic!("{path}: {e}"));
        let groups = tfvars["node_groups"].as_object().unwrap_or_else(|| panic!("{path}: no node_groups map"));
        for (name, g) in groups {
            accelerator_labelled(name, g).unwrap_or_else(|e| panic!("{path}: {e}"));
            gpu_groups += usize::from(g["labels"][cerverus_model::GPU_ACCELERATOR_LABEL].is_string());
        }
    }
    assert!(gpu_groups > 0, "no GPU node group was judged");
}

// ---------------------------------------------------------------------------------------------
// RBAC: people's roles never control a pod spec where Secrets or IRSA service accounts live.

/// Resources whose create/patch/update decides what a pod runs, mounts and runs as (pods, every
/// pod controller, and the ways into a running pod).
const POD_SPEC_RESOURCES: &[&str] = &[
    "pods",
    "pods/exec",
    "pods/attach",
    "pods/ephemeralcontainers",
    "deployments",
    "statefulsets",
    "replicasets",
    "daemonsets",
    "replicationcontrollers",
    "jobs",
    "cronjobs",
    // Argo Rollouts: a Rollout carries a pod template like a Deployment.
    "rollouts",
];
const POD_SPEC_VERBS: &[&str] = &["create", "patch", "update", "*"];

/// Namespaces whose pods could read something people's roles withhold: a Secret (or an
/// ExternalSecret that makes one) or a service account with an IAM role.
fn sensitive_namespaces(objs: &[Value]) -> BTreeSet<String> {
    objs.iter()
        .filter(|o| {
            matches!(o["kind"].as_str(), Some("Secret" | "ExternalSecret"))
                || (o["kind"] == "ServiceAccount"
                    && o["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].is_string())
        })
        .filter_map(|o| o["metadata"]["namespace"].as_str().map(str::to_string))
        .collect()
}

/// Group-bound roles (people's responsibilities) that may create or patch a pod spec in a
/// sensitive namespace: (namespace, role, resource, verb).
fn pod_spec_control(objs: &[Value]) -> Vec<String> {
    let sensitive = sensitive_namespaces(objs);
    let mut out = Vec::new();
    for rb in objs.iter().filter(|o| o["kind"] == "RoleBinding") {
        let ns = rb["metadata"]["namespace"].as_str().unwrap_or_default();
        let to_people =
            rb["subjects"].as_array().into_iter().flatten().any(|s| s["kind"] == "Group" || s["kind"] == "User");
        if !to_people || !sensitive.contains(ns) {
            continue;
        }
        let (kind, name) = (rb["roleRef"]["kind"].as_str().unwrap_or_default(), &rb["roleRef"]["name"]);
        let roles = objs.iter().filter(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == *name
                && (kind == "ClusterRole" || o["metadata"]["namespace"] == ns)
        });
        for rule in roles.flat_map(|r| r["rules"].as_array().cloned().unwrap_or_default()) {
            let strs = |k: &str| {
                rule[k]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            };
            for res in strs("resources").iter().filter(|r| POD_SPEC_RESOURCES.contains(&r.as_str()) || *r == "*") {
                for verb in strs("verbs").iter().filter(|v| POD_SPEC_VERBS.contains(&v.as_str())) {
                    out.push(format!("{ns}: {name} may {verb} {res}"));
                }
            }
        }
    }
    out
}

#[test]
fn no_responsibility_role_controls_a_pod_spec_where_secrets_or_irsa_accounts_live() {
    // Old shape: operators could patch Deployments/StatefulSets and create Jobs in a namespace
    // with an IRSA service account.
    let old = vec![
        json!({"kind": "ServiceAccount", "metadata": {"name": "model-training", "namespace": "cerverus-ml",
               "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}}}),
        json!({"kind": "ClusterRole", "metadata": {"name": "cerverus-operator"}, "rules": [
            {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]},
            {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["patch"]},
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete"]}]}),
        json!({"kind": "RoleBinding", "metadata": {"name": "operators", "namespace": "cerverus-ml"},
               "roleRef": {"kind": "ClusterRole", "name": "cerverus-operator"}, "subjects": [{"kind": "Group", "name": "cerverus:operators"}]}),
    ];
    assert_eq!(pod_spec_control(&old).len(), 3, "{:?}", pod_spec_control(&old));

    let (platform, b) = bundle();
    for env in &platform.environments {
        let objs: Vec<Value> = objects(&b, &env.name).into_iter().map(|(_, o)| o).collect();
        let sensitive = sensitive_namespaces(&objs);
        let bound = objs
            .iter()
            .filter(|o| {
                o["kind"] == "RoleBinding"
                    && sensitive.contains(o["metadata"]["namespace"].as_str().unwrap_or_default())
            })
            .count();
        assert!(bound > 0, "{}: no people's binding in a namespace with Secrets/IRSA was judged", env.name);
        let found = pod_spec_control(&objs);
        assert!(found.is_empty(), "{}: {found:?}", env.name);
    }
}

/// Helm validates values.schema.json before it drops `null` keys (helm/helm#12819), so a `null`
/// meant to unset a default fails the install wherever the schema types the key without `null`.
fn nulls_the_schema_rejects(schema: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    let Value::Object(m) = ours else { return };
    for (k, v) in m {
        let here = format!("{path}.{k}");
        let s = &schema["properties"][k];
        if v.is_null() {
            let types: Vec<&str> = match &s["type"] {
                Value::String(t) => vec![t.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => continue,
            };
            if !types.contains(&"null") {
                out.push(here);
            }
        } else {
            nulls_the_schema_rejects(s, v, &here, out);
        }
    }
}

#[test]
fn no_add_on_value_is_a_null_its_chart_schema_rejects() {
    let es = pinned("external-secrets");
    let path = format!(
        "{}/../../data/reference/helm/{}/{}/values.schema.json",
        env!("CARGO_MANIFEST_DIR"),
        es.chart,
        es.version
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .expect("schema");
    // The first fix of the PDB clash: unset the default with null.
    let nulled = json!({"podDisruptionBudget": {"enabled": true, "maxUnavailable": 1, "minAvailable": null}});
    let mut found = Vec::new();
    nulls_the_schema_rejects(&schema, &nulled, "", &mut found);
    assert_eq!(found, vec![".podDisruptionBudget.minAvailable".to_string()]);

    let (platform, b) = bundle();
    for env in &platform.environments {
        for c in CHARTS.iter().filter(|c| c.installed_in(env)) {
            let version = c.values_checked_against.unwrap_or(c.version);
            let path = format!(
                "{}/../../data/reference/helm/{}/{version}/values.schema.json",
                env!("CARGO_MANIFEST_DIR"),
                stored_as(c.chart)
            );
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
            let mut found = Vec::new();
            nulls_the_schema_rejects(&schema, &values(&b, &env.name, c.name), "", &mut found);
            assert!(found.is_empty(), "{}/{}: null where the schema wants a value: {found:?}", env.name, c.name);
        }
    }
}
