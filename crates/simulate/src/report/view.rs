//! What the text and HTML forms share: each section of the report turned once into a
//! [`Section`] — key facts, charts and tables — so both forms show the same numbers in the same
//! order, and neither recomputes anything from the models.

use std::collections::BTreeMap;

use super::svg::{self, Bar, Grid, Series, StackRow, Target, Task};
use crate::{Report, Verdict};

/// A table: a header and rows of cells, already formatted.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    /// Columns holding numbers (right-aligned in both forms).
    pub numeric: Vec<bool>,
    pub rows: Vec<Row>,
    /// Shown in the text form only: the HTML page draws the same numbers as a chart.
    pub text_only: bool,
}

/// One row; `pass` is `Some` when the row is a judgement (highlighted when it failed).
#[derive(Debug, Clone)]
pub struct Row {
    pub cells: Vec<String>,
    pub pass: Option<bool>,
}

impl Table {
    pub fn new(title: impl Into<String>, columns: &[(&str, bool)]) -> Table {
        Table {
            title: title.into(),
            columns: columns.iter().map(|(c, _)| c.to_string()).collect(),
            numeric: columns.iter().map(|(_, n)| *n).collect(),
            rows: Vec::new(),
            text_only: false,
        }
    }

    pub fn row(&mut self, cells: Vec<String>, pass: Option<bool>) {
        self.rows.push(Row { cells, pass });
    }

    /// Failing rows first, keeping the order within each group (the models' order is meaningful:
    /// zones in order, the critical path in order).
    pub fn failing_first(mut self) -> Table {
        self.rows.sort_by_key(|r| r.pass != Some(false));
        self
    }
}

/// A chart, drawn by [`super::svg`] in the HTML form (the text form shows the tables instead).
#[derive(Debug, Clone)]
pub enum Chart {
    Bars {
        title: String,
        unit: String,
        bars: Vec<Bar>,
        target: Option<Target>,
    },
    Stacked {
        title: String,
        unit: String,
        rows: Vec<StackRow>,
        /// Prints segment values and totals (money, counts).
        fmt: fn(f64) -> String,
    },
    Lines {
        title: String,
        x_unit: String,
        y_unit: String,
        series: Vec<Series>,
        x_target: Option<Target>,
        y_target: Option<Target>,
    },
    Gantt {
        title: String,
        unit: String,
        tasks: Vec<Task>,
        target: Option<Target>,
    },
    Heat {
        title: String,
        grid: Grid,
    },
}

impl Chart {
    pub fn title(&self) -> &str {
        match self {
            Chart::Bars { title, .. }
            | Chart::Stacked { title, .. }
            | Chart::Lines { title, .. }
            | Chart::Gantt { title, .. }
            | Chart::Heat { title, .. } => title,
        }
    }

    pub fn svg(&self) -> String {
        match self {
            Chart::Bars { title, unit, bars, target } => svg::hbar_chart(title, unit, bars, target.as_ref()),
            Chart::Stacked { title, unit, rows, fmt } => svg::stacked_bar_chart(title, unit, rows, *fmt),
            Chart::Lines { title, x_unit, y_unit, series, x_target, y_target } => {
                svg::line_chart(title, x_unit, y_unit, series, x_target.as_ref(), y_target.as_ref())
            }
            Chart::Gantt { title, unit, tasks, target } => svg::gantt_chart(title, unit, tasks, target.as_ref()),
            Chart::Heat { title, grid } => svg::heat_grid(title, grid),
        }
    }
}

/// One section of the report.
#[derive(Debug, Clone)]
pub struct Section {
    /// HTML anchor and CSS hook (`capacity`, `surge`, …).
    pub id: &'static str,
    pub title: String,
    /// What the section answers, in one sentence.
    pub question: String,
    /// Headline numbers: (label, value), shown as tiles in HTML and as `label: value` lines in text.
    pub facts: Vec<(String, String)>,
    pub charts: Vec<Chart>,
    pub tables: Vec<Table>,
    /// The section's verdicts (its last table shows them, failing first).
    pub verdicts: Vec<Verdict>,
    /// Notes and assumptions the model states.
    pub notes: Vec<String>,
}

impl Section {
    pub fn failed(&self) -> usize {
        self.verdicts.iter().filter(|v| !v.pass).count()
    }

    /// The section's headline for the at-a-glance row: its first fact (each section puts the
    /// number it is judged on first).
    pub fn headline(&self) -> Option<&(String, String)> {
        self.facts.first()
    }
}

/// The table of `verdicts`, failing first.
pub fn verdict_table(title: &str, verdicts: &[Verdict]) -> Table {
    let mut t = Table::new(title, &[("verdict", false), ("scenario", false), ("subject", false), ("detail", false)]);
    for v in verdicts {
        t.row(vec![pass_word(v.pass).into(), v.scenario.clone(), v.subject.clone(), v.detail.clone()], Some(v.pass));
    }
    t.failing_first()
}

/// `n thing` or `n things`.
pub fn count(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

pub fn pass_word(pass: bool) -> &'static str {
    if pass { "PASS" } else { "FAIL" }
}

/// The scenario a verdict belongs to without its qualifier (`az-loss:us-east-1a` → `az-loss`).
pub fn scenario_family(s: &str) -> &str {
    s.split_once(':').map_or(s, |(a, _)| a)
}

/// Verdicts and failures per scenario family, in the order they first appear.
pub fn counts_by_scenario(verdicts: &[Verdict]) -> Vec<(String, usize, usize)> {
    let mut order: Vec<String> = Vec::new();
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for v in verdicts {
        let f = scenario_family(&v.scenario).to_string();
        if !counts.contains_key(&f) {
            order.push(f.clone());
        }
        let c = counts.entry(f).or_default();
        c.0 += 1;
        c.1 += usize::from(!v.pass);
    }
    order
        .into_iter()
        .map(|f| {
            let (n, failed) = counts.get(&f).copied().unwrap_or_default();
            (f, n, failed)
        })
        .collect()
}

/// Every section present in `report`, in the report's order.
pub fn sections(report: &Report) -> Vec<Section> {
    let mut out = Vec::new();
    if let Some(r) = &report.capacity {
        out.push(super::sections::capacity(r, report));
    }
    if let Some(r) = &report.scaling {
        out.push(super::sections::scaling(r, report));
    }
    if let Some(r) = &report.provisioning {
        out.push(super::sections::provisioning(r, report));
    }
    if let Some(r) = &report.cost {
        out.push(super::sections::cost(r, report));
    }
    if let Some(r) = &report.recovery {
        out.push(super::sections::recovery(r, report));
    }
    // Verdicts no section owns (none today): listed rather than lost, so both forms show every one.
    let owned: Vec<&Verdict> = out.iter().flat_map(|s| &s.verdicts).collect();
    let other: Vec<Verdict> = report.verdicts.iter().filter(|v| !owned.contains(v)).cloned().collect();
    if !other.is_empty() {
        out.push(Section {
            id: "other",
            title: "Other verdicts".into(),
            question: "Verdicts of the report that no section above shows.".into(),
            facts: Vec::new(),
            charts: Vec::new(),
            tables: vec![verdict_table("Verdicts", &other)],
            verdicts: other,
            notes: Vec::new(),
        });
    }
    out
}

/// The name an enum serializes to (`control-plane`, `az-loss`): the JSON's word is the report's word.
pub fn serde_name<T: serde::Serialize>(x: &T) -> String {
    match serde_json::to_value(x) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A share (0.734) as a percentage (`73 %`).
pub fn pct(share: f64) -> String {
    format!("{} %", svg::num((share * 100.0).round()))
}

/// A quantity with its unit, fixed formatting (the numbers match the charts').
pub fn qty(x: f64, unit: &str) -> String {
    let n = svg::num(x);
    if unit.is_empty() { n } else { format!("{n} {unit}") }
}

/// Money: whole dollars with thousands separators (`$12,345`), cents only below $10.
pub fn usd(x: f64) -> String {
    if !x.is_finite() {
        return "$0".into();
    }
    let neg = x < 0.0;
    let a = x.abs();
    let body = if a < 10.0 {
        format!("{a:.2}")
    } else {
        let whole = format!("{:.0}", a.round());
        let mut s = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                s.push(',');
            }
            s.push(c);
        }
        s
    };
    format!("{}${body}", if neg { "-" } else { "" })
}

/// Seconds as a person reads them: `45 s`, `2 min 05 s`, `1 h 03 min`.
pub fn duration_s(s: f64) -> String {
    if !s.is_finite() {
        return "—".into();
    }
    let t = s.max(0.0).round() as u64;
    match t {
        0..60 => format!("{t} s"),
        60..3600 if t.is_multiple_of(60) => format!("{} min", t / 60),
        60..3600 => format!("{} min {:02} s", t / 60, t % 60),
        _ => format!("{} h {:02} min", t / 3600, (t % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(scenario: &str, pass: bool) -> Verdict {
        Verdict { scenario: scenario.into(), subject: "s".into(), pass, detail: String::new() }
    }

    #[test]
    fn failing_rows_come_first_in_their_order() {
        let t = verdict_table("t", &[v("a", true), v("b", false), v("c", true), v("d", false)]);
        let order: Vec<&str> = t.rows.iter().map(|r| r.cells[1].as_str()).collect();
        assert_eq!(order, ["b", "d", "a", "c"]);
    }

    #[test]
    fn counts_group_qualified_scenarios() {
        let c =
            counts_by_scenario(&[v("steady", true), v("az-loss:a", true), v("az-loss:b", false), v("steady", true)]);
        assert_eq!(c, vec![("steady".to_string(), 2, 0), ("az-loss".to_string(), 2, 1)]);
    }

    #[test]
    fn formats() {
        assert_eq!(usd(12345.4), "$12,345");
        assert_eq!(usd(1234567.0), "$1,234,567");
        assert_eq!(usd(73.0), "$73");
        assert_eq!(usd(4.5), "$4.50");
        assert_eq!(usd(-250.0), "-$250");
        assert_eq!(duration_s(45.0), "45 s");
        assert_eq!(duration_s(125.0), "2 min 05 s");
        assert_eq!(duration_s(120.0), "2 min");
        assert_eq!(duration_s(3780.0), "1 h 03 min");
        assert_eq!(qty(0.1 + 0.2, "cores"), "0.3 cores");
    }
}
