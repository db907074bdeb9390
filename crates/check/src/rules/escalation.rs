//! CV-K8S-023: privilege escalation to cluster-admin through pod creation.
//!
//! Whoever may create a pod in a namespace may run it as any ServiceAccount of that namespace and
//! read its token: creating pods there *is* having every permission of every account there. A
//! workload controller (Deployment, Job, CronJob, …) creates the pods for you, so permission to
//! create one counts the same. The rule relates, per environment scope, the subjects allowed to
//! create pods or controllers in namespace N to the ServiceAccounts of N bound to `cluster-admin`
//! or to a role that grants `*` verbs on `*` resources or `escalate`/`bind`/`impersonate`.
//! Bindings and roles are indexed once; each binding is then judged against the index.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::Sink;
use super::k8s::waivers;
use crate::inventory::{Inventory, K8sObject};

/// (API group, resource) pairs whose creation runs a pod of the creator's choosing.
const POD_CREATORS: &[(&str, &str)] = &[
    ("", "pods"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("", "replicationcontrollers"),
    ("argoproj.io", "rollouts"),
];

/// (environment scope, namespace).
type Place = (String, String);

/// An all-powerful ServiceAccount's name and the binding that makes it so.
type Strong = (String, String);

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

/// Does a role's rule list make its holder all-powerful?
fn powerful(rules: &Value) -> bool {
    rules.as_array().into_iter().flatten().any(|r| {
        let (verbs, resources) = (strings(&r["verbs"]), strings(&r["resources"]));
        (verbs.contains(&"*") && resources.contains(&"*"))
            || verbs.iter().any(|v| matches!(*v, "escalate" | "bind" | "impersonate"))
    })
}

/// What pod-running resources a role's rules allow to create, as `group/resource`.
fn creates(rules: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for r in rules.as_array().into_iter().flatten() {
        let (groups, resources, verbs) = (strings(&r["apiGroups"]), strings(&r["resources"]), strings(&r["verbs"]));
        if !verbs.iter().any(|v| *v == "create" || *v == "*") {
            continue;
        }
        for (g, res) in POD_CREATORS {
            let group_ok = groups.iter().any(|x| x == g || *x == "*");
            let res_ok = resources.iter().any(|x| x == res || *x == "*");
            let name = if g.is_empty() { (*res).to_string() } else { format!("{g}/{res}") };
            if group_ok && res_ok && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// A role a binding refers to: `cluster-admin` (built in, never in the input) or the rules of
/// the Role/ClusterRole of that name in the binding's scope (and namespace, for a Role).
fn role_rules<'a>(roles: &HashMap<(String, Option<&str>, &str), &'a K8sObject>, b: &K8sObject) -> Option<&'a Value> {
    let name = b.value["roleRef"]["name"].as_str()?;
    let ns = if b.value["roleRef"]["kind"] == "Role" { b.namespace() } else { None };
    roles.get(&(b.scope(), ns, name)).map(|r| &r.value["rules"])
}

fn subject_id(s: &Value, binding_ns: Option<&str>) -> String {
    let kind = s["kind"].as_str().unwrap_or("");
    let name = s["name"].as_str().unwrap_or("");
    match kind {
        "ServiceAccount" => {
            format!("ServiceAccount {}/{name}", s["namespace"].as_str().or(binding_ns).unwrap_or("default"))
        }
        _ => format!("{kind} {name}"),
    }
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let mut roles: HashMap<(String, Option<&str>, &str), &K8sObject> = HashMap::new();
    let mut bindings: Vec<&K8sObject> = Vec::new();
    for o in &inv.k8s {
        match o.kind() {
            "ClusterRole" => {
                roles.insert((o.scope(), None, o.name()), o);
            }
            "Role" => {
                roles.insert((o.scope(), o.namespace(), o.name()), o);
            }
            "RoleBinding" | "ClusterRoleBinding" => bindings.push(o),
            _ => {}
        }
    }
    // (scope, namespace) → the all-powerful ServiceAccounts there, with the binding that makes
    // them so; subjects already all-powerful cluster-wide (they cannot escalate).
    let mut strong: BTreeMap<Place, Vec<Strong>> = BTreeMap::new();
    let mut cluster_wide: Vec<(String, String)> = Vec::new();
    for b in &bindings {
        let admin = b.value["roleRef"]["name"] == "cluster-admin" && b.value["roleRef"]["kind"] == "ClusterRole";
        if !(admin || role_rules(&roles, b).is_some_and(powerful)) {
            continue;
        }
        for s in b.value["subjects"].as_array().into_iter().flatten() {
            if b.kind() == "ClusterRoleBinding" {
                cluster_wide.push((b.scope(), subject_id(s, b.namespace())));
            }
            if s["kind"] == "ServiceAccount" {
                let ns = s["namespace"].as_str().or(b.namespace()).unwrap_or("default").to_string();
                let sa = s["name"].as_str().unwrap_or("").to_string();
                strong.entry((b.scope(), ns)).or_default().push((sa, b.id()));
            }
        }
    }
    if strong.is_empty() {
        return;
    }
    for b in &bindings {
        let Some(rules) = role_rules(&roles, b) else { continue };
        let what = creates(rules);
        if what.is_empty() {
            continue;
        }
        // A RoleBinding grants its role in its own namespace; a ClusterRoleBinding in all.
        let targets: Vec<(&Place, &Vec<Strong>)> = strong
            .iter()
            .filter(|((scope, ns), _)| {
                *scope == b.scope() && (b.kind() == "ClusterRoleBinding" || Some(ns.as_str()) == b.namespace())
            })
            .collect();
        for s in b.value["subjects"].as_array().into_iter().flatten() {
            let who = subject_id(s, b.namespace());
            // Already all-powerful: bound to cluster-admin here, or `system:masters` (always).
            if cluster_wide.contains(&(b.scope(), who.clone())) || who == "Group system:masters" {
                continue;
            }
            for ((_, ns), sas) in &targets {
                let sas: Vec<&(String, String)> =
                    sas.iter().filter(|(sa, _)| who != format!("ServiceAccount {ns}/{sa}")).collect();
                if sas.is_empty() {
                    continue;
                }
                let list: Vec<String> = sas.iter().map(|(sa, via)| format!("`{sa}` (through {via})")).collect();
                sink.report(
                    "CV-K8S-023",
                    &b.file,
                    b.line_of(&["roleRef", "name"]),
                    &b.id(),
                    format!(
                        "{who} may create {} in namespace `{ns}`, where ServiceAccount {} is all-powerful: a pod run as that account gives {who} its permissions",
                        what.join(", "),
                        list.join(", ")
                    ),
                    &waivers(b),
                );
            }
        }
    }
}
