//! Certificates: cert-manager's issuers, the public hosts' Certificates, and what they depend on
//! elsewhere in the bundle — the Gateway that serves the Secret, the Terraform IRSA role the
//! controller's ServiceAccount names, the Route 53 zone DNS-01 writes to, the runbook.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use cerverus_model::{Env, Platform};
use cerverus_render::kubernetes::certificates::{
    self as certs, LETSENCRYPT_PROD, LETSENCRYPT_STAGING, RUNBOOK_ANNOTATION, dns_zone, public_hosts, zone_covers,
};
use cerverus_render::kubernetes::mesh::tls_secret_name;
use serde_json::Value;

fn build() -> (Platform, Bundle) {
    cerverus::build_default().expect("the default spec builds")
}

fn yaml(b: &Bundle, path: &str) -> Option<Value> {
    serde_saphyr::from_str(std::str::from_utf8(b.get(path)?).ok()?).ok()
}

/// Every object of `kind` in `env`'s Kubernetes bundle.
fn objects(b: &Bundle, env: &str, kind: &str) -> Vec<Value> {
    let prefix = format!("kubernetes/{env}/");
    b.iter()
        .filter(|(p, _)| p.starts_with(&prefix) && p.ends_with(".yaml"))
        .filter_map(|(p, _)| yaml(b, p))
        .filter(|v| v["kind"] == kind)
        .collect()
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect()
}

#[test]
fn every_public_host_has_a_certificate_in_the_secret_its_gateway_serves() {
    let (p, b) = build();
    for env in &p.environments {
        let hosts = public_hosts(env);
        assert!(!hosts.is_empty(), "{}: the spec has a public host (alerts.cerverus.io)", env.name);
        let certificates = objects(&b, &env.name, "Certificate");
        // credentialName of every Gateway server, by host.
        let mut served: BTreeMap<String, String> = BTreeMap::new();
        for gw in objects(&b, &env.name, "Gateway").iter().filter(|g| g["metadata"]["namespace"] == "istio-system") {
            for server in gw["spec"]["servers"].as_array().into_iter().flatten() {
                if let Some(cred) = server["tls"]["credentialName"].as_str() {
                    for h in str_list(&server["hosts"]) {
                        served.insert(h, cred.to_string());
                    }
                }
            }
        }
        for host in &hosts {
            let cert = certificates
                .iter()
                .find(|c| str_list(&c["spec"]["dnsNames"]).contains(host))
                .unwrap_or_else(|| panic!("{}: no Certificate for {host}", env.name));
            assert_eq!(
                cert["metadata"]["namespace"], "istio-system",
                "{}: {host}: the gateway reads its namespace",
                env.name
            );
            let secret = cert["spec"]["secretName"].as_str().unwrap_or_default();
            assert_eq!(secret, tls_secret_name(host), "{}: {host}", env.name);
            // The mesh renders the public Gateway; its credentialName must be this Secret.
            let cred = served.get(host).unwrap_or_else(|| panic!("{}: no Gateway serves {host} over TLS", env.name));
            assert_eq!(cred, secret, "{}: {host}: the Gateway reads a Secret the Certificate does not write", env.name);
            assert_eq!(cert["spec"]["privateKey"]["rotationPolicy"], "Always");
            assert_eq!(cert["spec"]["duration"], certs::ACME_DURATION);
            assert_eq!(cert["spec"]["renewBefore"], certs::ACME_RENEW_BEFORE);
        }
    }
}

#[test]
fn certificates_name_issuers_that_exist_and_production_uses_lets_encrypt_production() {
    let (p, b) = build();
    for env in &p.environments {
        let issuers: BTreeSet<String> = objects(&b, &env.name, "ClusterIssuer")
            .iter()
            .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        for required in [LETSENCRYPT_STAGING, LETSENCRYPT_PROD, certs::INTERNAL_CA, certs::SELF_SIGNED] {
            assert!(issuers.contains(required), "{}: no ClusterIssuer {required}", env.name);
        }
        for cert in objects(&b, &env.name, "Certificate") {
            let r = &cert["spec"]["issuerRef"];
            let name = r["name"].as_str().unwrap_or_default();
            assert_eq!(r["kind"], "ClusterIssuer", "{}: {}", env.name, cert["metadata"]["name"]);
            assert!(issuers.contains(name), "{}: {} names missing issuer {name}", env.name, cert["metadata"]["name"]);
        }
        for host in public_hosts(env) {
            let cert = objects(&b, &env.name, "Certificate")
                .into_iter()
                .find(|c| str_list(&c["spec"]["dnsNames"]).contains(&host))
                .expect("certificate");
            let expected = if env.is_production() { LETSENCRYPT_PROD } else { LETSENCRYPT_STAGING };
            assert_eq!(cert["spec"]["issuerRef"]["name"], expected, "{}: {host}", env.name);
            assert!(
                cert["metadata"]["annotations"][RUNBOOK_ANNOTATION]
                    .as_str()
                    .is_some_and(|u| u.ends_with("/docs/runbooks/certificate-emergency-reissue.md")),
                "{}: {host}: runbook annotation",
                env.name
            );
        }
        // The internal CA: a CA certificate in cert-manager's namespace, the CA issuer reads its Secret.
        let ca = objects(&b, &env.name, "Certificate")
            .into_iter()
            .find(|c| c["metadata"]["name"] == certs::INTERNAL_CA)
            .expect("internal CA certificate");
        assert_eq!(ca["metadata"]["namespace"], certs::NAMESPACE);
        assert_eq!(ca["spec"]["isCA"], true);
        let ca_issuer = objects(&b, &env.name, "ClusterIssuer")
            .into_iter()
            .find(|i| i["metadata"]["name"] == certs::INTERNAL_CA)
            .expect("CA issuer");
        assert_eq!(ca_issuer["spec"]["ca"]["secretName"], ca["spec"]["secretName"]);
    }
}

#[test]
fn the_runbook_the_certificates_and_alerts_name_exists() {
    let runbook = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/runbooks")
        .join(format!("{}.md", certs::RUNBOOK));
    let text = std::fs::read_to_string(&runbook).expect("runbook exists");
    for must in
        ["cmctl renew alerts-cerverus-io -n istio-system", "alerts-cerverus-io-tls", "openssl s_client", "## Rollback"]
    {
        assert!(text.contains(must), "runbook lacks {must:?}");
    }
}

/// The role ARN the Terraform `eks` module creates for IRSA role `key` of `iam.tf`'s
/// `irsa_roles`: `<var.name>-<namespace>-<service_account>` in the cluster's account.
fn terraform_role_arn(p: &Platform, env: &Env, b: &Bundle) -> String {
    let eks = String::from_utf8_lossy(b.get("terraform/modules/eks/main.tf").expect("eks module")).into_owned();
    assert!(
        eks.contains("name               = \"${var.name}-${each.value.namespace}-${each.value.service_account}\""),
        "the eks module's IRSA role name pattern changed"
    );
    let iam = String::from_utf8_lossy(b.get(&format!("terraform/envs/{}/iam.tf", env.name)).expect("iam")).into_owned();
    let entry = iam.split("cert-manager = {").nth(1).expect("cert-manager IRSA role in iam.tf");
    let field = |k: &str| {
        entry
            .lines()
            .find(|l| l.trim_start().starts_with(k))
            .and_then(|l| l.split('"').nth(1))
            .unwrap_or_else(|| panic!("{k} of the cert-manager role"))
            .to_string()
    };
    format!(
        "arn:aws:iam::{}:role/{}-{}-{}",
        p.account_id,
        env.cluster_name,
        field("namespace"),
        field("service_account")
    )
}

#[test]
fn the_controller_runs_as_the_irsa_role_terraform_creates() {
    let (p, b) = build();
    for env in &p.environments {
        let values = yaml(&b, &format!("helm/addons/{}/cert-manager.values.yaml", env.name)).expect("values");
        let sa = &values["serviceAccount"];
        assert_eq!(sa["name"], "cert-manager");
        let arn = sa["annotations"]["eks.amazonaws.com/role-arn"].as_str().unwrap_or_default();
        assert_eq!(arn, terraform_role_arn(&p, env, &b), "{}", env.name);
        assert_eq!(values["crds"]["enabled"], true);
        assert_eq!(values["crds"]["keep"], true);
        assert_eq!(values["prometheus"]["servicemonitor"]["enabled"], true);
        assert!(values["securityContext"]["fsGroup"].is_number(), "the projected token must be readable");
        let replicas = if env.is_production() { 2 } else { 1 };
        for part in [&values, &values["webhook"], &values["cainjector"]] {
            assert_eq!(part["replicaCount"], replicas, "{}", env.name);
            assert_eq!(part["podDisruptionBudget"]["enabled"], true);
        }
        // DNS-01's self-check goes to the VPC resolver: the nodes may not reach port 53 outside.
        assert_eq!(values["dns01RecursiveNameserversOnly"], true);
        let resolver = values["dns01RecursiveNameservers"].as_str().unwrap_or_default();
        let ip: std::net::Ipv4Addr = resolver.trim_end_matches(":53").parse().expect("resolver address");
        assert!(env.network.vpc_cidr.contains(&ip), "{}: {resolver} is not in the VPC", env.name);
    }
}

/// Public hosts no DNS-01 solver's `dnsZones` covers.
fn uncovered(issuer: &Value, hosts: &[String]) -> Vec<String> {
    let zones: Vec<String> = issuer["spec"]["acme"]["solvers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["dns01"]["route53"].is_object())
        .flat_map(|s| str_list(&s["selector"]["dnsZones"]))
        .collect();
    hosts.iter().filter(|h| !zones.iter().any(|z| zone_covers(z, h))).cloned().collect()
}

#[test]
fn the_dns01_solvers_cover_every_public_host_and_terraform_scopes_the_role_to_those_zones() {
    let (p, b) = build();
    for env in &p.environments {
        let hosts = public_hosts(env);
        for issuer in [LETSENCRYPT_STAGING, LETSENCRYPT_PROD] {
            let v = yaml(&b, &format!("kubernetes/{}/cluster/clusterissuer-{issuer}.yaml", env.name)).expect("issuer");
            assert_eq!(uncovered(&v, &hosts), Vec::<String>::new(), "{}: {issuer}", env.name);
            let solver = &v["spec"]["acme"]["solvers"][0]["dns01"]["route53"];
            assert_eq!(solver["region"], p.region.as_str());
            assert!(solver.get("accessKeyIDSecretRef").is_none() && solver.get("role").is_none(), "ambient IRSA only");

            // Negative: a host outside the zone is reported.
            let mut outside = hosts.clone();
            outside.push("api.example.com".to_string());
            assert_eq!(uncovered(&v, &outside), vec!["api.example.com".to_string()]);
        }
        // The Terraform looks those zones up and limits TXT changes to them.
        let tfvars =
            String::from_utf8_lossy(b.get(&format!("terraform/envs/{}/terraform.tfvars", env.name)).expect("tfvars"))
                .into_owned();
        let zones: BTreeSet<String> = hosts.iter().map(|h| dns_zone(h)).collect();
        for z in &zones {
            assert!(tfvars.contains(&format!("\"{z}\"")), "{}: public_zones lacks {z}", env.name);
        }
        let iam =
            String::from_utf8_lossy(b.get(&format!("terraform/envs/{}/iam.tf", env.name)).expect("iam")).into_owned();
        assert!(iam.contains("data \"aws_route53_zone\" \"public\""));
        assert!(
            iam.contains("for z in values(data.aws_route53_zone.public) : z.arn"),
            "TXT changes scoped to the zones"
        );
        assert!(!iam.contains("hostedzone/*"), "no wildcard over every hosted zone");
    }
    assert!(zone_covers("cerverus.io", "alerts.cerverus.io"));
    assert!(!zone_covers("cerverus.io", "alerts.notcerverus.io"), "a suffix that is not a label boundary");
}

#[test]
fn expiry_alerts_warn_at_14_days_page_at_7_and_have_unit_tests() {
    let (p, b) = build();
    for env in &p.environments {
        let rule =
            yaml(&b, &format!("kubernetes/{}/cerverus-monitoring/prometheusrule-{}.yaml", env.name, certs::RULE_NAME))
                .expect("rule");
        let alerts: BTreeMap<String, Value> = rule["spec"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| Some((r["alert"].as_str()?.to_string(), r)))
            .collect();
        let expr = |a: &str| alerts[a]["expr"].as_str().unwrap_or_default().to_string();
        assert!(expr("CertificateExpiresWithin14Days").contains(&format!("< {}", 14 * 86400)));
        assert_eq!(alerts["CertificateExpiresWithin14Days"]["labels"]["severity"], "warning");
        assert!(expr("CertificateExpiresWithin7Days").contains(&format!("< {}", 7 * 86400)));
        assert_eq!(alerts["CertificateExpiresWithin7Days"]["labels"]["severity"], "critical");
        assert!(expr("CertificateNotReady").contains("certmanager_certificate_ready_status{condition=\"False\"}"));
        for (name, a) in &alerts {
            let parsed = promql_parser::parser::parse(a["expr"].as_str().unwrap_or_default());
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        }
        let tests = yaml(&b, &format!("promtool/{}/{}.test.yaml", env.name, certs::RULE_NAME)).expect("promtool tests");
        let tested: BTreeSet<String> = tests["tests"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["alert_rule_test"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t["alertname"].as_str().map(str::to_string))
            .collect();
        assert_eq!(tested, alerts.keys().cloned().collect(), "{}: every alert has a promtool case", env.name);
    }
}

#[test]
fn issuers_certificates_and_templated_external_secrets_validate_against_their_crds() {
    // The same check as crds.rs, for this family alone, so it holds whatever other kinds lack a
    // schema; a field cert-manager does not know (`isCa` for `isCA`) must fail.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/schemas/crds");
    if !root.is_dir() {
        eprintln!("SKIPPED: ../shared/schemas/crds not present");
        return;
    }
    let schema = |group: &str, kind: &str, version: &str| {
        let file = root.join(group).join(format!("{}_{version}.json", kind.to_ascii_lowercase()));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("schema")).expect("json");
        jsonschema::validator_for(&v).expect("schema compiles")
    };
    let (p, b) = build();
    let mut checked = 0;
    for env in &p.environments {
        let rotated: Vec<String> =
            cerverus_render::kubernetes::certificates::rotation::plan(env).into_iter().map(|r| r.secret).collect();
        for kind in ["ClusterIssuer", "Certificate", "ExternalSecret"] {
            for obj in objects(&b, &env.name, kind) {
                let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
                if kind == "ExternalSecret" && !rotated.contains(&name) {
                    continue;
                }
                let (group, version) = obj["apiVersion"].as_str().and_then(|a| a.split_once('/')).expect("apiVersion");
                let v = schema(group, kind, version);
                let errors: Vec<String> = v.iter_errors(&obj).map(|e| e.to_string()).collect();
                assert!(errors.is_empty(), "{}: {kind}/{name}: {errors:?}", env.name);
                checked += 1;
                if kind == "Certificate" && obj["spec"]["isCA"] == true {
                    let mut bad = obj.clone();
                    bad["spec"]["isCa"] = Value::Bool(true);
                    if let Some(spec) = bad["spec"].as_object_mut() {
                        spec.remove("isCA");
                    }
                    assert!(!v.is_valid(&bad), "isCa must be rejected");
                }
            }
        }
    }
    assert!(checked > 0);
}
