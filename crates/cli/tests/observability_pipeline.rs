//! The observability pipelines end to end, over the built bundle: every hop resolves to
//! something rendered and the NetworkPolicies let it through.
//!
//! - Traces: Istio's tracing provider (istiod values) → the OpenTelemetry Collector's Service
//!   and OTLP receiver → its exporter → Jaeger's Service and OTLP receiver → Jaeger's storage
//!   (OpenSearch, not memory); each hop's pods may talk (the checker's NetworkPolicy evaluation).
//! - Logs: every application's containers have a parser and an index, every index an ISM policy
//!   that deletes it and an index template; Fluent Bit's output is the OpenSearch Service.
//! - Log-based alerts: the alert's metric is the one Fluent Bit's `log_to_metrics` produces, on
//!   a port a PodMonitor scrapes.
//!
//! Each judgement is a function; the negative tests feed it a copy broken in one place (the
//! collector's exporter on a wrong port, an application without a parser, a namespace without
//! egress to the collector) and require it to fail.

use std::collections::BTreeMap;

use cerverus_bundle::Bundle;
use cerverus_check::Inventory;
use cerverus_check::rules::netpol::{self, Dest, Policies, Port};
use cerverus_render::addons::{CHARTS, opensearch_service, otel_collector_service};
use serde_json::Value;

fn bundle() -> (cerverus_model::Platform, Bundle) {
    cerverus::build_default().expect("default spec builds")
}

fn yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn text<'a>(b: &'a Bundle, path: &str) -> &'a str {
    let bytes = b.iter().find(|(p, _)| *p == path).map(|(_, b)| b).unwrap_or_else(|| panic!("{path} not in bundle"));
    std::str::from_utf8(bytes).expect("utf8")
}

fn file(b: &Bundle, path: &str) -> Value {
    yaml(text(b, path), path)
}

fn values(b: &Bundle, env: &str, release: &str) -> Value {
    file(b, &format!("helm/addons/{env}/{release}.values.yaml"))
}

const ENVS: [&str; 3] = ["dev", "staging", "prod"];

// ---------------------------------------------------------------------------------------------
// Addresses

/// `host:port` or a URL → (service, namespace, port) for a cluster-internal address
/// (`<svc>.<ns>[.svc[.cluster.local]]`).
fn service_address(addr: &str) -> Option<(String, String, u16)> {
    let addr = addr.split_once("://").map_or(addr, |(_, rest)| rest);
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.trim_end_matches('/').parse().ok()?;
    let host = host.trim_end_matches(".cluster.local").trim_end_matches(".svc");
    let (svc, ns) = host.split_once('.')?;
    (!ns.contains('.')).then(|| (svc.to_string(), ns.to_string(), port))
}

/// The Services a release's chart creates, with their ports, as the pinned chart's templates
/// name them (values decide only what is noted).
fn chart_services(release: &str, v: &Value) -> Vec<(String, Vec<u16>)> {
    match release {
        // opentelemetry-collector 0.170.0: Service `<fullname>`, one port per enabled `ports.*`.
        "opentelemetry-collector" => {
            let name = v["fullnameOverride"].as_str().unwrap_or(release).to_string();
            let ports = v["ports"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, p)| p["enabled"].as_bool() == Some(true))
                .filter_map(|(_, p)| p["servicePort"].as_u64().and_then(|n| u16::try_from(n).ok()))
                .collect();
            vec![(name, ports)]
        }
        // jaeger 4.11.1 (Jaeger v2): Service `<fullname>` (the release name) with the agent,
        // collector (OTLP 4317/4318, Zipkin 9411), query (16686/16685) and metrics ports.
        "jaeger" => vec![(
            release.to_string(),
            vec![5775, 5778, 6831, 6832, 9411, 14250, 14267, 14268, 4317, 4318, 16686, 16685, 8888, 8889],
        )],
        // opensearch 3.6.0: `<clusterName>-<nodeGroup>` on `httpPort`.
        "opensearch" => {
            let name = format!(
                "{}-{}",
                v["clusterName"].as_str().unwrap_or("opensearch-cluster"),
                v["nodeGroup"].as_str().unwrap_or("master")
            );
            vec![(name, vec![u16::try_from(v["httpPort"].as_u64().unwrap_or(9200)).unwrap_or(0)])]
        }
        _ => Vec::new(),
    }
}

/// The release (installed in `env`) whose chart creates Service `svc` in `ns` with `port`.
fn resolve(b: &Bundle, env: &str, svc: &str, ns: &str, port: u16) -> Result<&'static str, String> {
    for c in CHARTS.iter().filter(|c| c.namespace == ns) {
        let path = format!("helm/addons/{env}/{}.values.yaml", c.name);
        if !b.iter().any(|(p, _)| p == path) {
            continue;
        }
        let v = values(b, env, c.name);
        for (name, ports) in chart_services(c.name, &v) {
            if name == svc {
                return if ports.contains(&port) {
                    Ok(c.name)
                } else {
                    Err(format!("{svc}.{ns} (release {}) has no port {port} (ports {ports:?})", c.name))
                };
            }
        }
    }
    Err(format!("no rendered release creates Service {svc} in {ns}"))
}

/// `<ip or 0.0.0.0>:<port>` → port.
fn listen_port(endpoint: &Value) -> Option<u16> {
    endpoint.as_str()?.rsplit_once(':')?.1.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// NetworkPolicies (the checker's evaluation)

fn inventory(b: &Bundle, env: &str) -> Inventory {
    let mut inv = Inventory::default();
    let prefix = format!("kubernetes/{env}/");
    for (p, bytes) in b.iter().filter(|(p, _)| p.starts_with(&prefix) && p.ends_with(".yaml")) {
        cerverus_check::inventory::load_text(&mut inv, p, std::str::from_utf8(bytes).expect("utf8"));
    }
    inv
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A pod: namespace and labels.
struct Pod<'a> {
    ns: &'a str,
    labels: BTreeMap<String, String>,
}

/// Whether `from` may open a TCP connection to `to` on `port`: `from`'s egress policies and
/// `to`'s ingress policies must both allow it.
fn connection_allowed(inv: &Inventory, env: &str, from: &Pod<'_>, to: &Pod<'_>, port: u16) -> Result<(), String> {
    let policies = Policies::new(inv);
    let tcp = Port { number: port, protocol: "TCP", names: &[] };
    let to_ns = policies.namespace_labels(env, to.ns);
    let from_ns = policies.namespace_labels(env, from.ns);
    let out = policies.selecting(&(env.to_string(), from.ns.to_string()), &from.labels, "Egress");
    if !netpol::allows(
        &out,
        "Egress",
        &Dest::Pod { namespace: to.ns, namespace_labels: &to_ns, labels: &to.labels },
        &tcp,
    ) {
        return Err(format!("{env}: egress {}{:?} → {}{:?}:{port} is denied", from.ns, from.labels, to.ns, to.labels));
    }
    let inn = policies.selecting(&(env.to_string(), to.ns.to_string()), &to.labels, "Ingress");
    if !netpol::allows(
        &inn,
        "Ingress",
        &Dest::Pod { namespace: from.ns, namespace_labels: &from_ns, labels: &from.labels },
        &tcp,
    ) {
        return Err(format!("{env}: ingress {}{:?} → {}{:?}:{port} is denied", from.ns, from.labels, to.ns, to.labels));
    }
    Ok(())
}

/// Pod labels as the pinned charts set them on their pods.
fn collector_pod(ns: &str) -> Pod<'_> {
    Pod {
        ns,
        labels: labels(&[
            ("app.kubernetes.io/name", "opentelemetry-collector"),
            ("app.kubernetes.io/instance", "opentelemetry-collector"),
            ("component", "standalone-collector"),
        ]),
    }
}
fn jaeger_pod(ns: &str) -> Pod<'_> {
    Pod {
        ns,
        labels: labels(&[
            ("app.kubernetes.io/name", "jaeger"),
            ("app.kubernetes.io/instance", "jaeger"),
            ("app.kubernetes.io/component", "all-in-one"),
        ]),
    }
}
fn opensearch_pod(ns: &str) -> Pod<'_> {
    Pod {
        ns,
        labels: labels(&[("app.kubernetes.io/name", "opensearch"), ("app.kubernetes.io/instance", "opensearch")]),
    }
}
fn fluent_bit_pod(ns: &str) -> Pod<'_> {
    Pod {
        ns,
        labels: labels(&[("app.kubernetes.io/name", "fluent-bit"), ("app.kubernetes.io/instance", "fluent-bit")]),
    }
}

// ---------------------------------------------------------------------------------------------
// The trace path

/// Istio's tracing provider → collector Service and receiver → exporter → Jaeger Service and
/// receiver → Jaeger's storage. Returns the hops it resolved, for the policy check.
fn trace_path(b: &Bundle, env: &str, collector: &Value, jaeger: &Value) -> Result<Vec<String>, String> {
    let mut hops = Vec::new();
    // 1. istiod: the default tracing provider is an OpenTelemetry provider at the collector.
    let mesh = &values(b, env, "istiod")["meshConfig"];
    let default: Vec<&str> =
        mesh["defaultProviders"]["tracing"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let provider = mesh["extensionProviders"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["opentelemetry"].is_object() && default.contains(&p["name"].as_str().unwrap_or("")))
        .ok_or_else(|| format!("{env}: istiod has no default OpenTelemetry tracing provider"))?;
    let svc = provider["opentelemetry"]["service"].as_str().unwrap_or("");
    let port = provider["opentelemetry"]["port"].as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(0);
    let (name, ns, port) =
        service_address(&format!("{svc}:{port}")).ok_or_else(|| format!("{env}: provider address {svc}:{port}"))?;
    let expected = otel_collector_service();
    if (name.as_str(), ns.as_str(), port) != (expected.name.as_str(), expected.namespace, expected.port) {
        return Err(format!("{env}: Istio sends spans to {name}.{ns}:{port}, not the collector"));
    }
    // 2. That Service is the collector release's, with the port; its container port is the
    // OTLP gRPC receiver's listen port, and the receiver is in the traces pipeline.
    let release = resolve_with(b, env, &name, &ns, port, "opentelemetry-collector", collector)?;
    hops.push(format!("istio → {release} {name}.{ns}:{port}"));
    let otlp_port = collector["ports"]
        .as_object()
        .into_iter()
        .flatten()
        .find(|(_, p)| p["servicePort"].as_u64() == Some(u64::from(port)))
        .and_then(|(_, p)| p["containerPort"].as_u64())
        .ok_or_else(|| format!("{env}: no collector port for {port}"))?;
    let config = &collector["config"];
    let grpc = listen_port(&config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]);
    if grpc.map(u64::from) != Some(otlp_port) {
        return Err(format!("{env}: the OTLP gRPC receiver listens on {grpc:?}, the Service sends to {otlp_port}"));
    }
    let pipeline = &config["service"]["pipelines"]["traces"];
    let has = |key: &str, name: &str| pipeline[key].as_array().into_iter().flatten().any(|v| v.as_str() == Some(name));
    if !has("receivers", "otlp") {
        return Err(format!("{env}: the collector's traces pipeline does not read OTLP"));
    }
    // 3. The traces pipeline exports over OTLP to a Service that is Jaeger's, on a port Jaeger
    // listens with its OTLP receiver.
    let exporters: Vec<&str> =
        pipeline["exporters"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut exported = false;
    for e in exporters.iter().filter(|e| e.starts_with("otlp")) {
        let endpoint = config["exporters"][*e]["endpoint"].as_str().unwrap_or("");
        let (svc, ns, port) =
            service_address(endpoint).ok_or_else(|| format!("{env}: exporter {e} endpoint {endpoint}"))?;
        let release = resolve_with(b, env, &svc, &ns, port, "jaeger", jaeger)?;
        if release != "jaeger" {
            return Err(format!("{env}: exporter {e} goes to {release}, not Jaeger"));
        }
        let jaeger_otlp = listen_port(&jaeger["userconfig"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]);
        if jaeger_otlp != Some(port) {
            return Err(format!(
                "{env}: exporter {e} sends to port {port}, Jaeger's OTLP gRPC receiver listens on {jaeger_otlp:?}"
            ));
        }
        hops.push(format!("collector {e} → jaeger {svc}.{ns}:{port}"));
        exported = true;
    }
    if !exported {
        return Err(format!("{env}: the collector's traces pipeline exports to no OTLP endpoint"));
    }
    // 4. Jaeger keeps spans in OpenSearch (not in memory), at the log store's Service.
    let uc = &jaeger["userconfig"];
    let stored = uc["exporters"]["jaeger_storage_exporter"]["trace_storage"].as_str().unwrap_or("");
    let backend = &uc["extensions"]["jaeger_storage"]["backends"][stored];
    if backend["memory"].is_object() || !backend["opensearch"].is_object() {
        return Err(format!("{env}: Jaeger's trace storage `{stored}` is not OpenSearch: {backend}"));
    }
    let url = backend["opensearch"]["server_urls"][0].as_str().unwrap_or("");
    let os = opensearch_service();
    if service_address(url) != Some((os.name.clone(), os.namespace.to_string(), os.port))
        || !url.starts_with("https://")
    {
        return Err(format!(
            "{env}: Jaeger's storage URL {url} is not https://{}.{}:{}",
            os.name, os.namespace, os.port
        ));
    }
    resolve(b, env, &os.name, os.namespace, os.port)?;
    hops.push(format!("jaeger → {url}"));
    Ok(hops)
}

/// [`resolve`], with the values of release `release` taken from `v` (a possibly modified copy).
fn resolve_with(
    b: &Bundle,
    env: &str,
    svc: &str,
    ns: &str,
    port: u16,
    release: &str,
    v: &Value,
) -> Result<&'static str, String> {
    if let Some(c) = CHARTS.iter().find(|c| c.name == release && c.namespace == ns) {
        for (name, ports) in chart_services(release, v) {
            if name == svc {
                return if ports.contains(&port) {
                    Ok(c.name)
                } else {
                    Err(format!("{env}: {svc}.{ns} (release {release}) has no port {port} (ports {ports:?})"))
                };
            }
        }
    }
    resolve(b, env, svc, ns, port)
}

/// Every pod that sends spans may reach the collector, the collector Jaeger, Jaeger OpenSearch.
fn trace_policies(inv: &Inventory, env: &str, platform_env: &cerverus_model::Env) -> Result<(), String> {
    let svc = otel_collector_service();
    let collector = collector_pod(svc.namespace);
    // Meshed workloads: the sidecar sends from the workload's pod.
    for w in &platform_env.workloads {
        let ns = w.namespace();
        if !platform_env.namespace(ns).is_some_and(|n| n.istio_injection) {
            continue;
        }
        let pod = Pod {
            ns,
            labels: labels(&[("app.kubernetes.io/name", w.name()), ("app.kubernetes.io/instance", w.name())]),
        };
        connection_allowed(inv, env, &pod, &collector, svc.port)?;
    }
    // Airflow pushes its metrics over OTLP/HTTP.
    for w in platform_env.workloads.iter().filter(|w| w.contract.is_some_and(|c| c.name.starts_with("airflow"))) {
        let pod = Pod {
            ns: w.namespace(),
            labels: labels(&[("app.kubernetes.io/name", w.name()), ("app.kubernetes.io/instance", w.name())]),
        };
        connection_allowed(inv, env, &pod, &collector, 4318)?;
    }
    // The ingress gateway starts the traces of public requests.
    let gateway =
        Pod { ns: "istio-system", labels: labels(&[("istio", "ingressgateway"), ("app", "istio-ingressgateway")]) };
    connection_allowed(inv, env, &gateway, &collector, svc.port)?;
    connection_allowed(inv, env, &collector, &jaeger_pod(svc.namespace), 4317)?;
    let os = opensearch_service();
    connection_allowed(inv, env, &jaeger_pod(svc.namespace), &opensearch_pod(os.namespace), os.port)?;
    Ok(())
}

#[test]
fn every_hop_of_the_trace_path_resolves_and_is_allowed() {
    let (platform, b) = bundle();
    for env in ENVS {
        let hops = trace_path(&b, env, &values(&b, env, "opentelemetry-collector"), &values(&b, env, "jaeger"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hops.len(), 3, "{env}: {hops:?}");
        let e = platform.env(env).expect("env");
        trace_policies(&inventory(&b, env), env, e).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_collector_exporting_to_a_wrong_port_breaks_the_trace_path() {
    let (_, b) = bundle();
    let mut collector = values(&b, "prod", "opentelemetry-collector");
    collector["config"]["exporters"]["otlp/jaeger"]["endpoint"] =
        Value::String("jaeger.cerverus-monitoring.svc:4316".into());
    let err = trace_path(&b, "prod", &collector, &values(&b, "prod", "jaeger")).expect_err("wrong port must fail");
    assert!(err.contains("no port 4316"), "{err}");
    // …and a receiver that no longer listens where the Service sends.
    let mut collector = values(&b, "prod", "opentelemetry-collector");
    collector["config"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] =
        Value::String("${env:MY_POD_IP}:14317".into());
    assert!(trace_path(&b, "prod", &collector, &values(&b, "prod", "jaeger")).is_err());
    // …and Jaeger on in-memory storage.
    let mut jaeger = values(&b, "prod", "jaeger");
    jaeger["userconfig"]["extensions"]["jaeger_storage"]["backends"]["opensearch"] =
        serde_json::json!({"memory": {"max_traces": 100000}});
    assert!(trace_path(&b, "prod", &values(&b, "prod", "opentelemetry-collector"), &jaeger).is_err());
}

#[test]
fn a_namespace_without_egress_to_the_collector_breaks_the_trace_path() {
    let (platform, b) = bundle();
    // Drop every policy of cerverus-data that names the collector (the sidecars' telemetry
    // egress and the workloads' OTLP egress).
    let names_collector = |p: &str, bytes: &[u8]| {
        p.starts_with("kubernetes/prod/cerverus-data/networkpolicy-")
            && std::str::from_utf8(bytes).is_ok_and(|t| t.contains("opentelemetry-collector"))
    };
    let mut broken = Bundle::new();
    let mut dropped = 0;
    for (p, bytes) in b.iter() {
        if names_collector(p, bytes) {
            dropped += 1;
            continue;
        }
        broken.add(p.to_string(), bytes.to_vec()).expect("copy");
    }
    assert!(dropped > 0, "the fixture removed nothing");
    let e = platform.env("prod").expect("prod");
    let err = trace_policies(&inventory(&broken, "prod"), "prod", e).expect_err("must fail");
    assert!(err.contains("egress cerverus-data"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The log path

/// Fluent Bit classic config → sections (kind, entries).
fn sections(config: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in config.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(kind) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((kind.to_string(), Vec::new()));
        } else if let Some((_, entries)) = out.last_mut() {
            let (k, v) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            entries.push((k.to_string(), v.trim().to_string()));
        }
    }
    out
}

fn get<'a>(entries: &'a [(String, String)], key: &str) -> Option<&'a str> {
    entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

/// Does a Fluent Bit `Match`/`Match_Regex` select `tag`? Regexes are evaluated by a real regex
/// engine (the JSON Schema `pattern` keyword's).
fn selects(entries: &[(String, String)], tag: &str) -> bool {
    if let Some(re) = get(entries, "Match_Regex") {
        let schema = serde_json::json!({"type": "string", "pattern": re});
        return jsonschema::validator_for(&schema).map(|v| v.is_valid(&Value::String(tag.into()))).unwrap_or(false);
    }
    match get(entries, "Match") {
        Some("*") => true,
        Some(m) => m.strip_suffix('*').map_or(m == tag, |p| tag.starts_with(p)),
        None => false,
    }
}

/// A container's log tag as the tail input writes it.
fn tag(pod: &str, ns: &str, container: &str) -> String {
    format!("kube.var.log.containers.{pod}_{ns}_{container}-{}.log", "0123456789abcdef".repeat(4))
}

/// Where a container's logs end up: (parser, index prefix), by running the filter chain.
fn route(filters: &[(String, Vec<(String, String)>)], tag: &str) -> (Option<String>, Option<String>) {
    let mut parser = None;
    let mut index: Option<String> = None;
    for (_, e) in filters.iter().filter(|(k, _)| k == "FILTER").filter(|(_, e)| selects(e, tag)) {
        match get(e, "Name") {
            Some("parser") => parser = get(e, "Parser").map(str::to_string),
            Some("modify") if get(e, "Condition").is_none() => {
                if let Some(v) = get(e, "Set").and_then(|s| s.strip_prefix("log_index ")) {
                    index = Some(v.to_string());
                }
                if let Some(v) = get(e, "Add").and_then(|s| s.strip_prefix("log_index ")) {
                    index.get_or_insert_with(|| v.to_string());
                }
            }
            _ => {}
        }
    }
    (parser, index)
}

/// The ISM policies and index templates the bootstrap Job applies, by file name.
fn bootstrap_files(b: &Bundle, env: &str) -> BTreeMap<String, Value> {
    let cm = file(b, &format!("kubernetes/{env}/cerverus-logging/configmap-opensearch-bootstrap.yaml"));
    cm["data"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.ends_with(".json"))
        .map(|(k, v)| (k.clone(), serde_json::from_str(v.as_str().unwrap_or("")).unwrap_or(Value::Null)))
        .collect()
}

fn glob(pattern: &str, s: &str) -> bool {
    cerverus_render::kubernetes::logging::glob_matches(pattern, s)
}

/// Every application's logs: a defined parser, an index, an ISM policy that deletes that index
/// after a number of days, and an index template.
fn log_path(
    b: &Bundle,
    env: &str,
    e: &cerverus_model::Env,
    fluent_bit: &Value,
) -> Result<BTreeMap<String, (String, String, u32)>, String> {
    let config = &fluent_bit["config"];
    let filters = sections(config["filters"].as_str().unwrap_or(""));
    let defined: Vec<String> = sections(config["customParsers"].as_str().unwrap_or(""))
        .into_iter()
        .filter(|(k, _)| k == "PARSER")
        .filter_map(|(_, e)| get(&e, "Name").map(str::to_string))
        .collect();
    let files = bootstrap_files(b, env);
    let retention = |index: &str| -> Option<u32> {
        let day = format!("{index}-2026.12.03");
        files.iter().filter(|(k, _)| k.starts_with("ism-")).find_map(|(_, p)| {
            let patterns = p["policy"]["ism_template"][0]["index_patterns"].as_array()?;
            patterns.iter().filter_map(Value::as_str).any(|pat| glob(pat, &day)).then_some(())?;
            let states = p["policy"]["states"].as_array()?;
            let deletes = states
                .iter()
                .any(|s| s["actions"].as_array().is_some_and(|a| a.iter().any(|a| a["delete"].is_object())));
            let age = states
                .iter()
                .flat_map(|s| s["transitions"].as_array().into_iter().flatten())
                .find_map(|t| t["conditions"]["min_index_age"].as_str()?.strip_suffix('d')?.parse::<u32>().ok())?;
            deletes.then_some(age)
        })
    };
    let templated = |index: &str| {
        files.iter().filter(|(k, _)| k.starts_with("template-")).any(|(_, t)| {
            t["index_patterns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|p| glob(p, &format!("{index}-2026.12.03")))
        })
    };
    let mut out = BTreeMap::new();
    let mut containers: Vec<(String, String)> =
        e.workloads.iter().map(|w| (w.namespace().to_string(), w.name().to_string())).collect();
    for ns in e.namespaces.iter().filter(|n| n.istio_injection) {
        containers.push((ns.name.clone(), "istio-proxy".into()));
    }
    for (ns, container) in containers {
        let (parser, index) = route(&filters, &tag(&format!("{container}-abc12"), &ns, &container));
        let parser = parser.ok_or_else(|| format!("{env}: {ns}/{container} has no parser"))?;
        if !defined.contains(&parser) {
            return Err(format!("{env}: {ns}/{container}: parser {parser} is not defined"));
        }
        let index = index.ok_or_else(|| format!("{env}: {ns}/{container} has no index"))?;
        let days =
            retention(&index).ok_or_else(|| format!("{env}: index {index} has no ISM policy that deletes it"))?;
        if !templated(&index) {
            return Err(format!("{env}: index {index} has no index template"));
        }
        out.insert(format!("{ns}/{container}"), (parser, index, days));
    }
    Ok(out)
}

#[test]
fn every_application_has_a_parser_and_an_index_with_retention() {
    let (platform, b) = bundle();
    for env in ENVS {
        let e = platform.env(env).expect("env");
        let routes = log_path(&b, env, e, &values(&b, env, "fluent-bit")).unwrap_or_else(|e| panic!("{e}"));
        // Airflow's roles are parsed as Airflow, the Cerverus services as JSON, sidecars as
        // Envoy access logs — one parser per kind of application.
        assert_eq!(routes["cerverus-data/airflow-scheduler"].0, "airflow", "{env}");
        assert_eq!(routes["cerverus-system/alerts-api"].0, "cerverus_json", "{env}");
        assert_eq!(routes["cerverus-system/istio-proxy"].0, "istio_access", "{env}");
        assert_eq!(routes["cerverus-system/alerts-api"].1, "logs-app-alerts-api", "{env}");
        // Access logs (who called whom) outlive application logs.
        assert!(routes["cerverus-system/istio-proxy"].2 > routes["cerverus-system/alerts-api"].2, "{env}: {routes:?}");
    }
    // The security class keeps what the spec keeps for the control plane's audit logs.
    let prod = platform.env("prod").expect("prod");
    let security = bootstrap_files(&b, "prod")["ism-security.json"]["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"].clone();
    assert_eq!(security, Value::String(format!("{}d", prod.log_retention_days)));
}

#[test]
fn an_application_without_a_parser_or_retention_fails() {
    let (platform, b) = bundle();
    let e = platform.env("prod").expect("prod");
    let fb = values(&b, "prod", "fluent-bit");
    // Drop the parser filter of airflow-worker.
    let filters = fb["config"]["filters"].as_str().unwrap_or("").to_string();
    let kept: Vec<&str> = filters
        .split("\n\n")
        .filter(|s| !(s.contains("Name         parser") && s.contains("_airflow-worker-")))
        .collect();
    assert!(kept.len() < filters.split("\n\n").count(), "the fixture removed nothing");
    let mut broken = fb.clone();
    broken["config"]["filters"] = Value::String(kept.join("\n\n"));
    let err = log_path(&b, "prod", e, &broken).expect_err("must fail");
    assert!(err.contains("airflow-worker has no parser"), "{err}");
    // An index no ISM policy covers.
    let mut broken = fb;
    broken["config"]["filters"] = Value::String(
        filters.replace("Set         log_index logs-app-alerts-api", "Set         log_index app-alerts-api"),
    );
    let err = log_path(&b, "prod", e, &broken).expect_err("must fail");
    assert!(err.contains("no ISM policy"), "{err}");
}

#[test]
fn fluent_bit_ships_to_the_opensearch_service_over_tls_and_may_reach_it() {
    let (_, b) = bundle();
    let os = opensearch_service();
    for env in ENVS {
        let fb = values(&b, env, "fluent-bit");
        let outputs = sections(fb["config"]["outputs"].as_str().unwrap_or(""));
        let out = outputs
            .iter()
            .find(|(k, e)| k == "OUTPUT" && get(e, "Name") == Some("opensearch"))
            .map(|(_, e)| e)
            .unwrap_or_else(|| panic!("{env}: no opensearch output"));
        let host = get(out, "Host").unwrap_or("");
        let port: u16 = get(out, "Port").and_then(|p| p.parse().ok()).unwrap_or(0);
        assert_eq!(
            service_address(&format!("{host}:{port}")),
            Some((os.name.clone(), os.namespace.to_string(), os.port)),
            "{env}"
        );
        assert_eq!(resolve(&b, env, &os.name, os.namespace, port), Ok("opensearch"), "{env}");
        assert_eq!(get(out, "tls"), Some("On"), "{env}");
        assert_eq!(get(out, "tls.verify"), Some("On"), "{env}");
        assert_eq!(get(out, "Logstash_Prefix_Key"), Some("$log_index"), "{env}");
        // The client certificate it mounts is one the log store's CA issues, in its namespace.
        let secret = fb["extraVolumes"][0]["secret"]["secretName"].as_str().unwrap_or("");
        let cert = file(&b, &format!("kubernetes/{env}/cerverus-node-agents/certificate-{secret}.yaml"));
        assert_eq!(cert["spec"]["issuerRef"]["name"], "cerverus-logging-ca", "{env}");
        let inv = inventory(&b, env);
        connection_allowed(&inv, env, &fluent_bit_pod("cerverus-node-agents"), &opensearch_pod(os.namespace), os.port)
            .unwrap_or_else(|e| panic!("{e}"));
        // The OpenSearch namespace is policed: a pod elsewhere is refused.
        let stranger = Pod {
            ns: "cerverus-system",
            labels: labels(&[("app.kubernetes.io/name", "alerts-api"), ("app.kubernetes.io/instance", "alerts-api")]),
        };
        assert!(connection_allowed(&inv, env, &stranger, &opensearch_pod(os.namespace), os.port).is_err(), "{env}");
    }
}

#[test]
fn the_log_alert_counts_what_fluent_bit_exposes_where_prometheus_scrapes() {
    let (_, b) = bundle();
    let fb = values(&b, "prod", "fluent-bit");
    let filters = sections(fb["config"]["filters"].as_str().unwrap_or(""));
    let l2m = filters
        .iter()
        .find(|(_, e)| get(e, "Name") == Some("log_to_metrics"))
        .map(|(_, e)| e)
        .expect("log_to_metrics filter");
    let metric = format!(
        "{}_{}_{}",
        get(l2m, "Metric_namespace").unwrap_or(""),
        get(l2m, "Metric_subsystem").unwrap_or(""),
        get(l2m, "Metric_name").unwrap_or("")
    );
    let rule = file(&b, "kubernetes/prod/cerverus-monitoring/prometheusrule-log-alerts.yaml");
    let exprs: Vec<&str> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["expr"].as_str())
        .collect();
    assert!(exprs.iter().any(|e| e.contains(&metric)), "{metric} in {exprs:?}");
    // kubernetes_mode gives the labels the alert aggregates by.
    assert_eq!(get(l2m, "Kubernetes_mode"), Some("On"));
    assert!(exprs.iter().any(|e| e.contains("by (namespace_name, container_name)")));
    // The metrics leave through the Prometheus exporter on the port the PodMonitor names.
    let outputs = sections(fb["config"]["outputs"].as_str().unwrap_or(""));
    let exporter =
        outputs.iter().find(|(_, e)| get(e, "Name") == Some("prometheus_exporter")).map(|(_, e)| e).expect("exporter");
    assert_eq!(get(exporter, "Match"), get(l2m, "Tag"));
    let port: u64 = get(exporter, "Port").and_then(|p| p.parse().ok()).unwrap_or(0);
    let port_name = fb["extraPorts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["containerPort"].as_u64() == Some(port))
        .and_then(|p| p["name"].as_str());
    let pm = file(&b, "kubernetes/prod/cerverus-node-agents/podmonitor-fluent-bit.yaml");
    let endpoints: Vec<&str> =
        pm["spec"]["podMetricsEndpoints"].as_array().into_iter().flatten().filter_map(|e| e["port"].as_str()).collect();
    assert!(port_name.is_some_and(|n| endpoints.contains(&n)), "{port_name:?} in {endpoints:?}");
    // Prometheus may scrape it.
    let inv = inventory(&b, "prod");
    let prometheus = Pod { ns: "cerverus-monitoring", labels: labels(&[("app.kubernetes.io/name", "prometheus")]) };
    connection_allowed(
        &inv,
        "prod",
        &prometheus,
        &fluent_bit_pod("cerverus-node-agents"),
        u16::try_from(port).unwrap_or(0),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The collector's Prometheus exporter (Airflow's OTel metrics) is scraped by name too.
    let collector = values(&b, "prod", "opentelemetry-collector");
    let cpm = file(&b, "kubernetes/prod/cerverus-monitoring/podmonitor-opentelemetry-collector.yaml");
    for ep in cpm["spec"]["podMetricsEndpoints"].as_array().into_iter().flatten() {
        let name = ep["port"].as_str().unwrap_or("");
        assert_eq!(collector["ports"][name]["enabled"], true, "collector port {name}");
    }
    let exporter_port = listen_port(&collector["config"]["exporters"]["prometheus"]["endpoint"]).map(u64::from);
    assert_eq!(collector["ports"]["prom-exporter"]["containerPort"].as_u64(), exporter_port);
}

// ---------------------------------------------------------------------------------------------
// The log store itself

/// OpenSearch's values: every pod template the chart renders with them passes PSS restricted
/// (no chown or sysctl init container, no keystore init container, non-root, no escalation, no
/// capability, RuntimeDefault seccomp), and no demo security ships (no demo certificates, no
/// demo users, the demo installer off).
fn log_store_hardened(v: &Value, nodes: u64) -> Result<(), String> {
    let off = |path: &[&str]| path.iter().fold(v, |v, k| &v[*k]).as_bool() == Some(false);
    for p in [&["persistence", "enableInitChown"][..], &["sysctlInit", "enabled"], &["sysctl", "enabled"]] {
        if !off(p) {
            return Err(format!("{} is not false", p.join(".")));
        }
    }
    if v["keystore"].as_array().is_some_and(|k| !k.is_empty())
        || v["extraInitContainers"].as_array().is_some_and(|k| !k.is_empty())
    {
        return Err("an init container the restricted level may refuse".into());
    }
    let pod = &v["podSecurityContext"];
    let c = &v["securityContext"];
    let restricted = pod["runAsNonRoot"] == true
        && pod["seccompProfile"]["type"] == "RuntimeDefault"
        && pod["fsGroup"].is_u64()
        && c["allowPrivilegeEscalation"] == false
        && c["runAsNonRoot"] == true
        && c["capabilities"]["drop"] == serde_json::json!(["ALL"]);
    if !restricted {
        return Err(format!("not restricted: pod {pod}, container {c}"));
    }
    let yml = v["config"]["opensearch.yml"].as_str().unwrap_or("");
    for demo in ["esnode", "kirk", "root-ca.pem", "allow_unsafe_democertificates"] {
        if yml.contains(demo) {
            return Err(format!("opensearch.yml uses the demo configuration ({demo})"));
        }
    }
    let demo_off = v["extraEnvs"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["name"] == "DISABLE_INSTALL_DEMO_CONFIG" && e["value"] == "true");
    if !demo_off {
        return Err("the demo security installer is not disabled".into());
    }
    let data = &v["securityConfig"]["config"];
    if data["dataComplete"] != true {
        return Err("the image's own security files (demo users among them) would stay".into());
    }
    let users: Value = yaml(data["data"]["internal_users.yml"].as_str().unwrap_or(""), "internal_users.yml");
    if users.as_object().is_none_or(|u| u.keys().any(|k| k != "_meta")) {
        return Err(format!("internal users defined: {users}"));
    }
    if v["replicas"].as_u64() != Some(nodes) || v["persistence"]["storageClass"] != "cerverus-gp3" {
        return Err(format!("replicas {} / storage class {}", v["replicas"], v["persistence"]["storageClass"]));
    }
    Ok(())
}

#[test]
fn the_log_store_runs_restricted_without_demo_security() {
    let (_, b) = bundle();
    for (env, nodes) in [("dev", 1), ("staging", 3), ("prod", 3)] {
        let v = values(&b, env, "opensearch");
        log_store_hardened(&v, nodes).unwrap_or_else(|e| panic!("{env}: {e}"));
        // The namespace enforces restricted (no exception asked for).
        let ns = file(&b, &format!("kubernetes/{env}/cluster/namespace-cerverus-logging.yaml"));
        assert_eq!(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted", "{env}");
    }
    let prod = values(&b, "prod", "opensearch");
    assert_eq!(prod["antiAffinity"], "hard");
    assert_eq!(prod["antiAffinityTopologyKey"], "topology.kubernetes.io/zone");
    // Each broken in one place fails.
    let mut chown = prod.clone();
    chown["persistence"]["enableInitChown"] = Value::Bool(true);
    assert!(log_store_hardened(&chown, 3).is_err());
    let mut demo = prod.clone();
    demo["securityConfig"]["config"]["data"]["internal_users.yml"] =
        Value::String("admin:\n  hash: \"$2a$12$VcCDgh2NDk07JGN0rjGbM.Ad41qVR/YFJcgHp0UGns5JDymv..TOG\"\n".into());
    assert!(log_store_hardened(&demo, 3).is_err());
}
