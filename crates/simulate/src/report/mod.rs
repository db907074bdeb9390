//! The report in three forms: text tables, JSON (the [`crate::Report`] as serialized; see
//! `docs/simulate-json.md`), and one self-contained HTML page with SVG charts.
//!
//! - [`view`]: each section's report turned once into facts, charts and tables (`sections/`),
//!   so the text and the page show the same numbers in the same order;
//! - [`text`], [`html`]: the two forms drawn from the views;
//! - [`svg`]: the chart primitives (bars, stacked bars, step/line, Gantt, heat grid);
//! - [`xml`]: the escaping element builder both are written with, and a well-formedness check.

pub mod html;
mod sections;
pub mod svg;
pub mod text;
pub mod view;
pub mod xml;

/// Output format of `cerverus simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Html,
}

/// Render `report` in `format`.
pub fn render(report: &crate::Report, format: Format) -> Result<String, crate::SimError> {
    match format {
        Format::Text => Ok(text::render(report)),
        Format::Json => serde_json::to_string_pretty(report)
            .map(|s| s + "\n")
            .map_err(|e| crate::SimError::Input(format!("serializing the report: {e}"))),
        Format::Html => Ok(html::render(report)),
    }
}
