//! Helm values of the runtime security charts (see [`super::CHARTS`]): Falco 9.1.0 (Falco 0.44.1)
//! and Falcosidekick 0.12.1, as two pinned releases in the node agents' namespace.
//!
//! Decisions, with their reasons:
//! - Falcosidekick is its own release (`falcosidekick` in CHARTS), not the falco chart's
//!   subchart (`falcosidekick.enabled`): the subchart's version floats (`0.12.*` in falco's
//!   Chart.yaml) and the pin is exact. Falco reaches it through `falco.http_output` at the
//!   release's Service ([`sidekick_url`]).
//! - Driver `modern_ebpf`: CO-RE eBPF compiled into Falco, no kernel headers, no module build,
//!   no driver download; it needs a kernel ≥ 5.8 with BTF, which the EKS AL2023 AMIs (kernel
//!   6.1/6.12, BTF on) have. `leastPrivileged` runs Falco with CAP_BPF, CAP_PERFMON,
//!   CAP_SYS_RESOURCE and CAP_SYS_PTRACE instead of a privileged container. The driver loader
//!   init container is off: modern eBPF has nothing to load.
//! - Offline: falcoctl's artifact install and follow are off. Rules come from the Falco image
//!   (`/etc/falco/falco_rules.yaml`, the ruleset released with that Falco) plus ours
//!   (`customRules`, mounted at `/etc/falco/rules.d`); the container plugin is the one bundled
//!   in the image. Nothing is fetched from ghcr.io at start, so a node starts Falco without
//!   internet egress, and what runs changes only with a reviewed chart/image bump.
//!   With both falcoctl containers off, chart 9.1.0 leaves the image's
//!   `/etc/falco/config.d/falco.container_plugin.yaml` visible next to its own `falco.yaml`, so
//!   the container plugin is loaded twice and Falco exits at start (falcosecurity/charts#1057,
//!   fixed upstream by always mounting an emptyDir there, falcosecurity/falco#3984): we mount
//!   that emptyDir ourselves through `mounts`.
//! - Every node: `tolerations: [{operator: Exists}]` tolerates every taint (the data and ML
//!   pools' `cerverus.io/dedicated`, the GPU pool's `nvidia.com/gpu`, and any added later): a
//!   node without Falco is a node without runtime detection.
//! - Rules ([`cerverus_rules`]): they name only macros and lists of the stable default ruleset
//!   the image loads (`spawned_process`, `open_read`, `open_write`, `outbound`, `shell_binaries`)
//!   and define the rest (`bin_dir` is no longer in that file: a rule using it would not compile
//!   and Falco would not start). Istio's sidecar is excused from the file, secret and network
//!   rules only as itself (container `istio-proxy`, Istio's release image, `envoy`/`pilot-agent`).
//! - Alerts: Falco → Falcosidekick → Alertmanager (`addons::alertmanager_service`, API v2 — v1
//!   is gone since Alertmanager 0.27), with Falco priorities mapped onto the platform's
//!   `severity` values and a `team` label, so Alertmanager routes them like every other alert.

use cerverus_model::{Env, Platform};
use serde::Serialize;
use serde_json::{Value, json};

use super::{NODE_AGENTS_NAMESPACE, alertmanager_service};
use crate::kubernetes::admission::{MESH_PROXY_REPOSITORIES, application_namespaces};
use crate::kubernetes::runtime_security::{FALCO_RESOURCES, SIDEKICK_RESOURCES, sidekick_replicas};

/// Falcosidekick's release name (and, through the chart's fullname, its Service and pod name).
pub const SIDEKICK_RELEASE: &str = "falcosidekick";

/// Falcosidekick's HTTP port (`service.port`, chart default 2801): Falco posts events here.
pub const SIDEKICK_PORT: u16 = 2801;

/// The team Falco's alerts are routed to (the `team` label every alert carries).
pub const SECURITY_TEAM: &str = "security";

/// Falco priority → Alertmanager `severity` (critical, warning, info), Falcosidekick's
/// `customseveritymap` form (`priority:severity,…`).
pub const SEVERITY_MAP: &[(&str, &str)] = &[
    ("emergency", "critical"),
    ("alert", "critical"),
    ("critical", "critical"),
    ("error", "critical"),
    ("warning", "warning"),
    ("notice", "warning"),
    ("informational", "info"),
    ("debug", "info"),
];

/// The lowest Falco priority Falcosidekick forwards to Alertmanager.
pub const MINIMUM_PRIORITY: &str = "warning";

/// Where Falco posts its events: the Falcosidekick release's Service.
pub fn sidekick_url() -> String {
    format!("http://{SIDEKICK_RELEASE}.{NODE_AGENTS_NAMESPACE}.svc:{SIDEKICK_PORT}/")
}

/// Values for chart release `name`, or `None` when the release is not one of this family's.
pub(super) fn values(platform: &Platform, env: &Env, name: &str) -> Option<Value> {
    match name {
        "falco" => Some(falco(platform, env)),
        SIDEKICK_RELEASE => Some(falcosidekick(env)),
        _ => None,
    }
}

fn falco(platform: &Platform, env: &Env) -> Value {
    let rules = crate::kubernetes::yaml::document(&cerverus_rules(platform, env)).unwrap_or_default();
    json!({
        "driver": {
            "enabled": true,
            "kind": "modern_ebpf",
            "modernEbpf": {"leastPrivileged": true},
            "loader": {"enabled": false}
        },
        "tolerations": [{"operator": "Exists"}],
        "podPriorityClassName": "system-node-critical",
        // Counted in the node agents' ResourceQuota (`kubernetes::runtime_security::quota_share`).
        "resources": FALCO_RESOURCES.values(),
        "falcoctl": {"artifact": {"install": {"enabled": false}, "follow": {"enabled": false}}},
        "collectors": {"kubernetes": {"enabled": false}},
        "mounts": {
            "volumes": [{"name": "falco-config-d", "emptyDir": {}}],
            "volumeMounts": [{"name": "falco-config-d", "mountPath": "/etc/falco/config.d"}]
        },
        // Falco's own health (events dropped, rules matched) for Prometheus: the chart's
        // `falco-metrics` Service on the webserver port and a ServiceMonitor for it.
        "metrics": {"enabled": true},
        "serviceMonitor": {"create": true},
        "falcosidekick": {"enabled": false},
        "customRules": {"cerverus_rules.yaml": rules},
        "falco": {
            "priority": "notice",
            "json_output": true,
            "json_include_output_property": true,
            "json_include_tags_property": true,
            "stdout_output": {"enabled": true},
            "syslog_output": {"enabled": false},
            "log_syslog": false,
            "http_output": {"enabled": true, "url": sidekick_url(), "user_agent": "falcosecurity/falco"}
        }
    })
}

fn falcosidekick(env: &Env) -> Value {
    let severity = SEVERITY_MAP.iter().map(|(p, s)| format!("{p}:{s}")).collect::<Vec<_>>().join(",");
    let am = alertmanager_service();
    json!({
        "replicaCount": sidekick_replicas(env),
        "podSecurityContext": {
            "runAsUser": 1234,
            "runAsGroup": 1234,
            "fsGroup": 1234,
            "runAsNonRoot": true,
            "seccompProfile": {"type": "RuntimeDefault"}
        },
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true
        },
        "resources": SIDEKICK_RESOURCES.values(),
        "webui": {"enabled": false},
        "config": {
            "alertmanager": {
                "hostport": format!("http://{}.{}.svc:{}", am.name, am.namespace, am.port),
                "endpoint": "/api/v2/alerts",
                "minimumpriority": MINIMUM_PRIORITY,
                "customseveritymap": severity,
                "extralabels": format!("team:{SECURITY_TEAM}")
            }
        }
    })
}

// ---- Falco rules, typed (the chart mounts them as a rules file) ----

/// One item of a Falco rules file: a list or a rule.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RuleItem {
    List {
        list: String,
        items: Vec<String>,
    },
    Macro {
        #[serde(rename = "macro")]
        macro_: String,
        condition: String,
    },
    Rule(FalcoRule),
}

#[derive(Debug, Clone, Serialize)]
pub struct FalcoRule {
    pub rule: String,
    pub desc: String,
    pub condition: String,
    pub output: String,
    pub priority: &'static str,
    pub tags: Vec<&'static str>,
}

/// Processes expected to read the secrets mounted into Cerverus pods: the runtimes the
/// application images run. Istio's agent and proxy (which read the workload's mesh token) are
/// allowed only as the mesh proxy (`cerverus_mesh_proxy`: container, image and process).
pub const SECRET_READERS: &[&str] = &["python", "python3", "java", "node", "gunicorn", "uvicorn", "airflow", "celery"];

/// The processes of Istio's sidecar container.
pub const MESH_PROXY_PROCS: &[&str] = &["envoy", "pilot-agent"];

/// Binary directories (Falco's current default ruleset no longer defines the `bin_dir` macro:
/// falcosecurity/rules' falco_rules.yaml for engine version 26 has `etc_dir` only, so a rule
/// naming `bin_dir` would fail to compile and Falco would not start).
pub const BIN_DIRS: &[&str] = &["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"];

/// The only public port the ML namespace's NetworkPolicies open (TLS to S3, STS and declared
/// hosts, through the sidecar).
pub const ML_PUBLIC_EGRESS_PORTS: &[&str] = &["443"];

/// Images whose entrypoint is a shell script by design (Airflow's `/entrypoint` and its task
/// runner's `bash -c`): a shell there is expected.
pub const SHELL_IMAGES: &[&str] = &["cerverus/airflow"];

fn output(what: &str) -> String {
    format!(
        "{what} (namespace=%k8s.ns.name pod=%k8s.pod.name container=%container.name image=%container.image.repository proc=%proc.name cmdline=%proc.cmdline parent=%proc.pname user=%user.name fd=%fd.name)"
    )
}

/// The platform's own Falco rules, scoped to the application namespaces.
pub fn cerverus_rules(platform: &Platform, env: &Env) -> Vec<RuleItem> {
    let namespaces = application_namespaces(env);
    let ns_in = format!("k8s.ns.name in ({})", namespaces.join(", "));
    let ml = "cerverus-ml";
    // What ML workloads may reach outside the cluster: the external services they declare, and
    // the regional S3 and STS endpoints (IRSA and their buckets).
    let mut ml_hosts: Vec<String> = env
        .workloads
        .iter()
        .filter(|w| w.namespace() == ml)
        .flat_map(|w| w.spec.depends_on.iter().filter_map(|d| d.external.clone()))
        .flat_map(|name| env.external_services.iter().filter(move |e| e.name == name).flat_map(|e| e.hosts.clone()))
        .collect();
    ml_hosts.push(format!("s3.{}.amazonaws.com", platform.region));
    ml_hosts.push(format!("sts.{}.amazonaws.com", platform.region));
    ml_hosts.sort();
    ml_hosts.dedup();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        RuleItem::List {
            list: "cerverus_shell_images".into(),
            items: SHELL_IMAGES.iter().map(|s| format!("{}/{s}", env.registry)).collect(),
        },
        RuleItem::List {
            list: "cerverus_secret_readers".into(),
            items: SECRET_READERS.iter().map(|s| s.to_string()).collect(),
        },
        RuleItem::List { list: "cerverus_ml_allowed_hosts".into(), items: ml_hosts },
        RuleItem::List { list: "cerverus_ml_public_egress_ports".into(), items: strings(ML_PUBLIC_EGRESS_PORTS) },
        RuleItem::List { list: "cerverus_bin_dirs".into(), items: strings(BIN_DIRS) },
        RuleItem::List { list: "cerverus_mesh_proxy_images".into(), items: strings(MESH_PROXY_REPOSITORIES) },
        RuleItem::List { list: "cerverus_mesh_proxy_procs".into(), items: strings(MESH_PROXY_PROCS) },
        // Istio's sidecar itself, by container name, image and process (the same image Gatekeeper
        // exempts), so a process that merely calls itself envoy elsewhere is not excused.
        RuleItem::Macro {
            macro_: "cerverus_mesh_proxy".into(),
            condition: "(container.name = istio-proxy and container.image.repository in (cerverus_mesh_proxy_images) and proc.name in (cerverus_mesh_proxy_procs))".into(),
        },
        RuleItem::Rule(FalcoRule {
            rule: "Cerverus shell spawned in container".into(),
            desc: "A shell started inside a Cerverus application container (images whose entrypoint is a shell excepted): an interactive session or an exploited process.".into(),
            condition: format!(
                "spawned_process and container.id != host and proc.name in (shell_binaries) and not container.image.repository in (cerverus_shell_images) and {ns_in}"
            ),
            output: output("Shell spawned in a Cerverus container"),
            priority: "WARNING",
            tags: vec!["cerverus", "container", "shell", "mitre_execution"],
        }),
        // The mesh proxy is excused: pilot-agent writes Envoy's bootstrap to /etc/istio/proxy
        // (the injected `istio-envoy` emptyDir) at every pod start.
        RuleItem::Rule(FalcoRule {
            rule: "Cerverus write below etc or binary dirs".into(),
            desc: "A file opened for writing below /etc or a binary directory in a Cerverus container, whose root filesystem is read-only: tampering.".into(),
            condition: format!(
                "open_write and container.id != host and (fd.name startswith /etc/ or fd.directory in (cerverus_bin_dirs)) and not cerverus_mesh_proxy and {ns_in}"
            ),
            output: output("File below /etc or a binary directory opened for writing in a Cerverus container"),
            priority: "ERROR",
            tags: vec!["cerverus", "filesystem", "mitre_persistence"],
        }),
        // What the mesh and the NetworkPolicies do not already stop. In sidecar mode an
        // application's TCP connection is redirected to its Envoy, which under REGISTRY_ONLY only
        // reaches declared hosts (its own upstreams — istiod, the egress gateway, ServiceEntry
        // hosts such as S3 behind the gateway endpoint, whose public addresses rotate — are
        // excluded as `cerverus_mesh_proxy`), and the NetworkPolicies open only 443 to public
        // addresses. `outbound` already leaves out RFC 1918 and loopback (DNS to kube-dns, the
        // VPC endpoints, the in-cluster services). So this reports: non-TCP traffic to a public
        // address (the sidecar captures TCP only: UDP, QUIC, DNS to an outside resolver), TCP to
        // a public port the policies never open (an attempt, whatever the mesh then does), and
        // any public connection from the proxy container by a process that is not the proxy (it
        // runs as the proxy's UID, which the redirection exempts: a bypass).
        RuleItem::Rule(FalcoRule {
            rule: "Cerverus ML outbound connection outside the mesh egress path".into(),
            desc: "A connection from cerverus-ml to a public address that neither the sidecar nor the NetworkPolicies govern: non-TCP, a port the policies never open, or a process in the proxy container that is not the proxy (exfiltration of models or features).".into(),
            condition: format!(
                "outbound and container.id != host and k8s.ns.name = {ml} and not cerverus_mesh_proxy and (fd.l4proto != tcp or not fd.sport in (cerverus_ml_public_egress_ports) or container.name = istio-proxy) and not fd.sip.name in (cerverus_ml_allowed_hosts) and {ns_in}"
            ),
            output: output("Outbound connection from cerverus-ml outside the mesh egress path"),
            priority: "WARNING",
            tags: vec!["cerverus", "network", "mitre_exfiltration"],
        }),
        RuleItem::Rule(FalcoRule {
            rule: "Cerverus secret read by unexpected process".into(),
            desc: "A mounted secret (service account token, Cerverus secret volume) read by a process that is not one of the application runtimes or the mesh agent.".into(),
            condition: format!(
                "open_read and container.id != host and fd.name startswith /var/run/secrets/ and not proc.name in (cerverus_secret_readers) and not cerverus_mesh_proxy and {ns_in}"
            ),
            output: output("Secret file read by an unexpected process in a Cerverus container"),
            priority: "WARNING",
            tags: vec!["cerverus", "filesystem", "mitre_credential_access"],
        }),
    ]
}
