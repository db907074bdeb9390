//! One self-contained HTML page with SVG charts (no script, no external resource).

/// The report as an HTML page.
pub fn render(_report: &crate::Report) -> String {
    String::new()
}
