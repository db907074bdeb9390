//! Controller IAM against the controllers' own published policies (`data/reference/iam/`, copied
//! with provenance from upstream): every action a reference policy lists is granted by the policy
//! the bundle renders for that controller — exactly or through a wildcard — or is in the
//! exceptions table below with the reason it is not needed here. Statements that grant create
//! actions must not condition them on `aws:ResourceTag` (a resource being created has no tags
//! yet; `aws:RequestTag` is the key that can hold). A fixture of the pre-issue-8 policies must fail
//! both checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cerverus_bundle::Bundle;
use hcl::{Block, Body, Expression};

/// One controller: its reference policy file, the `aws_iam_policy_document` the bundle renders for
/// it in `envs/<env>/iam.tf`, and the reference actions it deliberately does not get.
struct Controller {
    name: &'static str,
    reference: &'static str,
    document: &'static str,
    exceptions: &'static [(&'static str, &'static str)],
}

const CONTROLLERS: &[Controller] = &[
    Controller {
        name: "aws-load-balancer-controller 1.13.0 (v2.13)",
        reference: "aws-load-balancer-controller-v2.13.json",
        document: "load_balancer_controller",
        exceptions: &[],
    },
    Controller {
        name: "cluster-autoscaler 9.46.6 (autoDiscovery)",
        reference: "cluster-autoscaler-full-recommended.json",
        document: "cluster_autoscaler",
        exceptions: &[],
    },
    Controller {
        name: "aws-node-termination-handler 0.21.0 (queue processor)",
        reference: "aws-node-termination-handler-queue-processor.json",
        document: "node_termination_handler",
        exceptions: &[],
    },
    Controller {
        name: "external-secrets 0.17.0",
        reference: "external-secrets-secretsmanager-read.json",
        document: "external_secrets",
        exceptions: &[
            (
                "secretsmanager:ListSecrets",
                "used only to resolve dataFrom[].find (secrets selected by name pattern or tag); every ExternalSecret in the bundle names its keys (checked below)",
            ),
            (
                "secretsmanager:BatchGetSecretValue",
                "used only with dataFrom[].find, like ListSecrets; named keys are read with GetSecretValue",
            ),
        ],
    },
    Controller {
        name: "velero with velero-plugin-for-aws",
        reference: "velero-plugin-for-aws.json",
        document: "velero",
        exceptions: &[],
    },
    Controller {
        name: "cert-manager DNS-01 on Route 53",
        reference: "cert-manager-route53-dns01.json",
        document: "cert_manager",
        exceptions: &[],
    },
];

/// Controllers whose role carries an AWS managed policy instead of a document we render: the
/// reference cannot be compared offline (the managed policy's text is AWS's), so the check is
/// that the role has exactly that managed policy.
const MANAGED: &[(&str, &str, &str)] =
    &[("aws-efs-csi-driver 3.1.6 (v2.1.5)", "efs-csi", "service-role/AmazonEFSCSIDriverPolicy")];

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/reference/iam")
}

fn read_reference(file: &str) -> serde_json::Value {
    let path = reference_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn one_or_many(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(xs) => xs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// Every action of every Allow statement of a reference policy.
fn reference_actions(policy: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for st in policy["Statement"].as_array().into_iter().flatten() {
        if st["Effect"] == "Allow" {
            out.extend(one_or_many(&st["Action"]));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A statement of a rendered `aws_iam_policy_document`.
#[derive(Debug)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    /// (test, variable) of each condition block.
    conditions: Vec<(String, String)>,
}

fn attr<'a>(b: &'a Block, key: &str) -> Option<&'a Expression> {
    b.body.attributes().find(|a| a.key.as_str() == key).map(|a| &a.expr)
}

fn literal(e: &Expression) -> String {
    match e {
        Expression::String(s) => s.clone(),
        Expression::TemplateExpr(t) => t.to_string(),
        other => format!("{other:?}"),
    }
}

fn statement_of(b: &Block) -> Statement {
    let actions = match attr(b, "actions") {
        Some(Expression::Array(xs)) => xs.iter().map(literal).collect(),
        _ => Vec::new(),
    };
    let allow = attr(b, "effect").map(literal).is_none_or(|e| e == "Allow");
    let conditions = b
        .body
        .blocks()
        .filter(|c| c.identifier() == "condition")
        .map(|c| {
            (attr(c, "test").map(literal).unwrap_or_default(), attr(c, "variable").map(literal).unwrap_or_default())
        })
        .collect();
    Statement { allow, actions, conditions }
}

/// `data "aws_iam_policy_document" "<name>"` → its statements, including `dynamic "statement"`.
fn documents(body: &Body) -> BTreeMap<String, Vec<Statement>> {
    let mut out = BTreeMap::new();
    for doc in body
        .blocks()
        .filter(|b| b.identifier() == "data" && b.labels.first().map(|l| l.as_str()) == Some("aws_iam_policy_document"))
    {
        let Some(name) = doc.labels.get(1) else { continue };
        let mut sts = Vec::new();
        for child in doc.body.blocks() {
            match child.identifier() {
                "statement" => sts.push(statement_of(child)),
                "dynamic" if child.labels.first().map(|l| l.as_str()) == Some("statement") => {
                    for content in child.body.blocks().filter(|c| c.identifier() == "content") {
                        sts.push(statement_of(content));
                    }
                }
                _ => {}
            }
        }
        out.insert(name.as_str().to_string(), sts);
    }
    out
}

/// IAM action matching: case-insensitive, `*` and `?` wildcards in the granted pattern.
fn matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

fn granted(statements: &[Statement], action: &str) -> bool {
    statements.iter().any(|s| s.allow && s.actions.iter().any(|p| matches(p, action)))
}

/// Reference actions the document does not grant and the exceptions do not excuse.
fn missing(c: &Controller, docs: &BTreeMap<String, Vec<Statement>>) -> Vec<String> {
    let ours = docs.get(c.document).map(Vec::as_slice).unwrap_or(&[]);
    reference_actions(&read_reference(c.reference))
        .into_iter()
        .filter(|a| !granted(ours, a) && !c.exceptions.iter().any(|(x, _)| x == a))
        .collect()
}

/// A create action: its verb creates the resource the request names. Tagging (`CreateTags`) and
/// grants act on resources that already exist, so `aws:ResourceTag` can hold for them.
fn is_create(action: &str) -> bool {
    let verb = action.split(':').nth(1).unwrap_or("");
    verb.starts_with("Create") && verb != "CreateTags" && verb != "CreateGrant"
}

/// `document: actions` of statements that allow a create action only under an `aws:ResourceTag`
/// condition.
fn resource_tag_on_create(docs: &BTreeMap<String, Vec<Statement>>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, sts) in docs {
        for s in sts.iter().filter(|s| s.allow) {
            let creates: Vec<&String> = s.actions.iter().filter(|a| is_create(a)).collect();
            let on_resource_tag = s.conditions.iter().any(|(_, v)| v.starts_with("aws:ResourceTag/"));
            if !creates.is_empty() && on_resource_tag {
                out.push(format!("{name}: {creates:?}"));
            }
        }
    }
    out
}

fn bundle() -> Bundle {
    let loaded = cerverus_spec::load("spec.yaml", cerverus_spec::DEFAULT_SPEC).expect("loads");
    let platform = cerverus_model::resolve(&loaded).expect("resolves");
    cerverus_render::render(&platform, &[]).expect("renders")
}

fn parse(b: &Bundle, path: &str) -> Body {
    let bytes = b.get(path).unwrap_or_else(|| panic!("{path} is in the bundle"));
    hcl::parse(std::str::from_utf8(bytes).expect("utf8")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const ENVS: [&str; 3] = ["dev", "staging", "prod"];

#[test]
fn every_reference_action_is_granted_or_excepted_with_a_reason() {
    let b = bundle();
    for env in ENVS {
        let docs = documents(&parse(&b, &format!("terraform/envs/{env}/iam.tf")));
        for c in CONTROLLERS {
            assert!(docs.contains_key(c.document), "{env}: no policy document `{}` for {}", c.document, c.name);
            let gaps = missing(c, &docs);
            assert!(gaps.is_empty(), "{env}: {} lacks {gaps:?} from data/reference/iam/{}", c.name, c.reference);
            for (action, reason) in c.exceptions {
                assert!(reason.len() > 20, "{}: exception {action} needs a reason", c.name);
                assert!(
                    reference_actions(&read_reference(c.reference)).contains(&action.to_string()),
                    "{}: exception {action} is not in the reference (stale exception)",
                    c.name
                );
            }
        }
    }
}

#[test]
fn no_create_action_is_conditioned_on_resource_tags() {
    let b = bundle();
    for env in ENVS {
        let docs = documents(&parse(&b, &format!("terraform/envs/{env}/iam.tf")));
        let bad = resource_tag_on_create(&docs);
        assert!(bad.is_empty(), "{env}: create actions conditioned on aws:ResourceTag: {bad:?}");
    }
    // The reference policies themselves pass the rule (it would be wrong if they did not).
    for c in CONTROLLERS {
        let policy = read_reference(c.reference);
        for st in policy["Statement"].as_array().into_iter().flatten() {
            let creates = one_or_many(&st["Action"]).into_iter().filter(|a| is_create(a)).count();
            let keys: Vec<String> = st["Condition"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(|v| v.as_object())
                .flat_map(|m| m.keys().cloned())
                .collect();
            assert!(
                creates == 0 || !keys.iter().any(|k| k.starts_with("aws:ResourceTag/")),
                "{}: the reference itself trips the rule",
                c.reference
            );
        }
    }
}

#[test]
fn the_pre_issue_8_policies_fail_both_checks() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iam/old-policies.tf");
    let text = std::fs::read_to_string(&path).expect("fixture");
    let docs = documents(&hcl::parse(&text).expect("fixture parses"));
    let lbc = CONTROLLERS.iter().find(|c| c.document == "load_balancer_controller").expect("lbc");
    let gaps = missing(lbc, &docs);
    for expected in ["iam:CreateServiceLinkedRole", "wafv2:AssociateWebACL", "elasticloadbalancing:SetWebAcl"] {
        assert!(gaps.contains(&expected.to_string()), "old LBC policy should lack {expected}: {gaps:?}");
    }
    let velero = CONTROLLERS.iter().find(|c| c.document == "velero").expect("velero");
    assert!(missing(velero, &docs).contains(&"s3:PutObjectTagging".to_string()));
    let bad = resource_tag_on_create(&docs);
    assert!(bad.iter().any(|b| b.starts_with("load_balancer_controller:")), "{bad:?}");
    assert!(bad.iter().any(|b| b.starts_with("velero:") && b.contains("ec2:CreateSnapshot")), "{bad:?}");
}

#[test]
fn the_exceptions_hold_external_secrets_never_uses_find() {
    let b = bundle();
    let mut seen = 0;
    for (path, bytes) in b.iter().filter(|(p, _)| p.starts_with("kubernetes/") && p.contains("externalsecret-")) {
        let text = std::str::from_utf8(bytes).expect("utf8");
        let doc: serde_json::Value = serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"));
        for from in doc["spec"]["dataFrom"].as_array().into_iter().flatten() {
            assert!(from.get("find").is_none(), "{path}: dataFrom.find needs secretsmanager:ListSecrets");
        }
        seen += 1;
    }
    assert!(seen > 0, "no ExternalSecret in the bundle: the exception's premise is untested");
}

#[test]
fn managed_policy_controllers_carry_their_managed_policy() {
    let b = bundle();
    for env in ENVS {
        let text = std::str::from_utf8(b.get(&format!("terraform/envs/{env}/iam.tf")).expect("iam.tf"))
            .expect("utf8")
            .to_string();
        for (name, key, policy) in MANAGED {
            let at = text.find(&format!("{key} = {{")).unwrap_or_else(|| panic!("{env}: no IRSA role {key} ({name})"));
            // The role's entry in `local.irsa_roles`, up to the end of its policy_arns line.
            let rest = &text[at..];
            let arns = rest.find("policy_arns").unwrap_or(0);
            let entry = &rest[..arns + rest[arns..].find('\n').unwrap_or(0)];
            assert!(entry.contains(policy), "{env}: {name} should carry {policy}: {entry}");
        }
    }
}

#[test]
fn the_node_termination_queue_admits_only_this_clusters_rules() {
    let b = bundle();
    let docs = documents(&parse(&b, "terraform/modules/eks/main.tf"));
    let queue = docs.get("node_termination_queue").expect("queue policy");
    let reference = read_reference("aws-node-termination-handler-sqs-queue-policy.json");
    for action in reference_actions(&reference) {
        assert!(granted(queue, &action), "queue policy lacks {action}");
    }
    assert!(
        queue.iter().all(|s| s.conditions.iter().any(|(t, v)| t == "ArnEquals" && v == "aws:SourceArn")),
        "every statement of the queue policy must restrict aws:SourceArn to the cluster's EventBridge rules"
    );
}

#[test]
fn the_repository_copies_equal_the_shared_reference_when_present() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/iam");
    let Ok(entries) = std::fs::read_dir(reference_dir()) else { panic!("data/reference/iam is missing") };
    let mut compared = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.ends_with(".json") || name == "index.json" {
            continue;
        }
        let ours = std::fs::read(e.path()).expect("read");
        if let Ok(theirs) = std::fs::read(shared.join(&name)) {
            assert_eq!(ours, theirs, "data/reference/iam/{name} differs from ../shared/reference/iam/{name}");
            compared += 1;
        }
    }
    // ../shared is not in a user's clone; when it is there, every copy was compared.
    if shared.is_dir() {
        assert!(compared >= CONTROLLERS.len(), "compared only {compared} files");
    }
}

#[test]
fn wildcards_match_like_iam() {
    assert!(matches("elasticloadbalancing:Describe*", "elasticloadbalancing:DescribeTags"));
    assert!(matches("ec2:describe*", "ec2:DescribeVpcs"));
    assert!(!matches("ec2:Describe*", "ec2:CreateTags"));
    assert!(matches("s3:Get?bject", "s3:GetObject"));
    assert!(is_create("ec2:CreateSnapshot") && !is_create("ec2:CreateTags") && !is_create("ec2:DescribeVolumes"));
}

#[test]
fn irsa_trust_is_the_reference_trust_pinned_to_one_service_account() {
    // cert-manager's published IRSA trust policy: AssumeRoleWithWebIdentity from the cluster's OIDC
    // provider, StringEquals on `<issuer>:sub` = the service account. Ours adds `:aud`.
    let reference = read_reference("cert-manager-route53-irsa-trust-policy.json");
    let st = &reference["Statement"][0];
    assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity");
    let b = bundle();
    let docs = documents(&parse(&b, "terraform/modules/eks/main.tf"));
    let trust = docs.get("irsa_assume").expect("IRSA trust policy");
    assert_eq!(trust.len(), 1);
    assert!(granted(trust, "sts:AssumeRoleWithWebIdentity"));
    let vars: Vec<&str> =
        trust[0].conditions.iter().filter(|(t, _)| t == "StringEquals").map(|(_, v)| v.as_str()).collect();
    assert!(vars.iter().any(|v| v.ends_with(":sub")), "{vars:?}");
    assert!(vars.iter().any(|v| v.ends_with(":aud")), "{vars:?}");
}
