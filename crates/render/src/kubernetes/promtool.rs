//! `promtool test rules` unit tests, as typed files. Every PrometheusRule the bundle carries has
//! a test file `promtool/<env>/<rule-name>.test.yaml` whose `rule_files` is
//! `[<rule-name>.rules.yaml]`: the harness (`scripts/validators/promtool_tests.py`, and
//! `crates/cli/tests/alerting.rs`) extracts each PrometheusRule's `spec` into that file next to
//! a copy of the tests and runs promtool on it.
//!
//! The fields are promtool's unit-test format as of Prometheus 2.42 (the Debian package the
//! validators use), which parses strictly: no field this version does not know (a test group's
//! `name` came later).

use std::collections::BTreeMap;

use serde::Serialize;

/// One test file.
#[derive(Debug, Clone, Serialize)]
pub struct TestFile {
    pub rule_files: Vec<String>,
    pub evaluation_interval: String,
    pub tests: Vec<TestGroup>,
}

impl TestFile {
    /// The test file of PrometheusRule `rule_name`, evaluating every minute.
    pub fn for_rule(rule_name: &str, tests: Vec<TestGroup>) -> Self {
        TestFile { rule_files: vec![rules_file(rule_name)], evaluation_interval: "1m".to_string(), tests }
    }
}

/// The rules file name the harness writes a PrometheusRule's `spec` to.
pub fn rules_file(rule_name: &str) -> String {
    format!("{rule_name}.rules.yaml")
}

/// The test file name of a PrometheusRule, relative to `promtool/<env>/`.
pub fn test_file(rule_name: &str) -> String {
    format!("{rule_name}.test.yaml")
}

/// A group of synthetic series and the alerts and expressions expected over them.
#[derive(Debug, Clone, Serialize)]
pub struct TestGroup {
    pub interval: String,
    pub input_series: Vec<InputSeries>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_rule_test: Vec<AlertTest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promql_expr_test: Vec<ExprTest>,
}

impl TestGroup {
    /// A group sampled every minute.
    pub fn new(input_series: Vec<InputSeries>) -> Self {
        TestGroup {
            interval: "1m".to_string(),
            input_series,
            alert_rule_test: Vec::new(),
            promql_expr_test: Vec::new(),
        }
    }

    /// Expect exactly `alerts` of `alertname` at `eval_time` (none: it must stay silent).
    pub fn expect(mut self, eval_time: &str, alertname: &str, alerts: Vec<ExpAlert>) -> Self {
        self.alert_rule_test.push(AlertTest {
            eval_time: eval_time.to_string(),
            alertname: alertname.to_string(),
            exp_alerts: alerts,
        });
        self
    }
}

/// A series in promtool's notation: `metric{label="v"}` and `values: "0+10x60"`.
#[derive(Debug, Clone, Serialize)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
}

impl InputSeries {
    pub fn new(series: impl Into<String>, values: impl Into<String>) -> Self {
        InputSeries { series: series.into(), values: values.into() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertTest {
    pub eval_time: String,
    pub alertname: String,
    /// Empty: the alert must not be firing at `eval_time`.
    pub exp_alerts: Vec<ExpAlert>,
}

/// A firing alert: all of its labels (the rule's and the expression's) and its annotations.
#[derive(Debug, Clone, Serialize)]
pub struct ExpAlert {
    pub exp_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExprTest {
    pub expr: String,
    pub eval_time: String,
    pub exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpSample {
    pub labels: String,
    pub value: f64,
}
