//! Istio custom resources (`networking.istio.io/v1`, `security.istio.io/v1`,
//! `telemetry.istio.io/v1`, and `networking.istio.io/v1alpha3` EnvoyFilter), limited to the
//! fields the mesh renders. Field names follow the CRDs' OpenAPI schemas
//! (`../shared/schemas/crds/{networking,security,telemetry}.istio.io/`, Istio 1.25): only fields
//! present there are used, although the charts install 1.30.3.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

pub const NETWORKING: &str = "networking.istio.io/v1";
pub const SECURITY: &str = "security.istio.io/v1";
pub const TELEMETRY: &str = "telemetry.istio.io/v1";
/// EnvoyFilter is only served as v1alpha3.
pub const ENVOY_FILTER: &str = "networking.istio.io/v1alpha3";

/// Pod labels a resource applies to (`selector` / `workloadSelector`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    pub match_labels: BTreeMap<String, String>,
}

/// EnvoyFilter's `workloadSelector` (`labels`, not `matchLabels`).
#[derive(Debug, Clone, Serialize)]
pub struct EnvoyFilterSelector {
    pub labels: BTreeMap<String, String>,
}

// ---- Gateway ----

#[derive(Debug, Clone, Serialize)]
pub struct GatewaySpec {
    /// Labels of the gateway pods that carry these servers.
    pub selector: BTreeMap<String, String>,
    pub servers: Vec<Server>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    pub port: ServerPort,
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerPort {
    /// The gateway Service's port; istiod binds the Service's `targetPort` on the pods.
    pub number: u16,
    pub name: String,
    /// HTTP, HTTPS, TLS, …
    pub protocol: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTls {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_redirect: Option<bool>,
    /// SIMPLE (terminate with `credentialName`), PASSTHROUGH (route on SNI), …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    /// Secret (same namespace as the gateway pods) holding `tls.crt`/`tls.key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_protocol_version: Option<&'static str>,
}

// ---- VirtualService ----

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    pub hosts: Vec<String>,
    /// `mesh` (every sidecar) and/or `<namespace>/<gateway>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<TlsRoute>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    pub name: String,
    /// Alternatives (any one matches).
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<HttpMatch>,
    pub route: Vec<RouteDestination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetry>,
}

/// Traffic through these gateways (`mesh` = the sidecars), and on this port when given.
#[derive(Debug, Clone, Serialize)]
pub struct HttpMatch {
    pub gateways: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDestination {
    pub destination: Destination,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Destination {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    pub port: PortSelector,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortSelector {
    pub number: u16,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRetry {
    pub attempts: u32,
    /// Timeout of one attempt; absent, each attempt gets the route's whole `timeout`. Envoy
    /// retries an attempt that ran out of it only under `5xx`, `gateway-error` or `reset`, so
    /// without those a per-try timeout shorter than the route's cuts every request at it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<String>,
    /// Envoy `retry_on` conditions, comma-separated.
    pub retry_on: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsRoute {
    #[serde(rename = "match")]
    pub match_: Vec<TlsMatch>,
    pub route: Vec<RouteDestination>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsMatch {
    pub gateways: Vec<String>,
    pub port: u16,
    pub sni_hosts: Vec<String>,
}

// ---- DestinationRule ----

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    pub host: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadBalancer {
    pub simple: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectionPool {
    pub tcp: TcpPool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpPool>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpPool {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<String>,
    /// Idle time after which the sidecar closes a TCP connection through it (both sides);
    /// Istio's default is 1 h.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<TcpKeepalive>,
}

/// SO_KEEPALIVE on the proxy's upstream socket.
#[derive(Debug, Clone, Serialize)]
pub struct TcpKeepalive {
    pub time: String,
    pub interval: String,
    pub probes: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpPool {
    pub http1_max_pending_requests: u32,
    pub http2_max_requests: u32,
    pub max_requests_per_connection: u32,
    pub idle_timeout: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDetection {
    pub consecutive5xx_errors: u32,
    pub interval: String,
    pub base_ejection_time: String,
    pub max_ejection_percent: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subset {
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

// ---- ServiceEntry ----

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntrySpec {
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    pub ports: Vec<ServicePort>,
    /// MESH_EXTERNAL: outside the mesh, no sidecar on the other end.
    pub location: &'static str,
    /// DNS (resolve the host) or NONE (forward to the address the client dialled).
    pub resolution: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePort {
    pub number: u16,
    pub name: String,
    pub protocol: &'static str,
}

// ---- PeerAuthentication ----

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthenticationSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    pub mtls: Mtls,
    /// Keyed by the workload's (container) port number.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub port_level_mtls: BTreeMap<u16, Mtls>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mtls {
    pub mode: &'static str,
}

// ---- AuthorizationPolicy ----

/// An empty spec (no selector, no rules) is ALLOW-nothing: deny every request to the namespace.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuthorizationPolicySpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<AuthzRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthzRule {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<AuthzFrom>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<AuthzTo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthzFrom {
    pub source: AuthzSource,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzSource {
    /// Peer identities from mTLS: `cluster.local/ns/<ns>/sa/<serviceaccount>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_principals: Vec<String>,
    /// `<iss>/<sub>` of a JWT validated by a RequestAuthentication; `*` = any valid token.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_principals: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthzTo {
    pub operation: AuthzOperation,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzOperation {
    /// Workload (container) ports, as strings.
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

// ---- RequestAuthentication ----

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestAuthenticationSpec {
    pub selector: WorkloadSelector,
    pub jwt_rules: Vec<JwtRule>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtRule {
    pub issuer: String,
    pub jwks_uri: String,
    pub audiences: Vec<String>,
    pub forward_original_token: bool,
    pub output_claim_to_headers: Vec<ClaimToHeader>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClaimToHeader {
    pub header: String,
    pub claim: String,
}

// ---- Telemetry ----

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetrySpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_logging: Vec<AccessLogging>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tracing: Vec<Tracing>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessLogging {
    pub providers: Vec<ProviderRef>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracing {
    pub providers: Vec<ProviderRef>,
    pub random_sampling_percentage: f64,
}

/// An `extensionProviders` entry of the mesh config (istiod values), by name.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderRef {
    pub name: String,
}

// ---- EnvoyFilter (no CRD schema in the shared catalogue: see crates/cli/tests/crds.rs) ----

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvoyFilterSpec {
    pub workload_selector: EnvoyFilterSelector,
    pub config_patches: Vec<EnvoyConfigPatch>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvoyConfigPatch {
    pub apply_to: &'static str,
    #[serde(rename = "match")]
    pub match_: EnvoyPatchMatch,
    pub patch: EnvoyPatch,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvoyPatchMatch {
    /// SIDECAR_INBOUND, SIDECAR_OUTBOUND, GATEWAY.
    pub context: &'static str,
    pub listener: EnvoyListenerMatch,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvoyListenerMatch {
    pub port_number: u16,
    pub filter_chain: EnvoyFilterChainMatch,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvoyFilterChainMatch {
    pub filter: EnvoyFilterMatch,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvoyFilterMatch {
    pub name: &'static str,
    pub sub_filter: EnvoySubFilterMatch,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvoySubFilterMatch {
    pub name: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvoyPatch {
    pub operation: &'static str,
    /// An Envoy filter configuration (Envoy's own protobuf schema, `typed_config` with `@type`):
    /// not a Kubernetes type, so it is built as JSON by one typed function in `mesh.rs`.
    pub value: Value,
}
