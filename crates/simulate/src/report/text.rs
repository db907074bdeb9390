//! Text tables: a one-line summary first (`prod: 123 verdicts, 0 failed`), the failing verdicts,
//! then each section in the HTML page's order (facts, tables, notes), and at the end the
//! disclaimer and every constant's sources. No colour, no terminal codes: the text is meant for
//! logs, pull-request comments and diffs as much as for a terminal.

use std::fmt::Write as _;

use super::view::{self, Table, counts_by_scenario};
use crate::Report;

/// The report as text tables.
pub fn render(report: &Report) -> String {
    let m = &report.model;
    let failed = report.verdicts.iter().filter(|v| !v.pass).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {}, {failed} failed{}",
        m.environment,
        view::count(report.verdicts.len(), "verdict"),
        if failed == 0 { "" } else { " (FAIL)" }
    );
    let scenarios: Vec<&str> = m.scenarios.iter().map(|s| s.name()).collect();
    let _ = writeln!(
        out,
        "traffic ×{} · scenarios: {} · a model, not a measurement (see the end)",
        super::svg::num(m.traffic_multiplier),
        scenarios.join(", ")
    );
    let mut counts = Table::new("", &[("scenario", false), ("verdicts", true), ("passed", true), ("failed", true)]);
    for (family, n, bad) in counts_by_scenario(&report.verdicts) {
        counts.row(vec![family, n.to_string(), (n - bad).to_string(), bad.to_string()], Some(bad == 0));
    }
    out.push('\n');
    table(&mut out, &counts);
    let sections = view::sections(report);
    if !sections.is_empty() {
        let mut glance = Table::new("At a glance", &[("section", false), ("headline", false), ("verdicts", false)]);
        for s in &sections {
            let headline = s.headline().map(|(k, v)| format!("{k}: {v}")).unwrap_or_default();
            let verdicts = if s.verdicts.is_empty() {
                "—".to_string()
            } else {
                format!("{} of {} failed", s.failed(), s.verdicts.len())
            };
            glance.row(vec![s.title.clone(), headline, verdicts], (!s.verdicts.is_empty()).then(|| s.failed() == 0));
        }
        table(&mut out, &glance);
    }
    if failed > 0 {
        let failing: Vec<_> = report.verdicts.iter().filter(|v| !v.pass).cloned().collect();
        heading(&mut out, &view::count(failed, "failing verdict"));
        table(&mut out, &view::verdict_table("", &failing));
    }
    for s in sections {
        let state = if s.verdicts.is_empty() {
            String::new()
        } else {
            format!(" — {}, {} failed", view::count(s.verdicts.len(), "verdict"), s.failed())
        };
        heading(&mut out, &format!("{}{state}", s.title));
        let _ = writeln!(out, "{}\n", s.question);
        if !s.facts.is_empty() {
            let w = s.facts.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
            for (k, v) in &s.facts {
                let _ = writeln!(out, "  {k:<w$}  {v}");
            }
            out.push('\n');
        }
        for t in &s.tables {
            table(&mut out, t);
        }
        for n in &s.notes {
            let _ = writeln!(out, "  note: {n}");
        }
    }
    heading(&mut out, "This is a model");
    let _ = writeln!(out, "{}", m.disclaimer);
    for p in &m.constants {
        let region = p.region.as_ref().map(|r| format!(", region {r}")).unwrap_or_default();
        let _ = writeln!(out, "\n{} — {} (as of {}{region})", p.file, p.model, p.as_of);
        for s in &p.sources {
            let _ = writeln!(out, "  - {s}");
        }
    }
    out
}

fn heading(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n== {title} ==\n");
}

/// `t` with aligned columns: numbers right-aligned, text left-aligned, the last column unpadded
/// (it is usually the longest, a detail sentence). Widths count characters, not bytes, so `×`
/// and `—` do not shift a column.
fn table(out: &mut String, t: &Table) {
    if !t.title.is_empty() {
        let _ = writeln!(out, "{}", t.title);
    }
    if t.rows.is_empty() {
        let _ = writeln!(out, "  (none)\n");
        return;
    }
    let cols = t.columns.len().max(t.rows.iter().map(|r| r.cells.len()).max().unwrap_or(0));
    let cell = |cells: &[String], i: usize| cells.get(i).map(|c| one_line(c)).unwrap_or_default();
    let width: Vec<usize> = (0..cols)
        .map(|i| {
            std::iter::once(cell(&t.columns, i))
                .chain(t.rows.iter().map(|r| cell(&r.cells, i)))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let mut s = String::from(" ");
        for (i, w) in width.iter().enumerate() {
            let c = cell(cells, i);
            let pad = w.saturating_sub(c.chars().count());
            let numeric = t.numeric.get(i).copied().unwrap_or(false);
            s.push(' ');
            if numeric {
                s.push_str(&" ".repeat(pad));
                s.push_str(&c);
            } else if i + 1 == cols {
                s.push_str(&c);
            } else {
                s.push_str(&c);
                s.push_str(&" ".repeat(pad));
            }
            if i + 1 < cols {
                s.push(' ');
            }
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&t.columns));
    // The last column is unpadded and may be a long sentence: its rule stops at a readable length.
    let rule: Vec<String> = width
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let w =
                if i + 1 == cols { (*w).min(t.columns.get(i).map_or(0, |c| c.chars().count()).max(40)) } else { *w };
            "-".repeat(w)
        })
        .collect();
    let _ = writeln!(out, "{}", line(&rule));
    for r in &t.rows {
        let _ = writeln!(out, "{}", line(&r.cells));
    }
    out.push('\n');
}

/// A cell on one line: a detail with a newline would break the table's alignment.
fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r', '\t']) { s.split_whitespace().collect::<Vec<_>>().join(" ") } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_by_characters() {
        let mut t = Table::new("", &[("name", false), ("n", true), ("detail", false)]);
        t.row(vec!["a×b".into(), "5".into(), "x".into()], None);
        t.row(vec!["long-name".into(), "1234".into(), "two\nlines".into()], None);
        let mut out = String::new();
        table(&mut out, &t);
        let lines: Vec<&str> = out.lines().collect();
        // Two spaces of indent and two between columns.
        assert_eq!(lines[0], "  name          n  detail");
        assert_eq!(lines[1], "  ---------  ----  ---------");
        assert_eq!(lines[2], "  a×b           5  x");
        assert_eq!(lines[3], "  long-name  1234  two lines");
    }
}
