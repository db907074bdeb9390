//! Reading a spec file: YAML text → [`PlatformSpec`] plus a [`SourceMap`] for later checks.
//!
//! serde-saphyr does the typed reading. It rejects duplicate keys, unknown fields (the types use
//! `deny_unknown_fields`) and wrong types, each with a position; this module turns its errors
//! into [`Diagnostic`]s with an expectation and a hint, and catches the cases its messages
//! describe poorly (an empty file, a document that is not a mapping).

use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::source_map::SourceMap;
use crate::types::PlatformSpec;

/// The embedded default spec: the Cerverus platform itself.
pub const DEFAULT_SPEC: &str = include_str!("../../../platform/cerverus.yaml");
/// The name diagnostics use for the embedded default spec.
pub const DEFAULT_SPEC_NAME: &str = "platform/cerverus.yaml";

/// A spec as read from its file, with what is needed to point back into it.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub spec: PlatformSpec,
    pub source_map: SourceMap,
    pub source: String,
}

impl LoadedSpec {
    /// Diagnostics for this spec, quoting its source.
    pub fn diagnostics(&self, items: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics { items, source: Some(self.source.clone()) }
    }
}

/// Parse `source` (named `file` in messages).
pub fn load(file: &str, source: &str) -> Result<LoadedSpec, Diagnostics> {
    let fail = |d: Diagnostic| Diagnostics::single(d, Some(source.to_string()));
    let top_level = "a mapping with apiVersion, kind, metadata, aws, network, cluster, \
                     namespaces, workloads and environments";
    let schema_hint = "`cerverus schema` prints the JSON Schema of the spec";

    if is_blank(source) {
        return Err(fail(
            Diagnostic::new("the spec is empty")
                .at(Some(Location { file: file.to_string(), line: 1, column: 1, len: 1 }))
                .expected(top_level)
                .hint("start from the embedded default: `cerverus spec > platform.yaml`"),
        ));
    }

    match serde_saphyr::from_str::<PlatformSpec>(source) {
        Ok(spec) => Ok(LoadedSpec { spec, source_map: SourceMap::build(file, source), source: source.to_string() }),
        Err(err) => {
            let location = err.location().map(|l| Location {
                file: file.to_string(),
                line: l.line() as usize,
                column: l.column() as usize,
                len: (l.span().len() as usize).clamp(1, 80),
            });
            let raw = err.without_snippet().to_string();
            Err(fail(describe(&raw, location, top_level, schema_hint)))
        }
    }
}

/// A file with nothing but whitespace and comments.
fn is_blank(source: &str) -> bool {
    source.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// Turn one of serde-saphyr's messages into a diagnostic that says what was expected.
fn describe(raw: &str, location: Option<Location>, top_level: &str, schema_hint: &str) -> Diagnostic {
    // serde-saphyr appends " at line L, column C"; the location is rendered separately.
    let msg = match raw.rfind(" at line ") {
        Some(i) => &raw[..i],
        None => raw,
    };
    let at_root = location.as_ref().is_some_and(|l| l.line == 1 && l.column == 1);
    if msg.contains("expected mapping start") && at_root {
        return Diagnostic::new("the spec must be a YAML mapping")
            .at(location)
            .expected(top_level)
            .hint("the document is a list or a plain value; a spec is `key: value` pairs");
    }
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let (field, expected) = match rest.split_once(", expected ") {
            Some((f, e)) => (f, Some(e)),
            None => (rest, None),
        };
        let mut d = Diagnostic::new(format!("unknown field {field}"))
            .at(location)
            .hint(format!("check the spelling and the indentation; {schema_hint}"));
        if let Some(e) = expected {
            d = d.expected(e.to_string());
        }
        return d;
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        let (variant, expected) = match rest.split_once(", expected ") {
            Some((v, e)) => (v, Some(e)),
            None => (rest, None),
        };
        let mut d = Diagnostic::new(format!("unknown value {variant}")).at(location);
        if let Some(e) = expected {
            d = d.expected(e.to_string());
        }
        return d.hint(schema_hint.to_string());
    }
    if msg.starts_with("duplicate mapping key") {
        let key = msg.split(':').nth(1).map(|s| s.split(',').next().unwrap_or(s).trim());
        return Diagnostic::new(format!("duplicate key `{}`", key.unwrap_or("?")))
            .at(location)
            .expected("each key at most once per mapping")
            .hint("YAML keeps only one of the two values; remove or merge the other entry");
    }
    if let Some(field) = msg.strip_prefix("missing field ") {
        return Diagnostic::new(format!("missing field {field}"))
            .at(location)
            .expected(format!("this mapping to have {field}"))
            .hint(schema_hint.to_string());
    }
    if let Some(ty) = msg.strip_prefix("invalid ") {
        return Diagnostic::new(format!("invalid value: not a valid {ty}"))
            .at(location)
            .expected(expected_for(ty))
            .hint(schema_hint.to_string());
    }
    if msg.starts_with("invalid type") {
        return Diagnostic::new(msg.to_string()).at(location).hint(schema_hint.to_string());
    }
    Diagnostic::new(format!("YAML syntax error: {msg}"))
        .at(location)
        .expected("well-formed YAML (consistent indentation, closed brackets and quotes)")
        .hint("quote values that contain `: `, `#` or start with a special character")
}

fn expected_for(ty: &str) -> String {
    match ty {
        "u8" => "a whole number from 0 to 255".to_string(),
        "u16" => "a whole number from 0 to 65535".to_string(),
        "u32" => "a whole number from 0 to 4294967295".to_string(),
        "f64" => "a number".to_string(),
        "bool" => "true or false".to_string(),
        other => format!("a value of type {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_loads() {
        let loaded = load(DEFAULT_SPEC_NAME, DEFAULT_SPEC).expect("default spec must load");
        assert!(!loaded.spec.workloads.is_empty());
    }

    #[test]
    fn blank_files_are_empty_specs() {
        for src in ["", "\n\n", "# only a comment\n", "---\n"] {
            let err = load("x.yaml", src).expect_err("blank must fail");
            assert_eq!(err.items[0].message, "the spec is empty");
            assert_eq!(err.items[0].location.as_ref().map(|l| l.line), Some(1));
        }
    }

    #[test]
    fn a_list_is_not_a_spec() {
        let err = load("x.yaml", "- a\n- b\n").expect_err("list must fail");
        assert_eq!(err.items[0].message, "the spec must be a YAML mapping");
    }
}
