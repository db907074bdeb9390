//! `for_each` and `count` that Terraform cannot expand at plan time (CV-TF-011).
//!
//! Expressions are evaluated over an abstract domain that says, for each part of a value, whether
//! it is known when Terraform plans: literals and root-module variables are known; an attribute
//! of a managed resource is known only when its configuration sets it from known values; a data
//! source is read at plan only when all its arguments are known, else all of it is unknown.
//! Values flow through locals, module arguments (every caller's argument joined) and outputs.
//! A map's keys can be known while its values are not, which is what `for_each` needs.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use hcl::expr::{Operation, TraversalOperator};
use hcl::template::{Directive, Element, Template};
use hcl::{Body, Expression, ObjectKey};

use super::Sink;
use super::terraform::waivers;
use crate::hcl_index::{Index, Module, attr, literal};
use crate::inventory::{Inventory, TfBlock};

pub const UNKNOWN_AT_PLAN: &str = "CV-TF-011";

/// What is known of a value at plan time.
#[derive(Clone, Debug)]
enum Av {
    /// Entirely known.
    Known,
    /// Unknown, with why (where the unknown value comes from).
    Unknown(Rc<str>),
    /// An object with known attribute names; attributes not listed are known, or unknown for
    /// the reason in `rest` (a managed resource's computed attributes).
    Obj { fields: Rc<BTreeMap<String, Av>>, rest: Option<Rc<str>> },
    /// A collection whose keys (or length) are known; `elem` joins its elements. A set's
    /// elements are its keys.
    Coll { elem: Rc<Av>, set: bool },
}

use Av::{Coll, Known, Unknown};

fn unknown(why: String) -> Av {
    Unknown(why.into())
}

fn join(a: Av, b: Av) -> Av {
    match (a, b) {
        (Known, x) | (x, Known) => x,
        (Unknown(r), _) | (_, Unknown(r)) => Unknown(r),
        (Av::Obj { fields: fa, rest: ra }, Av::Obj { fields: fb, rest: rb }) => {
            let mut f = (*fa).clone();
            for (k, v) in fb.iter() {
                let cur = f.remove(k).unwrap_or(Known);
                f.insert(k.clone(), join(cur, v.clone()));
            }
            Av::Obj { fields: Rc::new(f), rest: ra.or(rb) }
        }
        (Coll { elem: a, set: sa }, Coll { elem: b, set: sb }) => {
            Coll { elem: Rc::new(join((*a).clone(), (*b).clone())), set: sa || sb }
        }
        (o @ Av::Obj { .. }, Coll { elem, set }) | (Coll { elem, set }, o @ Av::Obj { .. }) => {
            Coll { elem: Rc::new(join((*elem).clone(), elem_of(&o))), set }
        }
    }
}

/// Why a value is not entirely known, if it is not.
fn not_known(a: &Av) -> Option<Rc<str>> {
    match a {
        Known => None,
        Unknown(r) => Some(r.clone()),
        Av::Obj { fields, rest } => fields.values().find_map(not_known).or_else(|| rest.clone()),
        Coll { elem, .. } => not_known(elem),
    }
}

/// Why a collection's keys are not known, if they are not.
fn keys_unknown(a: &Av) -> Option<Rc<str>> {
    match a {
        Unknown(r) => Some(r.clone()),
        Coll { elem, set: true } => not_known(elem),
        _ => None,
    }
}

/// The join of a collection's (or object's) elements.
fn elem_of(a: &Av) -> Av {
    match a {
        Known => Known,
        Unknown(r) => Unknown(r.clone()),
        Av::Obj { fields, rest } => {
            let mut v = fields.values().cloned().fold(Known, join);
            if let Some(r) = rest {
                v = join(v, Unknown(r.clone()));
            }
            v
        }
        Coll { elem, .. } => (**elem).clone(),
    }
}

fn get_attr(a: &Av, name: &str) -> Av {
    match a {
        Av::Obj { fields, rest } => fields.get(name).cloned().unwrap_or_else(|| rest.clone().map_or(Known, Unknown)),
        other => elem_of(other),
    }
}

/// Everything unknown in `args`, else known: what a function computes from its arguments.
fn from_args(args: impl IntoIterator<Item = Av>) -> Av {
    for a in args {
        if let Some(r) = not_known(&a) {
            return Unknown(r);
        }
    }
    Known
}

/// Names in scope while evaluating: `for` variables, `each.key`/`each.value`, `count.index`.
#[derive(Clone, Default)]
struct Scope {
    binds: Vec<(String, Av)>,
}

impl Scope {
    fn with(&self, name: &str, v: Av) -> Scope {
        let mut s = self.clone();
        s.binds.push((name.to_string(), v));
        s
    }

    fn get(&self, name: &str) -> Option<&Av> {
        self.binds.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

struct Eval<'i, 'a> {
    idx: &'i Index<'a>,
    memo: RefCell<BTreeMap<(String, &'static str, String), Av>>,
}

impl<'a> Eval<'_, 'a> {
    fn module(&self, dir: &str) -> Option<&Module<'a>> {
        self.idx.modules.get(dir)
    }

    /// Memoised; a cycle (which Terraform rejects anyway) evaluates to known.
    fn memo(&self, dir: &str, kind: &'static str, name: &str, f: impl FnOnce() -> Av) -> Av {
        let key = (dir.to_string(), kind, name.to_string());
        if let Some(v) = self.memo.borrow().get(&key) {
            return v.clone();
        }
        self.memo.borrow_mut().insert(key.clone(), Known);
        let v = f();
        self.memo.borrow_mut().insert(key, v.clone());
        v
    }

    fn eval(&self, dir: &str, sc: &Scope, e: &Expression) -> Av {
        match e {
            Expression::Null | Expression::Bool(_) | Expression::Number(_) | Expression::String(_) => Known,
            Expression::Array(items) => {
                let elem = items.iter().map(|i| self.eval(dir, sc, i)).fold(Known, join);
                if not_known(&elem).is_none() { Known } else { Coll { elem: Rc::new(elem), set: false } }
            }
            Expression::Object(o) => {
                let mut fields = BTreeMap::new();
                let mut named = true;
                for (k, v) in o {
                    let key = match k {
                        ObjectKey::Identifier(i) => Some(i.to_string()),
                        ObjectKey::Expression(Expression::String(s)) => Some(s.clone()),
                        ObjectKey::Expression(Expression::Variable(v)) => Some(v.to_string()),
                        ObjectKey::Expression(k) => {
                            let kv = self.eval(dir, sc, k);
                            if let Some(r) = not_known(&kv) {
                                return unknown(format!("a map key is unknown: {r}"));
                            }
                            None
                        }
                        _ => None,
                    };
                    named &= key.is_some();
                    fields.insert(key.unwrap_or_else(|| format!("#{}", fields.len())), self.eval(dir, sc, v));
                }
                if fields.values().all(|v| not_known(v).is_none()) {
                    Known
                } else if named {
                    Av::Obj { fields: Rc::new(fields), rest: None }
                } else {
                    Coll { elem: Rc::new(fields.into_values().fold(Known, join)), set: false }
                }
            }
            Expression::TemplateExpr(t) => match Template::from_expr(t) {
                Ok(tpl) => self.template(dir, sc, &tpl),
                Err(_) => Known,
            },
            Expression::Variable(_) | Expression::Traversal(_) => self.traversal(dir, sc, e),
            Expression::FuncCall(f) => self.call(dir, sc, f.name.name.as_str(), &f.args),
            Expression::Parenthesis(e) => self.eval(dir, sc, e),
            Expression::Conditional(c) => {
                let cond = self.eval(dir, sc, &c.cond_expr);
                match not_known(&cond) {
                    Some(r) => unknown(format!("a condition is unknown: {r}")),
                    None => join(self.eval(dir, sc, &c.true_expr), self.eval(dir, sc, &c.false_expr)),
                }
            }
            Expression::Operation(op) => match op.as_ref() {
                Operation::Unary(u) => from_args([self.eval(dir, sc, &u.expr)]),
                Operation::Binary(b) => from_args([self.eval(dir, sc, &b.lhs_expr), self.eval(dir, sc, &b.rhs_expr)]),
            },
            Expression::ForExpr(f) => {
                let c = self.eval(dir, sc, &f.collection_expr);
                if let Some(r) = keys_unknown(&c) {
                    return Unknown(r);
                }
                let el = elem_of(&c);
                let mut inner = sc.with(f.value_var.as_str(), el.clone());
                if let Some(k) = &f.key_var {
                    let key = if matches!(c, Coll { set: true, .. }) { el } else { Known };
                    inner = inner.with(k.as_str(), key);
                }
                if let Some(cond) = &f.cond_expr
                    && let Some(r) = not_known(&self.eval(dir, &inner, cond))
                {
                    return unknown(format!("the `if` clause of a `for` expression is unknown: {r}"));
                }
                if let Some(k) = &f.key_expr
                    && let Some(r) = not_known(&self.eval(dir, &inner, k))
                {
                    return unknown(format!("the keys of a `for` expression are unknown: {r}"));
                }
                let v = self.eval(dir, &inner, &f.value_expr);
                if not_known(&v).is_none() { Known } else { Coll { elem: Rc::new(v), set: false } }
            }
            _ => Known,
        }
    }

    fn template(&self, dir: &str, sc: &Scope, tpl: &Template) -> Av {
        let mut parts = Vec::new();
        for el in tpl.elements() {
            match el {
                Element::Literal(_) => {}
                Element::Interpolation(i) => parts.push(self.eval(dir, sc, &i.expr)),
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(d) => {
                        parts.push(self.eval(dir, sc, &d.cond_expr));
                        parts.push(self.template(dir, sc, &d.true_template));
                        if let Some(f) = &d.false_template {
                            parts.push(self.template(dir, sc, f));
                        }
                    }
                    Directive::For(d) => {
                        let c = self.eval(dir, sc, &d.collection_expr);
                        let mut inner = sc.with(d.value_var.as_str(), elem_of(&c));
                        if let Some(k) = &d.key_var {
                            inner = inner.with(k.as_str(), Known);
                        }
                        parts.push(c);
                        parts.push(self.template(dir, &inner, &d.template));
                    }
                },
            }
        }
        from_args(parts)
    }

    fn call(&self, dir: &str, sc: &Scope, name: &str, args: &[Expression]) -> Av {
        let av: Vec<Av> = args.iter().map(|a| self.eval(dir, sc, a)).collect();
        let first = av.first().cloned().unwrap_or(Known);
        match name {
            "merge" => av.into_iter().fold(Known, |acc, a| match (acc, a) {
                (Unknown(r), _) | (_, Unknown(r)) => Unknown(r),
                (Known, x) | (x, Known) => x,
                (Av::Obj { fields: mut fa, rest: ra }, Av::Obj { fields: fb, rest: rb }) => {
                    Rc::make_mut(&mut fa).extend(fb.iter().map(|(k, v)| (k.clone(), v.clone())));
                    Av::Obj { fields: fa, rest: ra.or(rb) }
                }
                (a, b) => Coll { elem: Rc::new(join(elem_of(&a), elem_of(&b))), set: false },
            }),
            "tomap" | "tolist" | "sort" | "reverse" | "slice" | "chunklist" => first,
            "toset" => match &first {
                Known => Known,
                Unknown(r) => Unknown(r.clone()),
                other => Coll { elem: Rc::new(elem_of(other)), set: true },
            },
            "values" => match &first {
                Known | Unknown(_) => first,
                other => Coll { elem: Rc::new(elem_of(other)), set: false },
            },
            "keys" | "length" => keys_unknown(&first).map_or(Known, Unknown),
            "concat" => match av.iter().find_map(keys_unknown) {
                Some(r) => Unknown(r),
                None => {
                    let elem = av.iter().map(elem_of).fold(Known, join);
                    if not_known(&elem).is_none() { Known } else { Coll { elem: Rc::new(elem), set: false } }
                }
            },
            "flatten" => match keys_unknown(&first) {
                Some(r) => Unknown(r),
                None => match elem_of(&first) {
                    Unknown(r) => Unknown(r),
                    inner @ Coll { .. } => inner,
                    other => {
                        if not_known(&other).is_none() {
                            Known
                        } else {
                            Coll { elem: Rc::new(other), set: false }
                        }
                    }
                },
            },
            "lookup" => {
                let key_known = av.get(1).is_none_or(|k| not_known(k).is_none());
                let v = match &first {
                    Av::Obj { fields, .. } => match args.get(1).and_then(|k| literal(Some(k))) {
                        Some(k) if fields.contains_key(k) => get_attr(&first, k),
                        _ => elem_of(&first),
                    },
                    other => elem_of(other),
                };
                let v = av.get(2).cloned().map_or(v.clone(), |d| join(v, d));
                if key_known { v } else { from_args(av) }
            }
            "element" | "one" => elem_of(&first),
            "try" | "coalesce" | "coalescelist" => av.into_iter().fold(Known, join),
            "zipmap" => match not_known(&first) {
                Some(r) => Unknown(r),
                None => {
                    let elem = av.get(1).map_or(Known, elem_of);
                    if not_known(&elem).is_none() { Known } else { Coll { elem: Rc::new(elem), set: false } }
                }
            },
            _ => from_args(av),
        }
    }

    fn traversal(&self, dir: &str, sc: &Scope, e: &Expression) -> Av {
        let (root, ops): (&str, &[TraversalOperator]) = match e {
            Expression::Variable(v) => (v.as_str(), &[]),
            Expression::Traversal(t) => match &t.expr {
                Expression::Variable(v) => (v.as_str(), &t.operators),
                other => {
                    let base = self.eval(dir, sc, other);
                    return self.apply(dir, sc, base, &t.operators);
                }
            },
            _ => return Known,
        };
        let name = |i: usize| match ops.get(i) {
            Some(TraversalOperator::GetAttr(a)) => Some(a.as_str()),
            _ => None,
        };
        if let Some(v) = sc.get(root) {
            return self.apply(dir, sc, v.clone(), ops);
        }
        let (base, used) = match root {
            "var" => match name(0) {
                Some(n) => (self.variable(dir, n), 1),
                None => return Known,
            },
            "local" => match name(0) {
                Some(n) => (self.local(dir, n), 1),
                None => return Known,
            },
            "module" => match name(0) {
                Some(n) => return self.module_ref(dir, sc, n, &ops[1..]),
                None => return Known,
            },
            "data" => match (name(0), name(1)) {
                (Some(t), Some(n)) => (self.data(dir, t, n), 2),
                _ => return Known,
            },
            "each" => match (name(0), sc.get("each.value")) {
                (Some("value"), Some(v)) => (v.clone(), 1),
                _ => return Known,
            },
            "count" | "path" | "terraform" | "self" => return Known,
            ty if ty.contains('_') => match name(0) {
                Some(n) => (self.resource(dir, ty, n), 1),
                None => return Known,
            },
            _ => return Known,
        };
        self.apply(dir, sc, base, &ops[used.min(ops.len())..])
    }

    fn apply(&self, dir: &str, sc: &Scope, mut v: Av, ops: &[TraversalOperator]) -> Av {
        for (i, op) in ops.iter().enumerate() {
            v = match op {
                TraversalOperator::GetAttr(a) => get_attr(&v, a.as_str()),
                TraversalOperator::Index(k) => {
                    let kv = self.eval(dir, sc, k);
                    let picked = match (&v, literal(Some(k))) {
                        (Av::Obj { fields, .. }, Some(name)) if fields.contains_key(name) => get_attr(&v, name),
                        _ => elem_of(&v),
                    };
                    match not_known(&kv) {
                        Some(r) => join(picked, Unknown(r)),
                        None => picked,
                    }
                }
                TraversalOperator::LegacyIndex(_) => elem_of(&v),
                TraversalOperator::AttrSplat | TraversalOperator::FullSplat => {
                    let rest = self.apply(dir, sc, elem_of(&v), &ops[i + 1..]);
                    return match keys_unknown(&v) {
                        Some(r) => Unknown(r),
                        None if not_known(&rest).is_none() => Known,
                        None => Coll { elem: Rc::new(rest), set: false },
                    };
                }
            };
        }
        v
    }

    /// A module variable: known in a root module; else the join of every caller's argument
    /// (a variable left to its default is known).
    fn variable(&self, dir: &str, name: &str) -> Av {
        self.memo(dir, "var", name, || {
            let mut v = Known;
            for (caller, call) in self.idx.callers.get(dir).into_iter().flatten() {
                if let Some(arg) = attr(&call.body, name) {
                    let sc = self.instance_scope(caller, call);
                    v = join(v, self.eval(caller, &sc, arg));
                }
            }
            v
        })
    }

    fn local(&self, dir: &str, name: &str) -> Av {
        self.memo(dir, "local", name, || match self.module(dir).and_then(|m| m.locals.get(name)) {
            Some((_, e)) => self.eval(dir, &Scope::default(), e),
            None => Known,
        })
    }

    fn output(&self, dir: &str, name: &str) -> Av {
        self.memo(dir, "output", name, || {
            match self.module(dir).and_then(|m| m.outputs.get(name)).and_then(|o| attr(&o.body, "value")) {
                Some(e) => self.eval(dir, &Scope::default(), e),
                None => Known,
            }
        })
    }

    /// `module.<name>…`: an output of a local module among the inputs; a module the checker
    /// cannot see (a registry module) is taken as known.
    fn module_ref(&self, dir: &str, sc: &Scope, name: &str, ops: &[TraversalOperator]) -> Av {
        let Some(call) = self.module(dir).and_then(|m| m.calls.get(name)) else { return Known };
        let Some(target) = self.idx.called_dir(dir, call) else { return Known };
        let multi = attr(&call.body, "for_each").is_some() || attr(&call.body, "count").is_some();
        match (ops.first(), ops.get(1)) {
            (Some(TraversalOperator::GetAttr(out)), _) if !multi => {
                let v = self.output(&target, out.as_str());
                self.apply(dir, sc, v, &ops[1..])
            }
            (
                Some(TraversalOperator::Index(_) | TraversalOperator::LegacyIndex(_)),
                Some(TraversalOperator::GetAttr(out)),
            ) if multi => {
                let v = self.output(&target, out.as_str());
                self.apply(dir, sc, v, &ops[2..])
            }
            _ => {
                let outputs: Vec<String> =
                    self.module(&target).map(|m| m.outputs.keys().cloned().collect()).unwrap_or_default();
                let fields: BTreeMap<String, Av> =
                    outputs.iter().map(|o| (o.clone(), self.output(&target, o))).collect();
                let obj = Av::Obj { fields: Rc::new(fields), rest: None };
                let whole = if multi { Coll { elem: Rc::new(obj), set: false } } else { obj };
                self.apply(dir, sc, whole, ops)
            }
        }
    }

    /// `each.value` (and `each.key`, `count.index`, known) for a block's instances.
    fn instance_scope(&self, dir: &str, b: &TfBlock) -> Scope {
        match attr(&b.body, "for_each") {
            Some(fe) => Scope::default().with("each.value", elem_of(&self.eval(dir, &Scope::default(), fe))),
            None => Scope::default(),
        }
    }

    fn multi(&self, b: &TfBlock, inst: Av) -> Av {
        if attr(&b.body, "for_each").is_some() || attr(&b.body, "count").is_some() {
            Coll { elem: Rc::new(inst), set: false }
        } else {
            inst
        }
    }

    /// A data source: read at plan when every argument is known, else at apply (all unknown).
    fn data(&self, dir: &str, ty: &str, name: &str) -> Av {
        self.memo(dir, "data", &format!("{ty}.{name}"), || {
            let Some(b) = self.module(dir).and_then(|m| m.data.get(&(ty.to_string(), name.to_string()))) else {
                return Known;
            };
            let sc = self.instance_scope(dir, b);
            let inst = match self.body_unknown(dir, &sc, &b.body) {
                Some(r) => unknown(format!(
                    "`data.{ty}.{name}` ({dir}) is read only at apply because an argument is unknown: {r}"
                )),
                None => Known,
            };
            self.multi(b, inst)
        })
    }

    /// A managed resource: the attributes its configuration sets, as configured; every other
    /// attribute is computed by the provider when it is created.
    fn resource(&self, dir: &str, ty: &str, name: &str) -> Av {
        self.memo(dir, "resource", &format!("{ty}.{name}"), || {
            let Some(b) = self.module(dir).and_then(|m| m.resources.get(&(ty.to_string(), name.to_string()))) else {
                return Known;
            };
            let sc = self.instance_scope(dir, b);
            let fields: BTreeMap<String, Av> = b
                .body
                .attributes()
                .filter(|a| !META.contains(&a.key.as_str()))
                .map(|a| (a.key.to_string(), self.eval(dir, &sc, &a.expr)))
                .collect();
            let rest = format!("attributes of `{ty}.{name}` ({dir}) that its configuration does not set (id, arn, …) are known only after apply");
            self.multi(b, Av::Obj { fields: Rc::new(fields), rest: Some(rest.into()) })
        })
    }

    /// Why some argument of a body (nested and dynamic blocks included) is unknown.
    fn body_unknown(&self, dir: &str, sc: &Scope, body: &Body) -> Option<Rc<str>> {
        for a in body.attributes().filter(|a| !META.contains(&a.key.as_str())) {
            if let Some(r) = not_known(&self.eval(dir, sc, &a.expr)) {
                return Some(r);
            }
        }
        for b in body.blocks() {
            let r = if b.identifier() == "dynamic" {
                let fe = attr(&b.body, "for_each").map_or(Known, |e| self.eval(dir, sc, e));
                if let Some(r) = keys_unknown(&fe) {
                    return Some(r);
                }
                let it = literal(attr(&b.body, "iterator"))
                    .map(str::to_string)
                    .or_else(|| b.labels.first().map(|l| l.as_str().to_string()))
                    .unwrap_or_default();
                let inner = sc.with(
                    &it,
                    Av::Obj { fields: Rc::new(BTreeMap::from([("value".into(), elem_of(&fe))])), rest: None },
                );
                b.body.blocks().find_map(|c| self.body_unknown(dir, &inner, &c.body))
            } else {
                self.body_unknown(dir, sc, &b.body)
            };
            if r.is_some() {
                return r;
            }
        }
        None
    }
}

/// Meta-arguments: not values of the resource.
const META: &[&str] = &["for_each", "count", "depends_on", "provider", "lifecycle"];

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let idx = Index::build(inv);
    let ev = Eval { idx: &idx, memo: RefCell::new(BTreeMap::new()) };
    let mut seen = BTreeSet::new();
    for (dir, m) in &idx.modules {
        for b in m.blocks.iter().filter(|b| matches!(b.kind.as_str(), "resource" | "data" | "module")) {
            let problem = if let Some(fe) = attr(&b.body, "for_each") {
                keys_unknown(&ev.eval(dir, &Scope::default(), fe)).map(|r| ("for_each", "keys are", r))
            } else if let Some(c) = attr(&b.body, "count") {
                not_known(&ev.eval(dir, &Scope::default(), c)).map(|r| ("count", "is", r))
            } else {
                None
            };
            if let Some((arg, what, why)) = problem
                && seen.insert((b.file.clone(), b.line))
            {
                let line = idx.line_of(b, arg);
                sink.report(
                    UNKNOWN_AT_PLAN,
                    &b.file,
                    line,
                    &b.id(),
                    format!("`{arg}` {what} not known until apply: {why}"),
                    &waivers(b),
                );
            }
        }
    }
}
