//! Secret rotation that runs: every secret the spec rotates has an AWS rotation schedule with its
//! period and a function that can reach what it rotates, or — when no AWS function can rotate it
//! (a vendor's API key) — an explicit manual-rotation check; and every consumer reads the secret
//! in a form that picks a rotated value up.

use std::collections::BTreeMap;

use cerverus_bundle::Bundle;
use cerverus_model::Platform;
use cerverus_render::kubernetes::certificates::rotation::{self, DATABASE_SECRET_FIELDS, Method};
use hcl::{Block, Body, Expression};
use serde_json::Value;

fn build() -> (Platform, Bundle) {
    cerverus::build_default().expect("the default spec builds")
}

fn hcl_file(b: &Bundle, path: &str) -> Body {
    let text = std::str::from_utf8(b.get(path).unwrap_or_else(|| panic!("{path} missing"))).expect("utf8");
    hcl::parse(text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text(e: &Expression) -> String {
    let body = Body::builder().add_attribute(("x", e.clone())).build();
    let t = hcl::format::to_string(&body).unwrap_or_default();
    // Whitespace-free: hcl-rs and `terraform fmt` space expressions differently.
    t.trim().trim_start_matches('x').trim_start().trim_start_matches('=').split_whitespace().collect()
}

/// `expected` without whitespace, to compare with [`text`].
fn sq(expected: &str) -> String {
    expected.split_whitespace().collect()
}

fn attr<'a>(b: &'a Block, key: &str) -> Option<&'a Expression> {
    b.body.attributes().find(|a| a.key.as_str() == key).map(|a| &a.expr)
}

fn block<'a>(body: &'a Body, ident: &str, labels: &[&str]) -> Option<&'a Block> {
    body.blocks().find(|b| {
        b.identifier() == ident
            && b.labels.len() >= labels.len()
            && labels.iter().zip(&b.labels).all(|(l, bl)| bl.as_str() == *l)
    })
}

/// `secrets` of an environment's terraform.tfvars: name → (rotation_days, rotation, postgres_store).
fn tfvars_secrets(b: &Bundle, env: &str) -> BTreeMap<String, (i64, String, String)> {
    let body = hcl_file(b, &format!("terraform/envs/{env}/terraform.tfvars"));
    let secrets = body.attributes().find(|a| a.key.as_str() == "secrets").expect("secrets");
    let Expression::Object(obj) = &secrets.expr else { panic!("secrets is not an object") };
    obj.iter()
        .map(|(k, v)| {
            let Expression::Object(fields) = v else { panic!("secret is not an object") };
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(fk, _)| text(&Expression::from(fk.to_string())).trim_matches('"') == name)
                    .map(|(_, fv)| fv.clone())
                    .unwrap_or_else(|| panic!("{name} missing"))
            };
            let days = match field("rotation_days") {
                Expression::Number(n) => n.as_i64().unwrap_or(-1),
                _ => -1,
            };
            let st = |e: Expression| match e {
                Expression::String(s) => s,
                other => text(&other),
            };
            (
                text(&Expression::from(k.to_string())).trim_matches('"').to_string(),
                (days, st(field("rotation")), st(field("postgres_store"))),
            )
        })
        .collect()
}

#[test]
fn every_rotating_secret_has_a_schedule_with_its_period_or_a_manual_rotation_check() {
    let (p, b) = build();
    let secrets_main = hcl_file(&b, "terraform/modules/secrets/main.tf");
    let schedule = block(&secrets_main, "resource", &["aws_secretsmanager_secret_rotation", "this"]).expect("rotation");
    assert_eq!(
        text(attr(schedule, "for_each").expect("for_each")),
        sq("{ for k, v in var.secrets : k => v if v.rotation == \"function\" }")
    );
    let rules = schedule.body.blocks().find(|b| b.identifier() == "rotation_rules").expect("rotation_rules");
    assert_eq!(text(attr(rules, "automatically_after_days").expect("days")), sq("each.value.rotation_days"));
    assert_eq!(
        text(attr(schedule, "rotation_lambda_arn").expect("lambda")),
        sq("var.rotation_function_arns[each.key]")
    );
    let check = block(&secrets_main, "resource", &["aws_config_config_rule", "manual_rotation"]).expect("config rule");
    assert_eq!(
        text(attr(check, "for_each").expect("for_each")),
        sq("{ for k, v in var.secrets : k => v if v.rotation == \"manual\" }")
    );
    let source = check.body.blocks().find(|b| b.identifier() == "source").expect("source");
    assert_eq!(text(attr(source, "source_identifier").expect("id")), sq("\"SECRETSMANAGER_SECRET_PERIODIC_ROTATION\""));
    assert!(
        text(attr(check, "input_parameters").expect("params"))
            .contains(&sq("maxDaysSinceRotation = tostring(each.value.rotation_days)"))
    );

    let main = |env: &str| hcl_file(&b, &format!("terraform/envs/{env}/main.tf"));
    for env in &p.environments {
        let declared = tfvars_secrets(&b, &env.name);
        // A secret rotates when any reader declares rotationDays, at the shortest period asked.
        let mut periods: BTreeMap<String, Option<u32>> = BTreeMap::new();
        for w in &env.workloads {
            for s in &w.secrets {
                let e = periods.entry(s.name.clone()).or_insert(None);
                if let Some(d) = s.rotation_days.filter(|d| *d > 0) {
                    *e = Some(e.map_or(d, |old| old.min(d)));
                }
            }
        }
        let mut rotating = 0;
        for (name, period) in &periods {
            let (days, method, store) = &declared[name];
            match period {
                Some(d) => {
                    rotating += 1;
                    assert_eq!(*days, i64::from(*d), "{}: {name}: period", env.name);
                    assert!(method == "function" || method == "manual", "{}: {name} is not rotated", env.name);
                    if method == "function" {
                        assert!(env.postgres.iter().any(|pg| &pg.name == store), "{}: {name}: store {store}", env.name);
                    }
                }
                None => assert_eq!((days, method.as_str()), (&0, "none"), "{}: {name}", env.name),
            }
        }
        assert!(
            rotating >= 3,
            "{}: the spec rotates alerts-api-db, airflow-metadata-db, market-data-api-keys",
            env.name
        );
        // What the spec's secrets are, decided: database URLs by AWS's function, vendor keys by hand.
        assert_eq!(declared["alerts-api-db"].1, "function");
        assert_eq!(declared["airflow-metadata-db"].1, "function");
        assert_eq!(declared["market-data-api-keys"].1, "manual");

        // The root gives each `function` secret its store's rotation function.
        let root = main(&env.name);
        let secrets = block(&root, "module", &["secrets"]).expect("secrets module");
        assert_eq!(
            text(attr(secrets, "rotation_function_arns").expect("arns")),
            sq(
                "{ for k, s in var.secrets : k => module.secret_rotation[s.postgres_store].function_arn if s.rotation == \"function\" }"
            )
        );
        let rot = block(&root, "module", &["secret_rotation"]).expect("secret_rotation module");
        assert_eq!(text(attr(rot, "source").expect("source")), sq("\"../../modules/secret-rotation\""));
        assert_eq!(
            text(attr(rot, "master_secret_arn").expect("master")),
            sq("module.database[each.key].master_user_secret_arn")
        );
        assert_eq!(text(attr(rot, "secrets_kms_key_arn").expect("kms")), sq("module.secrets.kms_key_arn"));
    }
}

#[test]
fn the_rotation_function_reaches_the_database_and_secrets_manager() {
    let (p, b) = build();
    let m = hcl_file(&b, "terraform/modules/secret-rotation/main.tf");
    let stack = block(&m, "resource", &["aws_serverlessapplicationrepository_cloudformation_stack", "rotation"])
        .expect("stack");
    assert!(
        text(attr(stack, "application_id").expect("app"))
            .ends_with("applications/SecretsManagerRDSPostgreSQLRotationMultiUser\"")
    );
    assert!(attr(stack, "semantic_version").is_some(), "the published function's version is pinned");
    let params = text(attr(stack, "parameters").expect("parameters"));
    for needle in [
        "vpcSubnetIds          = join(\",\", var.subnet_ids)",
        "vpcSecurityGroupIds   = aws_security_group.rotation.id",
        "masterSecretArn       = var.master_secret_arn",
        "kmsKeyArn             = var.secrets_kms_key_arn",
    ] {
        let squashed = |s: &str| s.split_whitespace().collect::<String>();
        assert!(squashed(&params).contains(&squashed(needle)), "parameters lack {needle}: {params}");
    }
    let rule = |kind: &str, name: &str| block(&m, "resource", &[kind, name]).unwrap_or_else(|| panic!("{kind}.{name}"));
    let to_db = rule("aws_vpc_security_group_egress_rule", "to_database");
    assert_eq!(text(attr(to_db, "security_group_id").expect("sg")), sq("aws_security_group.rotation.id"));
    assert_eq!(text(attr(to_db, "referenced_security_group_id").expect("ref")), sq("var.database_security_group_id"));
    assert_eq!(text(attr(to_db, "from_port").expect("port")), sq("var.port"));
    let to_sm = rule("aws_vpc_security_group_egress_rule", "to_secrets_manager");
    assert_eq!(text(attr(to_sm, "cidr_ipv4").expect("cidr")), sq("var.vpc_cidr"));
    assert_eq!(text(attr(to_sm, "from_port").expect("port")), sq("443"));
    let db_in = rule("aws_vpc_security_group_ingress_rule", "database_from_rotation");
    assert_eq!(text(attr(db_in, "security_group_id").expect("sg")), sq("var.database_security_group_id"));
    assert_eq!(text(attr(db_in, "referenced_security_group_id").expect("ref")), sq("aws_security_group.rotation.id"));

    // The endpoint side: Secrets Manager has an interface endpoint in the private subnets, open to
    // the VPC on 443; the database group the function is given is the one RDS carries.
    let net = String::from_utf8_lossy(b.get("terraform/modules/network/variables.tf").expect("network")).into_owned();
    let endpoints = net.split("variable \"interface_endpoints\"").nth(1).expect("interface_endpoints");
    assert!(endpoints.split("variable ").next().unwrap_or_default().contains("\"secretsmanager\""));
    let net_main = hcl_file(&b, "terraform/modules/network/main.tf");
    let ep = block(&net_main, "resource", &["aws_vpc_endpoint", "interface"]).expect("interface endpoints");
    assert_eq!(text(attr(ep, "subnet_ids").expect("subnets")), sq("aws_subnet.private[*].id"));
    for env in &p.environments {
        let root = hcl_file(&b, &format!("terraform/envs/{}/main.tf", env.name));
        let rot = block(&root, "module", &["secret_rotation"]).expect("secret_rotation");
        assert_eq!(text(attr(rot, "subnet_ids").expect("subnets")), sq("module.network.private_subnet_ids"));
        let db = block(&root, "module", &["database"]).expect("database");
        let db_groups = text(attr(db, "security_group_ids").expect("groups"));
        let rot_group = text(attr(rot, "database_security_group_id").expect("group"));
        assert!(
            db_groups.contains(&rot_group),
            "{}: the function is opened to {rot_group}, RDS carries {db_groups}",
            env.name
        );
        assert_eq!(text(attr(rot, "port").expect("port")), sq("var.postgres[each.key].port"));
    }
}

/// Pod templates of every controller in an environment's Kubernetes bundle, by "Kind/ns/name".
fn pod_templates(b: &Bundle, env: &str) -> Vec<(String, Value)> {
    let prefix = format!("kubernetes/{env}/");
    b.iter()
        .filter(|(p, _)| p.starts_with(&prefix) && p.ends_with(".yaml"))
        .filter_map(|(_, bytes)| serde_saphyr::from_str::<Value>(std::str::from_utf8(bytes).ok()?).ok())
        .filter_map(|v| {
            let kind = v["kind"].as_str()?.to_string();
            let tpl = match kind.as_str() {
                "Deployment" | "StatefulSet" | "Job" | "Rollout" | "DaemonSet" => v["spec"]["template"].clone(),
                "CronJob" => v["spec"]["jobTemplate"]["spec"]["template"].clone(),
                _ => return None,
            };
            let id = format!("{kind}/{}/{}", v["metadata"]["namespace"].as_str()?, v["metadata"]["name"].as_str()?);
            (!tpl.is_null()).then_some((id, tpl))
        })
        .collect()
}

/// Why a pod template would keep an old value of Secret `secret` after a rotation: a
/// `secretKeyRef` (the environment is fixed at container start), an `envFrom` of it, or a
/// `subPath` mount of its volume (the kubelet never updates those). Empty: the pod reads mounted
/// files, which the kubelet updates when External Secrets rewrites the Secret.
fn stale_reads(pod: &Value, secret: &str) -> Vec<String> {
    let mut out = Vec::new();
    let volumes: Vec<String> = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| {
            v["secret"]["secretName"] == secret
                || v["projected"]["sources"].as_array().into_iter().flatten().any(|s| s["secret"]["name"] == secret)
        })
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    let containers =
        ["initContainers", "containers"].iter().flat_map(|k| pod["spec"][*k].as_array().cloned().unwrap_or_default());
    for c in containers {
        let name = c["name"].as_str().unwrap_or("?").to_string();
        for e in c["env"].as_array().into_iter().flatten() {
            if e["valueFrom"]["secretKeyRef"]["name"] == secret {
                out.push(format!("{name}: env {} from secretKeyRef", e["name"]));
            }
        }
        for e in c["envFrom"].as_array().into_iter().flatten() {
            if e["secretRef"]["name"] == secret {
                out.push(format!("{name}: envFrom secretRef"));
            }
        }
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            if m["name"].as_str().is_some_and(|n| volumes.iter().any(|v| v == n)) && m.get("subPath").is_some() {
                out.push(format!("{name}: subPath mount {}", m["mountPath"]));
            }
        }
    }
    out
}

fn reads(pod: &Value, secret: &str) -> bool {
    pod.to_string().contains(&format!("\"{secret}\""))
}

#[test]
fn consumers_read_rotating_secrets_in_a_form_that_picks_up_the_new_value() {
    let (p, b) = build();
    for env in &p.environments {
        let pods = pod_templates(&b, &env.name);
        for r in rotation::plan(env) {
            let consumers: Vec<&(String, Value)> = pods.iter().filter(|(_, t)| reads(t, &r.secret)).collect();
            assert!(!consumers.is_empty(), "{}: nobody reads {}", env.name, r.secret);
            for (id, pod) in consumers {
                assert_eq!(stale_reads(pod, &r.secret), Vec::<String>::new(), "{}: {id} reads {}", env.name, r.secret);
            }
            // The Secret itself is re-read often enough, and a rotated database credential's
            // URL comes from the fields the rotation function writes.
            for ns in &r.namespaces {
                let path = format!("kubernetes/{}/{ns}/externalsecret-{}.yaml", env.name, r.secret);
                let es: Value =
                    serde_saphyr::from_str(std::str::from_utf8(b.get(&path).expect("externalsecret")).expect("utf8"))
                        .expect("yaml");
                assert_eq!(es["spec"]["refreshInterval"], "15m", "{path}");
                if let Method::PostgresMultiUser { .. } = r.method {
                    let fields: Vec<&str> = es["spec"]["data"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .inspect(|d| assert_eq!(d["remoteRef"]["key"], r.aws_name.as_str(), "{path}"))
                        .filter_map(|d| d["remoteRef"]["property"].as_str())
                        .collect();
                    assert_eq!(fields, DATABASE_SECRET_FIELDS, "{path}");
                    for k in &r.keys {
                        let t = es["spec"]["target"]["template"]["data"][k].as_str().unwrap_or_default();
                        for f in DATABASE_SECRET_FIELDS {
                            assert!(t.contains(&format!(".{f}")), "{path}: {k} does not use {f}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_consumer_that_would_keep_the_old_value_is_caught() {
    let (p, b) = build();
    let env = &p.environments[0];
    let (id, pod) = pod_templates(&b, &env.name)
        .into_iter()
        .find(|(_, t)| reads(t, "alerts-api-db"))
        .expect("a pod reads alerts-api-db");
    assert!(stale_reads(&pod, "alerts-api-db").is_empty(), "{id}");

    // The same pod reading the URL from a secretKeyRef: fixed at container start.
    let mut env_var = pod.clone();
    env_var["spec"]["containers"][0]["env"]
        .as_array_mut()
        .map(|e| {
            e.push(serde_json::json!({"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "alerts-api-db", "key": "DATABASE_URL"}}}))
        })
        .or_else(|| {
            env_var["spec"]["containers"][0]["env"] = serde_json::json!([{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "alerts-api-db", "key": "DATABASE_URL"}}}]);
            Some(())
        });
    assert_eq!(stale_reads(&env_var, "alerts-api-db").len(), 1, "a secretKeyRef must be reported");

    // The same pod mounting the key with subPath: the kubelet never updates it.
    let mut sub_path = pod.clone();
    let volume = sub_path["spec"]["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["secret"]["secretName"] == "alerts-api-db"))
        .and_then(|v| v["name"].as_str().map(str::to_string))
        .expect("alerts-api-db volume");
    if let Some(mounts) = sub_path["spec"]["containers"][0]["volumeMounts"].as_array_mut() {
        for m in mounts.iter_mut().filter(|m| m["name"] == volume.as_str()) {
            m["subPath"] = Value::String("DATABASE_URL".into());
        }
    }
    assert_eq!(stale_reads(&sub_path, "alerts-api-db").len(), 1, "a subPath mount must be reported");
}

#[test]
fn only_a_database_url_read_against_one_store_is_rotated_by_the_database_function() {
    // The decision the Terraform and the ExternalSecrets share, on the default spec: a vendor's
    // keys are never given to the PostgreSQL function, whose JSON shape would break them.
    let (p, _) = build();
    for env in &p.environments {
        let plan = rotation::plan(env);
        let by_name: BTreeMap<&str, &rotation::Rotation> = plan.iter().map(|r| (r.secret.as_str(), r)).collect();
        assert_eq!(by_name["alerts-api-db"].method, Method::PostgresMultiUser { store: "cerverus-db".into() });
        assert_eq!(by_name["airflow-metadata-db"].method, Method::PostgresMultiUser { store: "cerverus-db".into() });
        assert_eq!(by_name["market-data-api-keys"].method, Method::Manual);
        assert_eq!(by_name["alerts-api-db"].days, 30);
        assert_eq!(by_name["market-data-api-keys"].days, 90);
    }
}

#[test]
fn every_consumer_that_reads_a_rotated_credential_at_start_is_watched_for_age() {
    let (p, b) = build();
    for env in &p.environments {
        let path = format!("kubernetes/{}/cerverus-monitoring/prometheusrule-{}.yaml", env.name, rotation::RULE_NAME);
        let rule: Value =
            serde_saphyr::from_str(std::str::from_utf8(b.get(&path).expect("rule")).expect("utf8")).expect("yaml");
        let exprs: Vec<(String, String)> = rule["spec"]["groups"][0]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r["labels"]["secret"].as_str().unwrap_or_default().to_string(),
                    r["expr"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        for r in rotation::plan(env).iter().filter(|r| matches!(r.method, Method::PostgresMultiUser { .. })) {
            for w in env.workloads.iter().filter(|w| w.secrets.iter().any(|s| s.name == r.secret)) {
                assert!(
                    exprs.iter().any(|(s, e)| s == &r.secret
                        && e.contains(&format!("namespace=\"{}\"", w.namespace()))
                        && e.contains(w.name())),
                    "{}: {} reads {} and no alert watches its pods' age",
                    env.name,
                    w.name(),
                    r.secret
                );
            }
        }
        for (_, e) in &exprs {
            assert!(promql_parser::parser::parse(e).is_ok(), "{e}");
        }
        assert!(b.get(&format!("promtool/{}/{}.test.yaml", env.name, rotation::RULE_NAME)).is_some());
    }
    let runbook =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/runbooks/{}.md", rotation::RUNBOOK));
    assert!(runbook.is_file(), "{}", runbook.display());
}
