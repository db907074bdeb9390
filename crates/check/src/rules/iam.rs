//! IAM policies in Terraform: `aws:ResourceTag` conditions on create actions (CV-IAM-001) and
//! secrets readable without decrypt on their KMS key (CV-IAM-002).
//!
//! Statements come from `aws_iam_policy_document` data sources and from inline JSON policies
//! (`jsonencode({…})`, JSON strings, heredocs). Resources written as expressions stay
//! expressions, so they can be traced to the blocks they name (`hcl_index::leaves`).

use std::collections::{BTreeMap, BTreeSet};

use hcl::{Body, Expression, ObjectKey};
use serde_json::Value;

use super::Sink;
use super::terraform::waivers;
use crate::hcl_index::{Env, Index, Leaf, attr, dir_of, each_env, leaves, literal};
use crate::inventory::{Inventory, TfBlock};

pub const RESOURCE_TAG_ON_CREATE: &str = "CV-IAM-001";
pub const SECRET_WITHOUT_DECRYPT: &str = "CV-IAM-002";

/// A statement's resource: a literal, or an expression (with its text when it is a template).
#[derive(Debug, Clone)]
pub enum Res<'a> {
    Text(String),
    Expr(&'a Expression, String),
}

impl Res<'_> {
    fn text(&self) -> &str {
        match self {
            Res::Text(t) | Res::Expr(_, t) => t,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Stmt<'a> {
    pub allow: bool,
    pub actions: Vec<String>,
    pub not_action: bool,
    pub resources: Vec<Res<'a>>,
    pub not_resource: bool,
    /// (operator, key, values).
    pub conditions: Vec<(String, String, Vec<String>)>,
    /// Text that finds the statement's line (its sid, else its first action).
    pub anchor: String,
}

/// One policy document: a data source, or the resource that holds an inline JSON policy.
pub struct Doc<'a> {
    pub block: &'a TfBlock,
    pub dir: String,
    pub stmts: Vec<Stmt<'a>>,
}

/// Resources whose `policy` argument is an identity policy.
const POLICY_HOLDERS: &[&str] =
    &["aws_iam_policy", "aws_iam_role_policy", "aws_iam_user_policy", "aws_iam_group_policy"];

pub fn documents(inv: &Inventory) -> Vec<Doc<'_>> {
    let mut docs = Vec::new();
    for b in &inv.terraform {
        let dir = dir_of(&b.file);
        match (b.kind.as_str(), b.ty()) {
            ("data", "aws_iam_policy_document") => {
                docs.push(Doc { block: b, dir, stmts: document_statements(&b.body) });
            }
            ("resource", ty) if POLICY_HOLDERS.contains(&ty) => {
                if let Some(stmts) = attr(&b.body, "policy").and_then(inline_statements) {
                    docs.push(Doc { block: b, dir, stmts });
                }
            }
            ("resource", "aws_iam_role") => {
                let stmts: Vec<Stmt<'_>> = b
                    .body
                    .blocks()
                    .filter(|x| x.identifier() == "inline_policy")
                    .filter_map(|x| attr(&x.body, "policy").and_then(inline_statements))
                    .flatten()
                    .collect();
                if !stmts.is_empty() {
                    docs.push(Doc { block: b, dir, stmts });
                }
            }
            _ => {}
        }
    }
    docs
}

fn strings(e: Option<&Expression>) -> Vec<String> {
    match e {
        Some(Expression::Array(items)) => items.iter().flat_map(|i| strings(Some(i))).collect(),
        Some(Expression::String(s)) => vec![s.clone()],
        Some(Expression::TemplateExpr(t)) => vec![t.to_string()],
        _ => Vec::new(),
    }
}

fn document_statements(body: &Body) -> Vec<Stmt<'_>> {
    let mut out = Vec::new();
    for b in body.blocks() {
        match b.identifier() {
            "statement" => out.push(hcl_statement(&b.body)),
            "dynamic" if b.labels.first().is_some_and(|l| l.as_str() == "statement") => {
                out.extend(b.body.blocks().filter(|c| c.identifier() == "content").map(|c| hcl_statement(&c.body)));
            }
            _ => {}
        }
    }
    out
}

fn hcl_statement(st: &Body) -> Stmt<'_> {
    let actions = strings(attr(st, "actions"));
    let resources = match attr(st, "resources") {
        Some(Expression::Array(items)) => items.iter().map(res_of).collect(),
        Some(e) => vec![res_of(e)],
        None => Vec::new(),
    };
    let conditions = st
        .blocks()
        .filter(|c| c.identifier() == "condition")
        .map(|c| {
            let key = strings(attr(&c.body, "variable")).into_iter().next().unwrap_or_default();
            (literal(attr(&c.body, "test")).unwrap_or("").to_string(), key, strings(attr(&c.body, "values")))
        })
        .collect();
    let anchor = match literal(attr(st, "sid")) {
        Some(sid) => format!("\"{sid}\""),
        None => actions.first().map(|a| format!("\"{a}\"")).unwrap_or_default(),
    };
    Stmt {
        allow: literal(attr(st, "effect")).is_none_or(|e| e.eq_ignore_ascii_case("allow")),
        actions,
        not_action: attr(st, "not_actions").is_some(),
        resources,
        not_resource: attr(st, "not_resources").is_some(),
        conditions,
        anchor,
    }
}

fn res_of(e: &Expression) -> Res<'_> {
    match e {
        Expression::String(s) => Res::Text(s.clone()),
        Expression::TemplateExpr(t) => Res::Expr(e, t.to_string()),
        other => Res::Expr(other, String::new()),
    }
}

/// Marks an expression inside a policy converted to JSON: `\u{1}<index into the side table>`.
const MARK: char = '\u{1}';

/// Statements of an inline policy: `jsonencode({…})`, or a JSON string or heredoc.
fn inline_statements(e: &Expression) -> Option<Vec<Stmt<'_>>> {
    let mut side: Vec<(&Expression, String)> = Vec::new();
    let value = match e {
        Expression::FuncCall(f) if f.name.name.as_str() == "jsonencode" => to_json(f.args.first()?, &mut side),
        Expression::String(s) => serde_json::from_str(s).ok()?,
        Expression::TemplateExpr(t) => serde_json::from_str(&t.to_string()).ok()?,
        _ => return None,
    };
    Some(json_statements(&value, &side))
}

pub(crate) fn to_json<'a>(e: &'a Expression, side: &mut Vec<(&'a Expression, String)>) -> Value {
    match e {
        Expression::Null => Value::Null,
        Expression::Bool(b) => Value::Bool(*b),
        Expression::String(s) => Value::String(s.clone()),
        Expression::Array(items) => Value::Array(items.iter().map(|i| to_json(i, side)).collect()),
        Expression::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let key = match k {
                        ObjectKey::Identifier(i) => i.to_string(),
                        ObjectKey::Expression(Expression::String(s)) => s.clone(),
                        ObjectKey::Expression(Expression::Variable(v)) => v.to_string(),
                        ObjectKey::Expression(Expression::TemplateExpr(t)) => t.to_string(),
                        _ => String::new(),
                    };
                    (key, to_json(v, side))
                })
                .collect(),
        ),
        Expression::Parenthesis(inner) => to_json(inner, side),
        other => {
            let text = if let Expression::TemplateExpr(t) = other { t.to_string() } else { String::new() };
            side.push((other, text));
            Value::String(format!("{MARK}{}", side.len() - 1))
        }
    }
}

fn json_statements<'a>(policy: &Value, side: &[(&'a Expression, String)]) -> Vec<Stmt<'a>> {
    let unmark = |s: &str| -> Option<(&'a Expression, String)> {
        s.strip_prefix(MARK).and_then(|n| n.parse::<usize>().ok()).and_then(|i| side.get(i).cloned())
    };
    let text = |v: &Value| -> Vec<String> {
        let one = |x: &Value| x.as_str().map(|s| unmark(s).map_or(s.to_string(), |(_, t)| t));
        match v {
            Value::Array(a) => a.iter().filter_map(one).collect(),
            other => one(other).into_iter().collect(),
        }
    };
    let stmts: Vec<&Value> = match &policy["Statement"] {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![&policy["Statement"]],
        _ => Vec::new(),
    };
    stmts
        .into_iter()
        .map(|st| {
            let res_values: Vec<&Value> = match &st["Resource"] {
                Value::Array(a) => a.iter().collect(),
                Value::Null => Vec::new(),
                v => vec![v],
            };
            let resources = res_values
                .into_iter()
                .filter_map(|v| {
                    let s = v.as_str()?;
                    Some(match unmark(s) {
                        Some((e, t)) => Res::Expr(e, t),
                        None => Res::Text(s.to_string()),
                    })
                })
                .collect();
            let mut conditions = Vec::new();
            for (op, keys) in st["Condition"].as_object().into_iter().flatten() {
                for (k, vals) in keys.as_object().into_iter().flatten() {
                    conditions.push((op.clone(), unmark(k).map_or(k.clone(), |(_, t)| t), text(vals)));
                }
            }
            let actions = text(&st["Action"]);
            let anchor = match st["Sid"].as_str() {
                Some(sid) => sid.to_string(),
                None => actions.first().cloned().unwrap_or_default(),
            };
            Stmt {
                allow: st["Effect"].as_str().is_none_or(|e| e.eq_ignore_ascii_case("allow")),
                actions,
                not_action: !st["NotAction"].is_null(),
                resources,
                not_resource: !st["NotResource"].is_null(),
                conditions,
                anchor,
            }
        })
        .collect()
}

/// `pattern` (IAM wildcards `*` and `?`, case-insensitive) matches `text`.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn grants(st: &Stmt<'_>, action: &str) -> bool {
    st.allow && !st.not_action && st.actions.iter().any(|a| glob(a, action))
}

// ---- CV-IAM-001 ------------------------------------------------------------------------------

/// Creating actions whose name does not start with `Create`, and the resource type they create.
const OTHER_CREATES: &[(&str, &str)] = &[
    ("RunInstances", "instance"),
    ("RequestSpotInstances", "spotinstancesrequest"),
    ("RequestSpotFleet", "spotfleetrequest"),
    ("AllocateAddress", "elasticip"),
    ("CopySnapshot", "snapshot"),
    ("CopyImage", "image"),
    ("ImportImage", "image"),
    ("ImportSnapshot", "snapshot"),
    ("RegisterImage", "image"),
];

/// `Create…` actions that act on a resource that already exists (it is the one whose tags are
/// read) or create something that has no tags of its own.
const CREATES_ON_EXISTING: &[&str] = &[
    "CreateTags",
    "CreateTag",
    "CreateGrant",
    "CreateAlias",
    "CreateRoute",
    "CreateNetworkInterfacePermission",
    "CreateServiceLinkedRole",
    "CreatePolicyVersion",
    "CreateAccessKey",
    "CreateLoginProfile",
    "CreateLogStream",
    "CreateAssociation",
    "CreatePresignedUrl",
    "CreatePresignedDomainUrl",
    // EFS access points and mount targets are authorised on their (existing) file system.
    "CreateAccessPoint",
    "CreateMountTarget",
];

/// The noun of a creating action (`CreateLoadBalancer` → `loadbalancer`), or None when the
/// action (pattern) does not create.
fn created(action: &str) -> Option<String> {
    let (_, name) = action.split_once(':')?;
    if CREATES_ON_EXISTING.iter().any(|c| c.eq_ignore_ascii_case(name)) {
        return None;
    }
    let noun = if let Some(rest) = name.strip_prefix("Create").or_else(|| name.strip_prefix("create")) {
        rest.trim_end_matches('*')
    } else if let Some((_, noun)) = OTHER_CREATES.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)) {
        noun
    } else {
        return None;
    };
    Some(noun.to_ascii_lowercase().replace('-', ""))
}

/// The resource covers the created resource: `*`, or an ARN whose resource type is the noun.
fn covers_created(res: &str, noun: &str) -> bool {
    if res == "*" {
        return true;
    }
    let Some(resource) = res.splitn(6, ':').nth(5) else { return false };
    let ty = resource.split(['/', ':']).next().unwrap_or("").to_ascii_lowercase().replace('-', "");
    ty == "*" || noun.is_empty() || (!ty.is_empty() && (noun.starts_with(&ty) || ty.starts_with(noun)))
}

/// A condition that needs the resource to carry a tag already.
fn needs_existing_tag(op: &str, key: &str, values: &[String]) -> bool {
    let lower = key.to_ascii_lowercase();
    let tag_key = lower.split_once(':').is_some_and(|(_, k)| k.starts_with("resourcetag/") || k == "resourcetag");
    let absent_ok = op.to_ascii_lowercase().ends_with("ifexists")
        || (op.eq_ignore_ascii_case("null") && values.iter().all(|v| v.eq_ignore_ascii_case("true")));
    tag_key && !absent_ok
}

fn resource_tag_on_create(idx: &Index<'_>, doc: &Doc<'_>, sink: &mut Sink<'_>) {
    let b = doc.block;
    for st in doc.stmts.iter().filter(|s| s.allow && !s.not_action && !s.not_resource) {
        let Some((_, key, _)) = st.conditions.iter().find(|(op, k, v)| needs_existing_tag(op, k, v)) else {
            continue;
        };
        let creates: Vec<&str> = st
            .actions
            .iter()
            .filter(|a| created(a).is_some_and(|noun| st.resources.iter().any(|r| covers_created(r.text(), &noun))))
            .map(String::as_str)
            .collect();
        if creates.is_empty() {
            continue;
        }
        let from = idx.line_of(b, &st.anchor);
        let line = idx.line_after(b, from, key);
        sink.report(
            RESOURCE_TAG_ON_CREATE,
            &b.file,
            line,
            &b.id(),
            format!(
                "{} allowed only when `{key}` is set, which a resource being created never has (use `aws:RequestTag/…`)",
                creates.join(", ")
            ),
            &waivers(b),
        );
    }
    tag_on_create(idx, doc, sink);
}

/// The action that tags a service's resources, which a create request that carries tags also
/// needs on the resource it creates, for the services whose tag-on-create authorisation does not
/// read the requested tags as `aws:ResourceTag` (EC2 and ELB: their reference policies grant it
/// under `<service>:CreateAction`). EFS, for one, evaluates `aws:ResourceTag` against the tags
/// of the request, so it is not judged.
fn tagging_action(service: &str) -> Option<&'static str> {
    match service {
        "ec2" => Some("ec2:CreateTags"),
        "elasticloadbalancing" => Some("elasticloadbalancing:AddTags"),
        _ => None,
    }
}

/// A create request that sets tags (`aws:RequestTag/…` in its statement) is also authorised for
/// the service's tagging action on the new resource, which has no tags yet: a document that
/// allows that tagging action only under an `aws:ResourceTag` condition denies the create.
fn tag_on_create(idx: &Index<'_>, doc: &Doc<'_>, sink: &mut Sink<'_>) {
    let b = doc.block;
    let allowed = |s: &&Stmt<'_>| s.allow && !s.not_action && !s.not_resource;
    let mut services = BTreeSet::new();
    for st in doc.stmts.iter().filter(allowed) {
        if st.conditions.iter().any(|(_, k, _)| k.to_ascii_lowercase().starts_with("aws:requesttag/")) {
            services.extend(
                st.actions
                    .iter()
                    .filter(|a| created(a).is_some())
                    .filter_map(|a| a.split_once(':').map(|(s, _)| s.to_string())),
            );
        }
    }
    for svc in services {
        let Some(tag) = tagging_action(&svc) else { continue };
        let grants_tag: Vec<&Stmt<'_>> =
            doc.stmts.iter().filter(allowed).filter(|s| s.actions.iter().any(|a| glob(a, tag))).collect();
        let only_existing = !grants_tag.is_empty()
            && grants_tag.iter().all(|s| s.conditions.iter().any(|(op, k, v)| needs_existing_tag(op, k, v)));
        if !only_existing {
            continue;
        }
        for st in grants_tag {
            let Some((_, key, _)) = st.conditions.iter().find(|(op, k, v)| needs_existing_tag(op, k, v)) else {
                continue;
            };
            let from = idx.line_of(b, &st.anchor);
            sink.report(
                RESOURCE_TAG_ON_CREATE,
                &b.file,
                idx.line_after(b, from, key),
                &b.id(),
                format!(
                    "{tag} is allowed only when `{key}` is set, but the {svc} create actions of this policy pass tags (`aws:RequestTag`), which needs {tag} on the new, untagged resource: allow it under `{svc}:CreateAction` or `aws:RequestTag` as well"
                ),
                &waivers(b),
            );
        }
    }
}

// ---- CV-IAM-002 ------------------------------------------------------------------------------

type Id = (String, String, String);

/// The KMS keys an expression names; None when some part cannot be traced to a key block.
fn keys_of<'a>(idx: &Index<'a>, dir: &str, env: &Env<'a>, e: &'a Expression) -> Option<BTreeSet<Id>> {
    let mut out = BTreeSet::new();
    let ls = leaves(idx, dir, env, e);
    let mut blocks = 0;
    for l in &ls {
        if let Leaf::Block(o) = l {
            blocks += 1;
            match o.block.ty() {
                "aws_kms_key" | "aws_kms_replica_key" | "aws_kms_external_key" => {
                    out.insert(o.identity());
                }
                "aws_kms_alias" => {
                    let t = attr(&o.block.body, "target_key_id")?;
                    out.extend(keys_of(idx, &o.dir, &each_env(o.block), t)?);
                }
                // The key an RDS-managed secret is encrypted with is the instance's setting.
                "aws_db_instance" | "aws_rds_cluster"
                    if o.path.first().is_some_and(|p| p == "master_user_secret")
                        && o.path.get(1).is_some_and(|p| p == "kms_key_id") =>
                {
                    let t = attr(&o.block.body, "master_user_secret_kms_key_id")?;
                    out.extend(keys_of(idx, &o.dir, &each_env(o.block), t)?);
                }
                // Another resource's attribute that its configuration sets to a key (a secret's
                // `kms_key_id`): that setting.
                _ => {
                    let t = o.path.first().and_then(|p| attr(&o.block.body, p))?;
                    out.extend(keys_of(idx, &o.dir, &each_env(o.block), t)?);
                }
            }
        }
    }
    (blocks > 0).then_some(out)
}

/// A secret a policy lets its principal read, and the key that encrypts it.
struct Secret {
    what: String,
    key: Id,
}

/// Secrets `r` names that are encrypted with a customer managed key traced in the input.
fn secrets_of<'a>(idx: &Index<'a>, dir: &str, r: &Res<'a>) -> Vec<Secret> {
    let Res::Expr(e, _) = r else { return Vec::new() };
    let mut out = Vec::new();
    for l in leaves(idx, dir, &Env::default(), e) {
        let Leaf::Block(o) = l else { continue };
        let key_attr = match (o.block.ty(), o.path.first().map(String::as_str)) {
            ("aws_secretsmanager_secret", _) => "kms_key_id",
            ("aws_db_instance" | "aws_rds_cluster", Some("master_user_secret")) => "master_user_secret_kms_key_id",
            _ => continue,
        };
        // Without a customer managed key, Secrets Manager uses aws/secretsmanager: no grant needed.
        let Some(k) = attr(&o.block.body, key_attr) else { continue };
        let Some(keys) = keys_of(idx, &o.dir, &each_env(o.block), k) else { continue };
        for key in keys {
            out.push(Secret { what: format!("`{}` ({})", o.block.id(), o.dir), key: key.clone() });
        }
    }
    out
}

/// What a set of policies lets its principal decrypt: every key, some keys, or something the
/// checker cannot trace (then it does not judge).
#[derive(Default)]
struct Decrypt {
    all: bool,
    opaque: bool,
    keys: BTreeSet<Id>,
}

fn decrypt_of<'a>(idx: &Index<'a>, docs: &[&Doc<'a>]) -> Decrypt {
    let mut d = Decrypt::default();
    for doc in docs {
        for st in doc.stmts.iter().filter(|s| grants(s, "kms:Decrypt")) {
            if st.not_resource {
                d.opaque = true;
            }
            for r in &st.resources {
                match r {
                    // `*`, or an ARN pattern that matches every key.
                    Res::Text(t) if t == "*" || (t.contains('*') && glob(t, "arn:aws:kms:r:1:key/k")) => d.all = true,
                    Res::Text(_) => d.opaque = true,
                    Res::Expr(e, _) => match keys_of(idx, &doc.dir, &Env::default(), e) {
                        Some(k) => d.keys.extend(k),
                        None => d.opaque = true,
                    },
                }
            }
        }
    }
    d
}

/// Which documents are attached to which roles, and roles with attachments the checker cannot
/// see into.
struct Attachments<'a> {
    by_role: BTreeMap<Id, Vec<Id>>,
    opaque_roles: BTreeSet<Id>,
    /// Documents attached to users or groups as well (their other policies are not traced).
    opaque_docs: BTreeSet<Id>,
    roles_of_doc: BTreeMap<Id, BTreeSet<Id>>,
    _p: std::marker::PhantomData<&'a ()>,
}

fn block_id(b: &TfBlock) -> Id {
    (dir_of(&b.file), b.ty().to_string(), b.labels.get(1).cloned().unwrap_or_default())
}

/// A policy block and, for an `aws_iam_policy`, the policy documents its `policy` is built from.
fn policy_and_documents<'a>(idx: &Index<'a>, o: &crate::hcl_index::Origin<'a>) -> Vec<Id> {
    let mut out = vec![o.identity()];
    if o.block.ty() == "aws_iam_policy"
        && let Some(p) = attr(&o.block.body, "policy")
    {
        out.extend(
            crate::hcl_index::origins(idx, &o.dir, &each_env(o.block), p)
                .into_iter()
                .filter(|d| d.block.ty() == "aws_iam_policy_document")
                .map(|d| d.identity()),
        );
    }
    out
}

fn attachments<'a>(idx: &Index<'a>, inv: &'a Inventory) -> Attachments<'a> {
    let mut a = Attachments {
        by_role: BTreeMap::new(),
        opaque_roles: BTreeSet::new(),
        opaque_docs: BTreeSet::new(),
        roles_of_doc: BTreeMap::new(),
        _p: std::marker::PhantomData,
    };
    for b in inv.terraform.iter().filter(|b| b.kind == "resource") {
        let dir = dir_of(&b.file);
        let env = each_env(b);
        // (attribute naming roles, attribute naming the policy, attached to users or groups too)
        let (role_attr, policy_attr, others) = match b.ty() {
            "aws_iam_role_policy" => ("role", "policy", false),
            "aws_iam_role_policy_attachment" => ("role", "policy_arn", false),
            "aws_iam_role_policy_attachments_exclusive" => ("role_name", "policy_arns", false),
            "aws_iam_policy_attachment" => {
                ("roles", "policy_arn", attr(&b.body, "users").is_some() || attr(&b.body, "groups").is_some())
            }
            "aws_iam_user_policy" | "aws_iam_group_policy" => ("", "policy", true),
            "aws_iam_user_policy_attachment" | "aws_iam_group_policy_attachment" => ("", "policy_arn", true),
            "aws_iam_role" => {
                let me = block_id(b);
                a.by_role.entry(me.clone()).or_default();
                if b.body.blocks().any(|x| x.identifier() == "inline_policy") {
                    a.by_role.entry(me.clone()).or_default().push(me.clone());
                    a.roles_of_doc.entry(me.clone()).or_default().insert(me.clone());
                }
                // Managed policies attached by the role itself (`managed_policy_arns`): an
                // untraced one makes the role's grants unknown.
                if let Some(arns) = attr(&b.body, "managed_policy_arns") {
                    for l in leaves(idx, &dir, &env, arns) {
                        match l {
                            Leaf::Block(o) if o.block.ty() == "aws_iam_policy" => {
                                for d in policy_and_documents(idx, &o) {
                                    a.by_role.entry(me.clone()).or_default().push(d.clone());
                                    a.roles_of_doc.entry(d).or_default().insert(me.clone());
                                }
                            }
                            Leaf::Text(t) if t.contains(":iam::aws:policy/") => {
                                if t.contains("Administrator") || t.contains("PowerUser") {
                                    a.opaque_roles.insert(me.clone());
                                }
                            }
                            Leaf::Block(o)
                                if matches!(o.block.ty(), "aws_partition" | "aws_caller_identity" | "aws_region") => {}
                            _ => {
                                a.opaque_roles.insert(me.clone());
                            }
                        }
                    }
                }
                continue;
            }
            _ => continue,
        };
        let roles: BTreeSet<Id> = attr(&b.body, role_attr)
            .map(|e| {
                leaves(idx, &dir, &env, e)
                    .into_iter()
                    .filter_map(|l| match l {
                        Leaf::Block(o) if o.block.ty() == "aws_iam_role" => Some(o.identity()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut docs = BTreeSet::new();
        let mut opaque = false;
        if let Some(p) = attr(&b.body, policy_attr) {
            if matches!(b.ty(), "aws_iam_role_policy" | "aws_iam_user_policy" | "aws_iam_group_policy")
                && inline_statements(p).is_some()
            {
                docs.insert(block_id(b));
            } else {
                for l in leaves(idx, &dir, &env, p) {
                    match l {
                        Leaf::Block(o)
                            if o.block.ty() == "aws_iam_policy_document" || o.block.ty() == "aws_iam_policy" =>
                        {
                            docs.extend(policy_and_documents(idx, &o));
                        }
                        // An AWS managed policy grants no decrypt on customer keys, unless it
                        // is one of the administrator policies.
                        Leaf::Text(t) if t.contains(":iam::aws:policy/") => {
                            opaque |= t.contains("Administrator") || t.contains("PowerUser");
                        }
                        // Pieces of ARNs (partition, account, region) name no policy.
                        Leaf::Block(o)
                            if matches!(o.block.ty(), "aws_partition" | "aws_caller_identity" | "aws_region") => {}
                        Leaf::Text(t) if t.is_empty() => {}
                        Leaf::Text(t) if t.starts_with("arn:") || t.contains("${") => opaque = true,
                        Leaf::Text(_) => {}
                        Leaf::Block(_) => opaque = true,
                    }
                }
            }
        }
        for r in &roles {
            a.by_role.entry(r.clone()).or_default().extend(docs.iter().cloned());
            if opaque {
                a.opaque_roles.insert(r.clone());
            }
        }
        for d in &docs {
            a.roles_of_doc.entry(d.clone()).or_default().extend(roles.iter().cloned());
            // A user's or group's other policies are not traced: such a document is not judged.
            if others {
                a.opaque_docs.insert(d.clone());
            }
        }
    }
    // A managed policy resource's document is its `policy`.
    a
}

fn secret_without_decrypt<'a>(idx: &Index<'a>, inv: &'a Inventory, docs: &[Doc<'a>], sink: &mut Sink<'_>) {
    let att = attachments(idx, inv);
    let by_id: BTreeMap<Id, &Doc<'a>> = docs.iter().map(|d| (block_id(d.block), d)).collect();
    // aws_iam_policy documents reached through `policy = data.….json`.
    let policy_docs = |id: &Id| -> Vec<&Doc<'a>> {
        let mut out: Vec<&Doc<'a>> = by_id.get(id).into_iter().copied().collect();
        if id.1 == "aws_iam_policy"
            && let Some(m) = idx.modules.get(&id.0)
            && let Some(p) = m.resources.get(&(id.1.clone(), id.2.clone()))
            && let Some(e) = attr(&p.body, "policy")
        {
            for o in crate::hcl_index::origins(idx, &id.0, &Env::default(), e) {
                if let Some(d) = by_id.get(&o.identity()) {
                    out.push(d);
                }
            }
        }
        out
    };
    for doc in docs {
        let me = block_id(doc.block);
        let reads: Vec<(&Stmt<'a>, Vec<Secret>)> = doc
            .stmts
            .iter()
            .filter(|s| grants(s, "secretsmanager:GetSecretValue") && !s.not_resource)
            .map(|s| (s, s.resources.iter().flat_map(|r| secrets_of(idx, &doc.dir, r)).collect::<Vec<_>>()))
            .filter(|(_, secrets)| !secrets.is_empty())
            .collect();
        if reads.is_empty() {
            continue;
        }
        // The policies judged together: those of every role this document is attached to, or
        // the document alone when it reaches no role in the input.
        let roles = att.roles_of_doc.get(&me).cloned().unwrap_or_default();
        if att.opaque_docs.contains(&me) || roles.iter().any(|r| att.opaque_roles.contains(r)) {
            continue;
        }
        // A role declared in a shared module is one role per root module that calls it: only
        // documents of the same root configurations reach the same instance.
        let my_roots = idx.roots_of(&doc.dir);
        let mut group: Vec<&Doc<'a>> = vec![doc];
        for r in &roles {
            for d in att.by_role.get(r).into_iter().flatten() {
                group.extend(policy_docs(d).into_iter().filter(|g| !idx.roots_of(&g.dir).is_disjoint(&my_roots)));
            }
        }
        let decrypt = decrypt_of(idx, &group);
        if decrypt.all || decrypt.opaque {
            continue;
        }
        let mut seen = BTreeSet::new();
        for (st, secrets) in reads {
            for s in secrets.iter().filter(|s| !decrypt.keys.contains(&s.key)) {
                if !seen.insert((st.anchor.clone(), s.key.clone())) {
                    continue;
                }
                let line = idx.line_of(doc.block, &st.anchor);
                let (kdir, kty, kname) = &s.key;
                let whose = if roles.is_empty() {
                    "this policy grants".to_string()
                } else {
                    let names: Vec<String> = roles.iter().map(|(d, t, n)| format!("{t}.{n} ({d})")).collect();
                    format!("no policy attached to {} grants", names.join(", "))
                };
                sink.report(
                    SECRET_WITHOUT_DECRYPT,
                    &doc.block.file,
                    line,
                    &doc.block.id(),
                    format!(
                        "secretsmanager:GetSecretValue on the secret of {} encrypted with `{kty}.{kname}` ({kdir}), but {whose} kms:Decrypt on that key",
                        s.what
                    ),
                    &waivers(doc.block),
                );
            }
        }
    }
}

pub fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let docs = documents(inv);
    if docs.is_empty() {
        return;
    }
    let idx = Index::build(inv);
    for d in &docs {
        resource_tag_on_create(&idx, d, sink);
    }
    secret_without_decrypt(&idx, inv, &docs, sink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creating_actions_and_the_resources_they_create() {
        assert_eq!(created("elasticloadbalancing:CreateLoadBalancer").as_deref(), Some("loadbalancer"));
        assert_eq!(created("ec2:Create*").as_deref(), Some(""));
        assert_eq!(created("ec2:RunInstances").as_deref(), Some("instance"));
        assert_eq!(created("ec2:CreateTags"), None);
        assert_eq!(created("ec2:DeleteSnapshot"), None);
        assert!(covers_created("*", "snapshot"));
        assert!(covers_created("arn:aws:ec2:*:*:security-group/*", "securitygroup"));
        assert!(covers_created("arn:aws:ec2:*:*:instance/*", "instance"));
        assert!(!covers_created("arn:aws:ec2:*:*:volume/*", "snapshot"));
        assert!(needs_existing_tag("StringEquals", "aws:ResourceTag/owner", &["x".into()]));
        assert!(needs_existing_tag("Null", "aws:ResourceTag/owner", &["false".into()]));
        assert!(!needs_existing_tag("Null", "aws:ResourceTag/owner", &["true".into()]));
        assert!(!needs_existing_tag("StringEqualsIfExists", "aws:ResourceTag/owner", &["x".into()]));
        assert!(!needs_existing_tag("Null", "aws:RequestTag/owner", &["false".into()]));
    }

    #[test]
    fn globs() {
        assert!(glob("kms:*", "kms:Decrypt"));
        assert!(glob("kms:Decrypt*", "kms:Decrypt"));
        assert!(glob("*", "kms:Decrypt"));
        assert!(!glob("kms:Encrypt", "kms:Decrypt"));
    }
}
