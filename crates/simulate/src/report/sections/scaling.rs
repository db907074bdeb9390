//! The surge section: time to scale.

use crate::Report;
use crate::report::view::{Section, verdict_table};
use crate::scaling::ScalingReport;

pub fn scaling(r: &ScalingReport, _report: &Report) -> Section {
    let verdicts = r.verdicts();
    Section {
        id: "surge",
        title: "Surge: time to scale".into(),
        question:
            "How long until the autoscalers and the nodes behind them carry the surge, against the 2-minute target?"
                .into(),
        facts: Vec::new(),
        charts: Vec::new(),
        tables: vec![verdict_table("Verdicts", &verdicts)],
        verdicts,
        notes: Vec::new(),
    }
}
