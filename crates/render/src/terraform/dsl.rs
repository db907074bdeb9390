//! A thin vocabulary over hcl-rs for writing Terraform as syntax trees that read like the HCL
//! they produce: `resource("aws_vpc", "this").a("cidr_block", var("vpc_cidr"))`.
//!
//! Everything here builds `hcl::Expression` / `hcl::Block` values; nothing formats text.

use hcl::expr::{
    BinaryOp, BinaryOperator, Conditional, ForExpr, Heredoc, HeredocStripMode, TemplateExpr, Traversal,
    TraversalOperator, Variable,
};
use hcl::{Attribute, Block, Body, Expression, Identifier, Structure};

pub use crate::hcl::{call, checkov_skip, comment, object, trivy_ignore};

/// An object whose keys are expressions (references), as Terraform's module `providers`
/// argument requires: `{ aws = aws, aws.dr = aws.dr }`, never `"aws.dr" = …`.
pub fn object_ref_keys(items: impl IntoIterator<Item = (Expression, Expression)>) -> Expression {
    Expression::Object(items.into_iter().map(|(k, v)| (hcl::ObjectKey::Expression(k), v)).collect())
}

/// `var.<name>`.
pub fn var(name: &str) -> Expression {
    path(&format!("var.{name}"))
}

/// A reference from its dotted path, with `[N]` indexes and `[*]` splats:
/// `path("aws_subnet.private[*].id")`, `path("each.value.instance_types")`,
/// `path("aws_nat_gateway.this[count.index].id")` (an index may itself be a dotted path).
pub fn path(dotted: &str) -> Expression {
    let mut segments = split_path(dotted).into_iter();
    let Some(first) = segments.next() else { return Expression::Null };
    let (root, root_ops) = parse_segment(&first);
    let mut ops: Vec<TraversalOperator> = root_ops;
    for seg in segments {
        let (name, more) = parse_segment(&seg);
        ops.push(TraversalOperator::GetAttr(Identifier::unchecked(name)));
        ops.extend(more);
    }
    let root = Expression::Variable(Variable::unchecked(root));
    if ops.is_empty() { root } else { Expression::from(Traversal::new(root, ops)) }
}

/// Split on dots that are not inside brackets.
fn split_path(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// `name[idx][*]` → the name and its index/splat operators.
fn parse_segment(seg: &str) -> (String, Vec<TraversalOperator>) {
    let Some(open) = seg.find('[') else { return (seg.to_string(), Vec::new()) };
    let name = seg[..open].to_string();
    let mut ops = Vec::new();
    let mut rest = &seg[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let close = stripped.find(']').unwrap_or(stripped.len());
        let inner = &stripped[..close];
        ops.push(match inner {
            "*" => TraversalOperator::FullSplat,
            n if n.bytes().all(|b| b.is_ascii_digit()) => {
                TraversalOperator::Index(Expression::from(n.parse::<u64>().unwrap_or(0)))
            }
            n if n.starts_with('"') => TraversalOperator::Index(Expression::String(n.trim_matches('"').to_string())),
            other => TraversalOperator::Index(path(other)),
        });
        rest = stripped.get(close + 1..).unwrap_or("");
    }
    (name, ops)
}

/// A plain string.
pub fn s(text: impl Into<String>) -> Expression {
    Expression::String(text.into())
}

/// A string template with `${…}` interpolations, e.g. `tpl("${var.name}-vpc")`.
pub fn tpl(template: impl Into<String>) -> Expression {
    Expression::TemplateExpr(Box::new(TemplateExpr::QuotedString(template.into())))
}

/// A heredoc (`<<EOT`), for multi-line text such as user data. The printer writes `text`
/// byte-for-byte (adding a final newline when missing) and puts the closing marker on a line of
/// its own, so it is safe for shell and MIME content: `${` and `%{` in `text` are Terraform
/// template syntax (write `$${` / `%%{` for a literal one).
pub fn heredoc(text: impl Into<String>) -> Expression {
    let mut t = text.into();
    if !t.ends_with('\n') {
        t.push('\n');
    }
    Expression::TemplateExpr(Box::new(TemplateExpr::Heredoc(Heredoc {
        delimiter: Identifier::unchecked("EOT"),
        template: t,
        strip: HeredocStripMode::None,
    })))
}

pub fn num(n: impl Into<i64>) -> Expression {
    Expression::from(n.into())
}

pub fn list(items: impl IntoIterator<Item = Expression>) -> Expression {
    Expression::Array(items.into_iter().collect())
}

pub fn strs<'a>(items: impl IntoIterator<Item = &'a str>) -> Expression {
    list(items.into_iter().map(s))
}

/// `cond ? yes : no`.
pub fn cond(c: Expression, yes: Expression, no: Expression) -> Expression {
    Expression::Conditional(Box::new(Conditional::new(c, yes, no)))
}

fn binop(l: Expression, op: BinaryOperator, r: Expression) -> Expression {
    Expression::Operation(Box::new(hcl::expr::Operation::Binary(BinaryOp::new(l, op, r))))
}

pub fn eq(l: Expression, r: Expression) -> Expression {
    binop(l, BinaryOperator::Eq, r)
}
pub fn and(l: Expression, r: Expression) -> Expression {
    binop(l, BinaryOperator::And, r)
}
pub fn ge(l: Expression, r: Expression) -> Expression {
    binop(l, BinaryOperator::GreaterEq, r)
}
pub fn le(l: Expression, r: Expression) -> Expression {
    binop(l, BinaryOperator::LessEq, r)
}
pub fn plus(l: Expression, r: Expression) -> Expression {
    binop(l, BinaryOperator::Plus, r)
}
pub fn gt(l: Expression, r: Expression) -> Expression {
    binop(l, BinaryOperator::Greater, r)
}

/// `[for k, v in coll : value]` or, with a key expression, `{for k, v in coll : key => value}`.
pub fn for_expr(
    key_var: Option<&str>,
    value_var: &str,
    coll: Expression,
    key: Option<Expression>,
    value: Expression,
) -> Expression {
    let mut f = ForExpr::new(Identifier::unchecked(value_var), coll, value);
    f.key_var = key_var.map(Identifier::unchecked);
    f.key_expr = key;
    Expression::ForExpr(Box::new(f))
}

/// A type expression: `string`, `number`, `bool`, `any`.
pub fn ty(name: &str) -> Expression {
    Expression::Variable(Variable::unchecked(name))
}
pub fn list_of(t: Expression) -> Expression {
    call("list", vec![t])
}
pub fn map_of(t: Expression) -> Expression {
    call("map", vec![t])
}
pub fn object_of<'a>(fields: impl IntoIterator<Item = (&'a str, Expression)>) -> Expression {
    call("object", vec![object(fields)])
}
pub fn optional(t: Expression, default: Option<Expression>) -> Expression {
    call("optional", std::iter::once(t).chain(default).collect())
}

/// A block under construction, with chainable attribute and child-block adders.
#[derive(Debug, Clone)]
pub struct B {
    ident: String,
    labels: Vec<String>,
    body: Vec<Structure>,
}

pub fn block(ident: &str) -> B {
    B { ident: ident.to_string(), labels: Vec::new(), body: Vec::new() }
}

pub fn resource(ty: &str, name: &str) -> B {
    block("resource").label(ty).label(name)
}

pub fn data(ty: &str, name: &str) -> B {
    block("data").label(ty).label(name)
}

impl B {
    pub fn label(mut self, l: &str) -> Self {
        self.labels.push(l.to_string());
        self
    }

    /// Add an attribute.
    pub fn a(mut self, key: &str, value: impl Into<Expression>) -> Self {
        self.body.push(Structure::Attribute(Attribute::new(key, value.into())));
        self
    }

    /// Add an attribute when `value` is `Some`.
    pub fn a_opt(self, key: &str, value: Option<impl Into<Expression>>) -> Self {
        match value {
            Some(v) => self.a(key, v),
            None => self,
        }
    }

    /// Add a nested block.
    pub fn b(mut self, child: B) -> Self {
        self.body.push(Structure::Block(child.build()));
        self
    }

    /// Add several nested blocks.
    pub fn bs(mut self, children: impl IntoIterator<Item = B>) -> Self {
        for c in children {
            self.body.push(Structure::Block(c.build()));
        }
        self
    }

    /// Add a `#checkov:skip=ID:reason` waiver for this block.
    pub fn skip(mut self, id: &str, reason: &str) -> Self {
        self.body.push(Structure::Attribute(checkov_skip(id, reason)));
        self
    }

    /// Add a `# text` comment line inside this block.
    pub fn note(mut self, text: &str) -> Self {
        self.body.push(Structure::Attribute(comment(text)));
        self
    }

    /// Standard tags: `merge(var.tags, {Name = name})`.
    pub fn tags_named(self, name: Expression) -> Self {
        self.a("tags", call("merge", vec![var("tags"), object([("Name", name)])]))
    }

    pub fn build(self) -> Block {
        let mut b = Block::builder(Identifier::unchecked(self.ident));
        for l in self.labels {
            b = b.add_label(l);
        }
        b.add_structures(self.body).build()
    }
}

/// A `dynamic "name" { for_each = …; content { … } }` block.
pub fn dynamic(name: &str, for_each: Expression, content: B) -> B {
    block("dynamic").label(name).a("for_each", for_each).b(content)
}

/// A file body from top-level items (blocks, and comment lines placed before blocks).
#[derive(Debug, Clone, Default)]
pub struct File {
    items: Vec<Structure>,
}

impl File {
    pub fn new() -> Self {
        File::default()
    }

    pub fn push(&mut self, b: B) -> &mut Self {
        self.items.push(Structure::Block(b.build()));
        self
    }

    /// A `#trivy:ignore:ID` line for the next block, preceded by the reason.
    pub fn trivy_ignore(&mut self, id: &str, reason: &str) -> &mut Self {
        self.items.push(Structure::Attribute(comment(format!("{id}: {reason}"))));
        self.items.push(Structure::Attribute(trivy_ignore(id)));
        self
    }

    pub fn comment(&mut self, text: &str) -> &mut Self {
        self.items.push(Structure::Attribute(comment(text)));
        self
    }

    pub fn body(&self) -> Body {
        Body::from(self.items.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hcl::to_terraform;

    fn print(e: Expression) -> String {
        to_terraform(&Body::builder().add_attribute(("x", e)).build(), "")
            .trim_end()
            .trim_start_matches("x = ")
            .to_string()
    }

    #[test]
    fn paths_with_indexes_and_splats() {
        assert_eq!(print(path("aws_subnet.private[*].id")), "aws_subnet.private[*].id");
        assert_eq!(print(path("aws_nat_gateway.this[count.index].id")), "aws_nat_gateway.this[count.index].id");
        assert_eq!(print(path("each.value.labels")), "each.value.labels");
        assert_eq!(
            print(path("data.aws_eks_cluster.this.identity[0].oidc[0].issuer")),
            "data.aws_eks_cluster.this.identity[0].oidc[0].issuer"
        );
        assert_eq!(print(path("local.x[\"a\"]")), "local.x[\"a\"]");
    }

    #[test]
    fn operators_conditionals_and_types() {
        assert_eq!(
            print(cond(var("single"), num(1), call("length", vec![var("azs")]))),
            "var.single ? 1 : length(var.azs)"
        );
        assert_eq!(print(and(ge(var("n"), num(1)), le(var("n"), num(6)))), "var.n >= 1 && var.n <= 6");
        assert_eq!(print(map_of(object_of([("min", ty("number"))]))), "map(object({ min = number }))");
        assert_eq!(print(tpl("${var.name}-vpc")), "\"${var.name}-vpc\"");
    }
}
