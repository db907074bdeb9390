//! GitHub Actions workflow rules.

use serde_json::Value;

use super::{Sink, parse_comment_waivers};
use crate::inventory::Inventory;

/// Event fields an outsider controls (titles, bodies, branch names, commit messages).
const UNTRUSTED: &[&str] = &[
    "github.event.issue.title",
    "github.event.issue.body",
    "github.event.pull_request.title",
    "github.event.pull_request.body",
    "github.event.comment.body",
    "github.event.review.body",
    "github.event.pull_request.head.ref",
    "github.event.head_commit.message",
    "github.event.commits",
    "github.head_ref",
];

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).map_or(1, |i| i + 1)
}

fn pinned(uses: &str) -> bool {
    if uses.starts_with("./") || uses.starts_with("docker://") {
        return uses.starts_with("./") || uses.contains("@sha256:");
    }
    uses.rsplit_once('@').is_some_and(|(_, r)| r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    for wf in &inv.workflows {
        let w = parse_comment_waivers(wf.text.lines().filter(|l| l.trim_start().starts_with('#')));
        let object = wf.value["name"].as_str().unwrap_or("workflow").to_string();
        sink.check_waivers(&wf.file, 1, &object, &w);
        match &wf.value["permissions"] {
            Value::Null => sink.report(
                "CV-GHA-002",
                &wf.file,
                1,
                &object,
                "no top-level `permissions:` (the token gets the repository default)".into(),
                &w,
            ),
            Value::String(s) if s == "write-all" => sink.report(
                "CV-GHA-002",
                &wf.file,
                line_of(&wf.text, "permissions"),
                &object,
                "permissions: write-all".into(),
                &w,
            ),
            _ => {}
        }
        for (job_name, job) in wf.value["jobs"].as_object().into_iter().flatten() {
            if job["permissions"] == "write-all" {
                sink.report(
                    "CV-GHA-002",
                    &wf.file,
                    line_of(&wf.text, "write-all"),
                    &format!("{object}/{job_name}"),
                    "job permissions: write-all".into(),
                    &w,
                );
            }
            for step in job["steps"].as_array().into_iter().flatten() {
                if let Some(uses) = step["uses"].as_str()
                    && !pinned(uses)
                {
                    sink.report(
                        "CV-GHA-001",
                        &wf.file,
                        line_of(&wf.text, uses),
                        &format!("{object}/{job_name}"),
                        format!("`{uses}` is not pinned to a commit SHA"),
                        &w,
                    );
                }
                if let Some(run) = step["run"].as_str() {
                    for expr in run.split("${{").skip(1).filter_map(|s| s.split("}}").next()) {
                        let e = expr.trim();
                        if UNTRUSTED.iter().any(|u| e.starts_with(u)) {
                            let line = line_of(&wf.text, e);
                            sink.report(
                                "CV-GHA-003",
                                &wf.file,
                                line,
                                &format!("{object}/{job_name}"),
                                format!("`${{{{ {e} }}}}` is expanded inside `run:`"),
                                &w,
                            );
                        }
                    }
                }
            }
        }
    }
}
