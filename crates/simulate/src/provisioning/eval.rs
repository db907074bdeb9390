//! Evaluating the few expressions that decide how many instances Terraform creates (`count`,
//! `for_each`), what a module receives, and the attributes that choose a creation time
//! (`multi_az`, `replicate_source_db`).
//!
//! Values come from `terraform.tfvars`, variable defaults, locals and module inputs. Anything
//! only known after apply (`data.…`, `module.…`, resource attributes) evaluates to the
//! placeholder [`UNKNOWN`] — the way Terraform's plan shows "(known after apply)": a map whose
//! keys are literal but whose values are unknown still yields its keys. Only the Terraform
//! functions these expressions use are implemented; an expression calling another one, or
//! whose keys are unknown, is "not known" and the caller treats it as one instance.

use std::collections::HashSet;

use hcl::Value;
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::expr::{Expression, ObjectKey, TraversalOperator};

use super::refs::Ref;

/// Stand-in for a value known only after apply.
pub const UNKNOWN: &str = "(known after apply)";

/// What an expression may refer to, for one module instance.
#[derive(Clone)]
pub struct Scope<'a> {
    pub ctx: Context<'a>,
    /// Resource types declared in the module: `t.n` is unknown before apply.
    pub resource_types: HashSet<String>,
}

impl<'a> Scope<'a> {
    pub fn new(vars: Value, resource_types: HashSet<String>) -> Self {
        let mut ctx = Context::new();
        declare_functions(&mut ctx);
        ctx.declare_var("var", vars);
        ctx.declare_var("local", Value::Object(Default::default()));
        Scope { ctx, resource_types }
    }

    pub fn set_locals(&mut self, locals: Value) {
        self.ctx.declare_var("local", locals);
    }

    /// A copy with `each` (for_each) or `count` bound.
    pub fn with_each(&self, key: &Value, value: &Value) -> Scope<'a> {
        let mut s = self.clone();
        let mut each = hcl::Map::new();
        each.insert("key".to_string(), key.clone());
        each.insert("value".to_string(), value.clone());
        s.ctx.declare_var("each", Value::Object(each));
        s
    }

    pub fn with_count(&self, index: u64) -> Scope<'a> {
        let mut s = self.clone();
        let mut count = hcl::Map::new();
        count.insert("index".to_string(), Value::from(index));
        s.ctx.declare_var("count", Value::Object(count));
        s
    }

    /// The value of `e`, with references to things created by apply as [`UNKNOWN`]; `None`
    /// when it cannot be evaluated here.
    pub fn eval(&self, e: &Expression) -> Option<Value> {
        let e = self.blank_unknowns(e);
        e.evaluate(&self.ctx).ok()
    }

    fn blank_unknowns(&self, e: &Expression) -> Expression {
        match e {
            Expression::Traversal(t) => {
                if let Expression::Variable(v) = &t.expr {
                    let root = v.as_str();
                    if root == "data" || root == "module" || self.resource_types.contains(root) {
                        return Expression::String(UNKNOWN.to_string());
                    }
                }
                let mut t = t.as_ref().clone();
                t.expr = self.blank_unknowns(&t.expr);
                for op in &mut t.operators {
                    if let TraversalOperator::Index(i) = op {
                        *i = self.blank_unknowns(i);
                    }
                }
                Expression::Traversal(Box::new(t))
            }
            Expression::Array(items) => Expression::Array(items.iter().map(|x| self.blank_unknowns(x)).collect()),
            Expression::Object(o) => Expression::Object(
                o.iter()
                    .map(|(k, v)| {
                        let k = match k {
                            ObjectKey::Expression(k) => ObjectKey::Expression(self.blank_unknowns(k)),
                            other => other.clone(),
                        };
                        (k, self.blank_unknowns(v))
                    })
                    .collect(),
            ),
            Expression::FuncCall(f) => {
                let mut f = f.as_ref().clone();
                f.args = f.args.iter().map(|x| self.blank_unknowns(x)).collect();
                Expression::FuncCall(Box::new(f))
            }
            Expression::Parenthesis(x) => Expression::Parenthesis(Box::new(self.blank_unknowns(x))),
            Expression::Conditional(c) => {
                let mut c = c.as_ref().clone();
                c.cond_expr = self.blank_unknowns(&c.cond_expr);
                c.true_expr = self.blank_unknowns(&c.true_expr);
                c.false_expr = self.blank_unknowns(&c.false_expr);
                Expression::Conditional(Box::new(c))
            }
            Expression::Operation(op) => {
                let op = match op.as_ref() {
                    hcl::expr::Operation::Unary(u) => {
                        let mut u = u.clone();
                        u.expr = self.blank_unknowns(&u.expr);
                        hcl::expr::Operation::Unary(u)
                    }
                    hcl::expr::Operation::Binary(b) => {
                        let mut b = b.clone();
                        b.lhs_expr = self.blank_unknowns(&b.lhs_expr);
                        b.rhs_expr = self.blank_unknowns(&b.rhs_expr);
                        hcl::expr::Operation::Binary(b)
                    }
                };
                Expression::Operation(Box::new(op))
            }
            Expression::ForExpr(f) => {
                let mut f = f.as_ref().clone();
                f.collection_expr = self.blank_unknowns(&f.collection_expr);
                f.key_expr = f.key_expr.as_ref().map(|k| self.blank_unknowns(k));
                f.value_expr = self.blank_unknowns(&f.value_expr);
                f.cond_expr = f.cond_expr.as_ref().map(|c| self.blank_unknowns(c));
                Expression::ForExpr(Box::new(f))
            }
            // A template interpolating something known only after apply is itself unknown; any
            // other template is kept, so names bound by an enclosing `for` still resolve.
            Expression::TemplateExpr(_) => {
                let mut rs = std::collections::BTreeSet::new();
                super::refs::in_expr(e, &mut rs);
                let unknown = rs.iter().any(|r| match r {
                    Ref::Data(..) | Ref::ModuleOutput(..) | Ref::ModuleAll(_) => true,
                    Ref::Resource(t, _) => self.resource_types.contains(t),
                    Ref::Var(_) | Ref::Local(_) => false,
                });
                if unknown { Expression::String(UNKNOWN.to_string()) } else { e.clone() }
            }
            other => other.clone(),
        }
    }
}

/// The instance keys an evaluated `for_each` yields: a map's keys or a set of strings.
/// `None` when not known before apply.
pub fn for_each_keys(v: &Value) -> Option<Vec<(Value, Value)>> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, v)| (Value::String(k.clone()), v.clone())).collect(),
        Value::Array(items) => {
            let mut keys: Vec<String> = Vec::new();
            for i in items {
                match i {
                    Value::String(s) => keys.push(s.clone()),
                    _ => return None,
                }
            }
            keys.sort();
            keys.dedup();
            keys.into_iter().map(|k| (Value::String(k.clone()), Value::String(k))).collect()
        }
        _ => return None,
    };
    if pairs.iter().any(|(k, _)| k.as_str() == Some(UNKNOWN)) {
        return None;
    }
    Some(pairs)
}

/// An evaluated `count`.
pub fn count_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64))
        }
        _ => None,
    }
}

/// The value as JSON, for comparisons with the data file.
pub fn to_json(v: &Value) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

/// A JSON value (tfvars) as an HCL value.
pub fn from_json(v: &serde_json::Value) -> Value {
    serde_json::from_value(v.clone()).unwrap_or(Value::Null)
}

fn declare_functions(ctx: &mut Context<'_>) {
    let unary = |f: hcl::eval::Func| FuncDef::builder().param(ParamType::Any).build(f);
    let variadic = |f: hcl::eval::Func| FuncDef::builder().variadic_param(ParamType::Any).build(f);
    ctx.declare_func("toset", unary(f_toset));
    ctx.declare_func("tolist", unary(f_identity));
    ctx.declare_func("tomap", unary(f_identity));
    ctx.declare_func("length", unary(f_length));
    ctx.declare_func("keys", unary(f_keys));
    ctx.declare_func("values", unary(f_values));
    ctx.declare_func("distinct", unary(f_distinct));
    ctx.declare_func("flatten", unary(f_flatten));
    ctx.declare_func("jsonencode", unary(f_jsonencode));
    ctx.declare_func("concat", variadic(f_concat));
    ctx.declare_func("merge", variadic(f_merge));
    ctx.declare_func("formatlist", variadic(f_formatlist));
    ctx.declare_func("zipmap", variadic(f_zipmap));
    ctx.declare_func("range", variadic(f_range));
    ctx.declare_func("setproduct", variadic(f_setproduct));
    ctx.declare_func("join", variadic(f_join));
    ctx.declare_func("tostring", unary(f_tostring));
}

fn arg(args: &FuncArgs, i: usize) -> Result<&Value, String> {
    args.get(i).ok_or_else(|| format!("missing argument {}", i + 1))
}

fn f_identity(args: FuncArgs) -> Result<Value, String> {
    arg(&args, 0).cloned()
}

fn f_toset(args: FuncArgs) -> Result<Value, String> {
    match arg(&args, 0)? {
        Value::Array(items) => {
            let mut out: Vec<Value> = Vec::new();
            for i in items {
                if !out.contains(i) {
                    out.push(i.clone());
                }
            }
            Ok(Value::Array(out))
        }
        other => Err(format!("toset of {other:?}")),
    }
}

fn f_length(args: FuncArgs) -> Result<Value, String> {
    match arg(&args, 0)? {
        Value::Array(a) => Ok(Value::from(a.len() as u64)),
        Value::Object(o) => Ok(Value::from(o.len() as u64)),
        Value::String(s) if s != UNKNOWN => Ok(Value::from(s.chars().count() as u64)),
        other => Err(format!("length of {other:?}")),
    }
}

fn f_keys(args: FuncArgs) -> Result<Value, String> {
    match arg(&args, 0)? {
        Value::Object(o) => Ok(Value::Array(o.keys().map(|k| Value::String(k.clone())).collect())),
        other => Err(format!("keys of {other:?}")),
    }
}

fn f_values(args: FuncArgs) -> Result<Value, String> {
    match arg(&args, 0)? {
        Value::Object(o) => Ok(Value::Array(o.values().cloned().collect())),
        other => Err(format!("values of {other:?}")),
    }
}

fn f_distinct(args: FuncArgs) -> Result<Value, String> {
    f_toset(args)
}

fn flatten_into(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten_into(i, out)),
        other => out.push(other.clone()),
    }
}

fn f_flatten(args: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    match arg(&args, 0)? {
        Value::Array(items) => items.iter().for_each(|i| flatten_into(i, &mut out)),
        other => return Err(format!("flatten of {other:?}")),
    }
    Ok(Value::Array(out))
}

fn f_jsonencode(args: FuncArgs) -> Result<Value, String> {
    serde_json::to_string(arg(&args, 0)?).map(Value::String).map_err(|e| e.to_string())
}

fn f_concat(args: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for a in args.iter() {
        match a {
            Value::Array(items) => out.extend(items.iter().cloned()),
            other => return Err(format!("concat of {other:?}")),
        }
    }
    Ok(Value::Array(out))
}

fn f_merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for a in args.iter() {
        match a {
            Value::Object(o) => out.extend(o.iter().map(|(k, v)| (k.clone(), v.clone()))),
            Value::Null => {}
            other => return Err(format!("merge of {other:?}")),
        }
    }
    Ok(Value::Object(out))
}

/// `formatlist` with `%d` / `%s` and one list argument: what the bundle's for_each use.
fn f_formatlist(args: FuncArgs) -> Result<Value, String> {
    let Value::String(spec) = arg(&args, 0)? else { return Err("formatlist spec".into()) };
    let Value::Array(items) = arg(&args, 1)? else { return Err("formatlist list".into()) };
    if args.len() != 2 || spec.matches('%').count() != 1 {
        return Err("formatlist: only one list and one verb are modelled".into());
    }
    items
        .iter()
        .map(|i| {
            let s = match i {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => return Err(format!("formatlist item {other:?}")),
            };
            Ok(Value::String(spec.replace("%d", &s).replace("%s", &s)))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn f_zipmap(args: FuncArgs) -> Result<Value, String> {
    let (Value::Array(k), Value::Array(v)) = (arg(&args, 0)?, arg(&args, 1)?) else {
        return Err("zipmap of non-lists".into());
    };
    let mut out = hcl::Map::new();
    for (k, v) in k.iter().zip(v) {
        let Value::String(k) = k else { return Err("zipmap key".into()) };
        out.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(out))
}

/// `range(n)` or `range(start, end)` with a step of 1.
fn f_range(args: FuncArgs) -> Result<Value, String> {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| "range of a fraction".to_string()),
        other => Err(format!("range of {other:?}")),
    };
    let (from, to) = match args.len() {
        1 => (0, num(arg(&args, 0)?)?),
        2 => (num(arg(&args, 0)?)?, num(arg(&args, 1)?)?),
        _ => return Err("range with a step is not modelled".into()),
    };
    if to - from > 10_000 {
        return Err("range too long".into());
    }
    Ok(Value::Array((from..to).map(Value::from).collect()))
}

fn f_setproduct(args: FuncArgs) -> Result<Value, String> {
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for a in args.iter() {
        let Value::Array(items) = a else { return Err(format!("setproduct of {a:?}")) };
        out = out
            .iter()
            .flat_map(|prefix| {
                items.iter().map(move |i| {
                    let mut p = prefix.clone();
                    p.push(i.clone());
                    p
                })
            })
            .collect();
        if out.len() > 10_000 {
            return Err("setproduct too large".into());
        }
    }
    Ok(Value::Array(out.into_iter().map(Value::Array).collect()))
}

fn f_join(args: FuncArgs) -> Result<Value, String> {
    let Value::String(sep) = arg(&args, 0)? else { return Err("join separator".into()) };
    let mut parts = Vec::new();
    for a in args.iter().skip(1) {
        let Value::Array(items) = a else { return Err(format!("join of {a:?}")) };
        for i in items {
            match i {
                Value::String(s) => parts.push(s.clone()),
                other => return Err(format!("join item {other:?}")),
            }
        }
    }
    Ok(Value::String(parts.join(sep)))
}

fn f_tostring(args: FuncArgs) -> Result<Value, String> {
    match arg(&args, 0)? {
        Value::String(s) => Ok(Value::String(s.clone())),
        Value::Number(n) => Ok(Value::String(n.to_string())),
        Value::Bool(b) => Ok(Value::String(b.to_string())),
        other => Err(format!("tostring of {other:?}")),
    }
}
