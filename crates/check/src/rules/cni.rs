//! NetworkPolicies that nothing enforces (CV-CNI-001): Kubernetes objects and Terraform judged
//! together. Amazon VPC CNI ignores NetworkPolicies unless its add-on enables its network policy
//! agent; another CNI that enforces them (Calico, Cilium) may be installed instead.

use std::collections::{BTreeMap, BTreeSet};

use hcl::Expression;
use serde_json::Value;

use super::Sink;
use super::iam::to_json;
use super::terraform::waivers;
use crate::hcl_index::{Index, attr, dir_of, literal};
use crate::inventory::{Inventory, K8sObject, TfBlock, scope};

pub const NETWORK_POLICY_NOT_ENFORCED: &str = "CV-CNI-001";

/// Charts and component names of network plugins that enforce NetworkPolicies.
const ENFORCERS: &[&str] = &["calico", "cilium", "tigera-operator"];

fn names_enforcer(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    ENFORCERS.iter().any(|e| s.contains(e))
}

/// A Kubernetes object that installs an enforcing CNI: its DaemonSet, the Tigera operator's
/// `Installation`, or an Argo CD Application / Flux HelmRelease of its chart.
fn k8s_enforcer(o: &K8sObject) -> bool {
    let v = &o.value;
    match o.kind() {
        "DaemonSet" => {
            let images = v["spec"]["template"]["spec"]["containers"].as_array().into_iter().flatten();
            names_enforcer(o.name())
                || v["spec"]["template"]["metadata"]["labels"]["k8s-app"].as_str().is_some_and(names_enforcer)
                || images.filter_map(|c| c["image"].as_str()).any(names_enforcer)
        }
        "Installation" => v["apiVersion"].as_str().is_some_and(|a| a.starts_with("operator.tigera.io/")),
        "Application" => {
            let sources = v["spec"]["sources"].as_array().cloned().unwrap_or_default();
            std::iter::once(&v["spec"]["source"])
                .chain(sources.iter())
                .filter_map(|s| s["chart"].as_str())
                .any(names_enforcer)
        }
        "HelmRelease" => v["spec"]["chart"]["spec"]["chart"].as_str().is_some_and(names_enforcer),
        _ => false,
    }
}

/// Whether an add-on's `configuration_values` turns on network policy enforcement; None when
/// it cannot be read from the file (a variable, a function other than `jsonencode`).
fn enables_network_policy(b: &TfBlock) -> Option<bool> {
    let value = match attr(&b.body, "configuration_values") {
        None => return Some(false),
        Some(Expression::FuncCall(f)) if f.name.name.as_str() == "jsonencode" => {
            to_json(f.args.first()?, &mut Vec::new())
        }
        Some(Expression::String(s)) => serde_json::from_str(s).ok()?,
        Some(Expression::TemplateExpr(t)) => serde_json::from_str(&t.to_string()).ok()?,
        Some(_) => return None,
    };
    Some(match &value["enableNetworkPolicy"] {
        Value::String(s) => s == "true",
        Value::Bool(b) => *b,
        _ => false,
    })
}

/// Environments a Terraform block belongs to: those of the root modules whose configuration
/// includes its directory (a shared module belongs to every environment that calls it).
fn tf_scopes(idx: &Index<'_>, b: &TfBlock) -> BTreeSet<String> {
    idx.roots_of(&dir_of(&b.file)).iter().map(|root| scope(&format!("{root}/main.tf"))).collect()
}

/// Scopes relate when equal, or when either is unscoped (a tree that holds one cluster).
fn related(a: &str, b: &str) -> bool {
    a == b || a.is_empty() || b.is_empty()
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let mut policies: BTreeMap<String, Vec<&K8sObject>> = BTreeMap::new();
    for o in inv.k8s.iter().filter(|o| {
        o.kind() == "NetworkPolicy"
            && o.value["apiVersion"].as_str().is_some_and(|a| a.starts_with("networking.k8s.io/"))
    }) {
        policies.entry(o.scope()).or_default().push(o);
    }
    let addons: Vec<&TfBlock> = inv
        .terraform
        .iter()
        .filter(|b| b.kind == "resource" && b.ty() == "aws_eks_addon")
        .filter(|b| literal(attr(&b.body, "addon_name")) == Some("vpc-cni"))
        .collect();
    if policies.is_empty() || addons.is_empty() {
        return;
    }
    let idx = Index::build(inv);
    let mut enforced: BTreeSet<String> = inv.k8s.iter().filter(|o| k8s_enforcer(o)).map(|o| o.scope()).collect();
    // Helm chart lists (`charts.yaml`) that install one.
    for list in &inv.helm.chart_lists {
        if list.charts.iter().any(|c| names_enforcer(&c.chart)) {
            enforced.insert(scope(&list.file));
        }
    }
    for b in inv.terraform.iter().filter(|b| b.kind == "resource" && b.ty() == "helm_release") {
        if literal(attr(&b.body, "chart")).is_some_and(names_enforcer) {
            enforced.extend(tf_scopes(&idx, b));
        }
    }
    for b in addons {
        if enables_network_policy(b) != Some(false) {
            continue;
        }
        let envs = tf_scopes(&idx, b);
        let unenforced: Vec<(&String, &Vec<&K8sObject>)> = policies
            .iter()
            .filter(|(s, _)| envs.iter().any(|e| related(e, s)))
            .filter(|(s, _)| !enforced.iter().any(|e| related(e, s)))
            .collect();
        let count: usize = unenforced.iter().map(|(_, p)| p.len()).sum();
        let Some(example) = unenforced.iter().flat_map(|(_, p)| p.iter()).next() else { continue };
        let names: Vec<&str> =
            unenforced.iter().map(|(s, _)| if s.is_empty() { "(unscoped)" } else { s.as_str() }).collect();
        let line = if attr(&b.body, "configuration_values").is_some() {
            idx.line_of(b, "configuration_values")
        } else {
            idx.line_of(b, "addon_name")
        };
        sink.report(
            NETWORK_POLICY_NOT_ENFORCED,
            &b.file,
            line,
            &b.id(),
            format!(
                "vpc-cni runs without `enableNetworkPolicy = \"true\"` and no other CNI that enforces NetworkPolicies is installed: {count} NetworkPolicies ({}; e.g. {} at {}:{}) are not enforced",
                names.join(", "),
                example.id(),
                example.file,
                example.line
            ),
            &waivers(b),
        );
    }
}
