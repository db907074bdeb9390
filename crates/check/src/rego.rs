//! Gatekeeper policies evaluated offline, in Rust, with regorus: ConstraintTemplates (Rego v0)
//! and their Constraints, with `input.review`, `input.parameters` and `data.inventory` built the
//! way Gatekeeper builds them, and match criteria (kinds, namespaces, excluded namespaces, label
//! selectors). Plain conftest-style policies (`deny` / `violation` rules in `.rego` files) too.
//!
//! The same templates the cluster's admission controller runs are the ones CI runs here.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::finding::{Finding, Severity};
use crate::inventory::{self, Inventory, K8sObject, LoadError};
use crate::reach::selects;

/// A compiled ConstraintTemplate.
pub struct Template {
    /// The constraint kind it defines, e.g. `K8sRequiredLabels`.
    pub kind: String,
    package: String,
    engine: regorus::Engine,
}

/// A policy set: templates, their constraints, and plain Rego modules.
pub struct Policies {
    pub templates: Vec<Template>,
    pub constraints: Vec<K8sObject>,
    plain: Vec<(String, String, regorus::Engine)>,
}

fn package_of(rego: &str) -> Option<String> {
    rego.lines().map(str::trim).find_map(|l| l.strip_prefix("package ")).map(|p| p.trim().to_string())
}

fn engine_with(rego: &str, name: &str, libs: &[String]) -> Result<regorus::Engine, String> {
    let mut e = regorus::Engine::new();
    e.set_rego_v0(true);
    e.add_policy(format!("{name}.rego"), rego.to_string()).map_err(|err| format!("{name}: {err}"))?;
    for (i, lib) in libs.iter().enumerate() {
        e.add_policy(format!("{name}-lib{i}.rego"), lib.clone()).map_err(|err| format!("{name} lib {i}: {err}"))?;
    }
    Ok(e)
}

impl Policies {
    /// Load templates, constraints and `.rego` files from `dirs`.
    pub fn load(dirs: &[PathBuf]) -> Result<Policies, LoadError> {
        let inv = inventory::load(dirs)?;
        if let Some(e) = inv.errors.first() {
            return Err(LoadError(format!("{}:{}: {}", e.file, e.line, e.message)));
        }
        let mut templates = Vec::new();
        for t in inv.k8s.iter().filter(|o| o.kind() == "ConstraintTemplate") {
            let spec = &t.value["spec"];
            let kind = spec["crd"]["spec"]["names"]["kind"].as_str().unwrap_or_default().to_string();
            let target = &spec["targets"][0];
            let rego = target["rego"].as_str().unwrap_or_default();
            let libs: Vec<String> = target["libs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect();
            let package =
                package_of(rego).ok_or_else(|| LoadError(format!("{}: template {kind} has no package", t.file)))?;
            let engine = engine_with(rego, &kind, &libs).map_err(|e| LoadError(format!("{}: {e}", t.file)))?;
            templates.push(Template { kind, package, engine });
        }
        let kinds: Vec<String> = templates.iter().map(|t| t.kind.clone()).collect();
        let constraints = inv
            .k8s
            .iter()
            .filter(|o| {
                kinds.iter().any(|k| k == o.kind())
                    && o.value["apiVersion"].as_str().is_some_and(|a| a.starts_with("constraints.gatekeeper.sh/"))
            })
            .cloned()
            .collect();
        let mut plain = Vec::new();
        for d in dirs {
            for f in rego_files(d) {
                let text =
                    fs::read_to_string(&f).map_err(|e| LoadError(format!("cannot read `{}`: {e}", f.display())))?;
                let package = package_of(&text).unwrap_or_else(|| "main".into());
                let engine = engine_with(&text, &f.display().to_string(), &[]).map_err(LoadError)?;
                plain.push((f.display().to_string(), package, engine));
            }
        }
        Ok(Policies { templates, constraints, plain })
    }

    /// Evaluate every constraint against every matching object of `inv`, and every plain policy
    /// against every object.
    pub fn evaluate(&self, inv: &Inventory) -> Vec<Finding> {
        let inventory = gatekeeper_inventory(inv);
        let namespaces: BTreeMap<String, Value> = inv
            .k8s
            .iter()
            .filter(|o| o.kind() == "Namespace")
            .map(|o| (o.name().to_string(), o.value["metadata"]["labels"].clone()))
            .collect();
        let mut out = Vec::new();
        for c in &self.constraints {
            let Some(t) = self.templates.iter().find(|t| t.kind == c.kind()) else { continue };
            let spec = &c.value["spec"];
            let severity = match spec["enforcementAction"].as_str().unwrap_or("deny") {
                "warn" => Severity::Medium,
                "dryrun" => Severity::Low,
                _ => Severity::High,
            };
            for o in inv.k8s.iter().filter(|o| matches(&spec["match"], o, &namespaces)) {
                let input = json!({
                    "review": review(o),
                    "parameters": spec["parameters"].clone(),
                });
                for msg in violations(&t.engine, &t.package, "violation", &input, &inventory) {
                    out.push(Finding {
                        rule: t.kind.clone(),
                        severity,
                        file: o.file.clone(),
                        line: o.line,
                        object: o.id(),
                        message: format!("{} ({})", msg, c.name()),
                        waived: None,
                    });
                }
            }
        }
        for (file, package, engine) in &self.plain {
            for o in &inv.k8s {
                for rule in ["deny", "violation"] {
                    for msg in violations(engine, package, rule, &o.value, &inventory) {
                        out.push(Finding {
                            rule: format!("rego:{package}"),
                            severity: Severity::High,
                            file: o.file.clone(),
                            line: o.line,
                            object: o.id(),
                            message: format!("{msg} ({file})"),
                            waived: None,
                        });
                    }
                }
            }
        }
        out
    }
}

fn rego_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if dir.is_file() {
        if dir.extension().is_some_and(|e| e == "rego") {
            out.push(dir.to_path_buf());
        }
        return out;
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(rego_files(&p));
            } else if p.extension().is_some_and(|e| e == "rego") && !p.to_string_lossy().ends_with("_test.rego") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `input.review` as Gatekeeper's admission review presents an object.
pub fn review(o: &K8sObject) -> Value {
    let api = o.value["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
    json!({
        "object": o.value,
        "kind": {"group": group, "version": version, "kind": o.kind()},
        "name": o.name(),
        "namespace": o.namespace().unwrap_or(""),
        "operation": "CREATE",
        "userInfo": {"username": "cerverus-check"},
    })
}

/// `data.inventory`, as Gatekeeper's sync builds it: `namespace[ns][apiVersion][kind][name]`
/// and `cluster[apiVersion][kind][name]`.
pub fn gatekeeper_inventory(inv: &Inventory) -> Value {
    let mut cluster = serde_json::Map::new();
    let mut namespaced = serde_json::Map::new();
    for o in &inv.k8s {
        let api = o.value["apiVersion"].as_str().unwrap_or_default().to_string();
        let target = match o.namespace() {
            Some(ns) => namespaced.entry(ns.to_string()).or_insert_with(|| json!({})),
            None => cluster.entry("_".to_string()).or_insert_with(|| json!({})),
        };
        target[&api][o.kind()][o.name()] = o.value.clone();
    }
    let cluster = cluster.remove("_").unwrap_or_else(|| json!({}));
    json!({"inventory": {"cluster": cluster, "namespace": namespaced}})
}

/// The messages of `data.<package>.<rule>` for `input`.
fn violations(engine: &regorus::Engine, package: &str, rule: &str, input: &Value, data: &Value) -> Vec<String> {
    let mut e = engine.clone();
    let Ok(input) = regorus::Value::from_json_str(&input.to_string()) else { return Vec::new() };
    e.set_input(input);
    if let Ok(d) = regorus::Value::from_json_str(&data.to_string()) {
        let _ = e.add_data(d);
    }
    let Ok(result) = e.eval_rule(format!("data.{package}.{rule}")) else { return Vec::new() };
    let Ok(text) = result.to_json_str() else { return Vec::new() };
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let items: Vec<Value> = match v {
        Value::Array(a) => a,
        Value::Object(_) => vec![v],
        _ => Vec::new(),
    };
    items
        .into_iter()
        .map(|i| match i {
            Value::String(s) => s,
            other => other["msg"].as_str().map_or_else(|| other.to_string(), str::to_string),
        })
        .collect()
}

/// Does a constraint's `match` select object `o`?
fn matches(m: &Value, o: &K8sObject, namespaces: &BTreeMap<String, Value>) -> bool {
    if let Some(kinds) = m["kinds"].as_array() {
        let api = o.value["apiVersion"].as_str().unwrap_or_default();
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        let ok = kinds.iter().any(|k| {
            let groups: Vec<&str> = k["apiGroups"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let names: Vec<&str> = k["kinds"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            (groups.is_empty() || groups.contains(&"*") || groups.contains(&group))
                && (names.is_empty() || names.contains(&"*") || names.contains(&o.kind()))
        });
        if !ok {
            return false;
        }
    }
    let ns = o.namespace();
    if let Some(list) = m["namespaces"].as_array()
        && !ns.is_some_and(|n| list.iter().any(|x| x.as_str().is_some_and(|p| glob(p, n))))
    {
        return false;
    }
    if let Some(list) = m["excludedNamespaces"].as_array()
        && ns.is_some_and(|n| list.iter().any(|x| x.as_str().is_some_and(|p| glob(p, n))))
    {
        return false;
    }
    if !m["labelSelector"].is_null() {
        let labels: BTreeMap<String, String> = o.value["metadata"]["labels"]
            .as_object()
            .map(|l| l.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        if !selects(&m["labelSelector"], &labels) {
            return false;
        }
    }
    if !m["namespaceSelector"].is_null() {
        let Some(n) = ns else { return false };
        let labels: BTreeMap<String, String> = namespaces
            .get(n)
            .and_then(Value::as_object)
            .map(|l| l.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        if !selects(&m["namespaceSelector"], &labels) {
            return false;
        }
    }
    match m["scope"].as_str() {
        Some("Namespaced") => ns.is_some(),
        Some("Cluster") => ns.is_none(),
        _ => true,
    }
}

fn glob(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// The result of one case of a Gatekeeper `Suite`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    pub test: String,
    pub case: String,
    pub passed: bool,
    pub detail: String,
}

/// Run a Gatekeeper `Suite` (`test.gatekeeper.sh/v1alpha1`, as `gator verify` reads it): each
/// test names a template and a constraint; each case an object and assertions
/// (`violations: yes|no|<count>`, optionally `message`).
pub fn run_suite(suite_file: &Path) -> Result<Vec<CaseResult>, LoadError> {
    let base = suite_file.parent().unwrap_or(Path::new("."));
    let text = fs::read_to_string(suite_file)
        .map_err(|e| LoadError(format!("cannot read `{}`: {e}", suite_file.display())))?;
    let suite: Value = serde_saphyr::from_str(&text)
        .map_err(|e| LoadError(format!("{}: {}", suite_file.display(), e.without_snippet())))?;
    let mut results = Vec::new();
    for test in suite["tests"].as_array().into_iter().flatten() {
        let name = test["name"].as_str().unwrap_or("test").to_string();
        let files: Vec<PathBuf> =
            ["template", "constraint"].iter().filter_map(|k| test[*k].as_str()).map(|f| base.join(f)).collect();
        let policies = Policies::load(&files)?;
        for case in test["cases"].as_array().into_iter().flatten() {
            let case_name = case["name"].as_str().unwrap_or("case").to_string();
            let mut inv = Inventory::default();
            for key in ["object", "inventory"] {
                let paths: Vec<&str> = match &case[key] {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                for p in paths {
                    let path = base.join(p);
                    let text = fs::read_to_string(&path)
                        .map_err(|e| LoadError(format!("cannot read `{}`: {e}", path.display())))?;
                    inventory::load_text(&mut inv, &path.display().to_string(), &text);
                }
            }
            let object_file = case["object"].as_str().map(|p| base.join(p).display().to_string());
            let found: Vec<Finding> =
                policies.evaluate(&inv).into_iter().filter(|f| Some(&f.file) == object_file.as_ref()).collect();
            let mut passed = true;
            let mut detail = Vec::new();
            for a in case["assertions"].as_array().into_iter().flatten() {
                let relevant: Vec<&Finding> = match a["message"].as_str() {
                    Some(m) => found.iter().filter(|f| f.message.contains(m)).collect(),
                    None => found.iter().collect(),
                };
                let ok = match &a["violations"] {
                    Value::String(s) if s == "yes" => !relevant.is_empty(),
                    Value::String(s) if s == "no" => relevant.is_empty(),
                    Value::Bool(true) => !relevant.is_empty(),
                    Value::Bool(false) => relevant.is_empty(),
                    Value::Number(n) => n.as_u64() == Some(relevant.len() as u64),
                    _ => false,
                };
                if !ok {
                    passed = false;
                    detail.push(format!(
                        "expected violations {} got {}: {:?}",
                        a["violations"],
                        relevant.len(),
                        found.iter().map(|f| &f.message).collect::<Vec<_>>()
                    ));
                }
            }
            results.push(CaseResult { test: name.clone(), case: case_name, passed, detail: detail.join("; ") });
        }
    }
    Ok(results)
}
