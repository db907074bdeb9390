//! Certificates: cert-manager's issuers, the gateways' certificates and their expiry alerts.
//!
//! - ClusterIssuers `letsencrypt-staging` and `letsencrypt-prod`: ACME with DNS-01 on Route 53,
//!   ambient credentials (cert-manager's IRSA role), limited by `selector.dnsZones` to the zones
//!   of the spec's public hosts.
//! - The internal CA: a self-signed ClusterIssuer signs the CA Certificate (in cert-manager's
//!   namespace, `isCA`), and the ClusterIssuer `cerverus-internal-ca` signs with that key pair.
//!   Mesh traffic is authenticated by Istio's own CA; nothing in the bundle consumes an internal
//!   certificate yet, so none is issued beyond the CA itself.
//! - One Certificate per public host in the ingress gateway's namespace, written to the Secret
//!   the Gateway's `credentialName` names ([`super::mesh::tls_secret_name`]).
//! - PrometheusRule `cert-manager-certificates`: expiry in 14 days (warning) and 7 days
//!   (critical), a Certificate not Ready, cert-manager's metrics missing — with promtool tests.
//!
//! Every object here is in the Application's default wave: an issuer and the Certificates that
//! use it are applied together and cert-manager retries until its issuer is Ready. (A CA issuer
//! in an earlier wave than the Certificate that creates its Secret would stay Degraded and hold
//! the sync forever.)

pub mod rotation;

use std::collections::{BTreeMap, BTreeSet};

use cerverus_model::{Env, Platform};
use cerverus_spec::Exposure;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::alerting::{AlertText, Severity, add_rule, alert};
use super::crd::Resource;
use super::crd::cert_manager::{
    AcmeIssuer, AcmeSolver, CaIssuer, CertificateSpec, IssuerRef, IssuerSpec, PrivateKey, SecretKeySelector,
    SelfSignedIssuer, SolverSelector, dns01_route53,
};
use super::crd::monitoring::RuleGroup;
use super::mesh::tls_secret_name;
use super::network_policies::{GATEWAY_NAMESPACE, MONITORING_NAMESPACE};
use super::promtool::{ExpAlert, InputSeries, TestGroup};
use super::{Objects, labels};
use crate::RenderError;

/// cert-manager's namespace (its "cluster resource namespace": where ClusterIssuers' Secrets are).
pub const NAMESPACE: &str = "cert-manager";
/// ACME issuers. Staging's certificates are not publicly trusted but its rate limits are far
/// higher; production's count against Let's Encrypt's per-domain weekly limits.
pub const LETSENCRYPT_STAGING: &str = "letsencrypt-staging";
pub const LETSENCRYPT_PROD: &str = "letsencrypt-prod";
const LETSENCRYPT_STAGING_URL: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
const LETSENCRYPT_PROD_URL: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// The self-signed issuer that only signs the internal CA.
pub const SELF_SIGNED: &str = "cerverus-selfsigned";
/// The internal CA: its ClusterIssuer, Certificate and Secret share the name.
pub const INTERNAL_CA: &str = "cerverus-internal-ca";
/// Runbook of an emergency re-issue, referenced from every public Certificate and alert.
pub const RUNBOOK: &str = "certificate-emergency-reissue";
/// Annotation naming a Certificate's runbook.
pub const RUNBOOK_ANNOTATION: &str = "cerverus.io/runbook";
/// PrometheusRule of the certificate alerts.
pub const RULE_NAME: &str = "cert-manager-certificates";

/// Renewal windows. Let's Encrypt issues 90-day certificates whatever is asked; renewing 30 days
/// before expiry is its recommendation and leaves three weeks of retries before the 7-day alert.
pub const ACME_DURATION: &str = "2160h";
pub const ACME_RENEW_BEFORE: &str = "720h";
/// The internal CA: five years, renewed a year before expiry.
pub const CA_DURATION: &str = "43800h";
pub const CA_RENEW_BEFORE: &str = "8760h";

/// Public hosts of this environment: workloads with `exposure: public` and a `host`.
pub fn public_hosts(env: &Env) -> Vec<String> {
    let hosts: BTreeSet<String> = env
        .workloads
        .iter()
        .filter(|w| w.spec.exposure == Exposure::Public)
        .filter_map(|w| w.spec.host.clone())
        .collect();
    hosts.into_iter().collect()
}

/// The DNS zone a host's validation record is written to: the host without its first label
/// (`alerts.cerverus.io` → `cerverus.io`). A zone of its own for a deeper name would need a
/// delegated Route 53 zone, which the platform does not create.
pub fn dns_zone(host: &str) -> String {
    host.split_once('.').map_or(host, |(_, rest)| rest).to_string()
}

/// Whether `zone` (a `selector.dnsZones` entry) covers `host`: the zone itself or a subdomain.
pub fn zone_covers(zone: &str, host: &str) -> bool {
    host == zone || host.ends_with(&format!(".{zone}"))
}

/// The zones of every public host: the solvers' `dnsZones`, and the Route 53 zones the
/// Terraform looks up (`public_zones`).
pub fn public_zones(env: &Env) -> Vec<String> {
    let zones: BTreeSet<String> = public_hosts(env).iter().map(|h| dns_zone(h)).collect();
    zones.into_iter().collect()
}

/// The ACME issuer of the public certificates: production's in production; staging's elsewhere,
/// because every environment serves the same public names and non-production clusters are
/// rebuilt often — issuing there against production would spend the weekly per-domain limit
/// that production's renewals need.
pub fn public_issuer(env: &Env) -> &'static str {
    if env.is_production() { LETSENCRYPT_PROD } else { LETSENCRYPT_STAGING }
}

/// The Certificate object's name for a public host.
pub fn certificate_name(host: &str) -> String {
    host.replace('.', "-")
}

pub(super) fn render(platform: &Platform, env: &Env, out: &mut Objects) -> Result<(), RenderError> {
    let zones = public_zones(env);
    let meta = |name: &str, ns: Option<&str>| ObjectMeta {
        name: Some(name.to_string()),
        namespace: ns.map(str::to_string),
        labels: Some(labels::common(&platform.name)),
        ..Default::default()
    };
    for (name, server) in [(LETSENCRYPT_STAGING, LETSENCRYPT_STAGING_URL), (LETSENCRYPT_PROD, LETSENCRYPT_PROD_URL)] {
        let issuer = Resource {
            api_version: "cert-manager.io/v1",
            kind: "ClusterIssuer",
            metadata: meta(name, None),
            spec: IssuerSpec {
                acme: Some(AcmeIssuer {
                    server: server.to_string(),
                    private_key_secret_ref: SecretKeySelector { name: format!("{name}-account-key") },
                    solvers: vec![AcmeSolver {
                        selector: SolverSelector { dns_zones: zones.clone() },
                        dns01: dns01_route53(&platform.region),
                    }],
                }),
                ..Default::default()
            },
        };
        out.add(None, "ClusterIssuer", name, &issuer)?;
    }
    render_internal_ca(platform, out, &meta)?;
    for host in public_hosts(env) {
        let name = certificate_name(&host);
        let mut m = meta(&name, Some(GATEWAY_NAMESPACE));
        m.annotations = Some(BTreeMap::from([(RUNBOOK_ANNOTATION.to_string(), super::alerting::runbook_url(RUNBOOK))]));
        let cert = Resource {
            api_version: "cert-manager.io/v1",
            kind: "Certificate",
            metadata: m,
            spec: CertificateSpec {
                secret_name: tls_secret_name(&host),
                common_name: None,
                dns_names: vec![host.clone()],
                is_ca: false,
                duration: ACME_DURATION.to_string(),
                renew_before: ACME_RENEW_BEFORE.to_string(),
                usages: Vec::new(),
                private_key: PrivateKey { algorithm: "ECDSA", size: 256, encoding: None, rotation_policy: "Always" },
                issuer_ref: cluster_issuer(public_issuer(env)),
                revision_history_limit: 3,
            },
        };
        out.add(Some(GATEWAY_NAMESPACE), "Certificate", &name, &cert)?;
    }
    render_alerts(platform, out)?;
    rotation::render(platform, env, out)
}

fn cluster_issuer(name: &str) -> IssuerRef {
    IssuerRef { name: name.to_string(), kind: "ClusterIssuer", group: "cert-manager.io" }
}

fn render_internal_ca(
    _platform: &Platform,
    out: &mut Objects,
    meta: &dyn Fn(&str, Option<&str>) -> ObjectMeta,
) -> Result<(), RenderError> {
    let self_signed = Resource {
        api_version: "cert-manager.io/v1",
        kind: "ClusterIssuer",
        metadata: meta(SELF_SIGNED, None),
        spec: IssuerSpec { self_signed: Some(SelfSignedIssuer {}), ..Default::default() },
    };
    out.add(None, "ClusterIssuer", SELF_SIGNED, &self_signed)?;
    let ca = Resource {
        api_version: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: meta(INTERNAL_CA, Some(NAMESPACE)),
        spec: CertificateSpec {
            secret_name: INTERNAL_CA.to_string(),
            common_name: Some("Cerverus internal CA".to_string()),
            dns_names: Vec::new(),
            is_ca: true,
            duration: CA_DURATION.to_string(),
            renew_before: CA_RENEW_BEFORE.to_string(),
            usages: Vec::new(),
            private_key: PrivateKey { algorithm: "ECDSA", size: 384, encoding: None, rotation_policy: "Always" },
            issuer_ref: cluster_issuer(SELF_SIGNED),
            revision_history_limit: 3,
        },
    };
    out.add(Some(NAMESPACE), "Certificate", INTERNAL_CA, &ca)?;
    let issuer = Resource {
        api_version: "cert-manager.io/v1",
        kind: "ClusterIssuer",
        metadata: meta(INTERNAL_CA, None),
        spec: IssuerSpec { ca: Some(CaIssuer { secret_name: INTERNAL_CA.to_string() }), ..Default::default() },
    };
    out.add(None, "ClusterIssuer", INTERNAL_CA, &issuer)
}

const DAY: u64 = 86_400;

/// Expiry and readiness alerts over cert-manager's metrics. The ServiceMonitor does not honour
/// the target's labels, so a Certificate's namespace arrives as `exported_namespace` (`namespace`
/// is cert-manager's own).
fn render_alerts(platform: &Platform, out: &mut Objects) -> Result<(), RenderError> {
    let team = platform.owner.as_str();
    let expiry = "min by (exported_namespace, name) (certmanager_certificate_expiration_timestamp_seconds) - time()";
    let text = |summary: &'static str, description: &'static str| AlertText { summary, description, runbook: RUNBOOK };
    let rules = vec![
        alert(
            "CertificateExpiresWithin14Days",
            &format!("{expiry} < {} > {}", 14 * DAY, 7 * DAY),
            "1h",
            Severity::Warning,
            team,
            &text(
                "A certificate expires within 14 days",
                "Certificate {{ $labels.exported_namespace }}/{{ $labels.name }} expires in less than 14 days: renewal (30 days before expiry) has been failing for over two weeks.",
            ),
        ),
        alert(
            "CertificateExpiresWithin7Days",
            &format!("{expiry} < {}", 7 * DAY),
            "10m",
            Severity::Critical,
            team,
            &text(
                "A certificate expires within 7 days",
                "Certificate {{ $labels.exported_namespace }}/{{ $labels.name }} expires in less than 7 days and has not been renewed: re-issue it now.",
            ),
        ),
        alert(
            "CertificateNotReady",
            "max by (exported_namespace, name) (certmanager_certificate_ready_status{condition=\"False\"}) == 1",
            "15m",
            Severity::Warning,
            team,
            &text(
                "A certificate is not Ready",
                "Certificate {{ $labels.exported_namespace }}/{{ $labels.name }} has been not Ready for 15 minutes: its issuance or renewal is failing.",
            ),
        ),
        alert(
            "CertManagerMetricsAbsent",
            "absent(up{job=\"cert-manager\", namespace=\"cert-manager\"} == 1)",
            "30m",
            Severity::Warning,
            team,
            &text(
                "cert-manager is not being scraped",
                "No cert-manager controller has been up for 30 minutes: certificates are not renewed and the expiry alerts cannot fire.",
            ),
        ),
    ];
    let groups = vec![RuleGroup { name: "certificates".to_string(), interval: None, rules }];
    add_rule(out, MONITORING_NAMESPACE, RULE_NAME, labels::common(&platform.name), groups, alert_tests(team))
}

/// promtool cases: each alert fires on one series and stays silent on another.
fn alert_tests(team: &str) -> Vec<TestGroup> {
    let series = |name: &str, seconds_left: u64| {
        // Evaluated at 2h (7200 s); the timestamp is constant over the test.
        InputSeries::new(
            format!(
                "certmanager_certificate_expiration_timestamp_seconds{{job=\"cert-manager\", namespace=\"cert-manager\", exported_namespace=\"istio-system\", name=\"{name}\"}}"
            ),
            format!("{}+0x180", 7200 + seconds_left),
        )
    };
    let fired = |severity: &str, name: &str, summary: &str, description: String| ExpAlert {
        exp_labels: BTreeMap::from([
            ("severity".to_string(), severity.to_string()),
            ("team".to_string(), team.to_string()),
            ("exported_namespace".to_string(), "istio-system".to_string()),
            ("name".to_string(), name.to_string()),
        ]),
        exp_annotations: BTreeMap::from([
            ("summary".to_string(), summary.to_string()),
            ("description".to_string(), description),
            ("runbook_url".to_string(), super::alerting::runbook_url(RUNBOOK)),
        ]),
    };
    let expiry = TestGroup::new(vec![series("ten-days", 10 * DAY), series("three-days", 3 * DAY), series("sixty-days", 60 * DAY)])
        .expect(
            "2h",
            "CertificateExpiresWithin14Days",
            vec![fired(
                "warning",
                "ten-days",
                "A certificate expires within 14 days",
                "Certificate istio-system/ten-days expires in less than 14 days: renewal (30 days before expiry) has been failing for over two weeks.".to_string(),
            )],
        )
        .expect(
            "2h",
            "CertificateExpiresWithin7Days",
            vec![fired(
                "critical",
                "three-days",
                "A certificate expires within 7 days",
                "Certificate istio-system/three-days expires in less than 7 days and has not been renewed: re-issue it now.".to_string(),
            )],
        );
    let ready = |name: &str, condition: &str, v: u8| {
        InputSeries::new(
            format!(
                "certmanager_certificate_ready_status{{job=\"cert-manager\", namespace=\"cert-manager\", exported_namespace=\"istio-system\", name=\"{name}\", condition=\"{condition}\"}}"
            ),
            format!("{v}x60"),
        )
    };
    let not_ready = TestGroup::new(vec![
        ready("broken", "False", 1),
        ready("broken", "True", 0),
        ready("fine", "False", 0),
        ready("fine", "True", 1),
    ])
    .expect("10m", "CertificateNotReady", vec![])
    .expect(
        "30m",
        "CertificateNotReady",
        vec![fired(
            "warning",
            "broken",
            "A certificate is not Ready",
            "Certificate istio-system/broken has been not Ready for 15 minutes: its issuance or renewal is failing."
                .to_string(),
        )],
    );
    let up = |v: &str| {
        InputSeries::new("up{job=\"cert-manager\", namespace=\"cert-manager\", instance=\"10.0.0.1:9402\"}", v)
    };
    let absent_fires = TestGroup::new(vec![up("0x60")]).expect(
        "45m",
        "CertManagerMetricsAbsent",
        vec![ExpAlert {
            exp_labels: BTreeMap::from([
                ("severity".to_string(), "warning".to_string()),
                // `absent()` of a filtered expression carries no labels of its own.
                ("team".to_string(), team.to_string()),
            ]),
            exp_annotations: BTreeMap::from([
                ("summary".to_string(), "cert-manager is not being scraped".to_string()),
                (
                    "description".to_string(),
                    "No cert-manager controller has been up for 30 minutes: certificates are not renewed and the expiry alerts cannot fire.".to_string(),
                ),
                ("runbook_url".to_string(), super::alerting::runbook_url(RUNBOOK)),
            ]),
        }],
    );
    let absent_silent = TestGroup::new(vec![up("1x60")]).expect("45m", "CertManagerMetricsAbsent", vec![]);
    // Certificates far from expiry, and one already renewed: both expiry alerts stay silent.
    let expiry_silent = TestGroup::new(vec![series("sixty-days", 60 * DAY), series("renewed", 89 * DAY)])
        .expect("2h", "CertificateExpiresWithin14Days", vec![])
        .expect("2h", "CertificateExpiresWithin7Days", vec![]);
    vec![expiry, expiry_silent, not_ready, absent_fires, absent_silent]
}
