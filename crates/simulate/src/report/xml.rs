//! XML as the report writes it: a small typed element tree that escapes every attribute value
//! and text node in one place and prints every number the same way (at most two decimals, no
//! exponent, no `-0`), so the output is byte-for-byte deterministic; and a well-formedness check
//! the tests run over every chart and over the HTML page.

use std::fmt::Write as _;

/// Escape `s` for an XML text node. Characters XML 1.0 does not allow at all (most C0 controls)
/// are dropped: no escape makes them legal, and a browser would stop at them.
pub fn esc_text(s: &str) -> String {
    escape(s, false)
}

/// Escape `s` for a double-quoted XML attribute value.
pub fn esc_attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&#39;"),
            // Tabs and newlines would be normalised to spaces inside an attribute value anyway.
            '\t' | '\n' | '\r' if attr => out.push(' '),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A number as the charts print it: rounded to two decimals, trailing zeros dropped, never an
/// exponent or `-0`; a non-finite value (which no model should produce) prints as `0` rather
/// than as `NaN`, which would make the whole SVG invalid.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "0".into();
    }
    let mut s = format!("{:.2}", (x * 100.0).round() / 100.0);
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" { "0".into() } else { s }
}

/// One node of the tree.
#[derive(Debug, Clone)]
enum Node {
    Element(Element),
    Text(String),
    /// Markup written as is: only what this module's own builder rendered (a chart), or CSS.
    Raw(String),
}

/// An XML element with attributes and children; rendered with [`Element::render`].
#[derive(Debug, Clone)]
pub struct Element {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    children: Vec<Node>,
}

impl Element {
    pub fn new(name: &'static str) -> Element {
        Element { name, attrs: Vec::new(), children: Vec::new() }
    }

    /// A string attribute (escaped when rendered). Setting an attribute again replaces it: a
    /// helper's default (a text's colour) can be overridden, and XML forbids the same attribute twice.
    pub fn attr(mut self, name: &'static str, value: impl Into<String>) -> Element {
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name, value)),
        }
        self
    }

    /// A numeric attribute, printed with [`num`].
    pub fn num(self, name: &'static str, value: f64) -> Element {
        self.attr(name, num(value))
    }

    pub fn child(mut self, e: Element) -> Element {
        self.children.push(Node::Element(e));
        self
    }

    pub fn push(&mut self, e: Element) {
        self.children.push(Node::Element(e));
    }

    /// A text child (escaped when rendered).
    pub fn text(mut self, t: impl Into<String>) -> Element {
        self.children.push(Node::Text(t.into()));
        self
    }

    /// Markup inserted as is. Only for text this crate wrote itself (a chart rendered by an
    /// [`Element`], the page's style sheet): nothing from a spec or a model may come through here.
    pub fn raw(mut self, markup: impl Into<String>) -> Element {
        self.children.push(Node::Raw(markup.into()));
        self
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(self.name);
        for (k, v) in &self.attrs {
            let _ = write!(out, " {k}=\"{}\"", esc_attr(v));
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for c in &self.children {
            match c {
                Node::Element(e) => e.write(out),
                Node::Text(t) => out.push_str(&esc_text(t)),
                Node::Raw(m) => out.push_str(m),
            }
        }
        let _ = write!(out, "</{}>", self.name);
    }
}

/// Whether `doc` is well-formed XML as far as these reports need: tags balance and nest, every
/// attribute is quoted and unique within its tag, `<` never appears in text or attribute values,
/// and every `&` starts a known entity or a character reference. Comments, `<!DOCTYPE>` and
/// processing instructions are skipped. The tests parse every chart with it, and the HTML page
/// (written as XHTML-compatible markup) too; no XML crate is in the workspace's lock file.
/// HTML void elements must be self-closed (`<meta/>`) to pass.
pub fn well_formed(doc: &str) -> Result<(), String> {
    let b = doc.as_bytes();
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0usize;
    let mut i = 0;
    let err = |i: usize, m: &str| Err(format!("byte {i}: {m}"));
    while i < b.len() {
        if b[i] != b'<' {
            let end = doc[i..].find('<').map_or(b.len(), |n| i + n);
            check_entities(&doc[i..end]).map_err(|m| format!("byte {i}: {m}"))?;
            if stack.is_empty() && !doc[i..end].trim().is_empty() {
                return err(i, "text outside the root element");
            }
            i = end;
            continue;
        }
        let rest = &doc[i..];
        if let Some(r) = rest.strip_prefix("<!--") {
            let Some(n) = r.find("-->") else { return err(i, "unterminated comment") };
            i += 4 + n + 3;
        } else if rest.starts_with("<?") {
            let Some(n) = rest.find("?>") else { return err(i, "unterminated processing instruction") };
            i += n + 2;
        } else if rest.starts_with("<!") {
            if !stack.is_empty() {
                return err(i, "declaration inside an element");
            }
            let Some(n) = rest.find('>') else { return err(i, "unterminated declaration") };
            i += n + 1;
        } else if let Some(r) = rest.strip_prefix("</") {
            let Some(n) = r.find('>') else { return err(i, "unterminated end tag") };
            let name = r[..n].trim_end();
            match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => return err(i, &format!("</{name}> closes <{open}>")),
                None => return err(i, &format!("</{name}> without a start tag")),
            }
            i += 2 + n + 1;
        } else {
            let (name, len, empty) = start_tag(&rest[1..]).map_err(|m| format!("byte {i}: {m}"))?;
            if stack.is_empty() {
                roots += 1;
                if roots > 1 {
                    return err(i, "more than one root element");
                }
            }
            if !empty {
                stack.push(name);
            }
            i += 1 + len;
        }
    }
    match stack.last() {
        Some(open) => Err(format!("<{open}> is never closed")),
        None if roots == 0 => Err("no element".into()),
        None => Ok(()),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')
}

/// Parse a start tag after its `<`: (name, bytes consumed including `>`, self-closed).
fn start_tag(s: &str) -> Result<(&str, usize, bool), String> {
    let name_len = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
    if name_len == 0 {
        return Err("`<` not followed by a tag name".into());
    }
    let name = &s[..name_len];
    let mut seen: Vec<&str> = Vec::new();
    let mut i = name_len;
    loop {
        let ws = s[i..].len() - s[i..].trim_start().len();
        i += ws;
        let rest = &s[i..];
        if rest.starts_with("/>") {
            return Ok((name, i + 2, true));
        }
        if rest.starts_with('>') {
            return Ok((name, i + 1, false));
        }
        if rest.is_empty() {
            return Err(format!("<{name}> is not terminated"));
        }
        if ws == 0 {
            return Err(format!("<{name}>: no space before an attribute"));
        }
        let n = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        if n == 0 {
            return Err(format!("<{name}>: unexpected `{}`", rest.chars().next().unwrap_or(' ')));
        }
        let attr = &rest[..n];
        if seen.contains(&attr) {
            return Err(format!("<{name}>: attribute `{attr}` twice"));
        }
        seen.push(attr);
        let after = &rest[n..];
        let Some(q) = after.strip_prefix('=').and_then(|a| a.chars().next()).filter(|c| *c == '"' || *c == '\'') else {
            return Err(format!("<{name}>: attribute `{attr}` has no quoted value"));
        };
        let body = &after[2..];
        let Some(close) = body.find(q) else { return Err(format!("<{name}>: attribute `{attr}` is not closed")) };
        let value = &body[..close];
        if value.contains('<') {
            return Err(format!("<{name}>: `<` in the value of `{attr}`"));
        }
        check_entities(value).map_err(|m| format!("<{name} {attr}>: {m}"))?;
        i += n + 2 + close + 1;
    }
}

fn check_entities(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        let after = &rest[p + 1..];
        let Some(end) = after.find(';') else { return Err("`&` without `;`".into()) };
        let name = &after[..end];
        let ok = matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
            || name.strip_prefix("#x").is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
            || name.strip_prefix('#').is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
        if !ok {
            return Err(format!("`&{}` is not an entity", name.chars().take(12).collect::<String>()));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_fixed_and_finite() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(0.1 + 0.2), "0.3");
        assert_eq!(num(2.345), "2.35");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(1234567.0), "1234567");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(f64::INFINITY), "0");
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        let e = Element::new("text").attr("data-x", "a\"b<c>&'d").text("1 < 2 & \"3\" > 0\u{1}");
        let s = e.render();
        assert_eq!(s, "<text data-x=\"a&quot;b&lt;c&gt;&amp;&#39;d\">1 &lt; 2 &amp; \"3\" &gt; 0</text>");
        well_formed(&s).expect("escaped element is well-formed");
    }

    #[test]
    fn checker_rejects_what_a_browser_would_choke_on() {
        for bad in [
            "<a><b></a></b>",
            "<a>",
            "<a>1 < 2</a>",
            "<a x=\"1\" x=\"2\"/>",
            "<a x=1/>",
            "<a>&nbsp;</a>",
            "<a>AT&T</a>",
            "<a/><b/>",
            "</a>",
            "<a x=\"<\"/>",
            "",
        ] {
            assert!(well_formed(bad).is_err(), "accepted {bad:?}");
        }
        for good in ["<a/>", "<!DOCTYPE html><a x='1' y=\"2\">t &amp; &#123; &#x2014;<!-- c --><b/></a>"] {
            well_formed(good).expect(good);
        }
    }
}
