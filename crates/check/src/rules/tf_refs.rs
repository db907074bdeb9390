//! References that do not resolve (CV-TF-009) and module calls that do not match the called
//! module's variables (CV-TF-010): what `terraform validate` rejects, judged per module
//! directory from the files alone. A directory is judged only when every `.tf` file it has on
//! disk is among the inputs; a called module only when its `source` is a local path found among
//! the inputs.

use std::collections::BTreeSet;

use super::Sink;
use super::terraform::waivers;
use crate::hcl_index::{Index, Module, Ref, Step, attr, body_refs};
use crate::inventory::{Inventory, TfBlock};

pub const UNRESOLVED: &str = "CV-TF-009";
pub const MODULE_ARGS: &str = "CV-TF-010";

/// Blocks whose expressions are addresses or configuration of Terraform itself, not values.
const NOT_JUDGED: &[&str] = &["moved", "removed", "import", "terraform", "check"];

/// Arguments of a `module` block that are Terraform's, not the module's variables.
const META: &[&str] = &["source", "version", "count", "for_each", "providers", "depends_on"];

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let idx = Index::build(inv);
    for (dir, m) in &idx.modules {
        if !m.complete {
            continue;
        }
        for b in m.blocks.iter().filter(|b| !NOT_JUDGED.contains(&b.kind.as_str())) {
            let mut rs = Vec::new();
            body_refs(&b.body, &mut Vec::new(), &mut rs);
            let mut seen = BTreeSet::new();
            for r in rs {
                if let Some((text, why)) = unresolved(&idx, dir, m, &r)
                    && seen.insert(text.clone())
                {
                    let line = idx.line_of(b, &text);
                    sink.report(UNRESOLVED, &b.file, line, &b.id(), format!("`{text}`: {why}"), &waivers(b));
                }
            }
        }
        for call in m.calls.values() {
            check_call(&idx, dir, call, sink);
        }
    }
}

/// The reference's text and why it does not resolve, when it does not.
fn unresolved(idx: &Index<'_>, dir: &str, m: &Module<'_>, r: &Ref) -> Option<(String, String)> {
    let a0 = r.attr(0)?;
    let shown = if dir.is_empty() { "." } else { dir };
    match r.root.as_str() {
        "var" => (!m.variables.contains_key(a0))
            .then(|| (r.text(1), format!("no `variable \"{a0}\"` is declared in `{shown}`"))),
        "local" => {
            (!m.locals.contains_key(a0)).then(|| (r.text(1), format!("no local `{a0}` is defined in `{shown}`")))
        }
        "module" => {
            let Some(call) = m.calls.get(a0) else {
                return Some((r.text(1), format!("no `module \"{a0}\"` block in `{shown}`")));
            };
            let target = idx.called_dir(dir, call)?;
            let called = idx.modules.get(&target)?;
            // The output is the first attribute after the module name (past any instance key).
            let out =
                r.steps.iter().skip(1).find_map(|s| if let Step::Attr(a) = s { Some(a.as_str()) } else { None })?;
            (called.complete && !called.outputs.contains_key(out))
                .then(|| (r.text(2), format!("module `{target}` declares no `output \"{out}\"`")))
        }
        "data" => {
            let name = r.attr(1)?;
            (!m.data.contains_key(&(a0.to_string(), name.to_string())))
                .then(|| (r.text(2), format!("no `data \"{a0}\" \"{name}\"` block in `{shown}`")))
        }
        "each" | "count" | "self" | "path" | "terraform" => None,
        root if root.contains('_') && matches!(r.steps.first(), Some(Step::Attr(_))) => {
            (!m.resources.contains_key(&(root.to_string(), a0.to_string())))
                .then(|| (r.text(1), format!("no `resource \"{root}\" \"{a0}\"` block in `{shown}`")))
        }
        _ => None,
    }
}

fn check_call(idx: &Index<'_>, dir: &str, call: &TfBlock, sink: &mut Sink<'_>) {
    let Some(target) = idx.called_dir(dir, call) else { return };
    let Some(called) = idx.modules.get(&target).filter(|c| c.complete) else { return };
    let w = waivers(call);
    for a in call.body.attributes().filter(|a| !META.contains(&a.key.as_str())) {
        if !called.variables.contains_key(a.key.as_str()) {
            let line = idx.line_of(call, &format!("{} ", a.key));
            sink.report(
                MODULE_ARGS,
                &call.file,
                line,
                &call.id(),
                format!("argument `{}` is not a variable of module `{target}`", a.key),
                &w,
            );
        }
    }
    for (name, v) in &called.variables {
        if attr(&v.body, "default").is_none() && attr(&call.body, name).is_none() {
            sink.report(
                MODULE_ARGS,
                &call.file,
                call.line,
                &call.id(),
                format!("required variable `{name}` of module `{target}` ({}:{}) is not passed", v.file, v.line),
                &w,
            );
        }
    }
}
