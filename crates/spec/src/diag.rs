//! Located diagnostics: what went wrong, where (`file:line:col`), what was expected, and a hint.
//!
//! Rendering follows rustc's layout because that is the layout people already read fluently:
//!
//! ```text
//! error: workload `api` depends on unknown workload `alerts`
//!   --> platform/cerverus.yaml:42:19
//!    |
//! 42 |       - workload: alerts
//!    |                   ^^^^^^
//!    = expected: one of the declared workloads: alerts-api, ingestion-worker
//!    = hint: declare it under `workloads:` or correct the name
//! ```

use std::fmt::{self, Write as _};

/// A position in a source file. Lines and columns count from 1; columns count characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Width of the offending text in characters (at least 1 when rendered).
    pub len: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// How bad a diagnostic is: errors stop the build, warnings are reported and the build goes on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Severity {
    #[default]
    Error,
    Warning,
}

/// One problem with an input, located when the location is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub location: Option<Location>,
    pub expected: Option<String>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, message: message.into(), location: None, expected: None, hint: None }
    }

    /// The same diagnostic as a warning.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Render for a terminal, quoting the offending line from `source` when given.
    pub fn render(&self, source: Option<&str>) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.render_into(&mut out, source);
        out
    }

    fn render_into(&self, out: &mut String, source: Option<&str>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(out, "{label}: {}", self.message)?;
        let gutter = match &self.location {
            Some(loc) => loc.line.to_string().len(),
            None => 1,
        };
        let pad = " ".repeat(gutter);
        if let Some(loc) = &self.location {
            writeln!(out, "{pad}--> {loc}")?;
            if let Some(text) = source.and_then(|s| s.lines().nth(loc.line.saturating_sub(1))) {
                writeln!(out, "{pad} |")?;
                writeln!(out, "{} | {}", loc.line, text)?;
                let before: String = text
                    .chars()
                    .take(loc.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                writeln!(out, "{pad} | {before}{}", "^".repeat(loc.len.max(1)))?;
            }
        }
        if let Some(expected) = &self.expected {
            writeln!(out, "{pad} = expected: {expected}")?;
        }
        if let Some(hint) = &self.hint {
            writeln!(out, "{pad} = hint: {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message)?,
            None => write!(f, "{}", self.message)?,
        }
        if let Some(expected) = &self.expected {
            write!(f, " (expected {expected})")?;
        }
        Ok(())
    }
}

/// Every diagnostic found in one input, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    /// The source text, kept so the diagnostics can quote it.
    pub source: Option<String>,
}

impl Diagnostics {
    pub fn single(diag: Diagnostic, source: Option<String>) -> Self {
        Diagnostics { items: vec![diag], source }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&d.render(self.source.as_deref()));
            out.push('\n');
        }
        let n = self.items.len();
        let _ = writeln!(out, "{n} error{} in the spec", if n == 1 { "" } else { "s" });
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Diagnostics {}
