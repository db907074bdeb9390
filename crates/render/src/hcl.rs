//! HCL helpers: typed builders for the expressions Terraform code uses most, and the printer
//! that writes hcl-rs syntax trees in canonical `terraform fmt` form.
//!
//! Printing is two passes: [`layout`] turns the tree into text and decides where lines break
//! (the one thing the formatter never changes); [`hclwrite`], a port of HashiCorp's
//! `hclwrite.Format` over a lexer with `hclsyntax`'s token kinds ([`lex`]), then sets every
//! space exactly as `terraform fmt` does. `scripts/validate` runs HashiCorp's own parser and
//! formatter over the bundle to hold the port to that.

use hcl::expr::{FuncCall, Traversal, TraversalOperator, Variable};
use hcl::{Body, Expression, Identifier};

/// A reference such as `data.aws_eks_cluster.this.endpoint`, from its parts.
pub fn reference(parts: &[&str]) -> Expression {
    let (root, rest) = parts.split_first().map_or(("_", &[][..]), |(r, rest)| (*r, rest));
    let mut t = Traversal::builder(Variable::unchecked(root));
    for p in rest {
        t = t.attr(Identifier::unchecked(*p));
    }
    Expression::from(t.build())
}

/// `base[index]` then `.attr`… : e.g. `reference_indexed(&["data","x","y","ca"], 0, &["data"])`.
pub fn reference_indexed(parts: &[&str], index: u64, after: &[&str]) -> Expression {
    let Expression::Traversal(t) = reference(parts) else { return reference(parts) };
    let mut ops = t.operators.clone();
    ops.push(TraversalOperator::Index(Expression::from(index)));
    for a in after {
        ops.push(TraversalOperator::GetAttr(Identifier::unchecked(*a)));
    }
    Expression::from(Traversal::new(t.expr.clone(), ops))
}

/// `name(args…)`.
pub fn call(name: &str, args: Vec<Expression>) -> Expression {
    let mut f = FuncCall::builder(Identifier::unchecked(name));
    for a in args {
        f = f.arg(a);
    }
    Expression::from(f.build())
}

/// An object expression with identifier-style keys, in the given order.
pub fn object<K: Into<String>>(items: impl IntoIterator<Item = (K, Expression)>) -> Expression {
    let obj: hcl::Object<hcl::ObjectKey, Expression> = items
        .into_iter()
        .map(|(k, v)| {
            let k: String = k.into();
            // A key with an interpolation is a template expression, not a literal string.
            let key = if k.contains("${") {
                hcl::ObjectKey::Expression(Expression::TemplateExpr(Box::new(hcl::expr::TemplateExpr::QuotedString(k))))
            } else {
                hcl::ObjectKey::from(k)
            };
            (key, v)
        })
        .collect();
    Expression::Object(obj)
}

mod hclwrite;
mod layout;
mod lex;

pub use hclwrite::format;
use layout::COMMENT_KEY;
pub use layout::MAX_WIDTH;

/// A `# text` comment line, placed where this attribute stands in the tree. hcl-rs trees carry
/// no comments, so a comment travels through the tree as an attribute with a reserved key and
/// becomes a comment line when printed, attached to the item below it.
pub fn comment(text: impl AsRef<str>) -> hcl::Attribute {
    hcl::Attribute::new(COMMENT_KEY, format!("# {}", text.as_ref()))
}

/// An inline checkov waiver, `#checkov:skip=ID:reason`, for the block it stands in.
pub fn checkov_skip(id: &str, reason: &str) -> hcl::Attribute {
    hcl::Attribute::new(COMMENT_KEY, format!("#checkov:skip={id}:{reason}"))
}

/// A trivy waiver, `#trivy:ignore:ID`, for the block that follows it.
pub fn trivy_ignore(id: &str) -> hcl::Attribute {
    hcl::Attribute::new(COMMENT_KEY, format!("#trivy:ignore:{id}"))
}

/// Print `body` in canonical `terraform fmt` form, after a header comment.
///
/// The layout pass decides the line breaks; a port of `hclwrite.Format` then sets every
/// space, so the text is a fixed point of `terraform fmt`. Heredoc content is written
/// byte-for-byte as given.
pub fn to_terraform(body: &Body, header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    if !header.is_empty() {
        out.push('\n');
    }
    out.push_str(&layout::print_body(body));
    let mut text = format(&out);
    while text.ends_with("\n\n") {
        text.pop();
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// `hclwrite.Format` of `text` (the name is from when only `=` alignment was reproduced; it
/// now applies every rule: indentation, spacing, `=` and comment alignment).
pub fn align_equals(text: &str) -> String {
    format(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_runs_like_terraform_fmt() {
        let input = "resource \"x\" \"y\" {\n  ami = \"abc\"\n  instance_type = \"t3.micro\"\n  tags = {\n    Name = \"x\"\n    Environment = \"dev\"\n  }\n  count = 1\n}\n";
        let want = "resource \"x\" \"y\" {\n  ami           = \"abc\"\n  instance_type = \"t3.micro\"\n  tags = {\n    Name        = \"x\"\n    Environment = \"dev\"\n  }\n  count = 1\n}\n";
        assert_eq!(align_equals(input), want);
    }

    #[test]
    fn ignores_equals_inside_strings_and_operators() {
        let input = "b {\n  a = \"x = y\"\n  bb = var.a == 1 ? \"p\" : \"q\"\n}\n";
        let want = "b {\n  a  = \"x = y\"\n  bb = var.a == 1 ? \"p\" : \"q\"\n}\n";
        assert_eq!(align_equals(input), want);
    }

    #[test]
    fn alignment_is_idempotent() {
        let input = "  a = 1\n  long_name = [1, 2]\n\n  b = { x = 1 }\n";
        let once = align_equals(input);
        assert_eq!(align_equals(&once), once);
    }

    #[test]
    fn comments_become_comment_lines_next_to_their_block() {
        let body = Body::builder()
            .add_attribute(trivy_ignore("AVD-AWS-0164"))
            .add_block(
                hcl::Block::builder("resource")
                    .add_label("aws_subnet")
                    .add_label("public")
                    .add_attribute(checkov_skip("CKV_AWS_130", "public subnets hold load balancers: \"quoted\" ${x}"))
                    .add_attribute(("map_public_ip_on_launch", true))
                    .add_attribute(("vpc_id", "v"))
                    .build(),
            )
            .build();
        let text = to_terraform(&body, "");
        assert_eq!(
            text,
            "#trivy:ignore:AVD-AWS-0164\nresource \"aws_subnet\" \"public\" {\n  #checkov:skip=CKV_AWS_130:public subnets hold load balancers: \"quoted\" ${x}\n  map_public_ip_on_launch = true\n  vpc_id                  = \"v\"\n}\n"
        );
    }

    #[test]
    fn builds_references_and_calls() {
        let body = Body::builder()
            .add_attribute((
                "ca",
                call(
                    "base64decode",
                    vec![reference_indexed(
                        &["data", "aws_eks_cluster", "this", "certificate_authority"],
                        0,
                        &["data"],
                    )],
                ),
            ))
            .add_attribute(("host", reference(&["data", "aws_eks_cluster", "this", "endpoint"])))
            .build();
        let text = to_terraform(&body, "");
        assert_eq!(
            text,
            "ca   = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)\nhost = data.aws_eks_cluster.this.endpoint\n"
        );
    }
}
