//! Alerting: PrometheusRules and their `promtool test rules` unit tests.
//!
//! [`add_rule`] is how any module renders a PrometheusRule: the object and its test file
//! together, so no rule ships untested. [`alert`] builds an alerting rule with the platform's
//! conventions (labels `severity` ∈ {critical, warning, info} and `team`; annotations `summary`,
//! `description`, `runbook_url`), which Alertmanager's routing (kube-prometheus-stack values)
//! relies on.

use std::collections::BTreeMap;

use cerverus_model::{Env, Platform, Workload};
use cerverus_spec::Exposure;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Objects;
use super::crd::monitoring::{PrometheusRuleSpec, Rule, RuleGroup};
use super::crd::{ExternalSecretData, ExternalSecretSpec, ExternalSecretTarget, RemoteRef, Resource, StoreRef};
use super::network_policies::MONITORING_NAMESPACE;
use super::promtool::{ExpAlert, InputSeries, TestFile, TestGroup};
use crate::RenderError;
use crate::addons::observability::{PAGERDUTY_KEY, RECEIVERS_SECRET, SLACK_KEY};

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
    add_rule_evaluated_every(out, namespace, name, labels, groups, tests, "1m")
}

/// [`add_rule`] with the tests evaluated every `interval` instead of every minute: for rules
/// whose cases span days (backup schedules), where promtool would otherwise evaluate every rule
/// thousands of times. `interval` must divide every `for:` and `eval_time` of the tests.
pub(crate) fn add_rule_evaluated_every(
    out: &mut Objects,
    namespace: &str,
    name: &str,
    labels: BTreeMap<String, String>,
    groups: Vec<RuleGroup>,
    tests: Vec<TestGroup>,
    interval: &str,
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
    let mut file = TestFile::for_rule(name, tests);
    file.evaluation_interval = interval.to_string();
    out.add_rule_tests(name, &file)
}

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let team = platform.owner.as_str();
    for w in &env.workloads {
        let mut groups = Vec::new();
        let mut tests = Vec::new();
        for sli in slis(env, w) {
            let (g, t) = slo_rules(&sli, team)?;
            groups.extend(g);
            tests.extend(t);
        }
        if let Some((g, t)) = service_rules(env, w, team) {
            groups.push(g);
            tests.extend(t);
        }
        if groups.is_empty() {
            continue;
        }
        let name = workload_rule_name(w.name());
        add_rule(out, w.namespace(), &name, super::labels::workload(w), groups, tests)?;
    }
    render_receiver_secrets(platform, env, out)?;
    let (groups, tests) = platform_rules(team);
    add_rule(out, MONITORING_NAMESPACE, PLATFORM_RULE, super::labels::common(&platform.name), groups, tests)
}

/// An ExternalSecret in the monitoring namespace from the Secrets Manager secret
/// `<platform>/<env>/<name>` (one of `addons::observability::platform_secrets`), one property per
/// key.
pub(super) fn platform_secret(
    platform: &Platform,
    env: &Env,
    out: &mut Objects,
    name: &str,
    keys: &[&str],
) -> Result<(), RenderError> {
    let es = Resource {
        api_version: "external-secrets.io/v1",
        kind: "ExternalSecret",
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(MONITORING_NAMESPACE.to_string()),
            labels: Some(super::labels::common(&platform.name)),
            ..Default::default()
        },
        spec: ExternalSecretSpec {
            refresh_interval: "1h".to_string(),
            secret_store_ref: StoreRef { name: super::secrets::STORE.to_string(), kind: "ClusterSecretStore" },
            target: ExternalSecretTarget {
                name: name.to_string(),
                creation_policy: "Owner",
                deletion_policy: "Retain",
            },
            data: keys
                .iter()
                .map(|k| ExternalSecretData {
                    secret_key: k.to_string(),
                    remote_ref: RemoteRef {
                        key: format!("{}/{}/{name}", platform.name, env.name),
                        property: k.to_string(),
                    },
                })
                .collect(),
        },
    };
    out.add(Some(MONITORING_NAMESPACE), "ExternalSecret", name, &es)
}

/// The receivers' credentials, mounted into Alertmanager (`alertmanagerSpec.secrets`).
fn render_receiver_secrets(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    platform_secret(platform, env, out, RECEIVERS_SECRET, &[PAGERDUTY_KEY, SLACK_KEY])
}

/// The PrometheusRule of a workload's SLO and service alerts.
pub fn workload_rule_name(workload: &str) -> String {
    format!("{workload}-alerts")
}

/// The PrometheusRule of the platform alerts (nodes, volumes, autoscalers, Airflow).
pub const PLATFORM_RULE: &str = "platform-alerts";

// ---------------------------------------------------------------------------------------------
// SLOs: multi-window, multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs", §6).
// ---------------------------------------------------------------------------------------------

/// Recording rule of an SLI's error ratio over `window`: `slo:sli_error:ratio_rate<window>`,
/// labelled `slo`, `workload`, `namespace`.
pub fn sli_record(window: &str) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

/// The windows the recording rules cover: every long and short window of [`BURN_WINDOWS`].
pub const SLI_WINDOWS: &[&str] = &["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// One alerting window pair of the workbook's table: a long window that says the budget is
/// really burning, a short one (1/12 of it) that says it still is, the burn rate that spends
/// the given share of a 30-day budget within the long window, and who hears about it.
#[derive(Debug, Clone, Copy)]
pub struct BurnWindow {
    pub long: &'static str,
    pub short: &'static str,
    pub burn_rate: f64,
    /// `for`: how long both windows must agree (damps flapping at the threshold).
    pub for_: &'static str,
    pub severity: Severity,
}

/// 2% of the budget in 1 h and 5% in 6 h page; 10% in a day and 100% in 3 days open a ticket.
pub const BURN_WINDOWS: &[BurnWindow] = &[
    BurnWindow { long: "1h", short: "5m", burn_rate: 14.4, for_: "2m", severity: Severity::Critical },
    BurnWindow { long: "6h", short: "30m", burn_rate: 6.0, for_: "15m", severity: Severity::Critical },
    BurnWindow { long: "1d", short: "2h", burn_rate: 3.0, for_: "1h", severity: Severity::Warning },
    BurnWindow { long: "3d", short: "6h", burn_rate: 1.0, for_: "3h", severity: Severity::Warning },
];

/// Istio's default buckets of `istio_request_duration_milliseconds` (the sidecar's stats
/// config): a latency objective is measured at the largest boundary not above it.
pub const ISTIO_LATENCY_BUCKETS_MS: &[u32] =
    &[1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

/// What an SLI counts.
#[derive(Debug, Clone, PartialEq)]
pub enum SliKind {
    /// Requests answered with a 5xx, from the destination sidecar's `istio_requests_total`.
    Availability,
    /// Requests slower than the bucket at or below the objective, from
    /// `istio_request_duration_milliseconds_bucket`.
    Latency { objective_ms: u32, bucket_ms: u32 },
    /// Time the workload's metrics endpoint does not answer (`up` of its PodMonitor's target):
    /// for workloads that serve no requests.
    Uptime { job: String },
}

/// One SLI of a workload with its objective.
#[derive(Debug, Clone)]
pub struct Sli {
    pub workload: String,
    pub namespace: String,
    pub kind: SliKind,
    /// Objective as a fraction of good events, e.g. 0.999.
    pub objective: f64,
}

impl Sli {
    /// The `slo` label: `availability` or `latency`.
    pub fn slo_label(&self) -> &'static str {
        match self.kind {
            SliKind::Latency { .. } => "latency",
            _ => "availability",
        }
    }

    /// The alert name of this SLI's burn-rate alerts.
    pub fn alert_name(&self) -> &'static str {
        match self.kind {
            SliKind::Latency { .. } => "SLOLatencyBudgetBurn",
            _ => "SLOAvailabilityBudgetBurn",
        }
    }

    fn budget(&self) -> f64 {
        1.0 - self.objective
    }

    fn selector(&self) -> String {
        format!("slo=\"{}\",workload=\"{}\",namespace=\"{}\"", self.slo_label(), self.workload, self.namespace)
    }

    fn istio_selector(&self, extra: &str) -> String {
        format!(
            "reporter=\"destination\",destination_workload=\"{}\",destination_workload_namespace=\"{}\"{extra}",
            self.workload, self.namespace
        )
    }

    /// The error ratio over `window`.
    fn error_ratio(&self, window: &str) -> String {
        match &self.kind {
            SliKind::Availability => format!(
                "sum(rate(istio_requests_total{{{}}}[{window}]))\n/\nsum(rate(istio_requests_total{{{}}}[{window}]))",
                self.istio_selector(",response_code=~\"5..\""),
                self.istio_selector("")
            ),
            // Prometheus 3 stores a classic histogram's `le` as a float (`100.0`), Prometheus 2
            // as exposed (`100`): the matcher takes both.
            SliKind::Latency { bucket_ms, .. } => format!(
                "1 - (\n  sum(rate(istio_request_duration_milliseconds_bucket{{{}}}[{window}]))\n  /\n  sum(rate(istio_request_duration_milliseconds_count{{{}}}[{window}]))\n)",
                self.istio_selector(&format!(",le=~\"{bucket_ms}(.0)?\"")),
                self.istio_selector("")
            ),
            SliKind::Uptime { job } => format!("1 - avg(avg_over_time(up{{job=\"{job}\"}}[{window}]))"),
        }
    }

    /// What the SLI measures, for the alerts' descriptions.
    fn measures(&self) -> String {
        match &self.kind {
            SliKind::Availability => "SLI: share of requests the workload's sidecar answered without a 5xx \
                 (istio_requests_total, reporter=destination)."
                .to_string(),
            SliKind::Latency { objective_ms, bucket_ms } => format!(
                "SLI: share of requests served within {bucket_ms} ms (istio_request_duration_milliseconds, \
                 reporter=destination), against a p95 objective of {objective_ms} ms; {bucket_ms} ms is the largest \
                 Istio histogram bucket not above the objective, so the SLI is at least as strict as declared."
            ),
            SliKind::Uptime { job } => format!(
                "SLI: share of time the workload's metrics endpoint answers scrapes (up{{job=\"{job}\"}}, averaged over \
                 its pods). The workload serves no requests, so there is no request-based SLI; a crashed, hung or \
                 unschedulable pod stops answering and spends budget."
            ),
        }
    }
}

/// The SLIs of a workload's declared `slo`: availability from its requests when it serves HTTP
/// in the mesh, otherwise from its metrics target's `up`; latency where declared and measurable.
pub fn slis(env: &Env, w: &Workload) -> Vec<Sli> {
    let Some(slo) = &w.spec.slo else { return Vec::new() };
    let meshed = env.in_mesh(w);
    let serves = meshed && w.serving_http_ports().next().is_some() && w.spec.exposure != Exposure::None;
    let sli = |kind: SliKind, objective: f64| Sli {
        workload: w.name().to_string(),
        namespace: w.namespace().to_string(),
        kind,
        objective,
    };
    let mut out = Vec::new();
    let availability = slo.availability_percent / 100.0;
    if serves {
        out.push(sli(SliKind::Availability, availability));
        if let Some(ms) = slo.latency_p95_ms
            && let Some(bucket) = ISTIO_LATENCY_BUCKETS_MS.iter().rev().find(|b| **b <= ms)
        {
            out.push(sli(SliKind::Latency { objective_ms: ms, bucket_ms: *bucket }, 0.95));
        }
    } else if w.metrics_port().is_some() {
        // The PodMonitor of monitoring.rs: the operator labels its targets job="<ns>/<name>".
        out.push(sli(SliKind::Uptime { job: format!("{}/{}", w.namespace(), w.name()) }, availability));
    }
    out
}

/// A number as PromQL and humans read it: no float noise (`0.0005`, not `0.0005000000000000004`).
pub fn num(x: f64) -> String {
    let s = format!("{x:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" { "0".to_string() } else { s.to_string() }
}

fn percent(objective: f64) -> String {
    num(objective * 100.0)
}

/// The recording rules and burn-rate alerts of one SLI, and their tests.
fn slo_rules(sli: &Sli, team: &str) -> Result<(Vec<RuleGroup>, Vec<TestGroup>), RenderError> {
    let labels = BTreeMap::from([
        ("slo".to_string(), sli.slo_label().to_string()),
        ("workload".to_string(), sli.workload.clone()),
        ("namespace".to_string(), sli.namespace.clone()),
    ]);
    let records = SLI_WINDOWS.iter().map(|w| Rule::record(sli_record(w), sli.error_ratio(w), labels.clone())).collect();
    let budget = num(sli.budget());
    let alerts: Vec<Rule> = BURN_WINDOWS
        .iter()
        .map(|b| {
            let threshold = format!("({} * {budget})", num(b.burn_rate));
            let expr = format!(
                "{long}{{{sel}}} > {threshold}\nand\n{short}{{{sel}}} > {threshold}",
                long = sli_record(b.long),
                short = sli_record(b.short),
                sel = sli.selector()
            );
            let share = b.burn_rate * hours(b.long) / (30.0 * 24.0) * 100.0;
            let summary = format!(
                "{} is spending its {}% {} error budget {}x too fast ({} and {} windows)",
                sli.workload,
                percent(sli.objective),
                sli.slo_label(),
                num(b.burn_rate),
                b.long,
                b.short
            );
            let description = format!(
                "{} / {}: at this rate {}% of the 30-day error budget is gone within {}. {}",
                sli.namespace,
                sli.workload,
                num(share.round()),
                b.long,
                sli.measures()
            );
            let text = AlertText { summary: &summary, description: &description, runbook: "slo-burn-rate" };
            let mut rule = alert(sli.alert_name(), &expr, b.for_, b.severity, team, &text);
            rule.labels.insert("long_window".to_string(), b.long.to_string());
            rule.labels.insert("short_window".to_string(), b.short.to_string());
            rule
        })
        .collect();
    let tests = slo_tests(sli, &alerts)?;
    let group = |suffix: &str| format!("slo-{}-{}-{suffix}", sli.workload, sli.slo_label());
    Ok((
        vec![
            RuleGroup { name: group("sli"), interval: None, rules: records },
            RuleGroup { name: group("burn-rate"), interval: None, rules: alerts },
        ],
        tests,
    ))
}

fn hours(window: &str) -> f64 {
    let (n, unit) = window.split_at(window.len() - 1);
    let n: f64 = n.parse().unwrap_or(0.0);
    match unit {
        "m" => n / 60.0,
        "h" => n,
        "d" => n * 24.0,
        _ => 0.0,
    }
}

/// The alert a rule raises for the series labels `series` (rule labels over series labels).
pub fn expected(rule: &Rule, series: &BTreeMap<String, String>) -> ExpAlert {
    let mut exp_labels = series.clone();
    exp_labels.extend(rule.labels.clone());
    ExpAlert { exp_labels, exp_annotations: rule.annotations.clone() }
}

/// Synthetic traffic for an SLI whose error ratio is `ratio` for `minutes` minutes and then 0
/// for `then_clean` minutes (1-minute samples).
fn sli_series(sli: &Sli, ratio: f64, minutes: u32, then_clean: u32) -> Vec<InputSeries> {
    // Counters growing by `per_min` for `minutes`, then by `after` for `then_clean` minutes.
    let counter = |per_min: f64, after: f64| {
        let mut v = format!("0+{}x{minutes}", num(per_min));
        if then_clean > 0 {
            v.push_str(&format!(" {}+{}x{}", num(per_min * f64::from(minutes) + after), num(after), then_clean - 1));
        }
        v
    };
    let total = 1000.0;
    match &sli.kind {
        SliKind::Availability => {
            let sel = |code: &str| {
                format!("istio_requests_total{{{}}}", sli.istio_selector(&format!(",response_code=\"{code}\"")))
            };
            vec![
                InputSeries::new(sel("200"), counter(total * (1.0 - ratio), total)),
                InputSeries::new(sel("503"), counter(total * ratio, 0.0)),
            ]
        }
        SliKind::Latency { bucket_ms, .. } => vec![
            InputSeries::new(
                format!(
                    "istio_request_duration_milliseconds_bucket{{{}}}",
                    sli.istio_selector(&format!(",le=\"{bucket_ms}\""))
                ),
                counter(total * (1.0 - ratio), total),
            ),
            InputSeries::new(
                format!("istio_request_duration_milliseconds_count{{{}}}", sli.istio_selector("")),
                counter(total, total),
            ),
        ],
        SliKind::Uptime { job } => {
            // Four pods; enough of them down for the ratio (at least one when ratio > 0).
            let pods = 4u32;
            let down = (ratio * f64::from(pods)).ceil() as u32;
            (0..pods)
                .map(|i| {
                    let up = if i < down { format!("0x{minutes}") } else { format!("1x{minutes}") };
                    let values = if then_clean > 0 { format!("{up} 1x{}", then_clean - 1) } else { up };
                    InputSeries::new(
                        format!("up{{job=\"{job}\",namespace=\"{}\",pod=\"{}-{i}\"}}", sli.namespace, sli.workload),
                        values,
                    )
                })
                .collect()
        }
    }
}

/// Tests of an SLI's burn-rate alerts: a sustained burn fires all four; a burn within budget
/// fires none; a burn that stopped (the short window is clean again) silences the fast page
/// although its long window still burns.
fn slo_tests(sli: &Sli, alerts: &[Rule]) -> Result<Vec<TestGroup>, RenderError> {
    let budget = sli.budget();
    let max_rate = BURN_WINDOWS.iter().map(|b| b.burn_rate).fold(0.0, f64::max);
    // A burn well above the fastest threshold, measurable in the synthetic series.
    let burning = match sli.kind {
        SliKind::Uptime { .. } => (max_rate * budget * 1.5 * 4.0).ceil() / 4.0,
        _ => (max_rate * budget * 1.5).min(0.95),
    };
    if burning <= max_rate * budget || burning > 1.0 {
        return Err(RenderError::Invalid(format!(
            "{}: an objective of {} leaves a budget of {} that no error ratio can burn {}x",
            sli.workload,
            sli.objective,
            num(budget),
            num(max_rate)
        )));
    }
    let series = BTreeMap::from([
        ("slo".to_string(), sli.slo_label().to_string()),
        ("workload".to_string(), sli.workload.clone()),
        ("namespace".to_string(), sli.namespace.clone()),
    ]);
    let name = sli.alert_name();
    // Long enough for the slowest pair's `for` (3h) to pass.
    let sustained = TestGroup::new(sli_series(sli, burning, 240, 0)).expect(
        "235m",
        name,
        alerts.iter().map(|r| expected(r, &series)).collect(),
    );
    // An uptime SLI counts whole pods: the smallest outage of four pods is already 25%.
    let fine = if matches!(sli.kind, SliKind::Uptime { .. }) { 0.0 } else { budget * 0.5 };
    let within = TestGroup::new(sli_series(sli, fine, 240, 0)).expect("235m", name, Vec::new());
    // 60 minutes of burn, then 20 clean: the 1h window still burns but the 5m one no longer, so
    // the fast page (1h/5m) is silent; 6h/30m and 1d/2h still agree and have held past their
    // `for`; 3d/6h has not held for 3h yet.
    let still: Vec<ExpAlert> = alerts[1..3].iter().map(|r| expected(r, &series)).collect();
    let stopped = TestGroup::new(sli_series(sli, burning, 60, 20)).expect("79m", name, still);
    let series_labels = series;
    let mut groups = vec![sustained, within, stopped];
    if let SliKind::Latency { bucket_ms, .. } = sli.kind {
        // Prometheus 3 stores the bucket bound as a float: the SLI still reads it.
        let (two, three) = (format!("le=\"{bucket_ms}\""), format!("le=\"{bucket_ms}.0\""));
        let series = sli_series(sli, burning, 240, 0)
            .into_iter()
            .map(|s| InputSeries::new(s.series.replace(&two, &three), s.values))
            .collect();
        groups.push(TestGroup::new(series).expect(
            "235m",
            name,
            alerts.iter().map(|r| expected(r, &series_labels)).collect(),
        ));
    }
    Ok(groups)
}

// ---------------------------------------------------------------------------------------------
// Per-service alerts: error rate and p95 latency from the destination sidecar.
// ---------------------------------------------------------------------------------------------

/// Error ratio above which a service alerts (any service, SLO or not).
pub const SERVICE_ERROR_RATIO: f64 = 0.05;
/// p95 latency above which a service without a latency objective alerts.
pub const DEFAULT_LATENCY_MS: u32 = 1000;

/// Whether a workload serves requests through its sidecar (what Istio's request metrics
/// describe): a meshed namespace, an HTTP port besides `metrics`, and callers.
pub fn serves_http_in_mesh(env: &Env, w: &Workload) -> bool {
    let meshed = env.in_mesh(w);
    meshed && w.serving_http_ports().next().is_some() && w.spec.exposure != Exposure::None
}

fn service_rules(env: &Env, w: &Workload, team: &str) -> Option<(RuleGroup, Vec<TestGroup>)> {
    if !serves_http_in_mesh(env, w) {
        return None;
    }
    let sli = Sli {
        workload: w.name().to_string(),
        namespace: w.namespace().to_string(),
        kind: SliKind::Availability,
        objective: 0.0,
    };
    let sel = |extra: &str| sli.istio_selector(extra);
    let threshold = w.spec.slo.as_ref().and_then(|s| s.latency_p95_ms).unwrap_or(DEFAULT_LATENCY_MS);
    let scope = BTreeMap::from([
        ("workload".to_string(), w.name().to_string()),
        ("namespace".to_string(), w.namespace().to_string()),
    ]);
    let errors_summary =
        format!("{} answers more than {}% of requests with 5xx", w.name(), num(SERVICE_ERROR_RATIO * 100.0));
    let errors_description = format!(
        "{} / {}: over 5 minutes more than {}% of the requests its sidecar received were answered with a 5xx \
         (istio_requests_total, reporter=destination), for 10 minutes.",
        w.namespace(),
        w.name(),
        num(SERVICE_ERROR_RATIO * 100.0)
    );
    let mut errors = alert(
        "ServiceHighErrorRate",
        &format!(
            "sum(rate(istio_requests_total{{{}}}[5m]))\n/\nsum(rate(istio_requests_total{{{}}}[5m]))\n> {}",
            sel(",response_code=~\"5..\""),
            sel(""),
            num(SERVICE_ERROR_RATIO)
        ),
        "10m",
        Severity::Warning,
        team,
        &AlertText { summary: &errors_summary, description: &errors_description, runbook: "service-errors" },
    );
    errors.labels.extend(scope.clone());
    let latency_summary = format!("{} p95 latency is above {threshold} ms", w.name());
    let latency_description = format!(
        "{} / {}: the 95th percentile of request duration at its sidecar \
         (istio_request_duration_milliseconds, reporter=destination) has been above {threshold} ms for 10 minutes.",
        w.namespace(),
        w.name()
    );
    let mut latency = alert(
        "ServiceHighLatency",
        &format!(
            "histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{{{}}}[5m])))\n> {threshold}",
            sel("")
        ),
        "10m",
        Severity::Warning,
        team,
        &AlertText { summary: &latency_summary, description: &latency_description, runbook: "service-latency" },
    );
    latency.labels.extend(scope);

    let requests = |ratio: f64| {
        let code = |c: &str, per_min: f64| {
            InputSeries::new(
                format!("istio_requests_total{{{}}}", sel(&format!(",response_code=\"{c}\""))),
                format!("0+{}x40", num(per_min)),
            )
        };
        vec![code("200", 1000.0 * (1.0 - ratio)), code("500", 1000.0 * ratio)]
    };
    // Histogram with the bucket at or below the threshold, the next one above it and +Inf.
    let below = ISTIO_LATENCY_BUCKETS_MS.iter().rev().find(|b| **b <= threshold).copied().unwrap_or(1);
    let above = ISTIO_LATENCY_BUCKETS_MS.iter().find(|b| **b > threshold).copied().unwrap_or(3_600_000);
    let histogram = |fast: f64| {
        let bucket = |le: String, per_min: f64| {
            InputSeries::new(
                format!("istio_request_duration_milliseconds_bucket{{{}}}", sel(&format!(",le=\"{le}\""))),
                format!("0+{}x40", num(per_min)),
            )
        };
        // `fast` of the requests within `below`, the rest slower than `above`.
        vec![bucket(below.to_string(), fast), bucket(above.to_string(), fast), bucket("+Inf".to_string(), 1000.0)]
    };
    let none = BTreeMap::new();
    let tests = vec![
        TestGroup::new(requests(0.2)).expect("30m", "ServiceHighErrorRate", vec![expected(&errors, &none)]),
        TestGroup::new(requests(0.01)).expect("30m", "ServiceHighErrorRate", Vec::new()),
        TestGroup::new(histogram(0.0)).expect("30m", "ServiceHighLatency", vec![expected(&latency, &none)]),
        TestGroup::new(histogram(1000.0)).expect("30m", "ServiceHighLatency", Vec::new()),
    ];
    Some((RuleGroup { name: format!("service-{}", w.name()), interval: None, rules: vec![errors, latency] }, tests))
}

// ---------------------------------------------------------------------------------------------
// Platform alerts: nodes, volumes, autoscalers, Airflow.
// ---------------------------------------------------------------------------------------------

/// Airflow's metrics as the OpenTelemetry Collector's Prometheus exporter names them (Airflow
/// 2.10 with `AIRFLOW__METRICS__OTEL_ON` in the scheduler, prefix `airflow`: dots become
/// underscores). `dagrun.duration.failed` is the duration of the last failed run of each DAG
/// (a timer, which Airflow's OTel logger reports as a gauge, labels `dag_id`, `run_type`): it
/// changes, or appears, when a run fails. `dag_processing.import_errors` is the gauge of DAG
/// files that fail to import.
pub const AIRFLOW_DAGRUN_FAILED: &str = "airflow_dagrun_duration_failed";
pub const AIRFLOW_IMPORT_ERRORS: &str = "airflow_dag_processing_import_errors";

/// kube-prometheus-stack default alerts that [`platform_rules`] replaces (with the platform's
/// labels, runbooks and tests); the values disable them so nothing is paged twice.
pub const REPLACED_DEFAULT_ALERTS: &[&str] = &["KubeHpaMaxedOut", "KubeNodePressure", "KubePersistentVolumeFillingUp"];

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn series(metric: &str, l: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{metric}{{{}}}", inner.join(","))
}

fn platform_rules(team: &str) -> (Vec<RuleGroup>, Vec<TestGroup>) {
    let mut tests = Vec::new();

    // Nodes: the kubelet reports a pressure condition before it starts evicting pods.
    let pressure = alert(
        "NodeUnderPressure",
        "kube_node_status_condition{condition=~\"MemoryPressure|DiskPressure|PIDPressure\",status=\"true\"} == 1",
        "5m",
        Severity::Warning,
        team,
        &AlertText {
            summary: "A node reports memory, disk or PID pressure",
            description: "The kubelet reports a pressure condition (kube_node_status_condition from kube-state-metrics) \
                for 5 minutes: it evicts pods and refuses new ones until the pressure ends.",
            runbook: "node-pressure",
        },
    );
    let node = labels(&[("condition", "MemoryPressure"), ("node", "ip-10-0-32-10.ec2.internal"), ("status", "true")]);
    tests.push(TestGroup::new(vec![InputSeries::new(series("kube_node_status_condition", &node), "1x15")]).expect(
        "10m",
        "NodeUnderPressure",
        vec![expected(&pressure, &node)],
    ));
    tests.push(TestGroup::new(vec![InputSeries::new(series("kube_node_status_condition", &node), "0x15")]).expect(
        "10m",
        "NodeUnderPressure",
        Vec::new(),
    ));

    // Volumes: fill up within four days at the last six hours' pace, or nearly full now.
    let filling = alert(
        "PersistentVolumeFillingUp",
        "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.15\n\
         and\npredict_linear(kubelet_volume_stats_available_bytes[6h], 4 * 24 * 3600) < 0",
        "1h",
        Severity::Warning,
        team,
        &AlertText {
            summary: "A persistent volume fills up within four days",
            description: "Less than 15% of the volume is free and, at the pace of the last 6 hours \
                (kubelet_volume_stats_available_bytes), it is full within four days.",
            runbook: "pvc-filling",
        },
    );
    let full = alert(
        "PersistentVolumeAlmostFull",
        "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.03",
        "5m",
        Severity::Critical,
        team,
        &AlertText {
            summary: "A persistent volume is almost full",
            description: "Less than 3% of the volume is free (kubelet_volume_stats_available_bytes): writes fail soon.",
            runbook: "pvc-filling",
        },
    );
    let pvc = labels(&[("namespace", "cerverus-data"), ("persistentvolumeclaim", "logs-airflow-worker-0")]);
    let volume = |available: &str| {
        vec![
            InputSeries::new(series("kubelet_volume_stats_available_bytes", &pvc), available),
            InputSeries::new(series("kubelet_volume_stats_capacity_bytes", &pvc), "100x200"),
        ]
    };
    // 20% free, losing 0.05% a minute: under 15% after 100 minutes, firing an hour later.
    tests.push(TestGroup::new(volume("20-0.05x200")).expect(
        "175m",
        "PersistentVolumeFillingUp",
        vec![expected(&filling, &pvc)],
    ));
    // 12% free but not shrinking: no prediction of full.
    tests.push(TestGroup::new(volume("12x200")).expect("175m", "PersistentVolumeFillingUp", Vec::new()));
    tests.push(TestGroup::new(volume("2x200")).expect(
        "10m",
        "PersistentVolumeAlmostFull",
        vec![expected(&full, &pvc)],
    ));
    tests.push(TestGroup::new(volume("12x200")).expect("10m", "PersistentVolumeAlmostFull", Vec::new()));

    // Autoscalers (HPAs and the HPAs KEDA creates, `keda-hpa-<ScaledObject>`) pinned at their
    // maximum: demand exceeds what the spec allows.
    let at_max = alert(
        "AutoscalerAtMaximum",
        "(\n  kube_horizontalpodautoscaler_status_current_replicas\n  >= on (namespace, horizontalpodautoscaler)\n  \
         kube_horizontalpodautoscaler_spec_max_replicas\n)\nunless on (namespace, horizontalpodautoscaler)\n(\n  \
         kube_horizontalpodautoscaler_spec_max_replicas\n  == on (namespace, horizontalpodautoscaler)\n  \
         kube_horizontalpodautoscaler_spec_min_replicas\n)",
        "15m",
        Severity::Warning,
        team,
        &AlertText {
            summary: "An autoscaler has run at its maximum replicas for 15 minutes",
            description: "The HorizontalPodAutoscaler (for a KEDA ScaledObject: keda-hpa-<name>) runs as many replicas \
                as its maximum allows (kube-state-metrics), so load beyond it is not absorbed: raise the workload's \
                autoscaling max in the spec or find what drives the load.",
            runbook: "autoscaler-at-max",
        },
    );
    let hpa = labels(&[("horizontalpodautoscaler", "keda-hpa-alerts-api"), ("namespace", "cerverus-system")]);
    let scaler = |current: &str, min: &str| {
        vec![
            InputSeries::new(series("kube_horizontalpodautoscaler_status_current_replicas", &hpa), current),
            InputSeries::new(series("kube_horizontalpodautoscaler_spec_max_replicas", &hpa), "20x30"),
            InputSeries::new(series("kube_horizontalpodautoscaler_spec_min_replicas", &hpa), min),
        ]
    };
    tests.push(TestGroup::new(scaler("20x30", "3x30")).expect(
        "20m",
        "AutoscalerAtMaximum",
        vec![expected(&at_max, &hpa)],
    ));
    tests.push(TestGroup::new(scaler("12x30", "3x30")).expect("20m", "AutoscalerAtMaximum", Vec::new()));
    // A fixed-size autoscaler (min = max) is always at its maximum: not news.
    tests.push(TestGroup::new(scaler("20x30", "20x30")).expect("20m", "AutoscalerAtMaximum", Vec::new()));

    // Airflow, from its OpenTelemetry metrics (see AIRFLOW_DAGRUN_FAILED). A failed run sets
    // the DAG's gauge to its duration: a new value, or a series that did not exist 15 minutes
    // ago (the first failure since the scheduler started), is a new failure.
    let failed = alert(
        "AirflowDagRunFailed",
        &format!(
            "sum by (dag_id) (changes({m}[15m])) > 0\nor\ncount by (dag_id) ({m} unless {m} offset 15m)",
            m = AIRFLOW_DAGRUN_FAILED
        ),
        "",
        Severity::Warning,
        team,
        &AlertText {
            summary: "An Airflow DAG run failed",
            description: "A run of the DAG ended in state failed within the last 15 minutes (Airflow's \
                dagrun.duration.failed from the scheduler, through the OpenTelemetry Collector). Two failures in a row \
                with the very same duration count once.",
            runbook: "airflow-dag-failures",
        },
    );
    let import_errors = alert(
        "AirflowDagImportErrors",
        &format!("sum({AIRFLOW_IMPORT_ERRORS}) > 0"),
        "10m",
        Severity::Warning,
        team,
        &AlertText {
            summary: "Airflow cannot import some DAG files",
            description: "The DAG processor reports import errors (dag_processing.import_errors): the DAGs in those \
                files are not scheduled at all.",
            runbook: "airflow-dag-failures",
        },
    );
    let run = labels(&[("dag_id", "market_data_daily"), ("job", "opentelemetry-collector"), ("run_type", "scheduled")]);
    let dag = labels(&[("dag_id", "market_data_daily")]);
    let dag_run = |values: &str| vec![InputSeries::new(series(AIRFLOW_DAGRUN_FAILED, &run), values)];
    // A second failure (another duration) …
    tests.push(TestGroup::new(dag_run("1200x10 1500x20")).expect(
        "15m",
        "AirflowDagRunFailed",
        vec![expected(&failed, &dag)],
    ));
    // … the first failure since the scheduler started (the series appears) …
    tests.push(TestGroup::new(dag_run("_x10 1300x20")).expect(
        "15m",
        "AirflowDagRunFailed",
        vec![expected(&failed, &dag)],
    ));
    // … but an old failure, still reported, is not news.
    tests.push(TestGroup::new(dag_run("1200x30")).expect("25m", "AirflowDagRunFailed", Vec::new()));
    let job = labels(&[("job", "airflow")]);
    tests.push(TestGroup::new(vec![InputSeries::new(series(AIRFLOW_IMPORT_ERRORS, &job), "2x20")]).expect(
        "15m",
        "AirflowDagImportErrors",
        vec![expected(&import_errors, &BTreeMap::new())],
    ));
    tests.push(TestGroup::new(vec![InputSeries::new(series(AIRFLOW_IMPORT_ERRORS, &job), "0x20")]).expect(
        "15m",
        "AirflowDagImportErrors",
        Vec::new(),
    ));

    let group = |name: &str, rules: Vec<Rule>| RuleGroup { name: name.to_string(), interval: None, rules };
    (
        vec![
            group("nodes", vec![pressure]),
            group("volumes", vec![filling, full]),
            group("autoscaling", vec![at_max]),
            group("airflow", vec![failed, import_errors]),
        ],
        tests,
    )
}
