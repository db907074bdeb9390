//! RBAC: least privilege by construction.
//!
//! - `cerverus-admin` (in cerverus-system) is bound to `cluster-admin`, for break-glass only.
//! - Workloads that call the API get a Role with exactly the rules the spec lists, in their own
//!   namespace, bound to their ServiceAccount.
//! - People get ClusterRoles by responsibility (`cerverus-developer` read-only,
//!   `cerverus-operator` day-2 operations), bound per namespace with RoleBindings, and a
//!   cross-namespace `cerverus-platform-reader` for the platform team.
//!
//! No rule anywhere uses a wildcard; the admin binding is the only route to `*`.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_model::{Env, Platform};
use cerverus_spec::RbacRule;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Objects, labels};
use crate::RenderError;

/// Namespace of the break-glass account.
pub const ADMIN_NAMESPACE: &str = "cerverus-system";
pub const ADMIN_ACCOUNT: &str = "cerverus-admin";

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
    ]
}

fn operator_rules() -> Vec<PolicyRule> {
    let mut r = developer_rules();
    r.extend([
        rule(&["apps"], &["deployments/scale", "statefulsets/scale"], &["get", "patch", "update"]),
        rule(&["apps"], &["deployments", "statefulsets"], &["patch"]),
        rule(&[""], &["pods"], &["delete"]),
        rule(&["batch"], &["jobs"], &["create", "delete"]),
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

    // Break-glass admin.
    let mut admin_meta = meta(ADMIN_ACCOUNT, Some(ADMIN_NAMESPACE));
    admin_meta.annotations = Some(BTreeMap::from([(
        "cerverus.io/purpose".to_string(),
        "break-glass cluster administration; every use is visible in the EKS audit log".to_string(),
    )]));
    out.add(
        Some(ADMIN_NAMESPACE),
        "ServiceAccount",
        ADMIN_ACCOUNT,
        &ServiceAccount {
            metadata: admin_meta.clone(),
            automount_service_account_token: Some(false),
            ..Default::default()
        },
    )?;
    let mut binding_meta = meta("cerverus-admin-break-glass", None);
    let mut binding_annotations = admin_meta.annotations.clone().unwrap_or_default();
    binding_annotations.insert(
        "cerverus.io/skip".to_string(),
        "CV-K8S-017=break-glass account by design; the binding is the documented emergency path and every use is audited".to_string(),
    );
    binding_meta.annotations = Some(binding_annotations);
    out.add(
        None,
        "ClusterRoleBinding",
        "cerverus-admin-break-glass",
        &ClusterRoleBinding {
            metadata: binding_meta,
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "cluster-admin".into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: ADMIN_ACCOUNT.into(),
                namespace: Some(ADMIN_NAMESPACE.into()),
                ..Default::default()
            }]),
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
            subjects: Some(vec![group(format!("{}:platform-operators", platform.name))]),
        },
    )?;
    let namespaces: BTreeSet<&str> = env.workloads.iter().map(|w| w.namespace()).collect();
    for ns in &namespaces {
        let short = ns.strip_prefix(&format!("{}-", platform.name)).unwrap_or(ns);
        for (role, who) in [
            ("cerverus-developer", format!("{}:{short}:developers", platform.name)),
            ("cerverus-operator", format!("{}:platform-operators", platform.name)),
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
