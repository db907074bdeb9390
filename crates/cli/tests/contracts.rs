//! Rendered pods against their runtime contracts (`data/runtime-contracts.json`).
//!
//! For every workload whose container image and args select a contract, the rendered objects,
//! read back as plain data, must give the program what its contract says it needs: every
//! required config key in a form it reads (environment, or an indirect `_CMD`/`_SECRET`
//! variable; never a file named like a variable), every path it writes on a writable volume,
//! probes that a healthy program passes in time, and NetworkPolicies that let it reach every
//! destination it must (the contract's, plus STS for pods with an IRSA role and the API server
//! for pods that call it). Each class is also checked on a deliberately broken rendering: the
//! check must fail there.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use cerverus_model::contracts::{self, Contract, Destination, HealthKind};
use cerverus_model::{Env, SubnetTier};
use ipnet::Ipv4Net;
use serde_json::{Value, json};

type Objects = Vec<(String, Value)>;

fn rendered() -> (cerverus_model::Platform, Objects) {
    let (platform, b) = cerverus::build_default().expect("default spec builds");
    let objs = b
        .iter()
        .filter(|(p, _)| p.starts_with("kubernetes/") && p.ends_with(".yaml"))
        .map(|(p, bytes)| {
            let text = std::str::from_utf8(bytes).expect("utf8");
            let v: Value = serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{p}: {e}"));
            (p.to_string(), v)
        })
        .collect();
    (platform, objs)
}

fn in_env<'a>(objs: &'a Objects, env: &str, kind: &str) -> Vec<&'a Value> {
    objs.iter()
        .filter(|(p, v)| p.starts_with(&format!("kubernetes/{env}/")) && v["kind"] == kind)
        .map(|(_, v)| v)
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector["matchLabels"].as_object().is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The pod template of a workload object.
fn template(v: &Value) -> Option<&Value> {
    match v["kind"].as_str()? {
        // A Rollout's pods are a Deployment's pods (canary and blue-green workloads).
        "Deployment" | "StatefulSet" | "Job" | "Rollout" => Some(&v["spec"]["template"]),
        "CronJob" => Some(&v["spec"]["jobTemplate"]["spec"]["template"]),
        _ => None,
    }
}

/// Where a packet goes, as a NetworkPolicy peer can match it.
#[derive(Debug, Clone)]
enum Dest {
    /// Every address of a network (a subnet where a service's ENIs may be).
    Net(Ipv4Net),
    Pod {
        namespace: String,
        labels: Value,
    },
}

fn port_matches(rule: &Value, port: i64, protocol: &str) -> bool {
    let Some(ports) = rule["ports"].as_array() else { return true };
    ports.is_empty()
        || ports.iter().any(|p| p["port"].as_i64() == Some(port) && p["protocol"].as_str().unwrap_or("TCP") == protocol)
}

fn peer_matches(peer: &Value, policy_ns: &str, dest: &Dest) -> bool {
    match dest {
        Dest::Net(net) => {
            let Some(cidr) = peer["ipBlock"]["cidr"].as_str().and_then(|c| c.parse::<Ipv4Net>().ok()) else {
                return false;
            };
            let excepted = strings(&peer["ipBlock"]["except"])
                .iter()
                .filter_map(|e| e.parse::<Ipv4Net>().ok())
                .any(|e| e.contains(&net.network()) || net.contains(&e.network()));
            cidr.contains(net) && !excepted
        }
        Dest::Pod { namespace, labels } => {
            if !peer["ipBlock"].is_null() {
                return false;
            }
            let ns_ok = match peer.get("namespaceSelector") {
                None | Some(Value::Null) => namespace == policy_ns,
                Some(sel) => labels_match(sel, &json!({ "kubernetes.io/metadata.name": namespace })),
            };
            let pod_ok = match peer.get("podSelector") {
                None | Some(Value::Null) => true,
                Some(sel) => labels_match(sel, labels),
            };
            ns_ok && pod_ok
        }
    }
}

/// Whether the NetworkPolicies of `ns` let a pod with `labels` send to `dest` on `port`.
fn egress_allowed(policies: &[&Value], ns: &str, labels: &Value, dest: &Dest, port: i64, protocol: &str) -> bool {
    let selecting: Vec<&&Value> = policies
        .iter()
        .filter(|p| {
            p["metadata"]["namespace"] == ns
                && labels_match(&p["spec"]["podSelector"], labels)
                && strings(&p["spec"]["policyTypes"]).iter().any(|t| t == "Egress")
        })
        .collect();
    if selecting.is_empty() {
        return true; // Not isolated for egress.
    }
    selecting.iter().any(|p| {
        p["spec"]["egress"].as_array().into_iter().flatten().any(|rule| {
            port_matches(rule, port, protocol)
                && rule["to"]
                    .as_array()
                    .is_none_or(|to| to.is_empty() || to.iter().any(|peer| peer_matches(peer, ns, dest)))
        })
    })
}

/// Whether the NetworkPolicies of the target pod admit `from` on `port`.
fn ingress_allowed(
    policies: &[&Value],
    to_ns: &str,
    to_labels: &Value,
    from_ns: &str,
    from: &Value,
    port: i64,
) -> bool {
    let selecting: Vec<&&Value> = policies
        .iter()
        .filter(|p| {
            p["metadata"]["namespace"] == to_ns
                && labels_match(&p["spec"]["podSelector"], to_labels)
                && strings(&p["spec"]["policyTypes"]).iter().any(|t| t == "Ingress")
        })
        .collect();
    let source = Dest::Pod { namespace: from_ns.to_string(), labels: from.clone() };
    selecting.is_empty()
        || selecting.iter().any(|p| {
            p["spec"]["ingress"].as_array().into_iter().flatten().any(|rule| {
                port_matches(rule, port, "TCP")
                    && rule["from"]
                        .as_array()
                        .is_none_or(|f| f.is_empty() || f.iter().any(|peer| peer_matches(peer, to_ns, &source)))
            })
        })
}

/// Keys of the Secret an ExternalSecret makes: its data keys, or its template's when templated.
fn secret_keys(objs: &Objects, env: &str, ns: &str, name: &str) -> Option<BTreeSet<String>> {
    let es = in_env(objs, env, "ExternalSecret")
        .into_iter()
        .find(|e| e["metadata"]["namespace"] == ns && e["spec"]["target"]["name"] == name)?;
    let templated = &es["spec"]["target"]["template"]["data"];
    Some(match templated.as_object() {
        Some(t) => t.keys().cloned().collect(),
        None => es["spec"]["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["secretKey"].as_str())
            .map(str::to_string)
            .collect(),
    })
}

/// Every way the rendered pod of workload object `w` breaks its runtime contract.
fn violations(env: &Env, objs: &Objects, w: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(t) = template(w) else { return out };
    let name = w["metadata"]["name"].as_str().unwrap_or("?");
    let ns = w["metadata"]["namespace"].as_str().unwrap_or("?");
    let pod = &t["spec"];
    let labels = &t["metadata"]["labels"];
    let policies = in_env(objs, &env.name, "NetworkPolicy");
    let no_contract = no_contract();
    for c in pod["containers"].as_array().into_iter().flatten() {
        let image = c["image"].as_str().unwrap_or("");
        let Some(contract) = contracts::for_container(image, &strings(&c["command"]), &strings(&c["args"])) else {
            // Every pod, contract or not, resolves names, reaches STS when it has an IRSA role,
            // the API server when it mounts a token, and is scraped on its metrics port.
            let at = format!("{}/{ns}/{name}", env.name);
            egress_violations(&at, env, objs, &policies, ns, pod, labels, &no_contract, &mut out);
            scrape_violations(&at, &policies, ns, labels, c, &mut out);
            secret_env_violations(&at, c, &no_contract, &mut out);
            continue;
        };
        let at = format!("{}/{ns}/{name} ({})", env.name, contract.name);
        scrape_violations(&at, &policies, ns, labels, c, &mut out);
        config_violations(&at, env, objs, ns, pod, c, contract, &mut out);
        secret_env_violations(&at, c, contract, &mut out);
        writable_violations(&at, w, pod, c, contract, &mut out);
        probe_violations(&at, c, contract, &mut out);
        lifecycle_violations(&at, env, objs, w, c, contract, &mut out);
        egress_violations(&at, env, objs, &policies, ns, pod, labels, contract, &mut out);
    }
    out
}

/// What every program needs whatever it is: DNS.
fn no_contract() -> Contract {
    Contract {
        name: "(no contract)".into(),
        image_repositories: Vec::new(),
        args: Vec::new(),
        image_version: None,
        config: Default::default(),
        env: BTreeMap::new(),
        writable_paths: Vec::new(),
        health: None,
        egress: vec![contracts::Egress { to: "dns".into(), port: 53, why: "names".into() }],
        iam_actions_reference: None,
        queue: None,
        termination_grace_period_seconds: None,
        migrate: None,
        sources: Vec::new(),
    }
}

/// Prometheus (monitoring namespace) must be admitted on a container's `metrics` port.
fn scrape_violations(at: &str, policies: &[&Value], ns: &str, labels: &Value, c: &Value, out: &mut Vec<String>) {
    let prometheus = json!({ "app.kubernetes.io/name": "prometheus" });
    for p in c["ports"].as_array().into_iter().flatten().filter(|p| p["name"] == "metrics") {
        let port = p["containerPort"].as_i64().unwrap_or(0);
        if !ingress_allowed(policies, ns, labels, "cerverus-monitoring", &prometheus, port) {
            out.push(format!("{at}: Prometheus cannot scrape the metrics port {port}"));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn config_violations(
    at: &str,
    env: &Env,
    objs: &Objects,
    ns: &str,
    pod: &Value,
    c: &Value,
    contract: &Contract,
    out: &mut Vec<String>,
) {
    let vars: Vec<&Value> = c["env"].as_array().into_iter().flatten().collect();
    // Variables from ConfigMaps and Secrets imported whole.
    let mut imported: BTreeSet<String> = BTreeSet::new();
    for from in c["envFrom"].as_array().into_iter().flatten() {
        if let Some(cm) = from["configMapRef"]["name"].as_str() {
            let data = in_env(objs, &env.name, "ConfigMap")
                .into_iter()
                .find(|m| m["metadata"]["namespace"] == ns && m["metadata"]["name"] == cm)
                .map(|m| m["data"].clone());
            imported.extend(
                data.and_then(|d| d.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())).unwrap_or_default(),
            );
        }
        if let Some(s) = from["secretRef"]["name"].as_str() {
            imported.extend(secret_keys(objs, &env.name, ns, s).unwrap_or_default());
        }
    }
    for key in &contract.config.required {
        let delivered = vars
            .iter()
            .filter_map(|v| v["name"].as_str())
            .chain(imported.iter().map(String::as_str))
            .any(|n| contract.reads_env(n, key));
        if !delivered {
            out.push(format!(
                "{at}: config {key} does not reach the program in a form it reads (env {key} or its {:?} forms)",
                contract.config.indirect_env_suffixes
            ));
        }
    }
    // Every secretKeyRef names a key its Secret has.
    for v in &vars {
        let r = &v["valueFrom"]["secretKeyRef"];
        let (Some(s), Some(k)) = (r["name"].as_str(), r["key"].as_str()) else { continue };
        match secret_keys(objs, &env.name, ns, s) {
            Some(keys) if keys.contains(k) => {}
            _ => {
                out.push(format!("{at}: env {} reads key {k} of Secret {s}, which no ExternalSecret makes", v["name"]))
            }
        }
    }
    // Secret files: pod path -> (secret, key), for every mounted secret volume.
    let files = secret_files(env, objs, ns, pod, c);
    // Every `X_CMD` the program runs must print a mounted secret file whose key the Secret has
    // (Airflow runs it with no shell: `cat <file>`).
    for v in &vars {
        let Some(name) = v["name"].as_str().filter(|n| n.ends_with("_CMD")) else { continue };
        let cmd = v["value"].as_str().unwrap_or("");
        let printed = cmd.strip_prefix("cat ").and_then(|f| files.get(f.trim()));
        match printed {
            Some((secret, key)) if secret_keys(objs, &env.name, ns, secret).is_some_and(|ks| ks.contains(key)) => {}
            _ => out.push(format!(
                "{at}: env {name} runs `{cmd}`, which prints no mounted secret file whose key an ExternalSecret makes"
            )),
        }
    }
    // A secret key named like configuration the program reads from its environment, mounted as
    // a file that no `_CMD` the program honours prints: the program never sees it.
    let printed: BTreeSet<&str> = vars
        .iter()
        .filter_map(|v| {
            let name = v["name"].as_str()?.strip_suffix("_CMD")?;
            contract.reads_indirect(name, "_CMD").then(|| v["value"].as_str()?.strip_prefix("cat ")).flatten()
        })
        .collect();
    for (path, (_, k)) in &files {
        if contract.is_config_env(k) && !printed.contains(path.as_str()) {
            out.push(format!(
                "{at}: secret key {k} is mounted as a file; the program reads it only from its environment"
            ));
        }
    }
}

/// Files of the secret volumes container `c` mounts: pod path -> (Secret, key).
fn secret_files(env: &Env, objs: &Objects, ns: &str, pod: &Value, c: &Value) -> BTreeMap<String, (String, String)> {
    let volumes: BTreeMap<&str, &Value> =
        pod["volumes"].as_array().into_iter().flatten().filter_map(|v| Some((v["name"].as_str()?, v))).collect();
    let mut out = BTreeMap::new();
    for m in c["volumeMounts"].as_array().into_iter().flatten() {
        let (Some(vol), Some(dir)) = (m["name"].as_str().and_then(|n| volumes.get(n)), m["mountPath"].as_str()) else {
            continue;
        };
        let Some(secret) = vol["secret"]["secretName"].as_str() else { continue };
        let items: Vec<(String, String)> = match vol["secret"]["items"].as_array() {
            Some(items) => items
                .iter()
                .filter_map(|i| Some((i["key"].as_str()?.to_string(), i["path"].as_str()?.to_string())))
                .collect(),
            None => secret_keys(objs, &env.name, ns, secret)
                .unwrap_or_default()
                .into_iter()
                .map(|k| (k.clone(), k))
                .collect(),
        };
        for (key, path) in items {
            out.insert(format!("{}/{path}", dir.trim_end_matches('/')), (secret.to_string(), key));
        }
    }
    out
}

/// A secret value in the environment (`secretKeyRef`) leaks into crash dumps, `/proc` and child
/// processes (checkov CKV_K8S_35); the platform delivers secrets as files. Allowed only for a key
/// the program reads from its environment and from no command.
fn secret_env_violations(at: &str, c: &Value, contract: &Contract, out: &mut Vec<String>) {
    for v in c["env"].as_array().into_iter().flatten() {
        if v["valueFrom"]["secretKeyRef"].is_null() {
            continue;
        }
        let name = v["name"].as_str().unwrap_or("?");
        let env_only = contract.reads_env(name, name) && !contract.reads_indirect(name, "_CMD");
        if !env_only {
            out.push(format!(
                "{at}: env {name} carries a secret value (secretKeyRef); deliver it as a file (and `{name}_CMD` or `{name}_FILE`)"
            ));
        }
    }
}

fn writable_violations(at: &str, w: &Value, pod: &Value, c: &Value, contract: &Contract, out: &mut Vec<String>) {
    let volumes: BTreeMap<&str, &Value> =
        pod["volumes"].as_array().into_iter().flatten().filter_map(|v| Some((v["name"].as_str()?, v))).collect();
    let claims: BTreeSet<&str> = w["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["metadata"]["name"].as_str())
        .collect();
    let read_only_root = c["securityContext"]["readOnlyRootFilesystem"] == true;
    for path in &contract.writable_paths {
        let mount = c["volumeMounts"].as_array().into_iter().flatten().find(|m| m["mountPath"] == path.as_str());
        let writable = mount.is_some_and(|m| {
            let name = m["name"].as_str().unwrap_or("");
            m["readOnly"] != true
                && (claims.contains(name)
                    || volumes
                        .get(name)
                        .is_some_and(|v| !v["emptyDir"].is_null() || !v["persistentVolumeClaim"].is_null()))
        });
        if read_only_root && !writable {
            out.push(format!(
                "{at}: the program writes {path}, which is no writable volume on a read-only root filesystem"
            ));
        }
    }
}

fn probe_violations(at: &str, c: &Value, contract: &Contract, out: &mut Vec<String>) {
    let Some(h) = &contract.health else { return };
    let live = &c["livenessProbe"];
    let matches_contract = match h.kind {
        HealthKind::Exec => strings(&live["exec"]["command"]) == h.command,
        HealthKind::Http => {
            live["httpGet"]["path"].as_str() == h.path.as_deref()
                && live["httpGet"]["port"].as_i64() == h.port.map(i64::from)
        }
        HealthKind::Tcp => live["tcpSocket"]["port"].as_i64() == h.port.map(i64::from),
    };
    if !matches_contract {
        out.push(format!("{at}: liveness probe is not the contract's health check ({:?})", h));
    }
    for (kind, p) in [("liveness", live), ("readiness", &c["readinessProbe"]), ("startup", &c["startupProbe"])] {
        if p.is_null() {
            continue;
        }
        // Kubernetes' default is 1 s.
        let timeout = p["timeoutSeconds"].as_i64().unwrap_or(1);
        let same_form = match h.kind {
            HealthKind::Exec => !p["exec"].is_null(),
            HealthKind::Http => !p["httpGet"].is_null(),
            HealthKind::Tcp => !p["tcpSocket"].is_null(),
        };
        if same_form && timeout < i64::from(h.timeout_seconds) {
            out.push(format!(
                "{at}: {kind} probe times out after {timeout} s; the contract's check needs {} s",
                h.timeout_seconds
            ));
        }
    }
}

/// The workload's sync wave (Argo CD applies lower waves first).
fn wave(v: &Value) -> i64 {
    v["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Start, stop and schema: the contract's startup budget as a startup probe, its grace period,
/// claims that survive a scale-down, and its migration run (a Job, an Argo CD `PreSync` hook, so
/// before any workload of its Application) and waited for (an init container) before the program starts.
fn lifecycle_violations(
    at: &str,
    env: &Env,
    objs: &Objects,
    w: &Value,
    c: &Value,
    contract: &Contract,
    out: &mut Vec<String>,
) {
    let pod = template(w).map(|t| &t["spec"]).unwrap_or(&Value::Null);
    if let Some(h) = &contract.health
        && let Some(budget) = &h.startup
    {
        let p = &c["startupProbe"];
        let form = match h.kind {
            HealthKind::Exec => strings(&p["exec"]["command"]) == h.command,
            HealthKind::Http => p["httpGet"]["path"].as_str() == h.path.as_deref(),
            HealthKind::Tcp => !p["tcpSocket"].is_null(),
        };
        // Kubernetes' defaults: period 10 s, threshold 3.
        let given = p["periodSeconds"].as_i64().unwrap_or(10) * p["failureThreshold"].as_i64().unwrap_or(3);
        let needed = i64::from(budget.period_seconds) * i64::from(budget.failure_threshold);
        if p.is_null() || !form || given < needed {
            out.push(format!("{at}: no startup probe giving the contract's check {needed} s to pass ({})", budget.why));
        }
    }
    if let Some(needed) = contract.termination_grace_period_seconds {
        let given = pod["terminationGracePeriodSeconds"].as_i64().unwrap_or(30);
        if given < i64::from(needed) {
            out.push(format!("{at}: terminationGracePeriodSeconds {given} cuts the contract's {needed} s shutdown"));
        }
    }
    if w["kind"] == "StatefulSet"
        && w["spec"]["volumeClaimTemplates"].as_array().is_some_and(|v| !v.is_empty())
        && w["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] != "Retain"
    {
        out.push(format!("{at}: a scale-down deletes the claims the replicas wrote (whenScaled is not Retain)"));
    }
    let Some(m) = &contract.migrate else { return };
    if !matches!(w["kind"].as_str(), Some("Deployment" | "StatefulSet" | "Rollout")) {
        return;
    }
    let image = c["image"].as_str().unwrap_or("");
    let waits = pod["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|i| strings(&i["command"]) == m.wait_command && i["image"] == image);
    if !waits {
        out.push(format!("{at}: no init container waits for the schema (`{}`)", m.wait_command.join(" ")));
    }
    // The migration of this image, by whichever role's contract names the command.
    let commands: Vec<&Vec<String>> = contracts::contracts()
        .components
        .iter()
        .filter(|k| k.image_repositories == contract.image_repositories)
        .filter_map(|k| k.migrate.as_ref().map(|m| &m.command))
        .filter(|c| !c.is_empty())
        .collect();
    let ns = &w["metadata"]["namespace"];
    let migrated = in_env(objs, &env.name, "Job").into_iter().any(|j| {
        let a = &j["metadata"]["annotations"];
        j["metadata"]["namespace"] == *ns
            && a["argocd.argoproj.io/hook"] == "PreSync"
            && a["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
            && wave(j) < wave(w)
            && template(j).is_some_and(|t| {
                t["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|jc| jc["image"] == image && commands.iter().any(|cmd| strings(&jc["command"]) == **cmd))
            })
    });
    if !migrated {
        out.push(format!("{at}: no PreSync-hook Job migrates its database"));
    }
}

#[allow(clippy::too_many_arguments)]
fn egress_violations(
    at: &str,
    env: &Env,
    objs: &Objects,
    policies: &[&Value],
    ns: &str,
    pod: &Value,
    labels: &Value,
    contract: &Contract,
    out: &mut Vec<String>,
) {
    let subnets = |tier: SubnetTier| env.network.tier(tier).map(|s| s.cidr).collect::<Vec<_>>();
    let all_of = |nets: &[Ipv4Net], port: i64| {
        nets.iter().all(|n| egress_allowed(policies, ns, labels, &Dest::Net(*n), port, "TCP"))
    };
    let kube_dns = Dest::Pod { namespace: "kube-system".into(), labels: json!({ "k8s-app": "kube-dns" }) };
    let host = |ip: Ipv4Addr| Ipv4Net::new(ip, 32).unwrap_or_default();
    let sa = pod["serviceAccountName"].as_str().unwrap_or("default");
    let irsa = in_env(objs, &env.name, "ServiceAccount").into_iter().any(|a| {
        a["metadata"]["namespace"] == ns
            && a["metadata"]["name"] == sa
            && !a["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].is_null()
    });
    let mut needs: Vec<(String, u16)> = contract.egress.iter().map(|e| (e.to.clone(), e.port)).collect();
    if irsa {
        needs.push(("sts".into(), 443));
    }
    if pod["automountServiceAccountToken"] == true {
        needs.push(("kube-apiserver".into(), 443));
    }
    for (to, port) in needs {
        let port = i64::from(port);
        let e = contracts::Egress { to: to.clone(), port: port as u16, why: String::new() };
        let ok = match e.destination() {
            Destination::Dns => {
                egress_allowed(policies, ns, labels, &kube_dns, 53, "UDP")
                    && egress_allowed(policies, ns, labels, &kube_dns, 53, "TCP")
            }
            Destination::Postgresql | Destination::Redis => all_of(&subnets(SubnetTier::Data), port),
            Destination::Sts | Destination::AwsApi => all_of(&subnets(SubnetTier::Private), port),
            Destination::KubeApiserver => {
                if pod["automountServiceAccountToken"] != true {
                    out.push(format!(
                        "{at}: the program calls the API server but the pod mounts no service-account token"
                    ));
                }
                all_of(&subnets(SubnetTier::Private), port) && all_of(&[host(env.kubernetes_service_ip())], port)
            }
            Destination::Named(component) => {
                let targets: Vec<&Value> = in_env(objs, &env.name, "Deployment")
                    .into_iter()
                    .chain(in_env(objs, &env.name, "StatefulSet"))
                    .chain(in_env(objs, &env.name, "Rollout"))
                    .filter(|t| {
                        template(t).is_some_and(|tt| {
                            tt["spec"]["containers"].as_array().into_iter().flatten().any(|c| {
                                contracts::for_container(
                                    c["image"].as_str().unwrap_or(""),
                                    &strings(&c["command"]),
                                    &strings(&c["args"]),
                                )
                                .is_some_and(|k| k.name == component)
                            })
                        })
                    })
                    .collect();
                // Only components this bundle runs; controllers' needs (kubelet, efs) are the
                // add-on charts' business.
                targets.iter().all(|t| {
                    let tns = t["metadata"]["namespace"].as_str().unwrap_or("");
                    let tl = template(t).map(|x| x["metadata"]["labels"].clone()).unwrap_or_default();
                    egress_allowed(
                        policies,
                        ns,
                        labels,
                        &Dest::Pod { namespace: tns.into(), labels: tl.clone() },
                        port,
                        "TCP",
                    ) && ingress_allowed(policies, tns, &tl, ns, labels, port)
                })
            }
        };
        if !ok {
            out.push(format!("{at}: egress to {to} on {port} is cut by the NetworkPolicies"));
        }
    }
}

/// Every contract violation of every workload in every environment.
fn all_violations(platform: &cerverus_model::Platform, objs: &Objects) -> (usize, Vec<String>) {
    let mut checked = 0;
    let mut out = Vec::new();
    for env in &platform.environments {
        for kind in ["Deployment", "Rollout", "StatefulSet", "Job", "CronJob"] {
            for w in in_env(objs, &env.name, kind) {
                let matched = template(w).is_some_and(|t| {
                    t["spec"]["containers"].as_array().into_iter().flatten().any(|c| {
                        contracts::for_container(
                            c["image"].as_str().unwrap_or(""),
                            &strings(&c["command"]),
                            &strings(&c["args"]),
                        )
                        .is_some()
                    })
                });
                checked += usize::from(matched);
                out.extend(violations(env, objs, w));
            }
        }
    }
    (checked, out)
}

#[test]
fn every_rendered_pod_satisfies_its_runtime_contract() {
    let (platform, objs) = rendered();
    let (checked, v) = all_violations(&platform, &objs);
    // Four Airflow roles in each of three environments.
    assert!(checked >= 12, "only {checked} workloads matched a contract");
    assert!(v.is_empty(), "{}", v.join("\n"));
}

/// Apply `edit` to the object at `path` of environment dev, then judge the whole rendering.
fn broken(edit_path: &str, edit: impl Fn(&mut Value)) -> Vec<String> {
    let (platform, mut objs) = rendered();
    let target = objs.iter_mut().find(|(p, _)| p == edit_path).unwrap_or_else(|| panic!("{edit_path} not rendered"));
    edit(&mut target.1);
    all_violations(&platform, &objs).1
}

fn container(v: &mut Value) -> &mut Value {
    &mut v["spec"]["template"]["spec"]["containers"][0]
}

fn assert_found(v: &[String], needle: &str) {
    assert!(v.iter().any(|m| m.contains(needle)), "no violation mentioning {needle:?} in:\n{}", v.join("\n"));
}

const WORKER: &str = "kubernetes/dev/cerverus-data/statefulset-airflow-worker.yaml";
const WEBSERVER: &str = "kubernetes/dev/cerverus-data/deployment-airflow-webserver.yaml";

#[test]
fn the_db_url_mounted_as_a_file_is_caught() {
    // The old shape: the secret mounted as files, no variable the program reads it through.
    let v = broken(WORKER, |w| {
        if let Some(env) = container(w)["env"].as_array_mut() {
            env.retain(|e| e["name"] != "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD");
        }
    });
    assert_found(&v, "config AIRFLOW__DATABASE__SQL_ALCHEMY_CONN does not reach the program");
    assert_found(&v, "secret key AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is mounted as a file");
}

#[test]
fn a_missing_broker_or_executor_is_caught() {
    let v = broken(WORKER, |w| {
        if let Some(env) = container(w)["env"].as_array_mut() {
            env.retain(|e| e["name"] != "AIRFLOW__CELERY__BROKER_URL_CMD" && e["name"] != "AIRFLOW__CORE__EXECUTOR");
        }
    });
    assert_found(&v, "config AIRFLOW__CELERY__BROKER_URL does not reach");
    assert_found(&v, "config AIRFLOW__CORE__EXECUTOR does not reach");
    // Airflow runs `_CMD` only for its sensitive options: an executor given as a command is unread.
    let v = broken(WORKER, |w| {
        for e in container(w)["env"].as_array_mut().into_iter().flatten() {
            if e["name"] == "AIRFLOW__CORE__EXECUTOR" {
                *e = json!({ "name": "AIRFLOW__CORE__EXECUTOR_CMD", "value": "echo CeleryExecutor" });
            }
        }
    });
    assert_found(&v, "config AIRFLOW__CORE__EXECUTOR does not reach");
}

#[test]
fn a_command_printing_no_secret_file_is_caught() {
    let v = broken(WORKER, |w| {
        for e in container(w)["env"].as_array_mut().into_iter().flatten() {
            if e["name"] == "AIRFLOW__CELERY__BROKER_URL_CMD" {
                e["value"] = json!("cat /var/run/secrets/cerverus/redis-cerverus-cache/broker");
            }
        }
    });
    assert_found(
        &v,
        "env AIRFLOW__CELERY__BROKER_URL_CMD runs `cat /var/run/secrets/cerverus/redis-cerverus-cache/broker`",
    );
}

#[test]
fn a_secret_value_in_the_environment_is_caught() {
    // The shape checkov failed with 24 x CKV_K8S_35: Airflow's settings by secretKeyRef…
    let v = broken(WORKER, |w| {
        for e in container(w)["env"].as_array_mut().into_iter().flatten() {
            if e["name"] == "AIRFLOW__CORE__FERNET_KEY_CMD" {
                *e = json!({ "name": "AIRFLOW__CORE__FERNET_KEY", "valueFrom": { "secretKeyRef":
                    { "name": "airflow-fernet", "key": "AIRFLOW__CORE__FERNET_KEY", "optional": false } } });
            }
        }
    });
    assert_found(&v, "env AIRFLOW__CORE__FERNET_KEY carries a secret value");
    // …and our own apps' Redis URL.
    let (platform, mut objs) = rendered();
    let app = objs
        .iter_mut()
        .find(|(p, v)| {
            p.starts_with("kubernetes/dev/")
                && v["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|x| x["name"] == "REDIS_URL_FILE"))
        })
        .unwrap_or_else(|| panic!("no rendered pod reads REDIS_URL_FILE"));
    for e in container(&mut app.1)["env"].as_array_mut().into_iter().flatten() {
        if e["name"] == "REDIS_URL_FILE" {
            *e = json!({ "name": "REDIS_URL", "valueFrom": { "secretKeyRef":
                { "name": "redis-cerverus-cache", "key": "url", "optional": false } } });
        }
    }
    assert_found(&all_violations(&platform, &objs).1, "env REDIS_URL carries a secret value");
}

#[test]
fn a_write_path_without_a_volume_is_caught() {
    let v = broken(WEBSERVER, |w| {
        if let Some(m) = container(w)["volumeMounts"].as_array_mut() {
            m.retain(|m| m["mountPath"] != "/opt/airflow/run");
        }
    });
    assert_found(&v, "writes /opt/airflow/run, which is no writable volume");
}

#[test]
fn the_old_worker_probe_is_caught() {
    let v = broken(WORKER, |w| {
        container(w)["livenessProbe"] = json!({
            "exec": { "command": ["airflow", "jobs", "check", "--job-type", "LocalTaskJob", "--local"] },
            "timeoutSeconds": 3
        });
    });
    assert_found(&v, "liveness probe is not the contract's health check");
    assert_found(&v, "liveness probe times out after 3 s");
}

#[test]
fn cut_egress_is_caught() {
    // The old shape: 443 only to the internet minus 10.0.0.0/8, so neither the STS interface
    // endpoint nor the API server is reachable.
    let v = broken("kubernetes/dev/cerverus-data/networkpolicy-airflow-worker.yaml", |p| {
        if let Some(rules) = p["spec"]["egress"].as_array_mut() {
            rules.retain(|r| {
                !(r["to"].as_array().into_iter().flatten().any(|peer| {
                    peer["ipBlock"]["cidr"].as_str().is_some_and(|c| c.starts_with("10.") || c.starts_with("172.20."))
                }) && port_matches(r, 443, "TCP")
                    && r["ports"].is_array())
            });
        }
    });
    assert_found(&v, "airflow-worker (airflow-worker): egress to sts on 443 is cut");
    assert_found(&v, "airflow-worker (airflow-worker): egress to kube-apiserver on 443 is cut");
    // The webserver can no longer fetch task logs when the worker stops admitting it.
    let v = broken("kubernetes/dev/cerverus-data/networkpolicy-airflow-worker.yaml", |p| {
        p["spec"]["ingress"] = json!([]);
    });
    assert_found(&v, "airflow-webserver (airflow-webserver): egress to airflow-worker on 8793 is cut");
    // No DNS.
    let v = broken("kubernetes/dev/cerverus-data/networkpolicy-allow-dns.yaml", |p| {
        p["spec"]["egress"] = json!([]);
    });
    assert_found(&v, "egress to dns on 53 is cut");
}

#[test]
fn a_spec_probing_an_idle_worker_with_a_job_check_is_rejected() {
    // The old spec shape: the worker's liveness is a LocalTaskJob check, which fails whenever
    // the worker runs no task.
    let current = "      liveness:\n        exec:\n          - sh\n          - -c\n          - exec celery --app airflow.providers.celery.executors.celery_executor.app inspect ping -d \"celery@$(hostname)\"\n        periodSeconds: 60";
    assert!(cerverus_spec::DEFAULT_SPEC.contains(current), "the spec's worker probe moved; update this test");
    let old = cerverus_spec::DEFAULT_SPEC.replacen(
        current,
        "      liveness: { exec: [airflow, jobs, check, --job-type, LocalTaskJob, --local], periodSeconds: 60 }",
        1,
    );
    let loaded = cerverus_spec::load("old.yaml", &old).expect("loads");
    let err = cerverus_model::resolve(&loaded).err().map(|d| format!("{d:?}")).unwrap_or_default();
    assert!(err.contains("liveness probe of `airflow-worker` is not the health check of its program"), "{err}");
    // The current spec resolves.
    let loaded = cerverus_spec::load("current.yaml", cerverus_spec::DEFAULT_SPEC).expect("loads");
    assert!(cerverus_model::resolve(&loaded).is_ok());
}

#[test]
fn cut_scraping_and_cut_sts_of_a_pod_without_contract_are_caught() {
    let v = broken("kubernetes/dev/cerverus-system/networkpolicy-alerts-api.yaml", |p| {
        if let Some(rules) = p["spec"]["ingress"].as_array_mut() {
            rules.retain(|r| !r.to_string().contains("prometheus"));
        }
    });
    assert_found(&v, "dev/cerverus-system/alerts-api: Prometheus cannot scrape the metrics port 9090");
    let v = broken("kubernetes/dev/cerverus-data/networkpolicy-stream-processor.yaml", |p| {
        if let Some(rules) = p["spec"]["egress"].as_array_mut() {
            rules.retain(|r| !r.to_string().contains("10.10.0.0/19"));
        }
    });
    assert_found(&v, "dev/cerverus-data/stream-processor: egress to sts on 443 is cut");
}

const TRIGGERER: &str = "kubernetes/dev/cerverus-data/deployment-airflow-triggerer.yaml";
const MIGRATE_JOB: &str = "kubernetes/dev/cerverus-data/job-airflow-db-migrate.yaml";

#[test]
fn an_unmigrated_metadata_database_is_caught() {
    // The old shape: no Job runs `airflow db migrate`…
    let (platform, mut objs) = rendered();
    objs.retain(|(p, _)| p != MIGRATE_JOB);
    assert_found(&all_violations(&platform, &objs).1, "airflow-scheduler): no PreSync-hook Job migrates");
    // …or runs it as a plain Job, in the Deployments' wave…
    let v = broken(MIGRATE_JOB, |j| {
        j["metadata"]["annotations"] = json!({ "argocd.argoproj.io/sync-wave": "1" });
    });
    assert_found(&v, "airflow-webserver): no PreSync-hook Job migrates");
    // …and the pods crash-loop against the old schema instead of waiting.
    let v = broken(WEBSERVER, |w| {
        w["spec"]["template"]["spec"].as_object_mut().map(|s| s.remove("initContainers"));
    });
    assert_found(&v, "airflow-webserver): no init container waits for the schema");
}

#[test]
fn a_scale_down_that_kills_tasks_or_drops_their_logs_is_caught() {
    let v = broken(WORKER, |w| {
        w["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(45);
    });
    assert_found(&v, "airflow-worker): terminationGracePeriodSeconds 45 cuts the contract's 600 s shutdown");
    let v = broken(WORKER, |w| {
        w["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] = json!("Delete");
    });
    assert_found(&v, "airflow-worker): a scale-down deletes the claims");
}

#[test]
fn a_webserver_without_startup_budget_is_caught() {
    let v = broken(WEBSERVER, |w| {
        container(w).as_object_mut().map(|c| c.remove("startupProbe"));
    });
    assert_found(&v, "airflow-webserver (airflow-webserver): no startup probe giving the contract's check 180 s");
}

#[test]
fn the_triggerer_log_server_cut_or_unsigned_is_caught() {
    // The webserver fetches deferred tasks' logs from the triggerer on 8794…
    let v = broken("kubernetes/dev/cerverus-data/networkpolicy-airflow-triggerer.yaml", |p| {
        p["spec"]["ingress"] = json!([]);
    });
    assert_found(&v, "airflow-webserver (airflow-webserver): egress to airflow-triggerer on 8794 is cut");
    // …which checks the request's signature with the webserver's secret key.
    let v = broken(TRIGGERER, |t| {
        if let Some(env) = container(t)["env"].as_array_mut() {
            env.retain(|e| e["name"] != "AIRFLOW__WEBSERVER__SECRET_KEY_CMD");
        }
    });
    assert_found(&v, "airflow-triggerer (airflow-triggerer): config AIRFLOW__WEBSERVER__SECRET_KEY does not reach");
}
