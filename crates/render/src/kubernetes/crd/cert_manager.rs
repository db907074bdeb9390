//! cert-manager custom resources (cert-manager.io/v1): ClusterIssuer, Issuer and Certificate,
//! limited to the fields the platform sets. Field names follow the CRD schemas
//! (`/work/shared/schemas/crds/cert-manager.io/`).

use serde::Serialize;

/// ClusterIssuer / Issuer `spec`: exactly one of the issuer types is set.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuerSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acme: Option<AcmeIssuer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaIssuer>,
    /// `selfSigned: {}`: signs a Certificate with its own key (the internal CA's root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_signed: Option<SelfSignedIssuer>,
}

/// An ACME account on `server` (Let's Encrypt), with the solvers that prove control of names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AcmeIssuer {
    pub server: String,
    /// Where cert-manager keeps the ACME account's private key (it creates the Secret).
    pub private_key_secret_ref: SecretKeySelector,
    pub solvers: Vec<AcmeSolver>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretKeySelector {
    pub name: String,
}

/// One ACME challenge solver and the names it may be used for.
#[derive(Debug, Clone, Serialize)]
pub struct AcmeSolver {
    pub selector: SolverSelector,
    pub dns01: Dns01Solver,
}

/// Which certificate names a solver applies to: `dnsZones` matches a name and all its
/// subdomains.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SolverSelector {
    pub dns_zones: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dns01Solver {
    pub route53: Route53Solver,
}

/// DNS-01 on Route 53 with ambient credentials (the controller's IRSA role): no access key,
/// no role to assume. Without `hostedZoneID` cert-manager looks the public zone up by name
/// (`route53:ListHostedZonesByName`, which the role allows).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route53Solver {
    pub region: String,
    #[serde(rename = "hostedZoneID", skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
}

/// Signs with the key pair in `secretName` (in cert-manager's own namespace for a ClusterIssuer).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaIssuer {
    pub secret_name: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SelfSignedIssuer {}

/// Certificate `spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    /// The Secret cert-manager writes `tls.crt`/`tls.key` (and `ca.crt`) to.
    pub secret_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// The field is `isCA` (not camelCase of `is_ca`).
    #[serde(rename = "isCA", skip_serializing_if = "std::ops::Not::not")]
    pub is_ca: bool,
    /// Requested lifetime (Go duration, e.g. `2160h`).
    pub duration: String,
    /// How long before expiry cert-manager renews.
    pub renew_before: String,
    /// Key usages; empty: cert-manager's default (digital signature, key encipherment).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub usages: Vec<&'static str>,
    pub private_key: PrivateKey,
    pub issuer_ref: IssuerRef,
    /// Old CertificateRequests kept for debugging a renewal.
    pub revision_history_limit: i32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateKey {
    pub algorithm: &'static str,
    pub size: i32,
    /// `PKCS8` for programs that read PEM keys only in PKCS#8 (OpenSearch); default PKCS#1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    /// `Always`: a new key on every issuance, so a renewal also rotates the key.
    pub rotation_policy: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuerRef {
    pub name: String,
    pub kind: &'static str,
    pub group: &'static str,
}

/// A DNS-01 solver on Route 53 in `region` with ambient credentials.
pub fn dns01_route53(region: &str) -> Dns01Solver {
    Dns01Solver { route53: Route53Solver { region: region.to_string(), hosted_zone_id: None } }
}
