//! Semantic diff of two bundles (or any two directories of infrastructure files): objects added,
//! removed, and changed field by field — for reviewing drift, not lines.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::inventory::{self, LoadError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changed {
    pub object: String,
    pub file: String,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<Changed>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Objects of a directory keyed by `relative file :: object id`.
fn objects(root: &Path) -> Result<BTreeMap<String, (String, Value)>, LoadError> {
    let inv = inventory::load(&[root.to_path_buf()])?;
    let rel = |f: &str| f.strip_prefix(&root.display().to_string()).unwrap_or(f).trim_start_matches('/').to_string();
    let mut out = BTreeMap::new();
    for o in &inv.k8s {
        let file = rel(&o.file);
        out.insert(format!("{file} :: {}", o.id()), (file, o.value.clone()));
    }
    for b in &inv.terraform {
        let file = rel(&b.file);
        out.insert(format!("{file} :: {}", b.id()), (file, inventory::body_value(&b.body)));
    }
    Ok(out)
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&p, child, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), child, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

pub fn diff(old: &Path, new: &Path) -> Result<Diff, LoadError> {
    let (a, b) = (objects(old)?, objects(new)?);
    let mut d = Diff::default();
    for k in a.keys().filter(|k| !b.contains_key(*k)) {
        d.removed.push(k.clone());
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        d.added.push(k.clone());
    }
    for (k, (file, va)) in &a {
        let Some((_, vb)) = b.get(k) else { continue };
        if va == vb {
            continue;
        }
        let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
        flatten("", va, &mut fa);
        flatten("", vb, &mut fb);
        let mut paths: Vec<&String> = fa.keys().chain(fb.keys()).collect();
        paths.sort();
        paths.dedup();
        let fields: Vec<FieldChange> = paths
            .into_iter()
            .filter(|p| fa.get(*p) != fb.get(*p))
            .map(|p| FieldChange { path: p.clone(), old: fa.get(p).cloned(), new: fb.get(p).cloned() })
            .collect();
        d.changed.push(Changed { object: k.split(" :: ").nth(1).unwrap_or(k).to_string(), file: file.clone(), fields });
    }
    Ok(d)
}

pub fn render(d: &Diff, format: &str) -> String {
    if format == "json" {
        let mut s = serde_json::to_string_pretty(d).unwrap_or_default();
        s.push('\n');
        return s;
    }
    let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".to_string(), |v| v.to_string());
    let mut out = String::new();
    for a in &d.added {
        out.push_str(&format!("+ {a}\n"));
    }
    for r in &d.removed {
        out.push_str(&format!("- {r}\n"));
    }
    for c in &d.changed {
        out.push_str(&format!("~ {} :: {}\n", c.file, c.object));
        for f in &c.fields {
            out.push_str(&format!("    {}: {} → {}\n", f.path, show(&f.old), show(&f.new)));
        }
    }
    out.push_str(&format!("{} added, {} removed, {} changed\n", d.added.len(), d.removed.len(), d.changed.len()));
    out
}
