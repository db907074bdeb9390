//! Terraform code checked against the provider's schema, without Terraform: every resource and
//! data source type exists, every argument and nested block is one the provider accepts, every
//! required argument and block is present. Module calls are checked against the called module's
//! variables, and `terraform.tfvars` against the root's variables.
//!
//! The schema is the compact extraction in `data/provider-schemas/` (see its README for
//! provenance and limits).

use std::collections::{BTreeMap, BTreeSet};

use hcl::{Block, Body, Expression};
use serde::Deserialize;

/// A resource or nested block: arguments (`true` = required) and nested blocks.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Shape {
    #[serde(rename = "a", default)]
    pub args: BTreeMap<String, u8>,
    #[serde(rename = "b", default)]
    pub blocks: BTreeMap<String, Shape>,
    #[serde(default)]
    pub required: u8,
}

/// One provider's resources and data sources.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSchema {
    pub provider: String,
    pub provider_version: String,
    /// Arguments and blocks of the `provider` block itself.
    #[serde(default)]
    pub provider_config: Shape,
    pub resources: BTreeMap<String, Shape>,
    pub data_sources: BTreeMap<String, Shape>,
}

impl ProviderSchema {
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The AWS provider schema committed in the repository.
pub const AWS_SCHEMA_JSON: &str = include_str!("../../../data/provider-schemas/aws.json");
/// The Kubernetes and Helm provider schemas committed in the repository.
pub const KUBERNETES_SCHEMA_JSON: &str = include_str!("../../../data/provider-schemas/kubernetes.json");
pub const HELM_SCHEMA_JSON: &str = include_str!("../../../data/provider-schemas/helm.json");

/// Every committed provider schema.
pub fn committed_schemas() -> Result<Vec<ProviderSchema>, serde_json::Error> {
    [AWS_SCHEMA_JSON, KUBERNETES_SCHEMA_JSON, HELM_SCHEMA_JSON].into_iter().map(ProviderSchema::from_json).collect()
}

/// Check every `provider "<name>"` block of `body` against the schemas.
pub fn check_providers(file: &str, body: &Body, schemas: &[ProviderSchema]) -> Vec<Problem> {
    let mut out = Vec::new();
    for b in body.blocks().filter(|b| b.identifier() == "provider") {
        let Some(name) = b.labels.first().map(|l| l.as_str()) else { continue };
        let at = format!("provider \"{name}\"");
        match schemas.iter().find(|s| s.provider == name) {
            Some(s) => check_body(file, &at, &b.body, &s.provider_config, false, &mut out),
            None => out.push(Problem { file: file.to_string(), what: format!("{at}: no schema for this provider") }),
        }
    }
    out
}

/// Meta-arguments Terraform accepts on every resource and data block.
const META_ARGS: &[&str] = &["count", "for_each", "provider", "depends_on"];
const META_BLOCKS: &[&str] = &["lifecycle", "provisioner", "connection", "precondition", "postcondition"];

/// A problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub file: String,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.what)
    }
}

/// Check one file's resources and data sources against `schema` (types of other providers are
/// not judged).
pub fn check_resources(file: &str, body: &Body, schema: &ProviderSchema) -> Vec<Problem> {
    let mut out = Vec::new();
    let prefix = format!("{}_", schema.provider);
    for block in body.blocks() {
        let kind = block.identifier();
        if kind != "resource" && kind != "data" {
            continue;
        }
        let (Some(ty), Some(name)) = (block.labels.first(), block.labels.get(1)) else { continue };
        let ty = ty.as_str();
        if !ty.starts_with(&prefix) {
            continue;
        }
        let table = if kind == "resource" { &schema.resources } else { &schema.data_sources };
        let at = format!("{kind} \"{ty}\" \"{}\"", name.as_str());
        match table.get(ty) {
            None => out.push(Problem {
                file: file.to_string(),
                what: format!("{at}: unknown {kind} type for {} provider {}", schema.provider, schema.provider_version),
            }),
            Some(shape) => check_body(file, &at, &block.body, shape, true, &mut out),
        }
    }
    out
}

fn check_body(file: &str, at: &str, body: &Body, shape: &Shape, top: bool, out: &mut Vec<Problem>) {
    let mut seen_args = BTreeSet::new();
    let mut seen_blocks = BTreeSet::new();
    for attr in body.attributes() {
        let key = attr.key.as_str();
        if top && META_ARGS.contains(&key) {
            continue;
        }
        seen_args.insert(key.to_string());
        // Some providers model repeated blocks as attributes too (`ingress = [...]`).
        if !shape.args.contains_key(key) && !shape.blocks.contains_key(key) {
            out.push(Problem { file: file.to_string(), what: format!("{at}: unknown argument `{key}`") });
        }
    }
    for b in body.blocks() {
        let ident = b.identifier();
        if top && META_BLOCKS.contains(&ident) {
            continue;
        }
        let (name, inner) = match dynamic_content(b) {
            Some((name, content)) => (name, content),
            None => (ident.to_string(), &b.body),
        };
        seen_blocks.insert(name.clone());
        match shape.blocks.get(&name) {
            Some(child) => check_body(file, &format!("{at} > {name}"), inner, child, false, out),
            None => out.push(Problem { file: file.to_string(), what: format!("{at}: unknown block `{name}`") }),
        }
    }
    for (arg, required) in &shape.args {
        if *required == 1 && !seen_args.contains(arg) {
            out.push(Problem { file: file.to_string(), what: format!("{at}: missing required argument `{arg}`") });
        }
    }
    for (name, child) in &shape.blocks {
        if child.required == 1 && !seen_blocks.contains(name) && !seen_args.contains(name) {
            out.push(Problem { file: file.to_string(), what: format!("{at}: missing required block `{name}`") });
        }
    }
}

/// `dynamic "name" { content { … } }` → (`name`, content body).
fn dynamic_content(b: &Block) -> Option<(String, &Body)> {
    if b.identifier() != "dynamic" {
        return None;
    }
    let name = b.labels.first()?.as_str().to_string();
    let content = b.body.blocks().find(|c| c.identifier() == "content")?;
    Some((name, &content.body))
}

/// A module's interface: variable name → whether it has a default.
pub fn module_interface(variables_tf: &Body) -> BTreeMap<String, bool> {
    variables_tf
        .blocks()
        .filter(|b| b.identifier() == "variable")
        .filter_map(|b| {
            let name = b.labels.first()?.as_str().to_string();
            Some((name, b.body.attributes().any(|a| a.key.as_str() == "default")))
        })
        .collect()
}

/// Check every `module` block of `body` whose `source` resolves through `interfaces`
/// (source string → interface).
pub fn check_module_calls(
    file: &str,
    body: &Body,
    interfaces: &BTreeMap<String, BTreeMap<String, bool>>,
) -> Vec<Problem> {
    const MODULE_META: &[&str] = &["source", "version", "count", "for_each", "providers", "depends_on"];
    let mut out = Vec::new();
    for b in body.blocks().filter(|b| b.identifier() == "module") {
        let name = b.labels.first().map(|l| l.as_str().to_string()).unwrap_or_default();
        let source = b.body.attributes().find(|a| a.key.as_str() == "source").and_then(|a| match &a.expr {
            Expression::String(s) => Some(s.clone()),
            _ => None,
        });
        let Some(source) = source else {
            out.push(Problem { file: file.to_string(), what: format!("module \"{name}\": no literal source") });
            continue;
        };
        let Some(iface) = interfaces.get(&source) else {
            out.push(Problem {
                file: file.to_string(),
                what: format!("module \"{name}\": source `{source}` is not a module in the bundle"),
            });
            continue;
        };
        let given: BTreeSet<&str> =
            b.body.attributes().map(|a| a.key.as_str()).filter(|k| !MODULE_META.contains(k)).collect();
        for g in &given {
            if !iface.contains_key(*g) {
                out.push(Problem {
                    file: file.to_string(),
                    what: format!("module \"{name}\": `{g}` is not a variable of {source}"),
                });
            }
        }
        for (var, has_default) in iface {
            if !has_default && !given.contains(var.as_str()) {
                out.push(Problem {
                    file: file.to_string(),
                    what: format!("module \"{name}\": required variable `{var}` not set"),
                });
            }
        }
    }
    out
}
