//! A lexer for HCL native syntax that produces the token kinds of HashiCorp's `hclsyntax`
//! scanner, for [`super::hclwrite`] to format exactly as `hclwrite.Format` does.
//!
//! Only what formatting needs is modelled: token kinds and their bytes. Spacing between tokens
//! is not recorded because formatting recomputes every token's leading spaces. Bytes inside
//! quoted strings and heredocs are kept verbatim (literal tokens), so formatting never touches
//! string or heredoc content — only the expressions inside `${…}` and `%{…}`.

/// Token kinds, named after `hclsyntax.Token*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The placeholder hclwrite uses where there is no token (start of a cell).
    Nil,
    Newline,
    /// `# …` and `// …` include their terminating newline; `/* … */` does not.
    Comment,
    Ident,
    Number,
    OQuote,
    CQuote,
    QuotedLit,
    /// `<<EOT` or `<<-EOT`, including the newline that ends it.
    OHeredoc,
    /// The closing marker line, with any indentation before the marker, without its newline.
    CHeredoc,
    /// A run of heredoc content (may end with a newline).
    StringLit,
    /// `${` or `${~`.
    TemplateInterp,
    /// `%{` or `%{~`.
    TemplateControl,
    /// `}` or `~}` closing an interpolation or directive.
    TemplateSeqEnd,
    OBrace,
    CBrace,
    OBrack,
    CBrack,
    OParen,
    CParen,
    Comma,
    Dot,
    Ellipsis,
    Equal,
    FatArrow,
    Colon,
    DoubleColon,
    Question,
    Bang,
    Minus,
    Plus,
    Star,
    Slash,
    Percent,
    EqualOp,
    NotEqual,
    Lt,
    Gt,
    LtEq,
    GtEq,
    And,
    Or,
    /// A character the scanner does not recognise; kept so nothing is lost.
    Invalid,
    /// End of input. Its `spaces` are the whitespace after the last token, which hclwrite
    /// leaves as it found it (it belongs to no line).
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub bytes: String,
    /// Spaces printed before the token; set by formatting.
    pub spaces: usize,
    /// Byte offset just past the token in the source.
    pub end: usize,
}

enum Mode {
    /// Expressions. `in_template` when this level was opened by `${` or `%{`; `braces` counts
    /// the object/block braces open at this level, so the `}` that closes the sequence is told
    /// apart from one that closes an object.
    Normal {
        in_template: bool,
        braces: usize,
    },
    Quoted,
    Heredoc {
        marker: String,
        line_start: bool,
    },
}

/// Split `src` into tokens. Never fails: unknown characters become [`Kind::Invalid`] tokens.
pub fn lex(src: &str) -> Vec<Token> {
    let mut lx = Lexer { src, pos: 0, out: Vec::new(), modes: vec![Mode::Normal { in_template: false, braces: 0 }] };
    lx.run();
    let end = lx.out.last().map_or(0, |t| t.end);
    let trailing = src.len() - end;
    lx.out.push(Token { kind: Kind::Eof, bytes: String::new(), spaces: trailing, end: src.len() });
    lx.out
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    out: Vec<Token>,
    modes: Vec<Mode>,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn push(&mut self, kind: Kind, len: usize) {
        let bytes = self.src[self.pos..self.pos + len].to_string();
        self.pos += len;
        self.out.push(Token { kind, bytes, spaces: 0, end: self.pos });
    }

    fn run(&mut self) {
        while self.pos < self.src.len() {
            match self.modes.last() {
                Some(Mode::Quoted) => self.quoted(),
                Some(Mode::Heredoc { .. }) => self.heredoc(),
                _ => self.normal(),
            }
        }
    }

    /// Length of the longest prefix of the rest whose chars satisfy `f`, after `skip` bytes.
    fn span(&self, skip: usize, f: impl Fn(char) -> bool) -> usize {
        self.rest()[skip..].char_indices().find(|(_, c)| !f(*c)).map_or(self.rest().len() - skip, |(i, _)| i)
    }

    fn normal(&mut self) {
        let rest = self.rest();
        let Some(c) = rest.chars().next() else { return };
        if c == ' ' || c == '\t' {
            self.pos += 1;
            return;
        }
        if rest.starts_with("\r\n") {
            return self.push(Kind::Newline, 2);
        }
        if c == '\n' {
            return self.push(Kind::Newline, 1);
        }
        if c == '#' || rest.starts_with("//") {
            let len = rest.find('\n').map_or(rest.len(), |i| i + 1);
            return self.push(Kind::Comment, len);
        }
        if let Some(body) = rest.strip_prefix("/*") {
            let len = body.find("*/").map_or(rest.len(), |i| i + 4);
            return self.push(Kind::Comment, len);
        }
        if c == '"' {
            self.push(Kind::OQuote, 1);
            self.modes.push(Mode::Quoted);
            return;
        }
        if let Some((len, marker)) = heredoc_opener(rest) {
            self.push(Kind::OHeredoc, len);
            self.modes.push(Mode::Heredoc { marker, line_start: true });
            return;
        }
        if is_ident_start(c) {
            let len = c.len_utf8() + self.span(c.len_utf8(), is_ident_continue);
            return self.push(Kind::Ident, len);
        }
        if c.is_ascii_digit() {
            return self.push(Kind::Number, number_len(rest));
        }
        if c == '~' && rest[1..].starts_with('}') && self.closes_template() {
            self.push(Kind::TemplateSeqEnd, 2);
            self.modes.pop();
            return;
        }
        let (kind, len) = match c {
            '{' => {
                if let Some(Mode::Normal { braces, .. }) = self.modes.last_mut() {
                    *braces += 1;
                }
                (Kind::OBrace, 1)
            }
            '}' => {
                if self.closes_template() {
                    self.push(Kind::TemplateSeqEnd, 1);
                    self.modes.pop();
                    return;
                }
                if let Some(Mode::Normal { braces, .. }) = self.modes.last_mut() {
                    *braces = braces.saturating_sub(1);
                }
                (Kind::CBrace, 1)
            }
            '[' => (Kind::OBrack, 1),
            ']' => (Kind::CBrack, 1),
            '(' => (Kind::OParen, 1),
            ')' => (Kind::CParen, 1),
            ',' => (Kind::Comma, 1),
            '.' if rest.starts_with("...") => (Kind::Ellipsis, 3),
            '.' => (Kind::Dot, 1),
            '=' if rest.starts_with("==") => (Kind::EqualOp, 2),
            '=' if rest.starts_with("=>") => (Kind::FatArrow, 2),
            '=' => (Kind::Equal, 1),
            '!' if rest.starts_with("!=") => (Kind::NotEqual, 2),
            '!' => (Kind::Bang, 1),
            '<' if rest.starts_with("<=") => (Kind::LtEq, 2),
            '<' => (Kind::Lt, 1),
            '>' if rest.starts_with(">=") => (Kind::GtEq, 2),
            '>' => (Kind::Gt, 1),
            '&' if rest.starts_with("&&") => (Kind::And, 2),
            '|' if rest.starts_with("||") => (Kind::Or, 2),
            ':' if rest.starts_with("::") => (Kind::DoubleColon, 2),
            ':' => (Kind::Colon, 1),
            '?' => (Kind::Question, 1),
            '+' => (Kind::Plus, 1),
            '-' => (Kind::Minus, 1),
            '*' => (Kind::Star, 1),
            '/' => (Kind::Slash, 1),
            '%' => (Kind::Percent, 1),
            other => (Kind::Invalid, other.len_utf8()),
        };
        self.push(kind, len);
    }

    /// Whether a `}` here closes the `${`/`%{` sequence of this level (not an object's brace).
    fn closes_template(&self) -> bool {
        matches!(self.modes.last(), Some(Mode::Normal { in_template: true, braces: 0 }))
    }

    /// Opens `${`/`%{` (with optional strip marker) at the start of `rest`, if there is one
    /// (an escaped `$${`/`%%{` is literal text and is not).
    fn template_opener(rest: &str) -> Option<(Kind, usize)> {
        let kind = if rest.starts_with("${") {
            Kind::TemplateInterp
        } else if rest.starts_with("%{") {
            Kind::TemplateControl
        } else {
            return None;
        };
        Some((kind, if rest[2..].starts_with('~') { 3 } else { 2 }))
    }

    fn open_template(&mut self, kind: Kind, len: usize) {
        self.push(kind, len);
        self.modes.push(Mode::Normal { in_template: true, braces: 0 });
    }

    fn quoted(&mut self) {
        let start = self.pos;
        let mut i = 0;
        let rest = self.rest();
        let bytes = rest.as_bytes();
        while i < bytes.len() {
            let r = &rest[i..];
            if r.starts_with("$${") || r.starts_with("%%{") {
                i += 3;
            } else if Self::template_opener(r).is_some() || bytes[i] == b'"' || bytes[i] == b'\n' {
                break;
            } else if bytes[i] == b'\\' {
                i += 1 + r[1..].chars().next().map_or(0, char::len_utf8);
            } else {
                i += r.chars().next().map_or(1, char::len_utf8);
            }
        }
        if i > 0 {
            self.pos = start;
            self.push(Kind::QuotedLit, i);
        }
        let rest = self.rest();
        if let Some((kind, len)) = Self::template_opener(rest) {
            self.open_template(kind, len);
        } else if rest.starts_with('"') {
            self.push(Kind::CQuote, 1);
            self.modes.pop();
        } else {
            // A newline (or the end of input) inside a quoted string: the string is
            // unterminated. Leave string mode so the rest of the file still lexes.
            self.modes.pop();
        }
    }

    fn heredoc(&mut self) {
        let Some(Mode::Heredoc { marker, line_start }) = self.modes.last() else { return };
        let rest = self.rest();
        let line_len = rest.find('\n').map_or(rest.len(), |i| i + 1);
        if *line_start {
            let line = &rest[..line_len];
            if line.trim() == marker.as_str() {
                let body = line.trim_end_matches(['\n', '\r']).len();
                self.push(Kind::CHeredoc, body);
                let nl = line_len - body;
                if nl > 0 {
                    self.push(Kind::Newline, nl);
                }
                self.modes.pop();
                return;
            }
        }
        let bytes = rest.as_bytes();
        let mut i = 0;
        while i < line_len {
            let r = &rest[i..];
            if r.starts_with("$${") || r.starts_with("%%{") {
                i += 3;
            } else if Self::template_opener(r).is_some() {
                break;
            } else {
                i += r.chars().next().map_or(1, char::len_utf8);
            }
        }
        let i = i.min(bytes.len());
        let ends_line = i == line_len && rest[..i].ends_with('\n');
        if i > 0 {
            self.push(Kind::StringLit, i);
        }
        if let Some(Mode::Heredoc { line_start, .. }) = self.modes.last_mut() {
            *line_start = ends_line;
        }
        if let Some((kind, len)) = Self::template_opener(self.rest()) {
            self.open_template(kind, len);
        }
    }
}

/// `<<EOT\n` / `<<-EOT\n` at the start of `rest`: the opener's length (with its newline) and
/// the marker.
fn heredoc_opener(rest: &str) -> Option<(usize, String)> {
    let after = rest.strip_prefix("<<")?;
    let dash = usize::from(after.starts_with('-'));
    let name = &after[dash..];
    let first = name.chars().next()?;
    if !is_ident_start(first) {
        return None;
    }
    let len = name.char_indices().find(|(_, c)| !is_ident_continue(*c)).map_or(name.len(), |(i, _)| i);
    let tail = &name[len..];
    let nl = if tail.starts_with("\r\n") {
        2
    } else if tail.starts_with('\n') {
        1
    } else {
        return None;
    };
    Some((2 + dash + len + nl, name[..len].to_string()))
}

/// `123`, `1.5`, `1e10`, `2.5E-3`.
fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = digits(0);
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1 + digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        let exp = digits(i + 1 + sign);
        if exp > 0 {
            i += 1 + sign + exp;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, String)> {
        lex(src).into_iter().filter(|t| t.kind != Kind::Eof).map(|t| (t.kind, t.bytes)).collect()
    }

    #[test]
    fn templates_nest_and_objects_inside_interpolations_keep_their_braces() {
        use Kind::*;
        let k = kinds("a = \"x${ {b=1}[\"b\"] }y\"\n");
        let got: Vec<Kind> = k.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            got,
            vec![
                Ident,
                Equal,
                OQuote,
                QuotedLit,
                TemplateInterp,
                OBrace,
                Ident,
                Equal,
                Number,
                CBrace,
                OBrack,
                OQuote,
                QuotedLit,
                CQuote,
                CBrack,
                TemplateSeqEnd,
                QuotedLit,
                CQuote,
                Newline
            ]
        );
    }

    #[test]
    fn heredoc_content_is_literal_and_the_marker_must_stand_alone() {
        use Kind::*;
        let k = kinds("x = f(<<EOT\na=\"b\" ${v}\nEOT)\nEOT\n)\n");
        let got: Vec<(Kind, &str)> = k.iter().map(|(k, b)| (*k, b.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (Ident, "x"),
                (Equal, "="),
                (Ident, "f"),
                (OParen, "("),
                (OHeredoc, "<<EOT\n"),
                (StringLit, "a=\"b\" "),
                (TemplateInterp, "${"),
                (Ident, "v"),
                (TemplateSeqEnd, "}"),
                (StringLit, "\n"),
                // `EOT)` is content, not the closing marker (HashiCorp's parser agrees).
                (StringLit, "EOT)\n"),
                (CHeredoc, "EOT"),
                (Newline, "\n"),
                (CParen, ")"),
                (Newline, "\n"),
            ]
        );
    }

    #[test]
    fn operators_numbers_and_escapes() {
        use Kind::*;
        let k = kinds("a = !b && c >= 1.5e3 ? d[*].e... : \"\\\"$${x}\"");
        let got: Vec<Kind> = k.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            got,
            vec![
                Ident, Equal, Bang, Ident, And, Ident, GtEq, Number, Question, Ident, OBrack, Star, CBrack, Dot, Ident,
                Ellipsis, Colon, OQuote, QuotedLit, CQuote
            ]
        );
        assert_eq!(k[7].1, "1.5e3");
        assert_eq!(k[18].1, "\\\"$${x}");
    }
}
