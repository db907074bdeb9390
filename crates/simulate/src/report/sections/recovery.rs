//! The recovery section: RPO and RTO.

use crate::Report;
use crate::recovery::RecoveryReport;
use crate::report::view::{Section, verdict_table};

pub fn recovery(r: &RecoveryReport, _report: &Report) -> Section {
    let verdicts = r.verdicts();
    Section {
        id: "recovery",
        title: "Recovery: RPO and RTO".into(),
        question:
            "How much data can each store lose, and how long does it take to restore, against what the spec declares?"
                .into(),
        facts: Vec::new(),
        charts: Vec::new(),
        tables: vec![verdict_table("Verdicts", &verdicts)],
        verdicts,
        notes: Vec::new(),
    }
}
