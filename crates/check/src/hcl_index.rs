//! Terraform structure across files, built once per run: which blocks form one module (Terraform
//! resolves names per directory, never across), what each module declares, which local module a
//! `module` block calls (`source = "../modules/x"` resolved against the caller's directory and
//! found among the inputs), the references an expression makes (with `for`, `dynamic` and
//! template `%{for}` variables in scope), where the blocks an expression comes from are
//! (`origins`, through locals, variables, module arguments and outputs), and on which line of its
//! file a piece of a block sits.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use hcl::expr::TraversalOperator;
use hcl::template::{Directive, Element, Template};
use hcl::{Body, Expression, ObjectKey};

use crate::inventory::{Inventory, TfBlock};

/// The directory of a file ("" for a bare name), `.` and `..` folded so that `./a/b.tf` and
/// `x/../a/c.tf` are in the same module.
pub fn dir_of(file: &str) -> String {
    file.rsplit_once('/').map_or(String::new(), |(d, _)| join(d, ""))
}

/// A file's path with its directory folded as in [`dir_of`].
fn folded(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    let dir = dir_of(file);
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

/// `dir` joined with a relative `source`, `.` and `..` folded (leading `..` kept).
pub fn join(dir: &str, source: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in dir.split('/').chain(source.split('/')) {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let lead = if dir.starts_with('/') { "/" } else { "" };
    format!("{lead}{}", parts.join("/"))
}

/// One module: every top-level block of one directory, by what it declares.
#[derive(Default)]
pub struct Module<'a> {
    pub blocks: Vec<&'a TfBlock>,
    pub variables: BTreeMap<String, &'a TfBlock>,
    pub locals: BTreeMap<String, (&'a TfBlock, &'a Expression)>,
    pub outputs: BTreeMap<String, &'a TfBlock>,
    /// (type, name) of managed resources.
    pub resources: BTreeMap<(String, String), &'a TfBlock>,
    /// (type, name) of data sources.
    pub data: BTreeMap<(String, String), &'a TfBlock>,
    pub calls: BTreeMap<String, &'a TfBlock>,
    /// Every `.tf` file of the directory on disk is among the inputs (or the directory is not on
    /// disk: text given directly). A module seen in part is not judged for missing declarations.
    pub complete: bool,
}

pub struct Index<'a> {
    pub modules: BTreeMap<String, Module<'a>>,
    /// Called directory → (calling directory, `module` block).
    pub callers: BTreeMap<String, Vec<(String, &'a TfBlock)>>,
    /// File → its lines.
    lines: BTreeMap<&'a str, Vec<&'a str>>,
    /// (file, block start line) → first line after the block.
    ends: BTreeMap<(&'a str, usize), usize>,
}

pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key.as_str() == key).map(|a| &a.expr)
}

pub fn literal(e: Option<&Expression>) -> Option<&str> {
    match e {
        Some(Expression::String(s)) => Some(s),
        _ => None,
    }
}

impl<'a> Index<'a> {
    pub fn build(inv: &'a Inventory) -> Index<'a> {
        let mut modules: BTreeMap<String, Module<'a>> = BTreeMap::new();
        for b in &inv.terraform {
            let m = modules.entry(dir_of(&b.file)).or_default();
            m.blocks.push(b);
            let l = |i: usize| b.labels.get(i).cloned().unwrap_or_default();
            match b.kind.as_str() {
                "variable" => {
                    m.variables.insert(l(0), b);
                }
                "output" => {
                    m.outputs.insert(l(0), b);
                }
                "module" => {
                    m.calls.insert(l(0), b);
                }
                "resource" => {
                    m.resources.insert((l(0), l(1)), b);
                }
                "data" => {
                    m.data.insert((l(0), l(1)), b);
                }
                "locals" => {
                    for a in b.body.attributes() {
                        m.locals.insert(a.key.to_string(), (b, &a.expr));
                    }
                }
                _ => {}
            }
        }
        let given: BTreeSet<String> = inv.terraform.iter().map(|b| folded(&b.file)).collect();
        for (dir, m) in modules.iter_mut() {
            m.complete = on_disk_tf_files(dir).is_none_or(|files| files.iter().all(|f| given.contains(f)));
        }
        let mut callers: BTreeMap<String, Vec<(String, &'a TfBlock)>> = BTreeMap::new();
        for (dir, m) in &modules {
            for call in m.calls.values() {
                if let Some(target) = local_source(dir, call).filter(|t| modules.contains_key(t)) {
                    callers.entry(target).or_default().push((dir.clone(), call));
                }
            }
        }
        let lines: BTreeMap<&str, Vec<&str>> =
            inv.tf_text.iter().map(|(f, t)| (f.as_str(), t.lines().collect())).collect();
        let mut ends = BTreeMap::new();
        let mut by_file: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for b in &inv.terraform {
            by_file.entry(b.file.as_str()).or_default().push(b.line);
        }
        for (file, mut starts) in by_file {
            starts.sort_unstable();
            let total = lines.get(file).map_or(usize::MAX, |l| l.len() + 1);
            for (i, s) in starts.iter().enumerate() {
                ends.insert((file, *s), starts.get(i + 1).copied().unwrap_or(total));
            }
        }
        Index { modules, callers, lines, ends }
    }

    /// The directory a `module` block calls when it is a local module among the inputs.
    pub fn called(&self, dir: &str, call: &TfBlock) -> Option<&Module<'a>> {
        local_source(dir, call).and_then(|t| self.modules.get(&t))
    }

    pub fn called_dir(&self, dir: &str, call: &TfBlock) -> Option<String> {
        local_source(dir, call).filter(|t| self.modules.contains_key(t))
    }

    /// The first line of `b` (from `from` on) that contains `needle`, else the block's line.
    pub fn line_of(&self, b: &TfBlock, needle: &str) -> usize {
        self.line_after(b, b.line, needle)
    }

    pub fn line_after(&self, b: &TfBlock, from: usize, needle: &str) -> usize {
        let Some(lines) = self.lines.get(b.file.as_str()) else { return b.line };
        let end = self.ends.get(&(b.file.as_str(), b.line)).copied().unwrap_or(lines.len() + 1);
        (from.max(b.line)..end.min(lines.len() + 1))
            .find(|n| lines.get(n - 1).is_some_and(|l| l.contains(needle)))
            .unwrap_or(b.line)
    }

    /// Root modules: directories no `module` block among the inputs calls.
    pub fn is_root(&self, dir: &str) -> bool {
        !self.callers.contains_key(dir)
    }

    /// The root directories whose configuration includes `dir` (itself when it is a root).
    pub fn roots_of(&self, dir: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo = vec![dir.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(d) = todo.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            match self.callers.get(&d) {
                Some(cs) => todo.extend(cs.iter().map(|(c, _)| c.clone())),
                None => {
                    out.insert(d);
                }
            }
        }
        out
    }
}

fn local_source(dir: &str, call: &TfBlock) -> Option<String> {
    let src = literal(attr(&call.body, "source"))?;
    (src.starts_with("./") || src.starts_with("../")).then(|| join(dir, src))
}

/// The `.tf` files of `dir` on disk, or None when it is not a readable directory.
fn on_disk_tf_files(dir: &str) -> Option<Vec<String>> {
    let path = if dir.is_empty() { "." } else { dir };
    let rd = std::fs::read_dir(path).ok()?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // Declarations in JSON syntax are not loaded: such a directory is never complete.
        if name.ends_with(".tf.json") {
            out.push(String::new());
        }
        if name.ends_with(".tf") && !name.starts_with('.') && e.path().is_file() {
            out.push(if dir.is_empty() { name } else { format!("{dir}/{name}") });
        }
    }
    Some(out)
}

/// One step of a reference after its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Attr(String),
    /// An index, with its key when it is a literal string.
    Index(Option<String>),
    Splat,
}

/// A reference an expression makes: `var.x`, `module.m.out`, `aws_s3_bucket.b[0].arn`, …
#[derive(Debug, Clone)]
pub struct Ref {
    pub root: String,
    pub steps: Vec<Step>,
}

impl Ref {
    pub fn attr(&self, i: usize) -> Option<&str> {
        self.steps.iter().filter_map(|s| if let Step::Attr(a) = s { Some(a.as_str()) } else { None }).nth(i)
    }

    /// Source-like text (`var.tags`, `module.m.out`), to find the reference in its file.
    pub fn text(&self, attrs: usize) -> String {
        let mut s = self.root.clone();
        for a in (0..attrs).filter_map(|i| self.attr(i)) {
            s.push('.');
            s.push_str(a);
        }
        s
    }
}

/// References made by `expr`, names bound by enclosing `for`/`dynamic` excluded.
pub fn refs(expr: &Expression, bound: &mut Vec<String>, out: &mut Vec<Ref>) {
    match expr {
        Expression::Variable(v) if !bound.iter().any(|b| b == v.as_str()) => {
            out.push(Ref { root: v.to_string(), steps: Vec::new() });
        }
        Expression::Traversal(t) => {
            let mut steps = Vec::new();
            for op in &t.operators {
                steps.push(match op {
                    TraversalOperator::GetAttr(a) => Step::Attr(a.to_string()),
                    TraversalOperator::Index(i) => {
                        refs(i, bound, out);
                        Step::Index(literal(Some(i)).map(str::to_string))
                    }
                    TraversalOperator::LegacyIndex(_) => Step::Index(None),
                    TraversalOperator::AttrSplat | TraversalOperator::FullSplat => Step::Splat,
                });
            }
            match &t.expr {
                Expression::Variable(v) => {
                    if !bound.iter().any(|b| b == v.as_str()) {
                        out.push(Ref { root: v.to_string(), steps });
                    }
                }
                other => refs(other, bound, out),
            }
        }
        Expression::Array(items) => items.iter().for_each(|i| refs(i, bound, out)),
        Expression::Object(o) => {
            for (k, v) in o {
                if let ObjectKey::Expression(k) = k {
                    // `{ (local.k) = v }` and `{ "${x}" = v }` are references; a bare name key is not.
                    if !matches!(k, Expression::Variable(_)) {
                        refs(k, bound, out);
                    }
                }
                refs(v, bound, out);
            }
        }
        Expression::TemplateExpr(t) => {
            if let Ok(tpl) = Template::from_expr(t) {
                template_refs(&tpl, bound, out);
            }
        }
        Expression::FuncCall(f) => f.args.iter().for_each(|a| refs(a, bound, out)),
        Expression::Parenthesis(e) => refs(e, bound, out),
        Expression::Conditional(c) => {
            refs(&c.cond_expr, bound, out);
            refs(&c.true_expr, bound, out);
            refs(&c.false_expr, bound, out);
        }
        Expression::Operation(op) => match op.as_ref() {
            hcl::expr::Operation::Unary(u) => refs(&u.expr, bound, out),
            hcl::expr::Operation::Binary(b) => {
                refs(&b.lhs_expr, bound, out);
                refs(&b.rhs_expr, bound, out);
            }
        },
        Expression::ForExpr(f) => {
            refs(&f.collection_expr, bound, out);
            let n = bound.len();
            bound.push(f.value_var.to_string());
            if let Some(k) = &f.key_var {
                bound.push(k.to_string());
            }
            if let Some(k) = &f.key_expr {
                refs(k, bound, out);
            }
            refs(&f.value_expr, bound, out);
            if let Some(c) = &f.cond_expr {
                refs(c, bound, out);
            }
            bound.truncate(n);
        }
        _ => {}
    }
}

fn template_refs(tpl: &Template, bound: &mut Vec<String>, out: &mut Vec<Ref>) {
    for el in tpl.elements() {
        match el {
            Element::Literal(_) => {}
            Element::Interpolation(i) => refs(&i.expr, bound, out),
            Element::Directive(d) => match d.as_ref() {
                Directive::If(d) => {
                    refs(&d.cond_expr, bound, out);
                    template_refs(&d.true_template, bound, out);
                    if let Some(f) = &d.false_template {
                        template_refs(f, bound, out);
                    }
                }
                Directive::For(d) => {
                    refs(&d.collection_expr, bound, out);
                    let n = bound.len();
                    bound.push(d.value_var.to_string());
                    if let Some(k) = &d.key_var {
                        bound.push(k.to_string());
                    }
                    template_refs(&d.template, bound, out);
                    bound.truncate(n);
                }
            },
        }
    }
}

/// Attributes that name providers, not values.
const NOT_VALUES: &[&str] = &["provider", "providers"];

/// References made anywhere in a block body (nested blocks too; a `dynamic` block's iterator is
/// in scope inside its `content`).
pub fn body_refs(body: &Body, bound: &mut Vec<String>, out: &mut Vec<Ref>) {
    for a in body.attributes() {
        if !NOT_VALUES.contains(&a.key.as_str()) {
            refs(&a.expr, bound, out);
        }
    }
    for b in body.blocks() {
        if b.identifier() == "dynamic" {
            let iterator = literal(attr(&b.body, "iterator"))
                .map(str::to_string)
                .or_else(|| match attr(&b.body, "iterator") {
                    Some(Expression::Variable(v)) => Some(v.to_string()),
                    _ => None,
                })
                .or_else(|| b.labels.first().map(|l| l.as_str().to_string()))
                .unwrap_or_default();
            for a in b.body.attributes().filter(|a| a.key.as_str() != "iterator") {
                refs(&a.expr, bound, out);
            }
            let n = bound.len();
            bound.push(iterator);
            for c in b.body.blocks() {
                body_refs(&c.body, bound, out);
            }
            bound.truncate(n);
        } else if b.identifier() != "lifecycle" || attr(&b.body, "replace_triggered_by").is_some() {
            // `lifecycle.ignore_changes` names attributes, not values.
            let mut inner = Vec::new();
            body_refs(&b.body, bound, &mut inner);
            if b.identifier() == "lifecycle" {
                inner.retain(|r| !r.steps.is_empty());
            }
            out.extend(inner);
        }
    }
}

/// A block an expression's value comes from, and the attributes read from it.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub dir: String,
    pub block: &'a TfBlock,
    pub path: Vec<String>,
}

impl Origin<'_> {
    /// `(directory, type, name)`: one resource, whatever instance or attribute.
    pub fn identity(&self) -> (String, String, String) {
        (self.dir.clone(), self.block.ty().to_string(), self.block.labels.get(1).cloned().unwrap_or_default())
    }
}

/// What a value is made of: blocks it reads, and the literal texts (strings, templates as
/// written) it contains.
#[derive(Debug, Clone)]
pub enum Leaf<'a> {
    Block(Origin<'a>),
    Text(String),
}

/// Names bound while tracing (`for` variables, `each.value`): what they stand for, lazily.
#[derive(Clone, Default)]
pub struct Env<'a> {
    binds: Rc<Vec<(String, Thunk<'a>)>>,
}

#[derive(Clone)]
struct Thunk<'a> {
    expr: &'a Expression,
    dir: String,
    env: Env<'a>,
}

impl<'a> Env<'a> {
    pub fn bind(&self, name: &str, expr: &'a Expression, dir: &str, env: &Env<'a>) -> Env<'a> {
        let mut v = (*self.binds).clone();
        v.push((name.to_string(), Thunk { expr, dir: dir.to_string(), env: env.clone() }));
        Env { binds: Rc::new(v) }
    }

    fn get(&self, name: &str) -> Option<&Thunk<'a>> {
        self.binds.iter().rev().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// Where `expr`'s value comes from: the resources and data sources it reads, through locals,
/// variables (every caller's argument), module outputs, `for` expressions and function
/// arguments. Literals have no origin. `pick` are attributes still to be read from the value
/// (`local.x.policy_json` picks `policy_json` of the object `local.x` is).
pub fn origins<'a>(idx: &Index<'a>, dir: &str, env: &Env<'a>, expr: &'a Expression) -> Vec<Origin<'a>> {
    leaves(idx, dir, env, expr)
        .into_iter()
        .filter_map(|l| if let Leaf::Block(o) = l { Some(o) } else { None })
        .collect()
}

/// The blocks and the literal texts `expr`'s value is made of (see [`origins`]).
pub fn leaves<'a>(idx: &Index<'a>, dir: &str, env: &Env<'a>, expr: &'a Expression) -> Vec<Leaf<'a>> {
    let mut out = Vec::new();
    trace(idx, dir, env, expr, &[], &mut out, 0);
    out
}

/// The origins of the block's `for_each` elements, for `each.value`.
pub fn each_env<'a>(b: &'a TfBlock) -> Env<'a> {
    match attr(&b.body, "for_each") {
        Some(fe) => Env::default().bind("each.value", fe, &dir_of(&b.file), &Env::default()),
        None => Env::default(),
    }
}

fn trace<'a>(
    idx: &Index<'a>,
    dir: &str,
    env: &Env<'a>,
    expr: &'a Expression,
    pick: &[String],
    out: &mut Vec<Leaf<'a>>,
    depth: usize,
) {
    if depth > 40 {
        return;
    }
    let d = depth + 1;
    match expr {
        Expression::Object(o) => {
            if let Some((first, rest)) = pick.split_first() {
                let key_of = |k: &ObjectKey| match k {
                    ObjectKey::Identifier(i) => Some(i.to_string()),
                    ObjectKey::Expression(Expression::String(s)) => Some(s.clone()),
                    ObjectKey::Expression(Expression::Variable(v)) => Some(v.to_string()),
                    _ => None,
                };
                match o.iter().find(|(k, _)| key_of(k).as_deref() == Some(first.as_str())) {
                    Some((_, v)) => trace(idx, dir, env, v, rest, out, d),
                    // No such attribute: the object is a map, and the pick applies to its values.
                    None => o.values().for_each(|v| trace(idx, dir, env, v, pick, out, d)),
                }
            } else {
                for v in o.values() {
                    trace(idx, dir, env, v, &[], out, d);
                }
            }
        }
        Expression::Array(items) => items.iter().for_each(|i| trace(idx, dir, env, i, pick, out, d)),
        Expression::Parenthesis(e) => trace(idx, dir, env, e, pick, out, d),
        Expression::Conditional(c) => {
            trace(idx, dir, env, &c.true_expr, pick, out, d);
            trace(idx, dir, env, &c.false_expr, pick, out, d);
        }
        Expression::FuncCall(f) => f.args.iter().for_each(|a| trace(idx, dir, env, a, pick, out, d)),
        Expression::String(s) => out.push(Leaf::Text(s.clone())),
        Expression::TemplateExpr(t) => {
            out.push(Leaf::Text(t.to_string()));
            // A template is a string: its origins are those of its interpolations. Parsing needs
            // an owned template, whose expressions do not live long enough to be origins; trace
            // them by their text instead (a reference in a template is a plain traversal).
            if let Ok(tpl) = Template::from_expr(t) {
                let mut rs = Vec::new();
                template_refs(&tpl, &mut Vec::new(), &mut rs);
                for r in rs {
                    trace_ref(idx, dir, env, &r, &[], out, d);
                }
            }
        }
        Expression::ForExpr(f) => {
            // The key variable has no origin worth tracing (keys are names); the value variable
            // stands for an element of the collection.
            let inner = env.bind(f.value_var.as_str(), &f.collection_expr, dir, env);
            trace(idx, dir, &inner, &f.value_expr, pick, out, d);
        }
        Expression::Variable(_) | Expression::Traversal(_) => {
            if let Some(r) = ref_of(expr) {
                trace_ref(idx, dir, env, &r, pick, out, d);
            }
        }
        _ => {}
    }
}

/// The reference a variable or a traversal rooted at a variable is.
pub fn ref_of(expr: &Expression) -> Option<Ref> {
    match expr {
        Expression::Variable(v) => Some(Ref { root: v.to_string(), steps: Vec::new() }),
        Expression::Traversal(t) => {
            let Expression::Variable(v) = &t.expr else { return None };
            let steps = t
                .operators
                .iter()
                .map(|op| match op {
                    TraversalOperator::GetAttr(a) => Step::Attr(a.to_string()),
                    TraversalOperator::Index(i) => Step::Index(literal(Some(i)).map(str::to_string)),
                    TraversalOperator::LegacyIndex(_) => Step::Index(None),
                    TraversalOperator::AttrSplat | TraversalOperator::FullSplat => Step::Splat,
                })
                .collect();
            Some(Ref { root: v.to_string(), steps })
        }
        _ => None,
    }
}

fn trace_ref<'a>(
    idx: &Index<'a>,
    dir: &str,
    env: &Env<'a>,
    r: &Ref,
    pick: &[String],
    out: &mut Vec<Leaf<'a>>,
    d: usize,
) {
    let mut attrs: Vec<String> =
        r.steps.iter().filter_map(|s| if let Step::Attr(a) = s { Some(a.clone()) } else { None }).collect();
    attrs.extend(pick.iter().cloned());
    let Some(m) = idx.modules.get(dir) else { return };
    let name = |i: usize| attrs.get(i).cloned().unwrap_or_default();
    match r.root.as_str() {
        "var" => {
            for (caller_dir, call) in idx.callers.get(dir).into_iter().flatten() {
                if let Some(arg) = attr(&call.body, &name(0)) {
                    let cenv = each_env(call);
                    trace(idx, caller_dir, &cenv, arg, &attrs[1.min(attrs.len())..], out, d);
                }
            }
        }
        "local" => {
            if let Some((_, e)) = m.locals.get(&name(0)) {
                trace(idx, dir, &Env::default(), e, &attrs[1.min(attrs.len())..], out, d);
            }
        }
        "module" => {
            if let Some(call) = m.calls.get(&name(0))
                && let Some(target) = idx.called_dir(dir, call)
                && let Some(o) = idx.modules.get(&target).and_then(|t| t.outputs.get(&name(1)))
                && let Some(v) = attr(&o.body, "value")
            {
                trace(idx, &target, &Env::default(), v, &attrs[2.min(attrs.len())..], out, d);
            }
        }
        "data" => {
            if let Some(b) = m.data.get(&(name(0), name(1))) {
                out.push(Leaf::Block(Origin {
                    dir: dir.to_string(),
                    block: b,
                    path: attrs[2.min(attrs.len())..].to_vec(),
                }));
            }
        }
        "each" if name(0) == "value" => {
            if let Some(t) = env.get("each.value") {
                trace(idx, &t.dir.clone(), &t.env.clone(), t.expr, &attrs[1..], out, d);
            }
        }
        root => {
            if let Some(t) = env.get(root) {
                trace(idx, &t.dir.clone(), &t.env.clone(), t.expr, &attrs, out, d);
            } else if let Some(b) = m.resources.get(&(root.to_string(), name(0))) {
                out.push(Leaf::Block(Origin {
                    dir: dir.to_string(),
                    block: b,
                    path: attrs[1.min(attrs.len())..].to_vec(),
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_relative_sources() {
        assert_eq!(join("deploy/terraform/envs/dev", "../../modules/eks"), "deploy/terraform/modules/eks");
        assert_eq!(join("", "../m"), "../m");
        assert_eq!(join("a", "./b/"), "a/b");
        assert_eq!(join("./x/../root", ""), "root");
        assert_eq!(dir_of("/abs/./m/main.tf"), "/abs/m");
    }

    #[test]
    fn references_skip_bound_names() {
        let body =
            hcl::parse("x = [for k, v in var.m : \"${k}-${local.p}\" if v.on]\ny = aws_s3_bucket.b[each.key].arn\n")
                .unwrap_or_default();
        let mut out = Vec::new();
        body_refs(&body, &mut Vec::new(), &mut out);
        let roots: Vec<String> = out.iter().map(|r| r.text(1)).collect();
        assert_eq!(roots, vec!["var.m", "local.p", "each.key", "aws_s3_bucket.b"]);
    }
}
