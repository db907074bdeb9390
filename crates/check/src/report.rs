//! Reports: text for people, JSON for scripts, SARIF 2.1.0 for code scanning, JUnit for CI
//! dashboards.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::finding::{Report, Severity};
use crate::rules::{RULES, rule};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Junit,
}

pub fn render(report: &Report, format: Format, threshold: Severity, color: bool) -> String {
    match format {
        Format::Text => text(report, threshold, color),
        Format::Json => json_report(report),
        Format::Sarif => sarif(report),
        Format::Junit => junit(report),
    }
}

fn text(report: &Report, threshold: Severity, color: bool) -> String {
    let paint = |s: &str, code: &str| if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
    let mut out = String::new();
    let mut current = "";
    for f in &report.findings {
        if f.waived.is_none() && f.severity < threshold {
            continue;
        }
        if f.file != current {
            let _ = writeln!(out, "\n{}", paint(&f.file, "1"));
            current = &f.file;
        }
        let sev = match f.severity {
            Severity::Critical => paint("CRITICAL", "1;31"),
            Severity::High => paint("HIGH    ", "31"),
            Severity::Medium => paint("MEDIUM  ", "33"),
            Severity::Low => paint("LOW     ", "36"),
        };
        let waived = f.waived.as_ref().map_or(String::new(), |r| format!(" [waived: {r}]"));
        let _ = writeln!(out, "  {}:{:<5} {sev} {:<13} {}: {}{waived}", f.file, f.line, f.rule, f.object, f.message);
    }
    let s = &report.summary;
    let failing = report.failing(threshold).count();
    let _ = writeln!(
        out,
        "\n{} files, {} objects: {failing} finding(s) at or above {}, {} waived{}",
        s.files,
        s.objects,
        threshold.as_str(),
        s.waived,
        if s.parse_errors > 0 { format!(", {} file(s) could not be parsed", s.parse_errors) } else { String::new() }
    );
    if s.skipped > 0 {
        let _ =
            writeln!(out, "skipped: {} non-infrastructure file{}", s.skipped, if s.skipped == 1 { "" } else { "s" });
    }
    out
}

fn json_report(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

fn level(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

fn sarif(report: &Report) -> String {
    // Built-in rules, then the policy rules (Gatekeeper constraint kinds, Rego packages) seen.
    let mut ids: Vec<String> = RULES.iter().map(|r| r.id.to_string()).collect();
    for f in &report.findings {
        if !ids.contains(&f.rule) {
            ids.push(f.rule.clone());
        }
    }
    let mut rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.title.replace(' ', ""),
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.rationale},
                "help": {"text": format!("{} Remediation: {}", r.rationale, r.remediation)},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"tags": ["security"], "security-severity": match r.severity {
                    Severity::Critical => "9.5", Severity::High => "8.0", Severity::Medium => "5.5", Severity::Low => "3.0" }}
            })
        })
        .collect();
    for id in &ids[RULES.len()..] {
        rules.push(json!({"id": id, "shortDescription": {"text": format!("policy {id}")}, "defaultConfiguration": {"level": "error"}}));
    }
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut r = json!({
                "ruleId": f.rule,
                "ruleIndex": ids.iter().position(|x| *x == f.rule).unwrap_or(0),
                "level": level(f.severity),
                "message": {"text": format!("{}: {}", f.object, f.message)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.file.trim_start_matches("./")},
                    "region": {"startLine": f.line.max(1)}
                }}]
            });
            if let Some(reason) = &f.waived {
                r["suppressions"] = json!([{"kind": "inSource", "justification": reason}]);
            }
            r
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cerverus",
                "informationUri": "https://github.com/cerverus-platform/cerverus",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules
            }},
            "results": results
        }]
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn junit(report: &Report) -> String {
    let failures = report.findings.iter().filter(|f| f.waived.is_none()).count();
    let skipped = report.findings.len() - failures;
    let tests = report.findings.len().max(1);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"cerverus check\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"cerverus check\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\">"
    );
    if report.findings.is_empty() {
        let _ = writeln!(out, "    <testcase classname=\"cerverus\" name=\"all rules\"/>");
    }
    for f in &report.findings {
        let title = rule(&f.rule).map_or("", |r| r.title);
        let _ = writeln!(
            out,
            "    <testcase classname=\"{}\" name=\"{} {}:{}\">",
            xml(&f.rule),
            xml(&f.object),
            xml(&f.file),
            f.line
        );
        match &f.waived {
            Some(reason) => {
                let _ = writeln!(out, "      <skipped message=\"waived: {}\"/>", xml(reason));
            }
            None => {
                let _ = writeln!(
                    out,
                    "      <failure type=\"{}\" message=\"{}\">{}: {}</failure>",
                    f.severity.as_str(),
                    xml(title),
                    xml(&f.object),
                    xml(&f.message)
                );
            }
        }
        let _ = writeln!(out, "    </testcase>");
    }
    let _ = writeln!(out, "  </testsuite>\n</testsuites>");
    out
}
