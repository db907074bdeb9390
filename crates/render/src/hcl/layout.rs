//! The printer's layout pass: an hcl-rs syntax tree to HCL text, deciding only where lines
//! break. Spacing and indentation are left rough on purpose: [`super::hclwrite::format`]
//! recomputes them exactly as `terraform fmt` does, so what this pass owns is the one thing
//! the formatter never changes — the newlines.
//!
//! Layout is what a careful author would write and `terraform fmt` keeps:
//! - blocks are separated from their neighbours by a blank line; consecutive attributes are
//!   not; comment lines stay attached to the item below them;
//! - an object given directly to an attribute (or to a key of a multi-line object) is written
//!   one item per line; elsewhere an object, list, call or `for` stays on one line when it
//!   fits in [`MAX_WIDTH`] columns and is broken otherwise — one element per line, or, for a
//!   call whose last argument is itself an object, list, call or heredoc, by breaking only
//!   that argument (`merge(var.tags, {` … `})`);
//! - heredoc content is written exactly as given, and the closing marker always ends its line
//!   (HashiCorp's scanner only recognises a marker that stands alone: `EOT)` is content);
//! - what `terraform fmt` rewrites beyond hclwrite — an attribute value that is a lone
//!   interpolation `"${x}"`, legacy variable types `list`/`"string"` — is written in the form
//!   it rewrites them to, and block labels are always quoted.

use hcl::expr::{
    Conditional, ForExpr, FuncCall, FuncName, Heredoc, HeredocStripMode, Operation, TemplateExpr, TraversalOperator,
};
use hcl::{Attribute, Block, BlockLabel, Body, Expression, Identifier, ObjectKey, Structure};

use super::lex::{Kind, lex};

/// Lines longer than this are broken where the syntax allows.
pub const MAX_WIDTH: usize = 100;

/// The attribute key that stands for a comment line (hcl-rs trees carry no comments).
pub(super) const COMMENT_KEY: &str = "__cerverus_comment";

/// Lay out a body as HCL text (rough spacing; see the module docs).
pub fn print_body(body: &Body) -> String {
    let mut p = Printer::default();
    p.body(body, 0, &[]);
    p.out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// The value of an attribute or of a multi-line object's key: objects go one item a line.
    Block,
    /// Anywhere else: on one line when it fits.
    Inline,
}

#[derive(Default)]
struct Printer {
    out: String,
}

impl Printer {
    fn push(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn col(&self) -> usize {
        self.out.rsplit('\n').next().map_or(0, |l| l.chars().count())
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn end_line(&mut self) {
        if !self.at_line_start() {
            self.out.push('\n');
        }
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    fn fits(&self, text: &str) -> bool {
        !text.contains('\n') && self.col() + text.chars().count() <= MAX_WIDTH
    }

    fn body(&mut self, body: &Body, depth: usize, path: &[&str]) {
        let items: Vec<&Structure> = body.iter().collect();
        let mut prev_block: Option<bool> = None;
        let mut i = 0;
        while i < items.len() {
            let group = i;
            while i < items.len() && comment_text(items[i]).is_some() {
                i += 1;
            }
            let is_block = matches!(items.get(i), Some(Structure::Block(_)));
            if prev_block.is_some_and(|prev| prev || is_block) {
                self.out.push('\n');
            }
            for c in &items[group..i] {
                for line in comment_text(c).unwrap_or_default().lines() {
                    self.indent(depth);
                    if !line.starts_with('#') && !line.starts_with("//") {
                        self.push("# ");
                    }
                    self.push(line);
                    self.out.push('\n');
                }
            }
            match items.get(i) {
                Some(Structure::Attribute(a)) => self.attribute(a, depth, path),
                Some(Structure::Block(b)) => self.block(b, depth, path),
                None => {}
            }
            prev_block = Some(is_block);
            i += 1;
        }
    }

    fn attribute(&mut self, a: &Attribute, depth: usize, path: &[&str]) {
        self.indent(depth);
        self.push(a.key.as_str());
        self.push(" = ");
        let value = if path == ["variable"] && a.key.as_str() == "type" {
            legacy_type(&a.expr)
        } else {
            lone_interpolation(&a.expr)
        };
        self.value(value.as_ref().unwrap_or(&a.expr), depth);
        self.end_line();
    }

    /// An attribute's or a multi-line object item's value. Newlines end such a value, so an
    /// operator or conditional that carries a heredoc (whose closing marker ends a line) is
    /// wrapped in parentheses, inside which newlines are insignificant.
    fn value(&mut self, e: &Expression, depth: usize) {
        let compound = matches!(e, Expression::Operation(_) | Expression::Conditional(_));
        if compound && inline(e).contains('\n') {
            self.push("(");
            self.expr(e, depth, Ctx::Inline);
            self.push(")");
        } else {
            self.expr(e, depth, Ctx::Block);
        }
    }

    fn block(&mut self, b: &Block, depth: usize, path: &[&str]) {
        self.indent(depth);
        self.push(b.identifier.as_str());
        for label in &b.labels {
            self.push(" ");
            let text = match label {
                BlockLabel::String(s) => s.as_str(),
                BlockLabel::Identifier(i) => i.as_str(),
            };
            self.push(&quote(text));
        }
        if b.body.iter().next().is_none() {
            self.push(" {}\n");
            return;
        }
        self.push(" {\n");
        let mut inner = path.to_vec();
        inner.push(b.identifier.as_str());
        self.body(&b.body, depth + 1, &inner);
        self.indent(depth);
        self.push("}\n");
    }

    fn expr(&mut self, e: &Expression, depth: usize, ctx: Ctx) {
        match e {
            Expression::Object(o) if !o.is_empty() => {
                if ctx == Ctx::Inline {
                    let text = inline(e);
                    if self.fits(&text) {
                        return self.push(&text);
                    }
                }
                self.push("{\n");
                for (k, v) in o {
                    self.indent(depth + 1);
                    self.push(&key(k));
                    self.push(" = ");
                    self.value(v, depth + 1);
                    self.end_line();
                }
                self.indent(depth);
                self.push("}");
            }
            Expression::Array(items) if !items.is_empty() => {
                let text = inline(e);
                let lone_atom = items.len() == 1 && !breakable(&items[0]);
                if self.fits(&text) || (lone_atom && !text.contains('\n')) {
                    return self.push(&text);
                }
                self.push("[\n");
                for item in items {
                    self.indent(depth + 1);
                    self.expr(item, depth + 1, Ctx::Inline);
                    self.push(",\n");
                }
                self.indent(depth);
                self.push("]");
            }
            Expression::FuncCall(f) => self.call(f, depth),
            Expression::ForExpr(f) => self.for_expr(f, depth),
            Expression::Conditional(c) => {
                let text = inline(e);
                if self.fits(&text) {
                    return self.push(&text);
                }
                self.push(&operand(&c.cond_expr, Parent::Conditional));
                self.push(" ? ");
                self.expr(&c.true_expr, depth, Ctx::Inline);
                self.push(" : ");
                self.expr(&c.false_expr, depth, Ctx::Inline);
            }
            Expression::TemplateExpr(t) => match t.as_ref() {
                TemplateExpr::Heredoc(h) => self.heredoc(h, depth),
                TemplateExpr::QuotedString(_) => self.push(&inline(e)),
            },
            Expression::Parenthesis(inner) => {
                self.push("(");
                self.expr(inner, depth, Ctx::Inline);
                self.push(")");
            }
            _ => self.push(&inline(e)),
        }
    }

    fn call(&mut self, f: &FuncCall, depth: usize) {
        let text = inline_call(f);
        if self.fits(&text) {
            return self.push(&text);
        }
        let name = func_name(&f.name);
        if let Some((last, init)) = f.args.split_last() {
            // Break only the last argument when everything before it fits on this line.
            let mut prefix = format!("{name}(");
            for a in init {
                prefix.push_str(&inline(a));
                prefix.push_str(", ");
            }
            if !f.expand_final && (breakable(last) || is_heredoc(last)) && self.fits(&prefix) {
                self.push(&prefix);
                self.expr(last, depth, Ctx::Inline);
                self.push(")");
                return;
            }
        }
        self.push(&name);
        self.push("(\n");
        for (i, a) in f.args.iter().enumerate() {
            self.indent(depth + 1);
            self.expr(a, depth + 1, Ctx::Inline);
            // The expansion marker replaces the trailing comma (HCL allows one or the other).
            self.push(if f.expand_final && i + 1 == f.args.len() { "...\n" } else { ",\n" });
        }
        self.indent(depth);
        self.push(")");
    }

    fn for_expr(&mut self, f: &ForExpr, depth: usize) {
        let text = inline_for(f);
        if self.fits(&text) {
            return self.push(&text);
        }
        // Newlines are insignificant inside a `for` expression, in both bracket kinds.
        let (open, close) = if f.key_expr.is_some() { ("{", "}") } else { ("[", "]") };
        self.push(open);
        self.push("\n");
        self.indent(depth + 1);
        self.push(&for_head(f));
        self.expr(&f.value_expr, depth + 1, Ctx::Inline);
        self.push(&for_tail(f));
        self.end_line();
        self.indent(depth);
        self.push(close);
    }

    fn heredoc(&mut self, h: &Heredoc, depth: usize) {
        let marker = heredoc_marker(h);
        self.push("<<");
        if h.strip == HeredocStripMode::Indent {
            self.push("-");
        }
        self.push(&marker);
        self.push("\n");
        self.push(&h.template);
        if !h.template.ends_with('\n') {
            self.push("\n");
        }
        if h.strip == HeredocStripMode::Indent {
            self.indent(depth);
        }
        self.push(&marker);
        // The marker must be alone on its line: whatever follows (`)`, `,`) goes on the next.
        self.push("\n");
    }
}

/// The heredoc's delimiter, unless a content line equals it (that line would close the
/// heredoc early); then the first `<delimiter>_<n>` that no line equals.
fn heredoc_marker(h: &Heredoc) -> String {
    let base = h.delimiter.as_str();
    let taken = |m: &str| h.template.lines().any(|l| l.trim() == m);
    if !taken(base) {
        return base.to_string();
    }
    (1..).map(|n| format!("{base}_{n}")).find(|m| !taken(m)).unwrap_or_else(|| base.to_string())
}

fn comment_text(s: &Structure) -> Option<&str> {
    match s {
        Structure::Attribute(a) if a.key.as_str() == COMMENT_KEY => match &a.expr {
            Expression::String(text) => Some(text.as_str()),
            _ => Some(""),
        },
        _ => None,
    }
}

fn is_heredoc(e: &Expression) -> bool {
    matches!(e, Expression::TemplateExpr(t) if matches!(t.as_ref(), TemplateExpr::Heredoc(_)))
}

/// Expressions that can be broken over lines by breaking inside their own brackets.
fn breakable(e: &Expression) -> bool {
    match e {
        Expression::Object(o) => !o.is_empty(),
        Expression::Array(a) => !a.is_empty(),
        Expression::FuncCall(f) => !f.args.is_empty(),
        Expression::ForExpr(_) => true,
        _ => false,
    }
}

/// A quoted string literal with HCL's escapes (`\"`, `\n`, `$${`, …), as hcl-rs writes it.
fn quote(s: &str) -> String {
    hcl::format::to_string(&Expression::String(s.to_string())).unwrap_or_else(|_| format!("{s:?}"))
}

fn is_valid_key(s: &str) -> bool {
    Identifier::new(s).is_ok() && !matches!(s, "true" | "false" | "null" | "for")
}

fn key(k: &ObjectKey) -> String {
    match k {
        ObjectKey::Identifier(i) if is_valid_key(i.as_str()) => i.to_string(),
        ObjectKey::Identifier(i) => quote(i.as_str()),
        ObjectKey::Expression(Expression::String(s)) if is_valid_key(s) => s.clone(),
        ObjectKey::Expression(Expression::String(s)) => quote(s),
        ObjectKey::Expression(e) => inline(e),
        // hcl-rs's key enum is non-exhaustive; print a new kind the way hcl-rs does.
        other => hcl::format::to_string(other).unwrap_or_default(),
    }
}

fn func_name(n: &FuncName) -> String {
    let mut s = String::new();
    for ns in &n.namespace {
        s.push_str(ns.as_str());
        s.push_str("::");
    }
    s.push_str(n.name.as_str());
    s
}

/// Where an operand sits, to decide whether it needs parentheses.
#[derive(Clone, Copy)]
enum Parent {
    Conditional,
    Unary,
    /// Left or right operand of a binary operator of this precedence.
    Left(u8),
    Right(u8),
    Traversal,
}

/// An operand on one line, parenthesised when the tree's grouping would otherwise be lost.
fn operand(e: &Expression, parent: Parent) -> String {
    let needs = match (e, parent) {
        (Expression::Conditional(_), _) => true,
        (Expression::Operation(op), p) => match (op.as_ref(), p) {
            (Operation::Binary(b), Parent::Left(prec)) => b.operator.precedence() < prec,
            (Operation::Binary(b), Parent::Right(prec)) => b.operator.precedence() <= prec,
            (Operation::Binary(_), Parent::Unary | Parent::Traversal) => true,
            (Operation::Unary(_), Parent::Traversal) => true,
            _ => false,
        },
        _ => false,
    };
    if needs { format!("({})", inline(e)) } else { inline(e) }
}

fn inline_call(f: &FuncCall) -> String {
    let args: Vec<String> = f.args.iter().map(inline).collect();
    let ellipsis = if f.expand_final { "..." } else { "" };
    format!("{}({}{ellipsis})", func_name(&f.name), args.join(", "))
}

fn for_head(f: &ForExpr) -> String {
    let mut s = String::from("for ");
    if let Some(k) = &f.key_var {
        s.push_str(k.as_str());
        s.push_str(", ");
    }
    s.push_str(f.value_var.as_str());
    s.push_str(" in ");
    s.push_str(&inline(&f.collection_expr));
    s.push_str(" : ");
    if let Some(k) = &f.key_expr {
        s.push_str(&inline(k));
        s.push_str(" => ");
    }
    s
}

fn for_tail(f: &ForExpr) -> String {
    let mut s = String::new();
    if f.key_expr.is_some() && f.grouping {
        s.push_str("...");
    }
    if let Some(c) = &f.cond_expr {
        s.push_str(" if ");
        s.push_str(&inline(c));
    }
    s
}

fn inline_for(f: &ForExpr) -> String {
    let (open, close) = if f.key_expr.is_some() { ("{ ", " }") } else { ("[", "]") };
    format!("{open}{}{}{}{close}", for_head(f), inline(&f.value_expr), for_tail(f))
}

/// An expression on one line (heredocs excepted: they always span lines).
fn inline(e: &Expression) -> String {
    match e {
        Expression::Null => "null".into(),
        Expression::Bool(b) => b.to_string(),
        Expression::Number(n) => n.to_string(),
        Expression::String(s) => quote(s),
        Expression::Array(items) => format!("[{}]", items.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Expression::Object(o) if o.is_empty() => "{}".into(),
        Expression::Object(o) => {
            let items: Vec<String> = o.iter().map(|(k, v)| format!("{} = {}", key(k), inline(v))).collect();
            format!("{{ {} }}", items.join(", "))
        }
        Expression::TemplateExpr(t) => match t.as_ref() {
            TemplateExpr::QuotedString(s) => format!("\"{s}\""),
            TemplateExpr::Heredoc(h) => {
                let mut p = Printer::default();
                p.heredoc(h, 0);
                p.out
            }
        },
        Expression::Variable(v) => v.to_string(),
        Expression::Traversal(t) => {
            let mut s = operand(&t.expr, Parent::Traversal);
            for op in &t.operators {
                match op {
                    TraversalOperator::AttrSplat => s.push_str(".*"),
                    TraversalOperator::FullSplat => s.push_str("[*]"),
                    TraversalOperator::GetAttr(i) => {
                        s.push('.');
                        s.push_str(i.as_str());
                    }
                    TraversalOperator::LegacyIndex(n) => s.push_str(&format!(".{n}")),
                    TraversalOperator::Index(i) => s.push_str(&format!("[{}]", inline(i))),
                }
            }
            s
        }
        Expression::FuncCall(f) => inline_call(f),
        Expression::Parenthesis(inner) => format!("({})", inline(inner)),
        Expression::Conditional(c) => inline_conditional(c),
        Expression::Operation(op) => match op.as_ref() {
            Operation::Unary(u) => format!("{}{}", u.operator.as_str(), operand(&u.expr, Parent::Unary)),
            Operation::Binary(b) => {
                let p = b.operator.precedence();
                format!(
                    "{} {} {}",
                    operand(&b.lhs_expr, Parent::Left(p)),
                    b.operator.as_str(),
                    operand(&b.rhs_expr, Parent::Right(p))
                )
            }
        },
        Expression::ForExpr(f) => inline_for(f),
        // hcl-rs may grow variants; print them the way hcl-rs does.
        #[allow(unreachable_patterns)]
        other => hcl::format::to_string(other).unwrap_or_default(),
    }
}

fn inline_conditional(c: &Conditional) -> String {
    format!(
        "{} ? {} : {}",
        operand(&c.cond_expr, Parent::Conditional),
        operand(&c.true_expr, Parent::Conditional),
        operand(&c.false_expr, Parent::Conditional)
    )
}

/// `"${expr}"` as an attribute's whole value is written `expr`, as `terraform fmt` rewrites it
/// (only when the template is exactly one interpolation and the expression parses).
fn lone_interpolation(e: &Expression) -> Option<Expression> {
    let Expression::TemplateExpr(t) = e else { return None };
    let TemplateExpr::QuotedString(src) = t.as_ref() else { return None };
    let tokens: Vec<_> = lex(&format!("\"{src}\"")).into_iter().filter(|t| t.kind != Kind::Eof).collect();
    let n = tokens.len();
    if n < 5
        || tokens[1].kind != Kind::TemplateInterp
        || tokens[n - 2].kind != Kind::TemplateSeqEnd
        || tokens[n - 1].kind != Kind::CQuote
    {
        return None;
    }
    // terraform fmt's test: no other interpolation and no literal text outside nested quotes.
    let mut quotes = 0i32;
    for t in &tokens[2..n - 2] {
        match t.kind {
            Kind::OQuote => quotes += 1,
            Kind::CQuote => quotes -= 1,
            _ if quotes > 0 => {}
            Kind::TemplateInterp | Kind::TemplateSeqEnd | Kind::QuotedLit => return None,
            _ => {}
        }
    }
    let full = format!("\"{src}\"");
    let inner = full.get(1 + tokens[1].bytes.len()..full.len() - 1 - tokens[n - 2].bytes.len())?;
    inner.parse::<Expression>().ok()
}

/// Legacy variable types as `terraform fmt` rewrites them: `list` → `list(any)`,
/// `"string"` → `string`, `"list"` → `list(string)`, `"map"` → `map(string)`.
fn legacy_type(e: &Expression) -> Option<Expression> {
    let call = |name: &str, arg: &str| {
        Expression::FuncCall(Box::new(FuncCall::builder(Identifier::unchecked(name)).arg(var(arg)).build()))
    };
    match e {
        Expression::Variable(v) if matches!(v.as_str(), "list" | "map" | "set") => Some(call(v.as_str(), "any")),
        Expression::String(s) => match s.as_str() {
            "string" => Some(var("string")),
            "list" | "map" => Some(call(s, "string")),
            _ => None,
        },
        _ => None,
    }
}

fn var(name: &str) -> Expression {
    Expression::Variable(hcl::expr::Variable::unchecked(name))
}
