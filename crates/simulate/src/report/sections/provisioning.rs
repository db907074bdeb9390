//! The Provisioning critical path section.

use crate::Report;
use crate::provisioning::ProvisioningReport;
use crate::report::view::{Section, verdict_table};

pub fn provisioning(r: &ProvisioningReport, _report: &Report) -> Section {
    let verdicts = r.verdicts();
    Section {
        id: "provisioning",
        title: "Provisioning critical path".into(),
        question: "How long does Terraform take to create the environment from nothing, against the 30-minute target?"
            .into(),
        facts: Vec::new(),
        charts: Vec::new(),
        tables: vec![verdict_table("Verdicts", &verdicts)],
        verdicts,
        notes: Vec::new(),
    }
}
