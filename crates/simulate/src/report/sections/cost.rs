//! The Monthly cost section.

use crate::Report;
use crate::cost::CostReport;
use crate::report::view::{Section, verdict_table};

pub fn cost(r: &CostReport, _report: &Report) -> Section {
    let verdicts = r.verdicts();
    Section {
        id: "cost",
        title: "Monthly cost".into(),
        question: "What does the environment cost per month, and what does the spot mix save?".into(),
        facts: Vec::new(),
        charts: Vec::new(),
        tables: vec![verdict_table("Verdicts", &verdicts)],
        verdicts,
        notes: Vec::new(),
    }
}
