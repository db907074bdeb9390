//! The Capacity under failure section.

use crate::Report;
use crate::report::view::{Section, verdict_table};
use crate::scenarios::CapacityReport;

pub fn capacity(r: &CapacityReport, _report: &Report) -> Section {
    let verdicts = r.verdicts();
    Section {
        id: "capacity",
        title: "Capacity under failure".into(),
        question: "Does every workload keep its minimum replicas and its PDB when a zone, the largest node or the spot capacity is lost, and is steady-state utilisation in the 70–80 % band?".into(),
        facts: Vec::new(),
        charts: Vec::new(),
        tables: vec![verdict_table("Verdicts", &verdicts)],
        verdicts,
        notes: Vec::new(),
    }
}
