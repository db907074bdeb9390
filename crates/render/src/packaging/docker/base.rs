//! The pinned base images (`data/base-images.json`), read at build time.

use serde::Deserialize;

use crate::RenderError;

/// Where the pins live in the repository (for messages).
pub const SOURCE_PATH: &str = "data/base-images.json";
const SOURCE: &str = include_str!("../../../../../data/base-images.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseImages {
    /// The Python services' builder and runtime.
    pub python: PythonBase,
    /// GPU workloads: a CUDA runtime with the distribution's Python from apt.
    pub cuda: PythonBase,
    /// Images of the programs whose runtime contracts name the upstream Airflow image.
    pub airflow: AirflowBase,
    pub rust_builder: Pin,
    pub rust_runtime: Pin,
    /// PID 1 of the Python services, from PyPI.
    pub init: PyPackage,
}

/// One image reference, pinned by digest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pin {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PythonBase {
    #[serde(flatten)]
    pub pin: Pin,
    /// The interpreter the base provides (or its apt packages install).
    pub interpreter: String,
    /// apt packages the builder stage installs (none: the base has Python).
    #[serde(default)]
    pub builder_packages: Vec<String>,
    /// apt packages the runtime stage installs.
    #[serde(default)]
    pub runtime_packages: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AirflowBase {
    #[serde(flatten)]
    pub pin: Pin,
    /// The upstream repository runtime contracts name (`apache/airflow`).
    pub upstream: String,
    pub version: String,
    /// The CLI every role runs (`airflow <role args>`).
    pub program: String,
    /// The base image's PID 1 (signal forwarding, zombie reaping), kept in front of `program`.
    pub init: Vec<String>,
    /// The user the base image installs Python packages as.
    pub build_user: String,
    /// Its UID and GID (the owner of its packages and of its pip cache mount).
    pub build_uid: i64,
    pub build_gid: i64,
    /// That user's home, set as `HOME` for the pods' UID (which has no passwd entry, so the
    /// runtime would otherwise make it `/`): what the runtime contract's proof runs with.
    pub home: String,
    /// Where that user's packages live (so another UID finds them).
    pub user_base: String,
    /// Airflow's constraints file for this version and Python.
    pub constraints: String,
    /// Service-repository directories copied into the image.
    pub copies: Vec<CopyRule>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CopyRule {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PyPackage {
    pub package: String,
    pub version: String,
}

/// The pins, parsed. A malformed file is a render error, not a panic.
pub fn load() -> Result<BaseImages, RenderError> {
    parse(SOURCE)
}

/// Parse pins in the format of [`SOURCE_PATH`]; every base must be pinned by a digest.
pub fn parse(text: &str) -> Result<BaseImages, RenderError> {
    let b: BaseImages = serde_json::from_str(text).map_err(|e| RenderError::Invalid(format!("{SOURCE_PATH}: {e}")))?;
    for pin in [&b.python.pin, &b.cuda.pin, &b.airflow.pin, &b.rust_builder, &b.rust_runtime] {
        if !is_digest(&pin.digest) {
            return Err(RenderError::Invalid(format!(
                "{SOURCE_PATH}: `{}` is not pinned by a sha256 digest (`{}`)",
                pin.repository, pin.digest
            )));
        }
    }
    Ok(b)
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pins_parse_and_a_broken_or_unpinned_file_is_an_error() {
        assert!(load().is_ok());
        assert!(matches!(parse("{"), Err(RenderError::Invalid(m)) if m.starts_with(SOURCE_PATH)));
        let unpinned = SOURCE.replacen("\"digest\": \"sha256:", "\"digest\": \"sha256:zz", 1);
        assert!(matches!(parse(&unpinned), Err(RenderError::Invalid(m)) if m.contains("not pinned")));
    }
}
