//! mesh: platform-service objects of one environment (issue 9).

use cerverus_model::{Env, Platform};

use super::Objects;
use crate::RenderError;

pub(super) fn render(_platform: &Platform, _env: &Env, _out: &mut Objects) -> Result<(), RenderError> {
    Ok(())
}

/// The Secret holding `host`'s TLS certificate, in the ingress gateway's namespace: written by
/// cert-manager's Certificate (`certificates.rs`), read by the Gateway's `credentialName`.
pub fn tls_secret_name(host: &str) -> String {
    format!("{}-tls", host.replace('.', "-"))
}
