//! `--config FILE`: a team's adjustments to the rules, as YAML:
//!
//! ```yaml
//! disable: [CV-K8S-012]              # rules not to run
//! severity: {CV-K8S-010: medium}     # severity overrides
//! allowedRegistries:                 # enables CV-K8S-022: images must come from these prefixes
//!   - 111122223333.dkr.ecr.us-east-1.amazonaws.com/
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::finding::{Finding, Report, Severity};
use crate::inventory::Inventory;
use crate::rules::k8s::{pod_spec, waivers};
use crate::rules::{Sink, rule};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub disable: Vec<String>,
    #[serde(default)]
    pub severity: BTreeMap<String, String>,
    #[serde(default)]
    pub allowed_registries: Vec<String>,
}

impl Config {
    /// Parse and validate: every rule ID and severity named must exist.
    pub fn parse(text: &str) -> Result<Config, String> {
        let c: Config = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        for id in c.disable.iter().chain(c.severity.keys()) {
            if rule(id).is_none() {
                return Err(format!("unknown rule `{id}` (see `cerverus explain all`)"));
            }
        }
        for (id, s) in &c.severity {
            if Severity::parse(s).is_none() {
                return Err(format!("`{s}` for {id} is not a severity (low, medium, high, critical)"));
            }
        }
        Ok(c)
    }

    /// Rules only the configuration enables.
    pub fn check(&self, inv: &Inventory, findings: &mut Vec<Finding>) {
        if self.allowed_registries.is_empty() {
            return;
        }
        let mut sink = Sink { findings };
        for o in &inv.k8s {
            let Some((pod, _)) = pod_spec(o) else { continue };
            let w = waivers(o);
            for list in ["initContainers", "containers"] {
                for c in pod[list].as_array().into_iter().flatten() {
                    let image = c["image"].as_str().unwrap_or("");
                    if !self.allowed_registries.iter().any(|r| image.starts_with(r.as_str())) {
                        sink.report(
                            "CV-K8S-022",
                            &o.file,
                            o.line,
                            &o.id(),
                            format!("image `{image}` is not from an allowed registry"),
                            &w,
                        );
                    }
                }
            }
        }
    }

    /// Drop disabled rules and apply severity overrides.
    pub fn apply(&self, mut report: Report) -> Report {
        report.findings.retain(|f| !self.disable.contains(&f.rule));
        for f in &mut report.findings {
            if let Some(s) = self.severity.get(&f.rule).and_then(|s| Severity::parse(s)) {
                f.severity = s;
            }
        }
        report.finish()
    }
}
