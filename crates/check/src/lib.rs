//! `cerverus check`: judge infrastructure files — ours or anyone's — by rules with stable IDs.
//!
//! The checker reads files, never the spec or the model, so the bundle `cerverus build` writes is
//! graded exactly like files nobody here wrote.
//!
//! ```text
//! paths ──inventory::load──▶ Inventory ──rules::{k8s,terraform,docker,workflow}──▶ Report ──report::render──▶ text/JSON/SARIF/JUnit
//! ```

pub mod config;
pub mod decode;
pub mod diff;
pub mod finding;
pub mod hcl_index;
pub mod helm_inventory;
pub mod helm_reference;
pub mod inventory;
pub mod reach;
pub mod rego;
pub mod report;
pub mod rules;

use std::path::PathBuf;

pub use finding::{Finding, Report, Severity};
pub use inventory::{Inventory, LoadError};
pub use report::Format;

/// Judge an inventory.
pub fn check_inventory(inv: &Inventory) -> Report {
    check_inventory_with(inv, None)
}

/// Judge an inventory with the built-in rules and, when given, Gatekeeper/Rego policies.
pub fn check_inventory_with(inv: &Inventory, policies: Option<&rego::Policies>) -> Report {
    check_configured(inv, policies, &config::Config::default())
}

/// Judge an inventory under a configuration (disabled rules, severities, allowed registries).
pub fn check_configured(inv: &Inventory, policies: Option<&rego::Policies>, config: &config::Config) -> Report {
    let mut findings = inv.errors.clone();
    if let Some(p) = policies {
        findings.extend(p.evaluate(inv));
    }
    config.check(inv, &mut findings);
    {
        let mut sink = rules::Sink { findings: &mut findings };
        rules::k8s::check(inv, &mut sink);
        rules::wiring::check(inv, &mut sink);
        rules::capacity::check(inv, &mut sink);
        // Run-time classes: egress cut, runtime contracts, GPU, escalation, quotas.
        rules::egress::check(inv, &mut sink);
        rules::escalation::check(inv, &mut sink);
        rules::quota::check(inv, &mut sink);
        rules::runtime::check(inv, &mut sink);
        rules::gpu::check(inv, &mut sink);
        rules::terraform::check(inv, &mut sink);
        // Terraform/AWS across files and modules: references, plan-time knowledge, IAM, CNI.
        rules::tf_refs::check(inv, &mut sink);
        rules::tf_plan::check(inv, &mut sink);
        rules::iam::check(inv, &mut sink);
        rules::cni::check(inv, &mut sink);
        rules::docker::check(inv, &mut sink);
        rules::workflow::check(inv, &mut sink);
        rules::promql::check(inv, &mut sink);
        rules::autoscaling_metrics::check(inv, &mut sink);
        rules::helm_values::check(inv, &mut sink);
    }
    let objects = inv.k8s.len() + inv.terraform.len() + inv.dockerfiles.len() + inv.workflows.len();
    config.apply(Report {
        findings,
        summary: finding::Summary {
            files: inv.files,
            objects,
            skipped: inv.skipped.len(),
            skipped_files: inv.skipped.clone(),
            ..Default::default()
        },
    })
}

/// Load `paths` and judge them.
pub fn check_paths(paths: &[PathBuf]) -> Result<Report, LoadError> {
    Ok(check_inventory(&inventory::load(paths)?))
}
