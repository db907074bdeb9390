//! References in Terraform expressions: what Terraform draws a graph edge for.
//!
//! Terraform resolves references by address: `var.x`, `local.x`, `data.t.n`, `module.m.o`
//! (one output of a module call; `module.m` alone is every output), and `t.n` for a managed
//! resource. `each`, `count`, `self`, `path`, `terraform` and names bound by `for` expressions
//! or `dynamic` blocks are not dependencies. An index (`aws_x.y["k"]`) still depends on the
//! whole resource: Terraform orders configuration objects, not instances.

use std::collections::BTreeSet;

use hcl::expr::{Expression, ObjectKey, TraversalOperator};
use hcl::template::{Directive, Element, Template};
use hcl::{Body, Structure};

/// One reference, relative to the module it is written in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ref {
    Var(String),
    Local(String),
    Data(String, String),
    /// `module.m.o`.
    ModuleOutput(String, String),
    /// `module.m` used as a whole (`values(module.m)`).
    ModuleAll(String),
    /// `t.n`: a managed resource if the module declares one by that address.
    Resource(String, String),
}

/// References in every attribute and nested block of `body`.
pub fn in_body(body: &Body, out: &mut BTreeSet<Ref>) {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => in_expr(&a.expr, out),
            Structure::Block(b) => in_body(&b.body, out),
        }
    }
}

/// References in one expression.
pub fn in_expr(e: &Expression, out: &mut BTreeSet<Ref>) {
    match e {
        Expression::Array(items) => items.iter().for_each(|x| in_expr(x, out)),
        Expression::Object(o) => {
            for (k, v) in o.iter() {
                if let ObjectKey::Expression(k) = k {
                    in_expr(k, out);
                }
                in_expr(v, out);
            }
        }
        Expression::TemplateExpr(t) => {
            // A template that does not parse has no references we can see; the parser that
            // loaded the file accepted it, so this does not happen for loaded files.
            if let Ok(t) = Template::from_expr(t) {
                in_template(&t, out);
            }
        }
        Expression::Traversal(t) => {
            if let Some(r) = traversal_ref(&t.expr, &t.operators) {
                out.insert(r);
            }
            in_expr(&t.expr, out);
            for op in &t.operators {
                if let TraversalOperator::Index(i) = op {
                    in_expr(i, out);
                }
            }
        }
        Expression::FuncCall(f) => f.args.iter().for_each(|x| in_expr(x, out)),
        Expression::Parenthesis(x) => in_expr(x, out),
        Expression::Conditional(c) => {
            in_expr(&c.cond_expr, out);
            in_expr(&c.true_expr, out);
            in_expr(&c.false_expr, out);
        }
        Expression::Operation(op) => match op.as_ref() {
            hcl::expr::Operation::Unary(u) => in_expr(&u.expr, out),
            hcl::expr::Operation::Binary(b) => {
                in_expr(&b.lhs_expr, out);
                in_expr(&b.rhs_expr, out);
            }
        },
        Expression::ForExpr(f) => {
            in_expr(&f.collection_expr, out);
            if let Some(k) = &f.key_expr {
                in_expr(k, out);
            }
            in_expr(&f.value_expr, out);
            if let Some(c) = &f.cond_expr {
                in_expr(c, out);
            }
        }
        _ => {}
    }
}

fn in_template(t: &Template, out: &mut BTreeSet<Ref>) {
    for el in t.elements() {
        match el {
            Element::Literal(_) => {}
            Element::Interpolation(i) => in_expr(&i.expr, out),
            Element::Directive(d) => match d.as_ref() {
                Directive::If(i) => {
                    in_expr(&i.cond_expr, out);
                    in_template(&i.true_template, out);
                    if let Some(f) = &i.false_template {
                        in_template(f, out);
                    }
                }
                Directive::For(f) => {
                    in_expr(&f.collection_expr, out);
                    in_template(&f.template, out);
                }
            },
        }
    }
}

fn attr(op: Option<&TraversalOperator>) -> Option<String> {
    match op {
        Some(TraversalOperator::GetAttr(id)) => Some(id.to_string()),
        _ => None,
    }
}

/// The address a traversal names, if it names one.
fn traversal_ref(root: &Expression, ops: &[TraversalOperator]) -> Option<Ref> {
    let Expression::Variable(v) = root else { return None };
    let first = attr(ops.first());
    match v.as_str() {
        "var" => first.map(Ref::Var),
        "local" => first.map(Ref::Local),
        "data" => Some(Ref::Data(first?, attr(ops.get(1))?)),
        "module" => {
            let m = first?;
            // Skip the instance key of a module called with for_each / count.
            let rest =
                ops[1..].iter().find(|o| !matches!(o, TraversalOperator::Index(_) | TraversalOperator::LegacyIndex(_)));
            match attr(rest) {
                Some(o) => Some(Ref::ModuleOutput(m, o)),
                None => Some(Ref::ModuleAll(m)),
            }
        }
        "each" | "count" | "self" | "path" | "terraform" => None,
        ty => Some(Ref::Resource(ty.to_string(), first?)),
    }
}

/// Whether `e` is a bare reference to a managed resource `t.n` (a `for_each` over another
/// resource's instances), and which.
pub fn bare_resource(e: &Expression) -> Option<(String, String)> {
    let Expression::Traversal(t) = e else { return None };
    let Expression::Variable(v) = &t.expr else { return None };
    if t.operators.len() != 1 || matches!(v.as_str(), "var" | "local" | "data" | "module" | "each" | "count") {
        return None;
    }
    Some((v.as_str().to_string(), attr(t.operators.first())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs_of(text: &str) -> Vec<Ref> {
        let body: Body = hcl::parse(text).expect("parses");
        let mut out = BTreeSet::new();
        in_body(&body, &mut out);
        out.into_iter().collect()
    }

    #[test]
    fn addresses_are_read_from_every_kind_of_expression() {
        let got = refs_of(
            r#"
a = module.db["k"].secret_arn
b = [for x in values(module.cache) : x.arn]
c = "arn:${data.aws_partition.current.partition}:${var.name}"
d = aws_subnet.private[*].id
e = { for k, v in local.roles : k => aws_iam_role.irsa[k].arn if v.enabled }
f = var.on ? aws_kms_key.a.arn : null
g = each.value.size + count.index
h = path.module
dynamic "taint" {
  for_each = var.taints
  content { key = taint.value.key }
}
"#,
        );
        let s = |x: &str| x.to_string();
        assert_eq!(
            got,
            vec![
                Ref::Var(s("name")),
                Ref::Var(s("on")),
                Ref::Var(s("taints")),
                Ref::Local(s("roles")),
                Ref::Data(s("aws_partition"), s("current")),
                Ref::ModuleOutput(s("db"), s("secret_arn")),
                Ref::ModuleAll(s("cache")),
                // Names bound by `for` and `dynamic` come back as candidate resources; the graph
                // keeps only addresses the module declares.
                Ref::Resource(s("aws_iam_role"), s("irsa")),
                Ref::Resource(s("aws_kms_key"), s("a")),
                Ref::Resource(s("aws_subnet"), s("private")),
                Ref::Resource(s("taint"), s("value")),
                Ref::Resource(s("v"), s("enabled")),
                Ref::Resource(s("x"), s("arn")),
            ]
        );
    }
}
