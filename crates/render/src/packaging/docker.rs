//! Container images: one `docker/<image>/Dockerfile` (+ `.dockerignore`) per image the spec's
//! workloads run, and this project's own `cerverus` image.
//!
//! TODO(issue 10, owner: the docker helper): the typed Dockerfile model and its printer. The
//! [`Image`] facts below are the interface the compose renderer and the agreement tests use;
//! keep their meaning stable.

use cerverus_bundle::Bundle;
use cerverus_model::Platform;

use crate::RenderError;

/// What a built image promises to whoever runs it (Kubernetes pods, compose services): the
/// facts both packagings must agree with, and the Dockerfile is printed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Directory under `docker/`: the image repository's last segment (`alerts-api`, `airflow`).
    pub name: String,
    /// Image repository as the spec names it (`cerverus/alerts-api`).
    pub repository: String,
    /// Workloads of the spec that run this image.
    pub workloads: Vec<String>,
    /// Numeric user and group the image runs as (the pods' `runAsUser` / `runAsGroup`).
    pub uid: i64,
    pub gid: i64,
    /// `ENTRYPOINT` (exec form); workloads' `args` follow it.
    pub entrypoint: Vec<String>,
    /// Default arguments (`CMD`), if any.
    pub cmd: Vec<String>,
    /// Ports the program listens on (`EXPOSE`).
    pub ports: Vec<u16>,
    /// Paths the program writes to; everything else is read-only at run time.
    pub writable_paths: Vec<String>,
    /// Health command (exec form) for `HEALTHCHECK` and compose, when the image has one.
    pub health_command: Option<Vec<String>>,
    /// Whether the image needs NVIDIA GPUs (CUDA runtime base).
    pub gpu: bool,
}

/// The images of the spec's workloads, in name order.
pub fn images(_platform: &Platform) -> Vec<Image> {
    Vec::new()
}

pub fn render(_platform: &Platform) -> Result<Bundle, RenderError> {
    Ok(Bundle::new())
}
