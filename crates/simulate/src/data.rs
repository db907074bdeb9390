//! The models' constants: one JSON file per model under `data/simulation/`, compiled in. Every
//! file starts with its [`Provenance`]: where its numbers come from and when they were read.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::SimError;

/// Where a data file's numbers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The file, relative to the repository (`data/simulation/prices.json`).
    pub file: String,
    /// What the numbers model, in a sentence.
    pub model: String,
    /// Documents the numbers were read from (titles with URLs).
    pub sources: Vec<String>,
    /// When they were read (YYYY-MM-DD).
    pub as_of: String,
    /// Region the numbers hold for, where they depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Parse the compiled-in data file `file` (its text `text`) into `T`; a malformed file is a
/// located error, never a panic.
pub fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, SimError> {
    serde_json::from_str(text).map_err(|e| SimError::Data {
        file: file.to_string(),
        message: format!("line {} column {}: {e}", e.line(), e.column()),
    })
}

/// Parse once per process: `cell` keeps the first result (the data is compiled in, so it cannot change).
pub fn cached<T: DeserializeOwned + Send + Sync + 'static>(
    cell: &'static std::sync::OnceLock<Result<T, String>>,
    file: &str,
    text: &str,
) -> Result<&'static T, SimError> {
    cell.get_or_init(|| {
        parse(file, text).map_err(|e| match e {
            SimError::Data { message, .. } => message,
            other => other.to_string(),
        })
    })
    .as_ref()
    .map_err(|m| SimError::Data { file: file.to_string(), message: m.clone() })
}
