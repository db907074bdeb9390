//! Alerting: PrometheusRules and their `promtool test rules` unit tests.
//!
//! [`add_rule`] is how any module renders a PrometheusRule: the object and its test file
//! together, so no rule ships untested. [`alert`] builds an alerting rule with the platform's
//! conventions (labels `severity` ∈ {critical, warning, info} and `team`; annotations `summary`,
//! `description`, `runbook_url`), which Alertmanager's routing (kube-prometheus-stack values)
//! relies on.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Objects;
use super::crd::Resource;
use super::crd::monitoring::{PrometheusRuleSpec, Rule, RuleGroup};
use super::promtool::{TestFile, TestGroup};
use crate::RenderError;

/// Where runbooks live; an alert's `runbook_url` is `<RUNBOOK_BASE>/<file>.md`.
pub const RUNBOOK_BASE: &str = "https://github.com/cerverus/platform/blob/main/docs/runbooks";

/// The severities Alertmanager routes on: critical pages, warning goes to chat, info is kept
/// only for inhibition and dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// What an alert says to the person who receives it.
#[derive(Debug, Clone)]
pub struct AlertText<'a> {
    pub summary: &'a str,
    pub description: &'a str,
    /// File name under `docs/runbooks/`, without `.md`.
    pub runbook: &'a str,
}

/// An alerting rule with the platform's labels and annotations.
pub fn alert(name: &str, expr: &str, for_: &str, severity: Severity, team: &str, text: &AlertText<'_>) -> Rule {
    Rule {
        alert: Some(name.to_string()),
        record: None,
        expr: expr.to_string(),
        for_: (!for_.is_empty()).then(|| for_.to_string()),
        labels: BTreeMap::from([
            ("severity".to_string(), severity.as_str().to_string()),
            ("team".to_string(), team.to_string()),
        ]),
        annotations: BTreeMap::from([
            ("summary".to_string(), text.summary.to_string()),
            ("description".to_string(), text.description.to_string()),
            ("runbook_url".to_string(), runbook_url(text.runbook)),
        ]),
    }
}

/// The runbook URL of `docs/runbooks/<file>.md`.
pub fn runbook_url(file: &str) -> String {
    format!("{RUNBOOK_BASE}/{file}.md")
}

/// Render PrometheusRule `name` in `namespace` and its unit tests
/// (`promtool/<env>/<name>.test.yaml`, `rule_files: [<name>.rules.yaml]`). Every alert in
/// `groups` needs a test case where it fires and one where it stays silent.
pub(crate) fn add_rule(
    out: &mut Objects,
    namespace: &str,
    name: &str,
    labels: BTreeMap<String, String>,
    groups: Vec<RuleGroup>,
    tests: Vec<TestGroup>,
) -> Result<(), RenderError> {
    let rule = Resource {
        api_version: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: (!labels.is_empty()).then_some(labels),
            ..Default::default()
        },
        spec: PrometheusRuleSpec { groups },
    };
    out.add(Some(namespace), "PrometheusRule", name, &rule)?;
    out.add_rule_tests(name, &TestFile::for_rule(name, tests))
}

pub(super) fn render(_platform: &Platform, _env: &Env, _out: &mut Objects) -> Result<(), RenderError> {
    Ok(())
}
