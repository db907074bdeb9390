//! cert-manager custom resources (cert-manager.io/v1) the log store uses: the ClusterIssuers of
//! its own CA and the Certificates of its nodes and clients, limited to the fields it sets.
//! Field names follow `/work/shared/schemas/crds/cert-manager.io/`.

use serde::Serialize;

/// ClusterIssuer `spec`: exactly one of `selfSigned` or `ca`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterIssuerSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_signed: Option<SelfSignedIssuer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaIssuer>,
}

/// A self-signed issuer has no settings the platform uses.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SelfSignedIssuer {}

/// A CA issuer signs with the key pair in `secretName` (in cert-manager's cluster resource
/// namespace for a ClusterIssuer).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaIssuer {
    pub secret_name: String,
}

/// Certificate `spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    pub secret_name: String,
    pub common_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    pub duration: String,
    pub renew_before: String,
    #[serde(rename = "isCA", skip_serializing_if = "std::ops::Not::not")]
    pub is_ca: bool,
    pub usages: Vec<&'static str>,
    pub private_key: PrivateKey,
    pub issuer_ref: IssuerRef,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateKey {
    pub algorithm: &'static str,
    pub size: u32,
    /// OpenSearch reads PEM keys in PKCS#8 only.
    pub encoding: &'static str,
    /// A new key at every renewal.
    pub rotation_policy: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuerRef {
    pub name: String,
    pub kind: &'static str,
    pub group: &'static str,
}
