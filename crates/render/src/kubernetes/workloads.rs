//! Workloads: ServiceAccount, ConfigMap, Deployment, Service and PodDisruptionBudget, hardened
//! to the Pod Security Standard `restricted` profile.
//!
//! Every kind shares [`pod_template`]; canary and blue-green workloads swap the Deployment for an
//! Argo Rollout built from it (`rollouts.rs`; the `cerverus.io/rollout` annotation names the
//! strategy).

use std::collections::{BTreeMap, BTreeSet};

use cerverus_model::contracts::HealthKind;
use cerverus_model::runtime::redis_keys;
use cerverus_model::{Env, Platform, Workload};
use cerverus_spec::{self as spec, Exposure, Tier, WorkloadKind};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy,
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, EnvVarSource, ExecAction, HTTPGetAction, KeyToPath, Lifecycle, LifecycleHandler,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext, Service,
    ServiceAccount, ServicePort, ServiceSpec, SleepAction, TCPSocketAction, Toleration, TopologySpreadConstraint,
    Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use cerverus_model::APP_UID;

use super::namespaces::priority_class_name;
use super::{Objects, labels};
use crate::RenderError;

/// Seconds a pod keeps serving after it is taken out of endpoints, before SIGTERM.
const PRE_STOP_SLEEP: i64 = 10;
/// Where secrets are mounted, one directory per secret, one file per key.
const SECRETS_DIR: &str = "/var/run/secrets/cerverus";
/// Probe timeout of programs without a runtime contract saying more.
const DEFAULT_PROBE_TIMEOUT: i32 = 3;
/// Seconds between SIGTERM and SIGKILL for programs whose contract asks for no more: the
/// pre-stop sleep plus time to drain in-flight requests.
const DEFAULT_GRACE_PERIOD: i64 = 45;

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let mut service_accounts = BTreeSet::new();
    for w in &env.workloads {
        let ns = w.namespace();
        if service_accounts.insert((ns.to_string(), w.service_account.clone())) {
            out.add(Some(ns), "ServiceAccount", &w.service_account, &service_account(platform, env, w))?;
        }
        if !w.spec.config.is_empty() {
            out.add(Some(ns), "ConfigMap", w.name(), &config_map(w))?;
        }
        match w.spec.kind {
            // Canary and blue-green: the same Deployment, carried out by Argo Rollouts.
            WorkloadKind::Deployment if super::rollouts::uses_rollout(w) => {
                out.add(Some(ns), "Rollout", w.name(), &super::rollouts::rollout(env, w, deployment(platform, env, w)))?
            }
            WorkloadKind::Deployment => out.add(Some(ns), "Deployment", w.name(), &deployment(platform, env, w))?,
            WorkloadKind::StatefulSet => out.add(Some(ns), "StatefulSet", w.name(), &stateful_set(platform, env, w))?,
            WorkloadKind::CronJob => out.add(Some(ns), "CronJob", w.name(), &cron_job(platform, env, w))?,
            WorkloadKind::Job => out.add(Some(ns), "Job", w.name(), &job(platform, env, w))?,
        }
        if let Some(job) = migration_job(platform, env, w) {
            out.add(Some(ns), "Job", &migration_job_name(w), &job)?;
        }
        if !w.spec.ports.is_empty() {
            let active = service(w);
            out.add(Some(ns), "Service", w.name(), &active)?;
            if let Some(preview) = super::rollouts::preview_service(w, &active) {
                out.add(Some(ns), "Service", &super::rollouts::preview_service_name(w.name()), &preview)?;
            }
        }
        if w.spec.kind.is_long_running() && min_replicas(w) > 1 {
            out.add(Some(ns), "PodDisruptionBudget", w.name(), &pdb(w))?;
        }
    }
    Ok(())
}

/// Annotations of a workload object: its rollout strategy, and the checkov waiver when the spec
/// says it calls the Kubernetes API.
fn workload_annotations(w: &Workload) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::from([(
        "cerverus.io/rollout".to_string(),
        // Canary and blue-green are carried out by Argo Rollouts around this same template.
        format!("{:?}", w.spec.rollout).to_ascii_lowercase(),
    )]);
    if w.spec.uses_kubernetes_api {
        // Say which account: several workloads may share one (the Airflow roles do), and the
        // waiver must not claim an account of its own where there is none.
        let reason = format!(
            "the spec declares usesKubernetesApi: this workload calls the Kubernetes API as ServiceAccount {}, whose Role holds only the rules the spec lists",
            w.service_account
        );
        annotations.insert("checkov.io/skip1".to_string(), format!("CKV_K8S_38={reason}"));
        annotations.insert("cerverus.io/skip".to_string(), format!("CV-K8S-013={reason}"));
    }
    annotations
}

fn stateful_set(platform: &Platform, env: &Env, w: &Workload) -> StatefulSet {
    let mut m = meta(w, w.name());
    m.annotations = Some(workload_annotations(w));
    let mut template = pod_template(platform, env, w);
    let claims = w.spec.storage.as_ref().map(|st| {
        if let Some(c) = template.spec.as_mut().and_then(|p| p.containers.first_mut()) {
            c.volume_mounts.get_or_insert_with(Vec::new).push(VolumeMount {
                name: "data".into(),
                mount_path: st.mount_path.clone(),
                ..Default::default()
            });
        }
        vec![PersistentVolumeClaim {
            metadata: ObjectMeta { name: Some("data".into()), labels: Some(labels::selector(w)), ..Default::default() },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                storage_class_name: Some(st.class.clone()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([("storage".to_string(), Quantity(st.size.clone()))])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]
    });
    StatefulSet {
        metadata: m,
        spec: Some(StatefulSetSpec {
            replicas: replicas(w),
            service_name: Some(w.name().to_string()),
            pod_management_policy: Some("Parallel".into()),
            revision_history_limit: Some(5),
            selector: LabelSelector { match_labels: Some(labels::selector(w)), ..Default::default() },
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy {
                    max_unavailable: Some(IntOrString::Int(1)),
                    ..Default::default()
                }),
            }),
            // A claim outlives a scale-down: what a replica wrote (an Airflow worker's task logs,
            // the only copy until they are shipped) is still there when the ordinal comes back,
            // instead of being deleted with the pod the autoscaler removed.
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some("Retain".into()),
                when_scaled: Some("Retain".into()),
            }),
            template,
            volume_claim_templates: claims,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Pods of jobs run to completion: never restarted in place, retried by the Job controller.
fn job_template(platform: &Platform, env: &Env, w: &Workload) -> PodTemplateSpec {
    let mut t = pod_template(platform, env, w);
    if let Some(spec) = t.spec.as_mut() {
        spec.restart_policy = Some("Never".into());
        // One replica: spreading constraints only add scheduling noise.
        spec.topology_spread_constraints = None;
    }
    t
}

fn job_spec(platform: &Platform, env: &Env, w: &Workload) -> JobSpec {
    JobSpec {
        backoff_limit: Some(3),
        active_deadline_seconds: Some(6 * 3600),
        ttl_seconds_after_finished: Some(24 * 3600),
        template: job_template(platform, env, w),
        ..Default::default()
    }
}

fn job(platform: &Platform, env: &Env, w: &Workload) -> Job {
    let mut m = meta(w, w.name());
    m.annotations = Some(workload_annotations(w));
    Job { metadata: m, spec: Some(job_spec(platform, env, w)), ..Default::default() }
}

fn cron_job(platform: &Platform, env: &Env, w: &Workload) -> CronJob {
    let mut m = meta(w, w.name());
    m.annotations = Some(workload_annotations(w));
    CronJob {
        metadata: m,
        spec: Some(CronJobSpec {
            schedule: w.spec.schedule.clone().unwrap_or_default(),
            time_zone: Some("UTC".into()),
            concurrency_policy: Some("Forbid".into()),
            starting_deadline_seconds: Some(600),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels::workload(w)), ..Default::default() }),
                spec: Some(job_spec(platform, env, w)),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn meta(w: &Workload, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(w.namespace().to_string()),
        labels: Some(labels::workload(w)),
        ..Default::default()
    }
}

/// `spec.replicas`, unless an autoscaler (HPA or KEDA ScaledObject, see `autoscaling`) owns the
/// count: then the field is left out, so an Argo CD sync never resets what the autoscaler chose
/// (Kubernetes creates the object with 1 replica and the autoscaler raises it to its minimum).
fn replicas(w: &Workload) -> Option<i32> {
    w.spec.autoscaling.is_none().then(|| i32::try_from(w.spec.replicas).unwrap_or(i32::MAX))
}

/// The fewest replicas the workload ever runs with.
fn min_replicas(w: &Workload) -> u32 {
    w.spec.autoscaling.as_ref().map_or(w.spec.replicas, |a| a.min.min(w.spec.replicas))
}

fn service_account(platform: &Platform, env: &Env, w: &Workload) -> ServiceAccount {
    let mut m = meta(w, &w.service_account);
    if w.spec.service_account.is_some() {
        // A shared account is not one workload's: label it for the namespace's application.
        let mut l = labels::common(&w.spec.part_of);
        l.insert("app.kubernetes.io/name".into(), w.service_account.clone());
        m.labels = Some(l);
    }
    // IRSA: the IAM role the Terraform `eks` module creates for this service account, when its
    // workloads reach AWS at all.
    let has_role = env
        .service_account_roles()
        .iter()
        .any(|r| r.namespace == w.namespace() && r.service_account == w.service_account);
    if has_role {
        m.annotations = Some(BTreeMap::from([(
            "eks.amazonaws.com/role-arn".to_string(),
            format!(
                "arn:aws:iam::{}:role/{}-{}-{}",
                platform.account_id,
                env.cluster_name,
                w.namespace(),
                w.service_account
            ),
        )]));
    }
    ServiceAccount {
        metadata: m,
        // Pods opt in per workload; the account itself never hands out a token by default.
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

fn config_map(w: &Workload) -> ConfigMap {
    ConfigMap { metadata: meta(w, w.name()), data: Some(w.spec.config.clone()), ..Default::default() }
}

fn deployment(platform: &Platform, env: &Env, w: &Workload) -> Deployment {
    let mut m = meta(w, w.name());
    m.annotations = Some(workload_annotations(w));
    Deployment {
        metadata: m,
        spec: Some(DeploymentSpec {
            replicas: replicas(w),
            revision_history_limit: Some(5),
            progress_deadline_seconds: Some(600),
            selector: LabelSelector { match_labels: Some(labels::selector(w)), ..Default::default() },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                // Zero downtime: never go below the desired count while rolling.
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::String("25%".into())),
                }),
            }),
            template: pod_template(platform, env, w),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The hardened pod template shared by every workload kind.
pub(crate) fn pod_template(platform: &Platform, env: &Env, w: &Workload) -> PodTemplateSpec {
    let mut annotations = BTreeMap::new();
    if let Some(bw) = &w.spec.egress_bandwidth {
        annotations.insert("kubernetes.io/egress-bandwidth".to_string(), bw.clone());
    }
    let pool = env.node_pool(&w.spec.node_pool);
    let mut volumes = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource { size_limit: Some(Quantity("256Mi".into())), ..Default::default() }),
        ..Default::default()
    }];
    let mut mounts = vec![VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() }];
    writable_volumes(w, &mut volumes, &mut mounts);
    let env_vars = runtime_env(platform, env, w);
    feature_flags_volume(w, &mut volumes, &mut mounts);
    for (secret, keys) in secret_files(platform, env, w) {
        let vol = format!("secret-{secret}");
        volumes.push(Volume {
            name: vol.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                default_mode: Some(0o440),
                items: keys
                    .map(|ks| ks.into_iter().map(|k| KeyToPath { key: k.clone(), path: k, mode: None }).collect()),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: vol,
            mount_path: format!("{SECRETS_DIR}/{secret}"),
            read_only: Some(true),
            ..Default::default()
        });
    }

    let zone_skew = if w.spec.tier == Tier::Critical { "DoNotSchedule" } else { "ScheduleAnyway" };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels::workload(w)),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(w.service_account.clone()),
            automount_service_account_token: Some(w.spec.uses_kubernetes_api),
            priority_class_name: Some(priority_class_name(&platform.name, w.spec.tier)),
            termination_grace_period_seconds: Some(grace_period(w)),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(APP_UID),
                run_as_group: Some(APP_UID),
                fs_group: Some(APP_UID),
                seccomp_profile: Some(runtime_default()),
                ..Default::default()
            }),
            node_selector: pool.map(|p| p.labels.clone()).filter(|l| !l.is_empty()),
            tolerations: pool.map(|p| p.taints.iter().map(toleration).collect::<Vec<_>>()).filter(|t| !t.is_empty()),
            topology_spread_constraints: Some({
                let mut c = vec![
                    spread(w, "topology.kubernetes.io/zone", zone_skew),
                    spread(w, "kubernetes.io/hostname", "ScheduleAnyway"),
                ];
                if spreads_over_capacity_types(env, w) {
                    // Hard for a fixed replica count; soft for an autoscaled one, whose scale-up
                    // a hard spread would cap at twice what the smaller kind of group can hold.
                    let when = if w.spec.autoscaling.is_some() { "ScheduleAnyway" } else { "DoNotSchedule" };
                    c.push(spread(w, CAPACITY_TYPE_LABEL, when));
                }
                c
            }),
            init_containers: wait_for_migrations(w, &mounts, &env_vars).map(|c| vec![c]),
            containers: vec![container(w, mounts, env_vars)],
            volumes: Some(volumes),
            ..Default::default()
        }),
    }
}

/// The workload's feature-flag ConfigMap as a read-only directory (`rollouts.rs` renders it).
/// A whole-volume mount, not `subPath`: the kubelet refreshes it in place when a flag changes,
/// and the pod template stays the same, so a flag change restarts nothing.
fn feature_flags_volume(w: &Workload, volumes: &mut Vec<Volume>, mounts: &mut Vec<VolumeMount>) {
    let Some(name) = super::rollouts::feature_flags_config_map_name(w) else { return };
    volumes.push(Volume {
        name: "feature-flags".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: name.clone(),
            default_mode: Some(0o444),
            optional: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    });
    mounts.push(VolumeMount {
        name: "feature-flags".into(),
        mount_path: super::rollouts::FEATURE_FLAGS_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    });
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }
}

fn toleration(t: &spec::Taint) -> Toleration {
    Toleration {
        key: Some(t.key.clone()),
        operator: Some("Equal".into()),
        value: Some(t.value.clone()),
        effect: Some(format!("{:?}", t.effect)),
        ..Default::default()
    }
}

/// Label EKS puts on every node of a managed node group: `ON_DEMAND` or `SPOT`.
pub const CAPACITY_TYPE_LABEL: &str = "eks.amazonaws.com/capacityType";

/// Whether `w`'s replicas must be spread over on-demand and spot nodes: a long-running workload
/// that never runs fewer than two replicas, in a pool with both kinds of node group. Without it
/// Cluster Autoscaler's spot-first expander can put every replica on spot, and one spot
/// reclamation takes the service down (`cerverus simulate`'s spot-loss scenario found the
/// Airflow scheduler so). With maxSkew 1 over the capacity types that have nodes, at most half
/// (rounded up) of a fixed-size workload's replicas share a fate; an autoscaled one is spread as a
/// preference. A pool whose spot group has no node yet is one domain and constrains nothing.
fn spreads_over_capacity_types(env: &Env, w: &Workload) -> bool {
    let groups = env.node_groups();
    let has = |c: cerverus_model::Capacity| groups.iter().any(|g| g.pool == w.spec.node_pool && g.capacity == c);
    w.spec.kind.is_long_running()
        && min_replicas(w) >= 2
        && has(cerverus_model::Capacity::OnDemand)
        && has(cerverus_model::Capacity::Spot)
}

fn spread(w: &Workload, key: &str, when: &str) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: key.into(),
        when_unsatisfiable: when.into(),
        label_selector: Some(LabelSelector { match_labels: Some(labels::selector(w)), ..Default::default() }),
        // In a zone outage the lost zone's Node objects stay, NotReady and tainted
        // `node.kubernetes.io/unreachable`. With the default `Ignore` they remain domains with
        // 0 matching pods, so a maxSkew-1 `DoNotSchedule` zone spread keeps the replacements
        // Pending in the surviving zones (kubernetes/kubernetes#123019); likewise a cordoned or
        // tainted node skews the hostname spread. `Honor` leaves out nodes whose taints the pod
        // does not tolerate. GA in Kubernetes 1.33; the bundle targets 1.35.
        node_taints_policy: Some("Honor".into()),
        ..Default::default()
    }
}

fn container(w: &Workload, mounts: Vec<VolumeMount>, env_vars: Vec<EnvVar>) -> Container {
    let r = &w.spec.resources;
    let mut requests = BTreeMap::from([
        ("cpu".to_string(), Quantity(r.requests.cpu.clone())),
        ("memory".to_string(), Quantity(r.requests.memory.clone())),
        ("ephemeral-storage".to_string(), Quantity(r.requests.ephemeral_storage.clone())),
    ]);
    let mut limits = BTreeMap::from([
        ("cpu".to_string(), Quantity(r.limits.cpu.clone())),
        ("memory".to_string(), Quantity(r.limits.memory.clone())),
        ("ephemeral-storage".to_string(), Quantity(r.limits.ephemeral_storage.clone())),
    ]);
    if r.gpu > 0 {
        requests.insert("nvidia.com/gpu".into(), Quantity(r.gpu.to_string()));
        limits.insert("nvidia.com/gpu".into(), Quantity(r.gpu.to_string()));
    }
    let probes = w.spec.probes.clone().unwrap_or(spec::Probes { readiness: None, liveness: None, startup: None });
    Container {
        name: w.name().to_string(),
        image: Some(w.image_ref.clone()),
        image_pull_policy: Some("Always".into()),
        command: (!w.spec.command.is_empty()).then(|| w.spec.command.clone()),
        args: (!w.spec.args.is_empty()).then(|| w.spec.args.clone()),
        ports: (!w.spec.ports.is_empty()).then(|| {
            w.spec
                .ports
                .iter()
                .map(|p| ContainerPort {
                    name: Some(p.name.clone()),
                    container_port: i32::from(p.port),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                })
                .collect()
        }),
        env: (!env_vars.is_empty()).then_some(env_vars),
        env_from: (!w.spec.config.is_empty()).then(|| {
            vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource { name: w.name().to_string(), optional: Some(false) }),
                ..Default::default()
            }]
        }),
        resources: Some(ResourceRequirements { requests: Some(requests), limits: Some(limits), ..Default::default() }),
        readiness_probe: probes.readiness.as_ref().map(|p| probe(w, p)),
        liveness_probe: probes.liveness.as_ref().map(|p| probe(w, p)),
        startup_probe: probes.startup.as_ref().map(|p| probe(w, p)).or_else(|| contract_startup_probe(w)),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction { seconds: PRE_STOP_SLEEP }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(APP_UID),
            run_as_group: Some(APP_UID),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
            seccomp_profile: Some(runtime_default()),
            ..Default::default()
        }),
        volume_mounts: Some(mounts),
        ..Default::default()
    }
}

fn probe(w: &Workload, p: &spec::Probe) -> Probe {
    let port = |name: &str| {
        let number = w.spec.ports.iter().find(|x| x.name == name).map_or(0, |x| i32::from(x.port));
        IntOrString::Int(number)
    };
    // A probe must give a healthy program the time its contract says it needs to answer (an
    // Airflow CLI check imports Airflow and queries the database: seconds, not milliseconds).
    // Probes of the same form as the contract's check (an exec probe of an Airflow role runs
    // the CLI too) get its timeout; a TCP connect stays quick.
    let form = match (&p.path, &p.port) {
        (Some(_), Some(_)) => HealthKind::Http,
        (None, Some(_)) => HealthKind::Tcp,
        _ => HealthKind::Exec,
    };
    let timeout =
        w.contract.and_then(|c| c.health.as_ref()).filter(|h| h.kind == form).map_or(DEFAULT_PROBE_TIMEOUT, |h| {
            i32::try_from(h.timeout_seconds).unwrap_or(i32::MAX).max(DEFAULT_PROBE_TIMEOUT)
        });
    let mut out = Probe {
        period_seconds: Some(p.period_seconds as i32),
        failure_threshold: Some(p.failure_threshold as i32),
        timeout_seconds: Some(timeout),
        ..Default::default()
    };
    match (&p.path, &p.port) {
        (Some(path), Some(pn)) => {
            out.http_get = Some(HTTPGetAction { path: Some(path.clone()), port: port(pn), ..Default::default() });
        }
        (None, Some(pn)) => out.tcp_socket = Some(TCPSocketAction { port: port(pn), ..Default::default() }),
        _ => out.exec = Some(ExecAction { command: Some(p.exec.clone()) }),
    }
    out
}

fn service(w: &Workload) -> Service {
    let mut m = meta(w, w.name());
    if w.spec.exposure == Exposure::None {
        // Only scraped by Prometheus; nothing else is allowed to call it.
        m.annotations = Some(BTreeMap::from([("cerverus.io/exposure".to_string(), "metrics-only".to_string())]));
    }
    Service {
        metadata: m,
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            // A StatefulSet's governing service is headless: each pod gets a stable DNS name.
            cluster_ip: (w.spec.kind == WorkloadKind::StatefulSet).then(|| "None".to_string()),
            selector: Some(labels::selector(w)),
            ports: Some(
                w.spec
                    .ports
                    .iter()
                    .map(|p| ServicePort {
                        name: Some(p.name.clone()),
                        port: i32::from(p.port),
                        target_port: Some(IntOrString::String(p.name.clone())),
                        protocol: Some("TCP".into()),
                        app_protocol: Some(
                            match p.protocol {
                                spec::PortProtocol::Http => "http",
                                spec::PortProtocol::Grpc => "grpc",
                                spec::PortProtocol::Tcp => "tcp",
                            }
                            .into(),
                        ),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One pod may be voluntarily disrupted at a time, so a node drain always makes progress while
/// at least `min - 1` replicas keep serving.
fn pdb(w: &Workload) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(w, w.name()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector { match_labels: Some(labels::selector(w)), ..Default::default() }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The file a secret key is mounted at: one directory per secret, one file per key.
pub fn secret_file(secret: &str, key: &str) -> String {
    format!("{SECRETS_DIR}/{secret}/{key}")
}

/// Whether secret key `key` reaches `w`'s program through its environment: its runtime contract
/// says it reads configuration from variables with the key's prefix (Airflow reads
/// `AIRFLOW__{SECTION}__{KEY}`, never a file named like one).
fn reads_from_env(w: &Workload, key: &str) -> bool {
    w.contract.is_some_and(|c| c.reads_env(key, key))
}

/// Whether the program reads `key` from the output of a command (`<key>_CMD`): then the secret
/// stays a file and the variable names the command that prints it.
fn reads_through_command(w: &Workload, key: &str) -> bool {
    w.contract.is_some_and(|c| c.reads_indirect(key, "_CMD"))
}

/// Secrets mounted as files, with the keys to project (`None`: every key of the Secret). Every
/// secret is a file (CKV_K8S_35: a value in the environment leaks into crash dumps, `/proc` and
/// child processes); only a key the program reads from the environment and from no command
/// stays out of the volume, as it must arrive by `secretKeyRef`.
pub(crate) fn secret_files(platform: &Platform, env: &Env, w: &Workload) -> Vec<(String, Option<Vec<String>>)> {
    let mut out: Vec<(String, Option<Vec<String>>)> = Vec::new();
    for s in &w.secrets {
        let keys: Vec<String> =
            s.keys.iter().filter(|k| !reads_from_env(w, k) || reads_through_command(w, k)).cloned().collect();
        if keys.is_empty() {
            continue;
        }
        out.push((s.name.clone(), w.contract.is_some().then_some(keys)));
    }
    for r in env.redis_connections(&platform.name, w) {
        if let Some((_, keys)) = out.iter_mut().find(|(n, _)| *n == r.secret_name) {
            // `None` projects every key already, the URL among them.
            if let Some(keys) = keys {
                keys.push(redis_keys::URL.to_string());
            }
        } else {
            out.push((r.secret_name.clone(), Some(vec![redis_keys::URL.to_string()])));
        }
    }
    out
}

/// The container's environment: what the runtime contract requires set (where the program
/// writes, its executor, its health server), and how it finds each secret file: for a program
/// that reads a key from a command (Airflow's `_CMD` forms) the command that prints the file,
/// for our own programs the file's path (`REDIS_URL_FILE`). No secret value is ever a variable,
/// except a key the program can read from its environment only (a `secretKeyRef`).
pub(crate) fn runtime_env(platform: &Platform, env: &Env, w: &Workload) -> Vec<EnvVar> {
    let secret_ref = |name: &str, key: &str| {
        Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: name.to_string(),
                key: key.to_string(),
                optional: Some(false),
            }),
            ..Default::default()
        })
    };
    let value = |name: String, v: String| EnvVar { name, value: Some(v), ..Default::default() };
    let mut vars: Vec<EnvVar> = Vec::new();
    if let Some(c) = w.contract {
        vars.extend(c.env.iter().map(|(k, v)| value(k.clone(), v.clone())));
    }
    for s in &w.secrets {
        for k in s.keys.iter().filter(|k| reads_from_env(w, k)) {
            if reads_through_command(w, k) {
                vars.push(value(format!("{k}_CMD"), format!("cat {}", secret_file(&s.name, k))));
            } else {
                vars.push(EnvVar { name: k.clone(), value_from: secret_ref(&s.name, k), ..Default::default() });
            }
        }
    }
    for r in env.redis_connections(&platform.name, w) {
        let file = secret_file(&r.secret_name, redis_keys::URL);
        if reads_through_command(w, &r.url_env) {
            vars.push(value(format!("{}_CMD", r.url_env), format!("cat {file}")));
        } else if w.contract.is_some_and(|c| c.reads_env(&r.url_env, &r.url_env)) {
            vars.push(EnvVar {
                name: r.url_env.clone(),
                value_from: secret_ref(&r.secret_name, redis_keys::URL),
                ..Default::default()
            });
        } else {
            // Our own images: the platform's convention, `<VAR>_FILE` names the file.
            vars.push(value(format!("{}_FILE", r.url_env), file));
        }
    }
    if super::rollouts::feature_flags_config_map_name(w).is_some() {
        let file = format!("{}/{}", super::rollouts::FEATURE_FLAGS_DIR, super::rollouts::FEATURE_FLAGS_KEY);
        vars.push(value(super::rollouts::FEATURE_FLAGS_ENV.to_string(), file));
    }
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    vars.dedup_by(|a, b| a.name == b.name);
    vars
}

/// An emptyDir for every path the program's contract says it writes (the root filesystem is
/// read-only), sized by the pod's ephemeral-storage limit, which evicts the pod first anyway.
/// `/tmp` is every pod's already; a path the workload's own volume claim backs keeps the claim.
fn writable_volumes(w: &Workload, volumes: &mut Vec<Volume>, mounts: &mut Vec<VolumeMount>) {
    let Some(c) = w.contract else { return };
    let claimed = w.spec.storage.as_ref().map(|s| s.mount_path.as_str());
    for path in &c.writable_paths {
        if mounts.iter().any(|m| &m.mount_path == path) || claimed == Some(path.as_str()) {
            continue;
        }
        let name = format!("rw{}", path.replace(['/', '_', '.'], "-")).trim_end_matches('-').to_string();
        volumes.push(Volume {
            name: name.clone(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity(w.spec.resources.limits.ephemeral_storage.clone())),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount { name, mount_path: path.clone(), ..Default::default() });
    }
}

/// The grace period the program's contract asks for (a Celery worker's warm shutdown waits for
/// its running tasks), never less than the platform's default.
fn grace_period(w: &Workload) -> i64 {
    w.contract
        .and_then(|c| c.termination_grace_period_seconds)
        .map_or(DEFAULT_GRACE_PERIOD, |s| i64::from(s).max(DEFAULT_GRACE_PERIOD))
}

/// The contract's health check as a startup probe, when the contract gives the program a
/// startup budget and the spec sets no startup probe of its own: liveness only begins once the
/// check passed, so a slow first boot is not killed.
fn contract_startup_probe(w: &Workload) -> Option<Probe> {
    let h = w.contract?.health.as_ref()?;
    let budget = h.startup.as_ref()?;
    let mut out = Probe {
        period_seconds: Some(i32::try_from(budget.period_seconds).unwrap_or(i32::MAX)),
        failure_threshold: Some(i32::try_from(budget.failure_threshold).unwrap_or(i32::MAX)),
        timeout_seconds: Some(i32::try_from(h.timeout_seconds).unwrap_or(i32::MAX).max(DEFAULT_PROBE_TIMEOUT)),
        ..Default::default()
    };
    let port = h.port.map(|p| IntOrString::Int(i32::from(p)));
    match h.kind {
        HealthKind::Http => {
            out.http_get = Some(HTTPGetAction { path: h.path.clone(), port: port?, ..Default::default() });
        }
        HealthKind::Tcp => out.tcp_socket = Some(TCPSocketAction { port: port?, ..Default::default() }),
        HealthKind::Exec => out.exec = Some(ExecAction { command: Some(h.command.clone()) }),
    }
    Some(out)
}

/// A container of `w`'s image, environment and mounts that runs `command` once: no ports, no
/// probes, no pre-stop sleep.
fn one_shot(
    w: &Workload,
    name: &str,
    command: &[String],
    mounts: Vec<VolumeMount>,
    env_vars: Vec<EnvVar>,
) -> Container {
    let mut c = container(w, mounts, env_vars);
    c.name = name.to_string();
    c.command = Some(command.to_vec());
    c.args = None;
    c.ports = None;
    c.readiness_probe = None;
    c.liveness_probe = None;
    c.startup_probe = None;
    c.lifecycle = None;
    c
}

/// An init container that waits until the program's database schema is current (its contract's
/// `migrate.waitCommand`), so the pods of a new release wait for the migration Job instead of
/// crash-looping against the old schema.
fn wait_for_migrations(w: &Workload, mounts: &[VolumeMount], env_vars: &[EnvVar]) -> Option<Container> {
    let m = w.contract?.migrate.as_ref()?;
    Some(one_shot(w, "wait-for-migrations", &m.wait_command, mounts.to_vec(), env_vars.to_vec()))
}

/// The name of the Job that migrates the database of `w`'s application.
pub(crate) fn migration_job_name(w: &Workload) -> String {
    format!("{}-db-migrate", w.spec.part_of)
}

/// Selector labels of the migration Job's pod: its own, so no Service, budget or Deployment of
/// the role it was built from selects it.
pub(crate) fn migration_selector(w: &Workload) -> BTreeMap<String, String> {
    let name = migration_job_name(w);
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), name.clone()),
        ("app.kubernetes.io/instance".to_string(), name),
    ])
}

/// Whether `w`'s contract runs its application's schema migration (`migrate.command`).
pub(crate) fn runs_migration(w: &Workload) -> bool {
    w.contract.and_then(|c| c.migrate.as_ref()).is_some_and(|m| !m.command.is_empty())
}

/// The Job that runs the contract's migration (`airflow db migrate`) with the pod of the role
/// that names it: same image, environment, secrets and writable paths. Rendered as a Job, it
/// is an Argo CD `Sync` hook in the wave before the Deployments (see `kubernetes::sync_wave`).
fn migration_job(platform: &Platform, env: &Env, w: &Workload) -> Option<Job> {
    if !runs_migration(w) {
        return None;
    }
    let command = &w.contract?.migrate.as_ref()?.command;
    let mut labels = labels::workload(w);
    labels.extend(migration_selector(w));
    labels.insert("app.kubernetes.io/component".into(), "schema-migration".into());
    let mut template = pod_template(platform, env, w);
    template.metadata = Some(ObjectMeta { labels: Some(labels.clone()), ..Default::default() });
    let spec = template.spec.as_mut()?;
    spec.restart_policy = Some("Never".into());
    spec.topology_spread_constraints = None;
    spec.init_containers = None;
    spec.termination_grace_period_seconds = Some(DEFAULT_GRACE_PERIOD);
    let main = spec.containers.first()?;
    let job_container = one_shot(
        w,
        "db-migrate",
        command,
        main.volume_mounts.clone().unwrap_or_default(),
        main.env.clone().unwrap_or_default(),
    );
    spec.containers = vec![job_container];
    let mut m = meta(w, &migration_job_name(w));
    m.labels = Some(labels);
    Some(Job {
        metadata: m,
        spec: Some(JobSpec {
            backoff_limit: Some(3),
            active_deadline_seconds: Some(3600),
            ttl_seconds_after_finished: Some(24 * 3600),
            template,
            ..Default::default()
        }),
        ..Default::default()
    })
}
