//! Findings, severities and the report that collects them.

use serde::Serialize;

/// How much a finding matters. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// One rule broken by one object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    /// The object, e.g. `Deployment/cerverus-system/alerts-api` or `aws_s3_bucket.logs`.
    pub object: String,
    pub message: String,
    /// The waiver's reason, when the finding is waived.
    pub waived: Option<String>,
}

/// Everything one run found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub files: usize,
    pub objects: usize,
    pub findings: usize,
    pub waived: usize,
    /// Findings that could not be parsed at all (exit code 2).
    pub parse_errors: usize,
    /// Files read but holding nothing any rule judges (not infrastructure): never failed.
    pub skipped: usize,
    pub skipped_files: Vec<String>,
}

impl Report {
    /// Unwaived findings at or above `threshold`.
    pub fn failing(&self, threshold: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.waived.is_none() && f.severity >= threshold)
    }

    pub fn finish(mut self) -> Self {
        self.findings.sort_by(|a, b| {
            (&a.file, a.line, &a.rule, &a.object, &a.message).cmp(&(&b.file, b.line, &b.rule, &b.object, &b.message))
        });
        self.findings.dedup();
        self.summary.findings = self.findings.iter().filter(|f| f.waived.is_none()).count();
        self.summary.waived = self.findings.iter().filter(|f| f.waived.is_some()).count();
        self.summary.parse_errors = self.findings.iter().filter(|f| f.rule == crate::rules::PARSE_ERROR).count();
        self
    }
}
