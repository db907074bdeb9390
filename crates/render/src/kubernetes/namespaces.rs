//! Namespaces with Pod Security Standard and Istio injection labels, and the PriorityClasses
//! that workloads are scheduled with.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform};
use cerverus_spec::{PodSecurityLevel, Tier};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Objects, labels};
use crate::RenderError;

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let pss_version = format!("v{}", env.kubernetes_version);
    for ns in &env.namespaces {
        let mut l = labels::common(&platform.name);
        l.insert("kubernetes.io/metadata.name".into(), ns.name.clone());
        let level = ns.pod_security.as_str();
        l.insert("pod-security.kubernetes.io/enforce".into(), level.into());
        l.insert("pod-security.kubernetes.io/enforce-version".into(), pss_version.clone());
        // Audit and warn at `restricted` everywhere, so a relaxed namespace still shows what
        // would break if it were tightened.
        for mode in ["audit", "warn"] {
            l.insert(format!("pod-security.kubernetes.io/{mode}"), PodSecurityLevel::Restricted.as_str().into());
            l.insert(format!("pod-security.kubernetes.io/{mode}-version"), pss_version.clone());
        }
        if ns.istio_injection {
            l.insert("istio-injection".into(), "enabled".into());
        }
        let mut annotations = BTreeMap::from([("cerverus.io/purpose".to_string(), ns.purpose.clone())]);
        if let Some(reason) = &ns.pod_security_reason {
            annotations.insert("cerverus.io/pod-security-reason".into(), reason.clone());
        }
        let obj = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.name.clone()),
                labels: Some(l),
                annotations: Some(annotations),
                ..Default::default()
            },
            ..Default::default()
        };
        out.add(None, "Namespace", &ns.name, &obj)?;
    }
    render_addon_namespaces(platform, env, &pss_version, out)?;

    for tier in [Tier::Critical, Tier::High, Tier::Standard, Tier::Batch] {
        let (value, description, preempt) = priority(tier);
        let name = priority_class_name(&platform.name, tier);
        let obj = PriorityClass {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels::common(&platform.name)),
                ..Default::default()
            },
            value,
            description: Some(description.to_string()),
            global_default: Some(false),
            preemption_policy: Some(if preempt { "PreemptLowerPriority" } else { "Never" }.to_string()),
        };
        out.add(None, "PriorityClass", &name, &obj)?;
    }
    Ok(())
}

/// Namespaces that only add-on charts use (`keda`, `external-secrets`): rendered here rather than
/// left to the chart installer, because the bundle puts objects of its own in them (the KEDA
/// operator's NetworkPolicy, say), and those would fail to apply before the namespace exists.
/// `kube-system` is the cluster's own. Their charts' pods run with the restricted profile's
/// settings (`addons.rs` sets them where the chart lets it, the charts' defaults elsewhere), so
/// they enforce `restricted` like the seed's namespaces.
fn render_addon_namespaces(
    platform: &Platform,
    env: &Env,
    pss_version: &str,
    out: &mut Objects,
) -> Result<(), RenderError> {
    let mut charts_by_namespace: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for chart in crate::addons::CHARTS.iter().filter(|c| c.installed_in(env)) {
        let declared = env.namespaces.iter().any(|ns| ns.name == chart.namespace);
        if !declared && chart.namespace != "kube-system" {
            charts_by_namespace.entry(chart.namespace).or_default().push(chart.name);
        }
    }
    for (name, charts) in charts_by_namespace {
        let mut l = labels::common(&platform.name);
        l.insert("kubernetes.io/metadata.name".into(), name.to_string());
        let privileged = crate::addons::PRIVILEGED_ADDON_NAMESPACES.iter().find(|(ns, _)| *ns == name);
        for mode in ["enforce", "audit", "warn"] {
            let level = match (mode, privileged) {
                ("enforce", Some(_)) => PodSecurityLevel::Privileged,
                _ => PodSecurityLevel::Restricted,
            };
            l.insert(format!("pod-security.kubernetes.io/{mode}"), level.as_str().into());
            l.insert(format!("pod-security.kubernetes.io/{mode}-version"), pss_version.to_string());
        }
        let purpose = format!("add-on namespace: {}", charts.join(", "));
        let mut annotations = BTreeMap::from([("cerverus.io/purpose".to_string(), purpose)]);
        if let Some((_, reason)) = privileged {
            annotations.insert("cerverus.io/pod-security-reason".into(), reason.to_string());
        }
        let obj = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(l),
                annotations: Some(annotations),
                ..Default::default()
            },
            ..Default::default()
        };
        out.add(None, "Namespace", name, &obj)?;
    }
    Ok(())
}

/// The PriorityClass a tier's pods use.
pub(crate) fn priority_class_name(platform: &str, tier: Tier) -> String {
    format!("{platform}-{}", tier.as_str())
}

/// Values stay well below the 1,000,000,000 reserved for system-cluster-critical.
fn priority(tier: Tier) -> (i32, &'static str, bool) {
    match tier {
        Tier::Critical => (100_000, "Customer-facing fraud detection path; preempts everything else.", true),
        Tier::High => (50_000, "Data freshness (ingestion, orchestration, streaming).", true),
        Tier::Standard => (10_000, "Other long-running platform services.", true),
        Tier::Batch => (1_000, "Batch work (training, backfills) that yields capacity and never preempts.", false),
    }
}
