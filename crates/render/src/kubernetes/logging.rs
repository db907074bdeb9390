//! The log pipeline's objects: Fluent Bit (node agents) → OpenSearch (cerverus-logging).
//!
//! - **Who may talk to the log store.** OpenSearch keeps its security plugin, without the demo
//!   certificates or users: every client authenticates with a certificate from the log store's own
//!   CA (cert-manager: a self-signed root in `cert-manager`, a CA ClusterIssuer, one Certificate per
//!   node and per client, renewed by cert-manager), and OpenSearch maps the certificate's CN to a
//!   role (`roles_mapping.yml` in the chart values). A dedicated CA makes the log store its own
//!   trust domain: only certificates issued for it authenticate there, and no password exists to
//!   leak or rotate.
//! - **What goes where.** Each application's containers get a parser (JSON for the Cerverus
//!   services, Airflow's line format for Airflow, Envoy's JSON access log for the Istio
//!   sidecars) and an index per data class and application: `logs-<class>-<app>-YYYY.MM.DD`.
//! - **How long it stays.** One Index State Management policy per class (hot → delete after the
//!   class's retention) plus index templates, applied by a bootstrap Job (Argo CD PostSync hook)
//!   that calls the OpenSearch API with `curl`; the script and the JSON bodies are ConfigMap
//!   files.
//! - **What alerts.** Fluent Bit's `log_to_metrics` filter counts error lines per container; a
//!   PodMonitor scrapes them and a PrometheusRule alerts on error spikes and on undeliverable logs.
//! - **Who reaches whom.** cerverus-logging is policed (default deny) with exactly the edges
//!   above; Fluent Bit's, Jaeger's and Grafana's egress to OpenSearch are allowed where they run.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EnvVar, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::alerting::{self, AlertText, Severity};
use super::crd::Resource;
use super::crd::cert_manager::{CaIssuer, CertificateSpec, IssuerRef, IssuerSpec, PrivateKey, SelfSignedIssuer};
use super::crd::monitoring::{PodMetricsEndpoint, PodMonitorSpec, PodSelector, RuleGroup};
use super::network_policies::{MONITORING_NAMESPACE, PROMETHEUS_POD};
use super::promtool::{ExpAlert, InputSeries, TestGroup};
use super::{HOOK, HOOK_DELETE_POLICY, Objects, labels};
use crate::RenderError;
use crate::addons::{LOGGING_NAMESPACE, NODE_AGENTS_NAMESPACE, opensearch_service};

/// cert-manager's cluster resource namespace: where a ClusterIssuer's CA key pair lives.
pub const CERT_MANAGER_NAMESPACE: &str = "cert-manager";
/// The self-signed ClusterIssuer that signs only the log store's root.
pub const SELF_SIGNED_ISSUER: &str = "cerverus-logging-selfsigned";
/// The log store's CA: ClusterIssuer, its Certificate and its Secret share the name.
pub const LOG_CA: &str = "cerverus-logging-ca";

/// Labels of the OpenSearch pods (chart 3.6.0 `opensearch.selectorLabels`).
pub const OPENSEARCH_POD: [(&str, &str); 2] =
    [("app.kubernetes.io/name", "opensearch"), ("app.kubernetes.io/instance", "opensearch")];
/// Labels of the Fluent Bit pods (chart 0.58.1 `fluent-bit.selectorLabels`).
pub const FLUENT_BIT_POD: [(&str, &str); 2] =
    [("app.kubernetes.io/name", "fluent-bit"), ("app.kubernetes.io/instance", "fluent-bit")];
/// Labels of the Jaeger pods (chart 4.11.1 `jaeger.selectorLabels` + component).
pub const JAEGER_POD: [(&str, &str); 2] =
    [("app.kubernetes.io/name", "jaeger"), ("app.kubernetes.io/instance", "jaeger")];
/// Grafana's pods (kube-prometheus-stack's grafana subchart).
pub const GRAFANA_POD: (&str, &str) = ("app.kubernetes.io/name", "grafana");

/// Fluent Bit's built-in HTTP server (chart `metricsPort`): health and its own metrics.
pub const FLUENT_BIT_HTTP_PORT: u16 = 2020;
/// Fluent Bit's `prometheus_exporter` output: the log-derived metrics.
pub const FLUENT_BIT_LOG_METRICS_PORT: u16 = 2021;
/// Container port name of the log-derived metrics (chart `extraPorts`).
pub const FLUENT_BIT_LOG_METRICS_PORT_NAME: &str = "log-metrics";
/// The counter `log_to_metrics` exposes: `<namespace>_<subsystem>_<name>`.
pub const ERROR_LINES_METRIC: &str = "cerverus_logs_error_lines_total";
/// Where Fluent Bit, Jaeger and the bootstrap Job mount their client certificate.
pub const CLIENT_TLS_DIR: &str = "/etc/opensearch-client";

/// A party that talks to OpenSearch with a certificate of the log store's CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStoreIdentity {
    pub namespace: &'static str,
    /// Certificate and Secret name.
    pub secret: &'static str,
    /// The certificate's CN: the user name OpenSearch maps to roles.
    pub common_name: &'static str,
    /// DNS names (server certificates only).
    pub dns_names: Vec<String>,
}

/// The OpenSearch nodes' certificate: HTTP and transport, server and client (nodes dial each
/// other on 9300 with it). Its DN is the only one `plugins.security.nodes_dn` admits.
pub fn node_identity() -> LogStoreIdentity {
    let svc = opensearch_service().name;
    let ns = LOGGING_NAMESPACE;
    let headless = format!("{svc}-headless");
    LogStoreIdentity {
        namespace: ns,
        secret: "opensearch-node-tls",
        common_name: "opensearch-cluster-master",
        dns_names: vec![
            svc.clone(),
            format!("{svc}.{ns}"),
            format!("{svc}.{ns}.svc"),
            format!("{svc}.{ns}.svc.cluster.local"),
            headless.clone(),
            format!("*.{headless}"),
            format!("*.{headless}.{ns}.svc"),
            format!("*.{headless}.{ns}.svc.cluster.local"),
        ],
    }
}

/// Fluent Bit: writes `logs-*`.
pub fn fluent_bit_identity() -> LogStoreIdentity {
    client(NODE_AGENTS_NAMESPACE, "fluent-bit-opensearch-tls", "fluent-bit")
}
/// Jaeger: reads and writes its span indices (`traces-jaeger-*`).
pub fn jaeger_identity() -> LogStoreIdentity {
    client(MONITORING_NAMESPACE, "jaeger-opensearch-tls", "jaeger")
}
/// The bootstrap Job: ISM policies and index templates.
pub fn bootstrap_identity() -> LogStoreIdentity {
    client(LOGGING_NAMESPACE, "opensearch-bootstrap-tls", "opensearch-bootstrap")
}
/// OpenSearch Dashboards' server.
pub fn dashboards_identity() -> LogStoreIdentity {
    client(LOGGING_NAMESPACE, "opensearch-dashboards-tls", "opensearch-dashboards")
}
/// Grafana's OpenSearch datasource (read only).
pub fn grafana_identity() -> LogStoreIdentity {
    client(MONITORING_NAMESPACE, "grafana-opensearch-tls", "grafana")
}

fn client(namespace: &'static str, secret: &'static str, common_name: &'static str) -> LogStoreIdentity {
    LogStoreIdentity { namespace, secret, common_name, dns_names: Vec::new() }
}

/// Every certificate of the log store.
pub fn identities() -> Vec<LogStoreIdentity> {
    vec![
        node_identity(),
        fluent_bit_identity(),
        jaeger_identity(),
        bootstrap_identity(),
        dashboards_identity(),
        grafana_identity(),
    ]
}

/// A data class of logs and how long it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogClass {
    pub name: &'static str,
    pub what: &'static str,
    /// Index patterns the class's ISM policy attaches to.
    pub index_patterns: Vec<&'static str>,
    pub retention_days: u32,
}

/// The classes, with their retention in `env`. The security class keeps what the spec keeps for
/// the control plane's audit logs (`cluster.logRetentionDays`); application logs follow the
/// environment (an investigation in production looks back a month); the Istio access logs are
/// the record of who called whom and outlive application logs; debug lines are the shortest.
pub fn log_classes(env: &Env) -> Vec<LogClass> {
    let prod = env.is_production();
    vec![
        LogClass {
            name: "app",
            what: "application logs of the Cerverus workloads",
            index_patterns: vec!["logs-app-*"],
            retention_days: if prod { 30 } else { 7 },
        },
        LogClass {
            name: "access",
            what: "Istio sidecar and gateway access logs (who called whom)",
            index_patterns: vec!["logs-access-*"],
            retention_days: if prod { 90 } else { 14 },
        },
        LogClass {
            name: "security",
            what: "runtime security events (Falco) and OpenSearch's own security audit log",
            index_patterns: vec!["logs-security-*", "security-auditlog-*"],
            retention_days: if prod { env.log_retention_days.max(90) } else { 30 },
        },
        LogClass {
            name: "platform",
            what: "logs of the platform's add-ons and system namespaces",
            index_patterns: vec!["logs-platform-*"],
            retention_days: if prod { 14 } else { 7 },
        },
        LogClass {
            name: "debug",
            what: "debug and trace lines of any application",
            index_patterns: vec!["logs-debug-*"],
            retention_days: 3,
        },
        LogClass {
            name: "traces",
            what: "Jaeger's span and service indices",
            index_patterns: vec!["traces-jaeger-*"],
            retention_days: if prod { 7 } else { 3 },
        },
    ]
}

/// A Fluent Bit parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parser {
    pub name: &'static str,
    pub format: &'static str,
    pub regex: Option<&'static str>,
    pub time_key: Option<&'static str>,
    pub time_format: Option<&'static str>,
}

/// The Cerverus services log one JSON object per line.
pub const CERVERUS_JSON: Parser =
    Parser { name: "cerverus_json", format: "json", regex: None, time_key: None, time_format: None };
/// Airflow 2.10's default `log_format` with the TimezoneAware formatter:
/// `[2025-01-31T12:00:00.123+0000] {scheduler_job_runner.py:123} INFO - message`.
pub const AIRFLOW: Parser = Parser {
    name: "airflow",
    format: "regex",
    regex: Some(r"^\[(?<time>[^\]]+)\] \{(?<source>[^}]+)\} (?<level>[A-Z]+) - (?<message>.*)$"),
    time_key: Some("time"),
    time_format: Some("%Y-%m-%dT%H:%M:%S.%L%z"),
};
/// Envoy's JSON access log as Istio writes it (`accessLogEncoding: JSON`).
pub const ISTIO_ACCESS: Parser = Parser {
    name: "istio_access",
    format: "json",
    regex: None,
    time_key: Some("start_time"),
    time_format: Some("%Y-%m-%dT%H:%M:%S.%LZ"),
};
/// Falco's `json_output`.
pub const FALCO_JSON: Parser =
    Parser { name: "falco_json", format: "json", regex: None, time_key: None, time_format: None };

pub fn parsers() -> Vec<Parser> {
    vec![CERVERUS_JSON, AIRFLOW, ISTIO_ACCESS, FALCO_JSON]
}

/// Where one application's container logs go: its parser and its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRoute {
    /// `None`: every namespace (the Istio sidecar).
    pub namespace: Option<String>,
    pub container: String,
    pub parser: &'static str,
    /// Index prefix; Fluent Bit appends `-YYYY.MM.DD`.
    pub index: String,
}

impl LogRoute {
    /// The Fluent Bit `Match_Regex` of this route's records: the tail input tags each record
    /// `kube.var.log.containers.<pod>_<namespace>_<container>-<container id>.log`.
    pub fn match_regex(&self) -> String {
        let ns = self.namespace.as_deref().map_or_else(|| "[^_]+".to_string(), regex_escape);
        format!(r"^kube\.var\.log\.containers\.[^_]+_{ns}_{}-[0-9a-f]{{64}}\.log$", regex_escape(&self.container))
    }
}

fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if !c.is_ascii_alphanumeric() && c != '-' && c != '_' {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// The Istio sidecar's container name.
pub const ISTIO_PROXY_CONTAINER: &str = "istio-proxy";

/// One route per application of `env` (its workload's container; Airflow's roles have Airflow's
/// parser, every other Cerverus service JSON), then the sidecars' access logs and Falco's events.
/// Logs that match no route go to `logs-platform` unparsed.
pub fn routes(env: &Env) -> Vec<LogRoute> {
    let mut out: Vec<LogRoute> = env
        .workloads
        .iter()
        .map(|w| {
            let airflow = w.contract.is_some_and(|c| c.name.starts_with("airflow"));
            LogRoute {
                namespace: Some(w.namespace().to_string()),
                container: w.name().to_string(),
                parser: if airflow { AIRFLOW.name } else { CERVERUS_JSON.name },
                index: format!("logs-app-{}", w.name()),
            }
        })
        .collect();
    out.push(LogRoute {
        namespace: None,
        container: ISTIO_PROXY_CONTAINER.to_string(),
        parser: ISTIO_ACCESS.name,
        index: "logs-access".to_string(),
    });
    out.push(LogRoute {
        namespace: Some(NODE_AGENTS_NAMESPACE.to_string()),
        container: "falco".to_string(),
        parser: FALCO_JSON.name,
        index: "logs-security-falco".to_string(),
    });
    out
}

/// The index of records no route claims.
pub const DEFAULT_INDEX: &str = "logs-platform";
/// The index debug lines of applications go to, whatever their application.
pub const DEBUG_INDEX: &str = "logs-debug";
/// The record key holding a record's index prefix (Fluent Bit `Logstash_Prefix_Key`).
pub const INDEX_KEY: &str = "log_index";

/// `*`-only glob, as OpenSearch's index patterns.
pub fn glob_matches(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else { return false };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            let Some(pos) = rest.find(p) else { return false };
            rest = &rest[pos + p.len()..];
        }
    }
    rest.is_empty()
}

/// Number of replicas of every index: one copy on another node where there are three nodes,
/// none on a single-node dev cluster (a replica could never be placed; the cluster would stay
/// yellow).
pub fn index_replicas(env: &Env) -> u32 {
    if opensearch_nodes(env) > 1 { 1 } else { 0 }
}

/// OpenSearch nodes (all master-eligible data nodes): three across zones outside dev.
pub fn opensearch_nodes(env: &Env) -> u32 {
    if env.name == "dev" { 1 } else { 3 }
}

/// The ISM policy of a class: hot until its retention, then deleted.
pub fn ism_policy(class: &LogClass) -> Value {
    json!({
        "policy": {
            "description": format!("{}: kept {} days, then deleted", class.what, class.retention_days),
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [],
                    "transitions": [{"state_name": "delete", "conditions": {"min_index_age": format!("{}d", class.retention_days)}}]
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []}
            ],
            "ism_template": [{"index_patterns": class.index_patterns, "priority": 100}]
        }
    })
}

/// The index template of the `logs-*` indices: shard and replica counts and the fields every
/// record carries (Fluent Bit's Kubernetes metadata), so a search by namespace or container is a
/// keyword match.
pub fn logs_index_template(env: &Env) -> Value {
    json!({
        "index_patterns": ["logs-*"],
        "priority": 100,
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": index_replicas(env)},
            "mappings": {
                "properties": {
                    "@timestamp": {"type": "date"},
                    "level": {"type": "keyword"},
                    "message": {"type": "text"},
                    (INDEX_KEY): {"type": "keyword"},
                    "kubernetes": {"properties": {
                        "namespace_name": {"type": "keyword"},
                        "pod_name": {"type": "keyword"},
                        "container_name": {"type": "keyword"},
                        "host": {"type": "keyword"}
                    }}
                }
            }
        }
    })
}

/// The ConfigMap files of the bootstrap Job: its script, an ISM policy per class, the index
/// templates.
pub fn bootstrap_files(env: &Env) -> BTreeMap<String, String> {
    let mut files = BTreeMap::from([("bootstrap.sh".to_string(), BOOTSTRAP_SCRIPT.to_string())]);
    for c in log_classes(env) {
        files.insert(format!("ism-{}.json", c.name), ism_policy(&c).to_string());
    }
    files.insert("template-logs.json".to_string(), logs_index_template(env).to_string());
    files
}

/// Idempotent: index templates are PUT as they are; an ISM policy that exists is updated with
/// its sequence number and primary term (OpenSearch refuses a blind overwrite). Waits for the
/// cluster first, as the hook may run while OpenSearch is still starting.
pub const BOOTSTRAP_SCRIPT: &str = r#"#!/bin/sh
# Applies the log store's index templates and ISM policies (one per data class).
set -eu

api() {
  method="$1"
  path="$2"
  shift 2
  curl --silent --show-error --fail-with-body \
    --cacert "$TLS_DIR/ca.crt" --cert "$TLS_DIR/tls.crt" --key "$TLS_DIR/tls.key" \
    -H 'Content-Type: application/json' -X "$method" "$OPENSEARCH_URL$path" "$@"
}

tries=0
until api GET '/_cluster/health?wait_for_status=yellow&timeout=10s' >/dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -ge 90 ]; then
    echo "OpenSearch did not answer at $OPENSEARCH_URL" >&2
    exit 1
  fi
  sleep 10
done

for f in "$BOOTSTRAP_DIR"/template-*.json; do
  name=$(basename "$f" .json)
  name=${name#template-}
  api PUT "/_index_template/$name" --data-binary "@$f" >/dev/null
  echo "index template $name applied"
done

for f in "$BOOTSTRAP_DIR"/ism-*.json; do
  name=$(basename "$f" .json)
  name=${name#ism-}
  current=$(api GET "/_plugins/_ism/policies/$name" 2>/dev/null || true)
  seq_no=$(printf '%s' "$current" | sed -n 's/.*"_seq_no":\([0-9]*\).*/\1/p')
  term=$(printf '%s' "$current" | sed -n 's/.*"_primary_term":\([0-9]*\).*/\1/p')
  if [ -n "$seq_no" ] && [ -n "$term" ]; then
    api PUT "/_plugins/_ism/policies/$name?if_seq_no=$seq_no&if_primary_term=$term" --data-binary "@$f" >/dev/null
  else
    api PUT "/_plugins/_ism/policies/$name" --data-binary "@$f" >/dev/null
  fi
  echo "ISM policy $name applied"
done
"#;

/// Name of the bootstrap Job and its ConfigMap.
pub const BOOTSTRAP: &str = "opensearch-bootstrap";
/// The bootstrap Job's image: a POSIX shell, curl and sed, pinned by digest (the same toolbox
/// image the restore verification runs). It runs as root by default; the Job runs it as nobody.
pub const CURL_IMAGE: &str =
    "docker.io/alpine/k8s:1.35.3@sha256:097aa60cbef561146757c7494468e9d7b04d843597ad1a1515ed09d0708c8014";
const BOOTSTRAP_UID: i64 = 65534;
const BOOTSTRAP_DIR: &str = "/etc/opensearch-bootstrap";

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    render_certificates(platform, out)?;
    render_bootstrap(platform, env, out)?;
    render_policies(platform, out)?;
    render_monitoring(platform, out)?;
    Ok(())
}

fn meta(platform: &Platform, ns: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: ns.map(str::to_string),
        labels: Some(labels::common(&platform.name)),
        ..Default::default()
    }
}

fn render_certificates(platform: &Platform, out: &mut Objects) -> Result<(), RenderError> {
    let issuer = |spec: IssuerSpec, name: &str| Resource {
        api_version: "cert-manager.io/v1",
        kind: "ClusterIssuer",
        metadata: meta(platform, None, name),
        spec,
    };
    out.add(
        None,
        "ClusterIssuer",
        SELF_SIGNED_ISSUER,
        &issuer(IssuerSpec { self_signed: Some(SelfSignedIssuer {}), ..Default::default() }, SELF_SIGNED_ISSUER),
    )?;
    let ca = Resource {
        api_version: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: meta(platform, Some(CERT_MANAGER_NAMESPACE), LOG_CA),
        spec: CertificateSpec {
            secret_name: LOG_CA.to_string(),
            common_name: Some(LOG_CA.to_string()),
            dns_names: Vec::new(),
            // Ten years, renewed a year ahead: clients trust the CA in the Secret they mount,
            // which cert-manager refreshes with every leaf certificate.
            duration: "87600h".to_string(),
            renew_before: "8760h".to_string(),
            is_ca: true,
            usages: vec!["cert sign", "crl sign", "digital signature"],
            private_key: PrivateKey { algorithm: "RSA", size: 4096, encoding: Some("PKCS8"), rotation_policy: "Never" },
            issuer_ref: IssuerRef {
                name: SELF_SIGNED_ISSUER.to_string(),
                kind: "ClusterIssuer",
                group: "cert-manager.io",
            },
            revision_history_limit: 3,
        },
    };
    out.add(Some(CERT_MANAGER_NAMESPACE), "Certificate", LOG_CA, &ca)?;
    out.add(
        None,
        "ClusterIssuer",
        LOG_CA,
        &issuer(IssuerSpec { ca: Some(CaIssuer { secret_name: LOG_CA.to_string() }), ..Default::default() }, LOG_CA),
    )?;
    for id in identities() {
        let server = !id.dns_names.is_empty();
        let mut usages = vec!["digital signature", "key encipherment", "client auth"];
        if server {
            usages.push("server auth");
        }
        let cert = Resource {
            api_version: "cert-manager.io/v1",
            kind: "Certificate",
            metadata: meta(platform, Some(id.namespace), id.secret),
            spec: CertificateSpec {
                secret_name: id.secret.to_string(),
                common_name: Some(id.common_name.to_string()),
                dns_names: id.dns_names.clone(),
                duration: "2160h".to_string(),
                renew_before: "720h".to_string(),
                is_ca: false,
                usages,
                private_key: PrivateKey {
                    algorithm: "RSA",
                    size: 2048,
                    encoding: Some("PKCS8"),
                    rotation_policy: "Always",
                },
                issuer_ref: IssuerRef { name: LOG_CA.to_string(), kind: "ClusterIssuer", group: "cert-manager.io" },
                revision_history_limit: 3,
            },
        };
        out.add(Some(id.namespace), "Certificate", id.secret, &cert)?;
    }
    Ok(())
}

fn restricted_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(k8s_openapi::api::core::v1::Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

fn render_bootstrap(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let ns = LOGGING_NAMESPACE;
    let cm = ConfigMap {
        metadata: meta(platform, Some(ns), BOOTSTRAP),
        data: Some(bootstrap_files(env)),
        ..Default::default()
    };
    out.add(Some(ns), "ConfigMap", BOOTSTRAP, &cm)?;

    let svc = opensearch_service();
    let env_var =
        |name: &str, value: String| EnvVar { name: name.to_string(), value: Some(value), ..Default::default() };
    let mut job_labels = labels::common(&platform.name);
    job_labels.insert("app.kubernetes.io/name".into(), BOOTSTRAP.into());
    let container = Container {
        name: BOOTSTRAP.to_string(),
        image: Some(CURL_IMAGE.to_string()),
        command: Some(vec!["/bin/sh".into(), format!("{BOOTSTRAP_DIR}/bootstrap.sh")]),
        env: Some(vec![
            env_var("OPENSEARCH_URL", format!("https://{}.{}.svc:{}", svc.name, svc.namespace, svc.port)),
            env_var("TLS_DIR", CLIENT_TLS_DIR.to_string()),
            env_var("BOOTSTRAP_DIR", BOOTSTRAP_DIR.to_string()),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("10m".into())),
                ("memory".to_string(), Quantity("32Mi".into())),
            ])),
            limits: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("200m".into())),
                ("memory".to_string(), Quantity("64Mi".into())),
            ])),
            ..Default::default()
        }),
        security_context: Some(restricted_container()),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "bootstrap".into(),
                mount_path: BOOTSTRAP_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "client-tls".into(),
                mount_path: CLIENT_TLS_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        automount_service_account_token: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(BOOTSTRAP_UID),
            run_as_group: Some(BOOTSTRAP_UID),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
            ..Default::default()
        }),
        containers: vec![container],
        volumes: Some(vec![
            Volume {
                name: "bootstrap".into(),
                config_map: Some(ConfigMapVolumeSource { name: BOOTSTRAP.into(), ..Default::default() }),
                ..Default::default()
            },
            Volume {
                name: "client-tls".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(bootstrap_identity().secret.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    let mut m = meta(platform, Some(ns), BOOTSTRAP);
    m.labels = Some(job_labels.clone());
    // After every sync, when OpenSearch and the certificates exist (a Sync hook in an early
    // wave would wait on certificates applied in a later one).
    m.annotations = Some(BTreeMap::from([
        (HOOK.to_string(), "PostSync".to_string()),
        (HOOK_DELETE_POLICY.to_string(), "BeforeHookCreation".to_string()),
    ]));
    let job = Job {
        metadata: m,
        spec: Some(JobSpec {
            backoff_limit: Some(3),
            active_deadline_seconds: Some(1800),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(job_labels), ..Default::default() }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    out.add(Some(ns), "Job", BOOTSTRAP, &job)
}

fn select(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..Default::default()
    }
}

fn peer_in(ns: &str, pod: &[(&str, &str)]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(select(&[("kubernetes.io/metadata.name", ns)])),
        pod_selector: Some(select(pod)),
        ..Default::default()
    }
}

fn tcp(port: u16) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(i32::from(port))),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn policy(
    platform: &Platform,
    ns: &str,
    name: &str,
    pods: LabelSelector,
    ingress: Option<Vec<NetworkPolicyIngressRule>>,
    egress: Option<Vec<NetworkPolicyEgressRule>>,
) -> NetworkPolicy {
    let mut types = Vec::new();
    if ingress.is_some() {
        types.push("Ingress".to_string());
    }
    if egress.is_some() {
        types.push("Egress".to_string());
    }
    NetworkPolicy {
        metadata: meta(platform, Some(ns), name),
        spec: Some(NetworkPolicySpec { pod_selector: Some(pods), policy_types: Some(types), ingress, egress }),
    }
}

/// cerverus-logging: default deny, DNS, traffic inside the namespace (the nodes' transport,
/// Dashboards and the bootstrap Job to the HTTP API), and OpenSearch's HTTP port for its clients
/// elsewhere (Fluent Bit, Jaeger, Grafana). Each client gets the matching egress where it runs.
fn render_policies(platform: &Platform, out: &mut Objects) -> Result<(), RenderError> {
    let ns = LOGGING_NAMESPACE;
    let all = LabelSelector::default();
    let same_ns = || NetworkPolicyPeer { pod_selector: Some(LabelSelector::default()), ..Default::default() };
    out.add(
        Some(ns),
        "NetworkPolicy",
        "default-deny",
        &policy(platform, ns, "default-deny", all.clone(), Some(vec![]), Some(vec![])),
    )?;
    let udp53 =
        NetworkPolicyPort { port: Some(IntOrString::Int(53)), protocol: Some("UDP".into()), ..Default::default() };
    let dns = NetworkPolicyEgressRule {
        to: Some(vec![peer_in("kube-system", &[("k8s-app", "kube-dns")])]),
        ports: Some(vec![udp53, tcp(53)]),
    };
    out.add(
        Some(ns),
        "NetworkPolicy",
        "allow-dns",
        &policy(platform, ns, "allow-dns", all.clone(), None, Some(vec![dns])),
    )?;
    out.add(
        Some(ns),
        "NetworkPolicy",
        "allow-same-namespace",
        &policy(
            platform,
            ns,
            "allow-same-namespace",
            all,
            Some(vec![NetworkPolicyIngressRule { from: Some(vec![same_ns()]), ports: None }]),
            Some(vec![NetworkPolicyEgressRule { to: Some(vec![same_ns()]), ports: None }]),
        ),
    )?;
    let port = opensearch_service().port;
    let clients = vec![
        peer_in(NODE_AGENTS_NAMESPACE, &FLUENT_BIT_POD),
        peer_in(MONITORING_NAMESPACE, &JAEGER_POD),
        peer_in(MONITORING_NAMESPACE, &[GRAFANA_POD]),
    ];
    out.add(
        Some(ns),
        "NetworkPolicy",
        "opensearch",
        &policy(
            platform,
            ns,
            "opensearch",
            select(&OPENSEARCH_POD),
            Some(vec![NetworkPolicyIngressRule { from: Some(clients), ports: Some(vec![tcp(port)]) }]),
            None,
        ),
    )?;
    let to_opensearch =
        || vec![NetworkPolicyEgressRule { to: Some(vec![peer_in(ns, &OPENSEARCH_POD)]), ports: Some(vec![tcp(port)]) }];
    // Fluent Bit: ships to OpenSearch; Prometheus scrapes its two metrics ports. The Kubernetes
    // filter's API calls are the namespace's `allow-kubernetes-api`.
    out.add(
        Some(NODE_AGENTS_NAMESPACE),
        "NetworkPolicy",
        "fluent-bit",
        &policy(
            platform,
            NODE_AGENTS_NAMESPACE,
            "fluent-bit",
            select(&FLUENT_BIT_POD),
            Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![peer_in(MONITORING_NAMESPACE, &[PROMETHEUS_POD])]),
                ports: Some(vec![tcp(FLUENT_BIT_HTTP_PORT), tcp(FLUENT_BIT_LOG_METRICS_PORT)]),
            }]),
            Some(to_opensearch()),
        ),
    )?;
    out.add(
        Some(MONITORING_NAMESPACE),
        "NetworkPolicy",
        "jaeger-storage",
        &policy(platform, MONITORING_NAMESPACE, "jaeger-storage", select(&JAEGER_POD), None, Some(to_opensearch())),
    )?;
    out.add(
        Some(MONITORING_NAMESPACE),
        "NetworkPolicy",
        "grafana-log-store",
        &policy(
            platform,
            MONITORING_NAMESPACE,
            "grafana-log-store",
            select(&[GRAFANA_POD]),
            None,
            Some(to_opensearch()),
        ),
    )
}

/// Name of the PrometheusRule of the log-based alerts.
pub const LOG_ALERTS: &str = "log-alerts";

fn render_monitoring(platform: &Platform, out: &mut Objects) -> Result<(), RenderError> {
    let pm = Resource {
        api_version: "monitoring.coreos.com/v1",
        kind: "PodMonitor",
        metadata: meta(platform, Some(NODE_AGENTS_NAMESPACE), "fluent-bit"),
        spec: PodMonitorSpec {
            selector: PodSelector {
                match_labels: FLUENT_BIT_POD.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                match_expressions: Vec::new(),
            },
            namespace_selector: None,
            job_label: None,
            pod_metrics_endpoints: vec![
                PodMetricsEndpoint {
                    port: "http".into(),
                    path: "/api/v2/metrics/prometheus",
                    interval: "30s",
                    relabelings: Vec::new(),
                },
                PodMetricsEndpoint {
                    port: FLUENT_BIT_LOG_METRICS_PORT_NAME.into(),
                    path: "/metrics",
                    interval: "30s",
                    relabelings: Vec::new(),
                },
            ],
        },
    };
    out.add(Some(NODE_AGENTS_NAMESPACE), "PodMonitor", "fluent-bit", &pm)?;
    let (groups, tests) = log_alerts(&platform.owner);
    alerting::add_rule(out, MONITORING_NAMESPACE, LOG_ALERTS, labels::common(&platform.name), groups, tests)
}

/// The Cerverus application namespaces' error lines, per container.
fn error_rate_expr() -> String {
    format!(
        "sum by (namespace_name, container_name) (rate({ERROR_LINES_METRIC}{{namespace_name=~\"cerverus-system|cerverus-data|cerverus-ml\"}}[5m])) > 0.2"
    )
}

/// Log-based alerts and their promtool tests.
pub fn log_alerts(team: &str) -> (Vec<RuleGroup>, Vec<TestGroup>) {
    let spike = alerting::alert(
        "ApplicationErrorLogSpike",
        &error_rate_expr(),
        "10m",
        Severity::Warning,
        team,
        &AlertText {
            summary: "{{ $labels.container_name }} in {{ $labels.namespace_name }} logs more than 12 errors a minute",
            description: "Fluent Bit counted {{ $value | humanize }} error lines per second from {{ $labels.container_name }} over 5 minutes, for 10 minutes. Search logs-app-{{ $labels.container_name }}-* in OpenSearch Dashboards.",
            runbook: "log-error-spike",
        },
    );
    let shipping = alerting::alert(
        "LogShippingFailing",
        "sum by (pod) (rate(fluentbit_output_errors_total[5m])) > 0",
        "15m",
        Severity::Warning,
        team,
        &AlertText {
            summary: "Fluent Bit on {{ $labels.pod }} cannot deliver logs to OpenSearch",
            description: "The OpenSearch output of {{ $labels.pod }} has failed for 15 minutes; Fluent Bit retries and pauses tailing at its memory limit, so logs arrive late and may be lost if the node goes away.",
            runbook: "log-shipping",
        },
    );
    let groups = vec![RuleGroup { name: "logs".into(), interval: None, rules: vec![spike, shipping] }];
    let exp = |pairs: &[(&str, &str)], text: [(&str, String); 3]| ExpAlert {
        exp_labels: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("severity".to_string(), "warning".to_string()), ("team".to_string(), team.to_string())])
            .collect(),
        exp_annotations: text.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    };
    let series = |ns: &str, c: &str| {
        format!(
            "{ERROR_LINES_METRIC}{{namespace_name=\"{ns}\",container_name=\"{c}\",pod_name=\"{c}-0\",docker_id=\"d\",pod_id=\"p\"}}"
        )
    };
    let tests = vec![
        // 30 errors a minute from the alerts API: fires after the 10 minutes.
        TestGroup::new(vec![InputSeries::new(series("cerverus-system", "alerts-api"), "0+30x30")]).expect(
            "25m",
            "ApplicationErrorLogSpike",
            vec![exp(
                &[("namespace_name", "cerverus-system"), ("container_name", "alerts-api")],
                [
                    ("summary", "alerts-api in cerverus-system logs more than 12 errors a minute".to_string()),
                    ("description", "Fluent Bit counted 500m error lines per second from alerts-api over 5 minutes, for 10 minutes. Search logs-app-alerts-api-* in OpenSearch Dashboards.".to_string()),
                    ("runbook_url", alerting::runbook_url("log-error-spike")),
                ],
            )],
        ),
        // One error a minute is noise; a spike in a platform namespace is not an application's.
        TestGroup::new(vec![
            InputSeries::new(series("cerverus-data", "airflow-scheduler"), "0+1x30"),
            InputSeries::new(series("kube-system", "coredns"), "0+60x30"),
        ])
        .expect("25m", "ApplicationErrorLogSpike", vec![]),
        TestGroup::new(vec![InputSeries::new(
            "fluentbit_output_errors_total{name=\"opensearch.0\",pod=\"fluent-bit-abcde\"}",
            "0+5x40",
        )])
        .expect(
            "30m",
            "LogShippingFailing",
            vec![exp(
                &[("pod", "fluent-bit-abcde")],
                [
                    ("summary", "Fluent Bit on fluent-bit-abcde cannot deliver logs to OpenSearch".to_string()),
                    ("description", "The OpenSearch output of fluent-bit-abcde has failed for 15 minutes; Fluent Bit retries and pauses tailing at its memory limit, so logs arrive late and may be lost if the node goes away.".to_string()),
                    ("runbook_url", alerting::runbook_url("log-shipping")),
                ],
            )],
        ),
        TestGroup::new(vec![InputSeries::new(
            "fluentbit_output_errors_total{name=\"opensearch.0\",pod=\"fluent-bit-abcde\"}",
            "3+0x40",
        )])
        .expect("30m", "LogShippingFailing", vec![]),
    ];
    (groups, tests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_regex_matches_only_its_container() {
        let r = LogRoute {
            namespace: Some("cerverus-system".into()),
            container: "alerts-api".into(),
            parser: CERVERUS_JSON.name,
            index: "logs-app-alerts-api".into(),
        };
        let re = r.match_regex();
        assert!(re.contains(r"_cerverus-system_alerts-api-[0-9a-f]{64}\.log$"), "{re}");
    }

    #[test]
    fn glob() {
        assert!(glob_matches("logs-app-*", "logs-app-alerts-api-2025.01.31"));
        assert!(!glob_matches("logs-app-*", "logs-access-2025.01.31"));
        assert!(glob_matches("traces-jaeger-*", "traces-jaeger-span-2025-01-31"));
    }

    #[test]
    fn bootstrap_script_uses_only_its_env() {
        for var in ["OPENSEARCH_URL", "TLS_DIR", "BOOTSTRAP_DIR"] {
            assert!(BOOTSTRAP_SCRIPT.contains(&format!("${var}")) || BOOTSTRAP_SCRIPT.contains(&format!("\"${var}")));
        }
    }
}
