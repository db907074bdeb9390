//! RBAC: least privilege by construction.
//!
//! - `cluster-admin` is bound to the group `<platform>:break-glass` only, which EKS access
//!   entries map from the admin IAM roles; no service account is ever bound to it.
//! - Workloads that call the API get a Role with exactly the rules the spec lists, in their own
//!   namespace, bound to their ServiceAccount.
//! - People get ClusterRoles by responsibility (`cerverus-developer` read-only,
//!   `cerverus-operator` day-2 operations), bound per namespace with RoleBindings, and a
//!   cross-namespace `cerverus-platform-reader` for the platform team. No responsibility role
//!   may create pods or pod controllers or patch a pod template: in a namespace with Secrets or
//!   IRSA service accounts that is the same as reading every Secret and assuming every role.
//!
//! No rule anywhere uses a wildcard; the admin binding is the only route to `*`.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_model::{Env, Platform, break_glass_group, developers_group, operators_group};
use cerverus_spec::RbacRule;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Objects, labels};
use crate::RenderError;

/// The ClusterRoleBinding of cluster-admin to the break-glass group.
pub const BREAK_GLASS_BINDING: &str = "cerverus-break-glass";

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

const READ: &[&str] = &["get", "list", "watch"];

fn developer_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &[""],
            &["pods", "pods/log", "services", "endpoints", "configmaps", "events", "persistentvolumeclaims"],
            READ,
        ),
        rule(&["apps"], &["deployments", "statefulsets", "replicasets"], READ),
        rule(&["batch"], &["jobs", "cronjobs"], READ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], READ),
        rule(&["policy"], &["poddisruptionbudgets"], READ),
        rule(&["networking.k8s.io"], &["networkpolicies"], READ),
        // Canary and blue-green workloads are Argo Rollouts; their analyses decide a release.
        rule(&["argoproj.io"], &["rollouts", "analysisruns", "analysistemplates"], READ),
    ]
}

/// Day-2 operations without control over any pod spec. The operators role is bound in every
/// namespace that holds workload Secrets and IRSA service accounts, and the role grants no
/// `secrets get`; but whoever may create a pod, create a pod controller (Job, CronJob, …) or
/// patch one's pod template can run a pod that mounts any Secret of the namespace or runs as any
/// of its service accounts (and so assumes its IAM role) — reading through the pod what the role
/// withholds. So operators get:
/// - `*/scale`: replica counts only (the scale subresource cannot touch the template);
/// - `pods/eviction` create: a rolling restart that respects PodDisruptionBudgets (evict the
///   pods; their controller recreates them from the unchanged template), and `pods` delete for
///   a pod stuck terminating or failing its probes;
/// - `jobs` delete: a stuck or failed Job (re-running one is a deploy, not an operation);
/// - read access to everything the developers read, never Secrets.
///
/// - `rollouts/status` patch: promote, abort or retry an Argo Rollout (`kubectl argo rollouts
///   promote|abort|retry` write the status subresource, which holds no pod template).
///
/// `kubectl rollout restart` patches the pod template (an annotation) and so needs `patch` on
/// the Deployment, which would also allow any other template change: it is not granted. Restart
/// by evicting pods, or through the deploy pipeline; when that is not enough it is break-glass
/// (the `<platform>:break-glass` group, audited).
fn operator_rules() -> Vec<PolicyRule> {
    let mut r = developer_rules();
    r.extend([
        rule(&["apps"], &["deployments/scale", "statefulsets/scale"], &["get", "patch", "update"]),
        rule(&["argoproj.io"], &["rollouts/scale", "rollouts/status"], &["get", "patch", "update"]),
        rule(&[""], &["pods"], &["delete"]),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(&["batch"], &["jobs"], &["delete"]),
    ]);
    r
}

fn platform_reader_rules() -> Vec<PolicyRule> {
    vec![
        rule(&[""], &["namespaces", "nodes", "persistentvolumes", "resourcequotas", "limitranges"], READ),
        rule(&["storage.k8s.io"], &["storageclasses"], READ),
        rule(&["scheduling.k8s.io"], &["priorityclasses"], READ),
        rule(&["metrics.k8s.io"], &["nodes", "pods"], READ),
    ]
}

fn group(name: String) -> Subject {
    Subject { kind: "Group".into(), name, api_group: Some("rbac.authorization.k8s.io".into()), ..Default::default() }
}

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let common = || Some(labels::common(&platform.name));
    let meta = |name: &str, ns: Option<&str>| ObjectMeta {
        name: Some(name.to_string()),
        namespace: ns.map(str::to_string),
        labels: common(),
        ..Default::default()
    };

    // Break-glass admin: cluster-admin for a group only the admin IAM roles are mapped to (EKS
    // access entries). Never a service account: a service account is usable by anyone who can
    // create a pod (or a Job, CronJob, Deployment…) in its namespace, so binding one to
    // cluster-admin makes every such role cluster-admin.
    let break_glass = break_glass_group(&platform.name);
    let mut binding_meta = meta(BREAK_GLASS_BINDING, None);
    binding_meta.annotations = Some(BTreeMap::from([
        (
            "cerverus.io/purpose".to_string(),
            "break-glass cluster administration; every use is visible in the EKS audit log".to_string(),
        ),
        (
            "cerverus.io/skip".to_string(),
            format!(
                "CV-K8S-017=break-glass: the only subject is the group {break_glass}, which EKS access entries map from the admin IAM roles alone; no service account holds it"
            ),
        ),
    ]));
    out.add(
        None,
        "ClusterRoleBinding",
        BREAK_GLASS_BINDING,
        &ClusterRoleBinding {
            metadata: binding_meta,
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "cluster-admin".into(),
            },
            subjects: Some(vec![group(break_glass)]),
        },
    )?;

    // Responsibilities, as ClusterRoles bound per namespace.
    for (name, rules) in [
        ("cerverus-developer", developer_rules()),
        ("cerverus-operator", operator_rules()),
        ("cerverus-platform-reader", platform_reader_rules()),
    ] {
        out.add(
            None,
            "ClusterRole",
            name,
            &ClusterRole { metadata: meta(name, None), rules: Some(rules), ..Default::default() },
        )?;
    }
    out.add(
        None,
        "ClusterRoleBinding",
        "cerverus-platform-reader",
        &ClusterRoleBinding {
            metadata: meta("cerverus-platform-reader", None),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "cerverus-platform-reader".into(),
            },
            subjects: Some(vec![group(operators_group(&platform.name))]),
        },
    )?;
    let namespaces: BTreeSet<&str> = env.workloads.iter().map(|w| w.namespace()).collect();
    for ns in &namespaces {
        // The same helpers name the groups of the EKS access entries (`Env::access_groups`), so
        // a binding's subject is always a group some IAM role is mapped to.
        for (role, who) in [
            ("cerverus-developer", developers_group(&platform.name, ns)),
            ("cerverus-operator", operators_group(&platform.name)),
        ] {
            let name = role.trim_start_matches("cerverus-").to_string() + "s";
            out.add(
                Some(ns),
                "RoleBinding",
                &name,
                &RoleBinding {
                    metadata: meta(&name, Some(ns)),
                    role_ref: RoleRef {
                        api_group: "rbac.authorization.k8s.io".into(),
                        kind: "ClusterRole".into(),
                        name: role.into(),
                    },
                    subjects: Some(vec![group(who)]),
                },
            )?;
        }
    }

    // Workloads that call the API: their declared rules, in their namespace.
    let mut per_account: BTreeMap<(String, String), BTreeSet<RbacRule>> = BTreeMap::new();
    for w in env.workloads.iter().filter(|w| w.spec.uses_kubernetes_api) {
        per_account
            .entry((w.namespace().to_string(), w.service_account.clone()))
            .or_default()
            .extend(w.spec.kubernetes_rbac.iter().cloned());
    }
    for ((ns, sa), rules) in per_account {
        if rules.is_empty() {
            continue;
        }
        let name = format!("{sa}-api");
        let policy: Vec<PolicyRule> = rules
            .iter()
            .map(|r| PolicyRule {
                api_groups: Some(r.api_groups.clone()),
                resources: Some(r.resources.clone()),
                verbs: r.verbs.clone(),
                ..Default::default()
            })
            .collect();
        out.add(Some(&ns), "Role", &name, &Role { metadata: meta(&name, Some(&ns)), rules: Some(policy) })?;
        out.add(
            Some(&ns),
            "RoleBinding",
            &name,
            &RoleBinding {
                metadata: meta(&name, Some(&ns)),
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name: name.clone(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: sa.clone(),
                    namespace: Some(ns.clone()),
                    ..Default::default()
                }]),
            },
        )?;
    }
    Ok(())
}
