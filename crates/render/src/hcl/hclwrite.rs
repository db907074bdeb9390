//! A port of HashiCorp's `hclwrite.Format` (hashicorp/hcl, `hclwrite/format.go`), the
//! formatter behind `terraform fmt`.
//!
//! Format changes only the spaces before tokens, never newlines or token bytes, in three passes
//! over the lines of the token stream:
//! 1. indentation: two spaces per level of an "indent stack" driven by each line's net count
//!    of opening minus closing brackets (a line that opens several brackets indents once);
//! 2. spacing between the tokens of a line, by [`space_after`]'s rules;
//! 3. alignment: a run of consecutive lines that each assign a complete value (`key = value`,
//!    brackets balanced after the `=`) aligns its `=`, and a run of lines ending in a comment
//!    aligns the comments.
//!
//! Anything the printer emits goes through this, so the output is what the formatter would
//! leave unchanged provided the printer's newlines are where a Terraform author may put them.

use super::lex::{Kind, Token, lex};

/// Format HCL source the way `hclwrite.Format` does.
pub fn format(src: &str) -> String {
    let mut tokens = lex(src);
    format_tokens(&mut tokens);
    let mut out = String::with_capacity(src.len() + src.len() / 8);
    for t in &tokens {
        out.extend(std::iter::repeat_n(' ', t.spaces));
        out.push_str(&t.bytes);
    }
    out
}

/// One line of tokens, split into hclwrite's cells: `lead` (up to the `=`), `assign` (from the
/// `=` when the value is complete on this line) and a trailing single-line `comment`. Ranges
/// index into the token vector.
#[derive(Debug, Clone, Default)]
struct Line {
    lead: std::ops::Range<usize>,
    assign: Option<std::ops::Range<usize>>,
    comment: Option<std::ops::Range<usize>>,
}

fn format_tokens(tokens: &mut [Token]) {
    let mut lines = lines_for_format(tokens);
    format_indent(tokens, &lines);
    format_spaces(tokens, &lines);
    format_cells(tokens, &mut lines);
}

fn is_newline(t: &Token) -> bool {
    match t.kind {
        Kind::Newline => true,
        // Single-line comments consume their terminating newline.
        Kind::Comment => t.bytes.ends_with('\n'),
        _ => false,
    }
}

fn bracket_change(kind: Kind) -> i32 {
    match kind {
        Kind::OBrace | Kind::OBrack | Kind::OParen | Kind::TemplateControl | Kind::TemplateInterp => 1,
        Kind::CBrace | Kind::CBrack | Kind::CParen | Kind::TemplateSeqEnd => -1,
        _ => 0,
    }
}

fn lines_for_format(tokens: &[Token]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = 0;
    // The end-of-input token belongs to no line.
    let tokens = match tokens.split_last() {
        Some((last, rest)) if last.kind == Kind::Eof => rest,
        _ => tokens,
    };
    for (i, t) in tokens.iter().enumerate() {
        if is_newline(t) {
            lines.push(Line { lead: start..i + 1, ..Line::default() });
            start = i + 1;
        }
    }
    lines.push(Line { lead: start..tokens.len(), ..Line::default() });

    for line in &mut lines {
        if line.lead.is_empty() {
            continue;
        }
        if line.lead.len() > 1 && tokens[line.lead.end - 1].kind == Kind::Comment {
            line.comment = Some(line.lead.end - 1..line.lead.end);
            line.lead.end -= 1;
        }
        for i in line.lead.clone() {
            if i > line.lead.start && tokens[i].kind == Kind::Equal {
                // Only a value that is complete on this line joins an alignment run.
                let net: i32 = tokens[i..line.lead.end].iter().map(|t| bracket_change(t.kind)).sum();
                if net == 0 {
                    line.assign = Some(i..line.lead.end);
                    line.lead.end = i;
                }
                break;
            }
        }
    }
    lines
}

fn format_indent(tokens: &mut [Token], lines: &[Line]) {
    let mut indents: Vec<i32> = Vec::new();
    for line in lines {
        if line.lead.is_empty() {
            continue;
        }
        let first = line.lead.start;
        if tokens[first].kind == Kind::Newline {
            tokens[first].spaces = 0;
            continue;
        }
        let mut net = 0;
        for t in &tokens[line.lead.clone()] {
            net += bracket_change(t.kind);
            if t.kind == Kind::OHeredoc {
                break;
            }
        }
        if let Some(assign) = &line.assign {
            net += tokens[assign.clone()].iter().map(|t| bracket_change(t.kind)).sum::<i32>();
        }
        if net > 0 {
            tokens[first].spaces = 2 * indents.len();
            indents.push(net);
        } else {
            let mut closed = -net;
            while closed > 0 {
                let Some(top) = indents.last_mut() else { break };
                if closed > *top {
                    closed -= *top;
                    indents.pop();
                } else if closed < *top {
                    *top -= closed;
                    closed = 0;
                } else {
                    indents.pop();
                    closed = 0;
                }
            }
            tokens[first].spaces = 2 * indents.len();
        }
    }
}

fn format_spaces(tokens: &mut [Token], lines: &[Line]) {
    for line in lines {
        space_cell(tokens, line.lead.clone(), false);
        if let Some(assign) = &line.assign {
            space_cell(tokens, assign.clone(), true);
        }
    }
}

fn space_cell(tokens: &mut [Token], cell: std::ops::Range<usize>, is_assign: bool) {
    for i in cell.clone() {
        if is_assign && i == cell.start {
            // The first token of an assign cell (the `=`) is always separated from its lead.
            tokens[i].spaces = 1;
        }
        let before = if i > cell.start { tokens[i - 1].kind } else { Kind::Nil };
        if i + 1 >= cell.end {
            continue;
        }
        let space = space_after(&tokens[i], before, tokens[i + 1].kind);
        tokens[i + 1].spaces = usize::from(space);
    }
}

fn columns(tokens: &[Token], cell: &Option<std::ops::Range<usize>>) -> usize {
    cell.as_ref().map_or(0, |r| cells_width(&tokens[r.clone()]))
}

fn cells_width(tokens: &[Token]) -> usize {
    // hclwrite counts grapheme clusters; the printer's output has no combining sequences, so
    // chars are the same count.
    tokens.iter().map(|t| t.spaces + t.bytes.chars().count()).sum()
}

fn format_cells(tokens: &mut [Token], lines: &mut [Line]) {
    // `=` alignment first, because it moves the comment cells.
    let mut chain: Option<usize> = None;
    let mut max = 0;
    let close_assign = |tokens: &mut [Token], lines: &[Line], from: usize, to: usize, max: usize| {
        for line in &lines[from..to] {
            let cols = cells_width(&tokens[line.lead.clone()]);
            if let Some(a) = &line.assign {
                tokens[a.start].spaces = max - cols + 1;
            }
        }
    };
    for i in 0..lines.len() {
        if lines[i].assign.is_none() {
            if let Some(start) = chain.take() {
                close_assign(tokens, lines, start, i, max);
                max = 0;
            }
        } else {
            chain.get_or_insert(i);
            max = max.max(cells_width(&tokens[lines[i].lead.clone()]));
        }
    }
    if let Some(start) = chain.take() {
        close_assign(tokens, lines, start, lines.len(), max);
    }

    max = 0;
    let close_comment = |tokens: &mut [Token], lines: &[Line], from: usize, to: usize, max: usize| {
        for line in &lines[from..to] {
            let cols = cells_width(&tokens[line.lead.clone()]) + columns(tokens, &line.assign);
            if let Some(c) = &line.comment {
                tokens[c.start].spaces = max - cols + 1;
            }
        }
    };
    for i in 0..lines.len() {
        if lines[i].comment.is_none() {
            if let Some(start) = chain.take() {
                close_comment(tokens, lines, start, i, max);
                max = 0;
            }
        } else {
            chain.get_or_insert(i);
            let cols = cells_width(&tokens[lines[i].lead.clone()]) + columns(tokens, &lines[i].assign);
            max = max.max(cols);
        }
    }
    if let Some(start) = chain.take() {
        close_comment(tokens, lines, start, lines.len(), max);
    }
}

/// hclwrite's `spaceAfterToken`: whether `subject` (preceded by `before`) is followed by a
/// space before `after`. The order of the cases matters; it is hclwrite's.
fn space_after(subject: &Token, before: Kind, after: Kind) -> bool {
    use Kind::*;
    let s = subject.kind;
    match () {
        _ if after == Newline || after == Nil => false,
        _ if s == Ident && after == OParen => false,
        _ if (s == Ident && after == DoubleColon) || (s == DoubleColon && after == Ident) => false,
        _ if s == Dot || after == Dot => false,
        _ if after == Comma || after == Ellipsis => false,
        _ if s == Comma => true,
        _ if matches!(s, QuotedLit | StringLit | OQuote | OHeredoc)
            || matches!(after, QuotedLit | StringLit | CQuote | CHeredoc) =>
        {
            false
        }
        // `[for x in [foo] : x]` keeps the space after the `in` keyword.
        _ if s == Ident && subject.bytes == "in" && before == Ident => true,
        _ if after == OBrack && (s == Ident || s == Number || bracket_change(s) < 0) => false,
        _ if s == Bang => false,
        _ if s == Minus => !matches!(
            before,
            Nil | OParen
                | OBrace
                | OBrack
                | Equal
                | Colon
                | Comma
                | Question
                | Plus
                | Star
                | Slash
                | Percent
                | Minus
                | EqualOp
                | NotEqual
                | Gt
                | GtEq
                | Lt
                | LtEq
                | And
                | Or
                | Bang
        ),
        _ if s == OBrace || after == CBrace => !(s == OBrace && after == CBrace),
        _ if matches!(s, TemplateInterp | TemplateControl) && after == OBrace => true,
        _ if s == CBrace && after == TemplateSeqEnd => true,
        _ if s == TemplateSeqEnd && matches!(after, TemplateInterp | TemplateControl) => false,
        _ if bracket_change(s) > 0 => false,
        _ if bracket_change(after) < 0 => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    // Expected outputs below were produced by `terraform fmt` 1.11 and by `@cdktf/hcl-tools`
    // 0.21.0 (hclwrite.Format) from the same inputs; both agree on every case.

    #[test]
    fn spacing_rules() {
        let input = "a = !var.x\nb = var.a?1:2\nc = {for k,v in var.m:k=>v...if v!=null}\nd = [for x in [1]:x]\ne = -1\nj = \"${a}${b}\"\nk = \"${ {a=1} }\"\nl = x[0][1]\nm = f(1)[0]\nh = x[*].id\n";
        let want = "a = !var.x\nb = var.a ? 1 : 2\nc = { for k, v in var.m : k => v... if v != null }\nd = [for x in [1] : x]\ne = -1\nj = \"${a}${b}\"\nk = \"${ { a = 1 } }\"\nl = x[0][1]\nm = f(1)[0]\nh = x[*].id\n";
        assert_eq!(format(input), want);
    }

    #[test]
    fn alignment_stops_at_multiline_values_and_heredocs_join_runs() {
        let input = "a = <<EOT\nx = 1\n  yy=2\nEOT\nbb = 2\nccc = 3\nblock {\n  u = 1\n  www = [\n  1,\n  2,\n  ]\n  v = 1\n}\nfilter {    }\n";
        let want = "a   = <<EOT\nx = 1\n  yy=2\nEOT\nbb  = 2\nccc = 3\nblock {\n  u = 1\n  www = [\n    1,\n    2,\n  ]\n  v = 1\n}\nfilter {}\n";
        assert_eq!(format(input), want);
    }

    #[test]
    fn trailing_comments_align_in_runs() {
        let input = "o = {\n  a = 1 # c\n  bbb = 22 # d\n  cc = [1,\n  2] # e\n}\n";
        let want = "o = {\n  a   = 1  # c\n  bbb = 22 # d\n  cc = [1,\n  2] # e\n}\n";
        assert_eq!(format(input), want);
    }

    #[test]
    fn heredoc_in_a_call_closes_on_its_own_line() {
        let input = "r {\n  user_data = base64encode(<<EOT\nX=1\na=\"b\"\nEOT\n)\n  b = 1\n}\n";
        let want = "r {\n  user_data = base64encode(<<EOT\nX=1\na=\"b\"\nEOT\n  )\n  b = 1\n}\n";
        assert_eq!(format(input), want);
    }

    #[test]
    fn whitespace_after_the_last_token_is_left_alone() {
        assert_eq!(format("a   = 1\n   "), "a = 1\n   ");
        assert_eq!(format("a = 1   "), "a = 1   ");
    }

    #[test]
    fn formatting_is_idempotent() {
        let input = "x = { for k, v in y : k => {\na = 1\nbb = [for z in v : z]\n} }\n";
        let once = format(input);
        assert_eq!(format(&once), once);
    }
}
