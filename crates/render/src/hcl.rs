//! HCL helpers: typed builders for the expressions Terraform code uses most, and printing in
//! canonical `terraform fmt` style.
//!
//! Documents are built as hcl-rs syntax trees and printed by hcl-rs's formatter. One thing that
//! formatter does not do is what `terraform fmt` does to runs of attributes: align their `=`.
//! [`align_equals`] reproduces hclwrite's rule (a run of consecutive lines that each assign a
//! complete single-line value is aligned; a line that opens a multi-line value, a block header,
//! a comment or a blank line ends the run), so the output is what `terraform fmt` would leave
//! unchanged.

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

/// The attribute key that stands for a comment line. hcl-rs trees carry no comments, so a
/// comment travels through the tree as this attribute (its value is the whole comment text,
/// escaped by hcl-rs like any string) and becomes a real comment line when printed.
const COMMENT_KEY: &str = "__cerverus_comment";

/// A `# text` comment line, placed where this attribute stands in the tree.
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

/// Turn comment attributes back into comment lines; a comment directly above a block is kept
/// adjacent to it (waivers must touch what they waive).
fn place_comments(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut after_comment = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with(COMMENT_KEY) {
            let indent = &line[..line.len() - trimmed.len()];
            let value = hcl::parse(trimmed)
                .ok()
                .and_then(|body| body.into_attributes().next())
                .and_then(|attr| match attr.expr {
                    Expression::String(s) => Some(s),
                    _ => None,
                })
                .unwrap_or_default();
            lines.push(format!("{indent}{value}"));
            after_comment = true;
            continue;
        }
        if after_comment && trimmed.is_empty() {
            continue;
        }
        after_comment = false;
        lines.push(line.to_string());
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Print `body` in canonical `terraform fmt` style, after a header comment.
pub fn to_terraform(body: &Body, header: &str) -> String {
    let mut buf = Vec::new();
    let mut fmt =
        hcl::format::Formatter::builder().indent(b"  ").compact_arrays(true).prefer_ident_keys(true).build(&mut buf);
    use hcl::format::Format;
    // Formatting into memory cannot fail for a syntax tree hcl-rs built itself.
    let _ = body.format(&mut fmt);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    if !header.is_empty() {
        out.push('\n');
    }
    out.push_str(&align_equals(&place_comments(&text)));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Align `=` in runs of single-line attribute assignments, as `terraform fmt` does.
pub fn align_equals(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let cells: Vec<Option<(String, String)>> = lines.iter().map(|l| split_assign(l)).collect();
    let mut out = String::with_capacity(text.len() + 64);
    let mut i = 0;
    while i < lines.len() {
        if cells[i].is_none() {
            out.push_str(lines[i].trim_end());
            out.push('\n');
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && cells[i].is_some() {
            i += 1;
        }
        let width = cells[start..i].iter().flatten().map(|(lead, _)| lead.chars().count()).max().unwrap_or(0);
        for (lead, rest) in cells[start..i].iter().flatten() {
            out.push_str(lead);
            out.push_str(&" ".repeat(width - lead.chars().count() + 1));
            out.push('=');
            if !rest.is_empty() {
                out.push(' ');
                out.push_str(rest);
            }
            out.push('\n');
        }
    }
    out
}

/// If `line` assigns a complete value (`lead = rest` with balanced brackets after the `=`),
/// return the lead (with indentation, trailing spaces trimmed) and the trimmed rest.
fn split_assign(line: &str) -> Option<(String, String)> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("//") {
        return None;
    }
    let chars: Vec<char> = line.chars().collect();
    let mut in_string = false;
    let mut escaped = false;
    let mut template_depth = 0usize;
    let mut eq_at = None;
    let mut net = 0i32;
    let mut j = 0;
    while j < chars.len() {
        let c = chars[j];
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '$' && chars.get(j + 1) == Some(&'{') {
                template_depth += 1;
                j += 1;
            } else if c == '}' && template_depth > 0 {
                template_depth -= 1;
            } else if c == '"' && template_depth == 0 {
                in_string = false;
            }
            j += 1;
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' => break,
            '{' | '[' | '(' if eq_at.is_some() => net += 1,
            '}' | ']' | ')' if eq_at.is_some() => net -= 1,
            '=' if eq_at.is_none() && j > 0 => {
                let prev = chars[j - 1];
                let next = chars.get(j + 1).copied();
                let operator = matches!(prev, '=' | '!' | '<' | '>') || matches!(next, Some('=') | Some('>'));
                if !operator && !line[..byte_index(line, j)].trim().is_empty() {
                    eq_at = Some(j);
                }
            }
            _ => {}
        }
        j += 1;
    }
    let eq = eq_at?;
    if net != 0 {
        return None;
    }
    let split = byte_index(line, eq);
    let lead = line[..split].trim_end().to_string();
    let rest = line[split + 1..].trim().to_string();
    Some((lead, rest))
}

fn byte_index(s: &str, char_index: usize) -> usize {
    s.char_indices().nth(char_index).map_or(s.len(), |(i, _)| i)
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
        let input = "  a = \"x = y\"\n  bb = var.a == 1 ? \"p\" : \"q\"\n";
        let want = "  a  = \"x = y\"\n  bb = var.a == 1 ? \"p\" : \"q\"\n";
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
