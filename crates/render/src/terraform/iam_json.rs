//! Upstream IAM policies published as JSON, turned into `aws_iam_policy_document` statement
//! blocks, so a controller whose maintainers publish the exact policy its version needs gets that
//! policy and nothing we retyped. The files live in `data/reference/iam/` with their provenance.
//!
//! `arn:aws:` becomes `arn:${data.aws_partition.current.partition}:`; everything else (actions,
//! resources, conditions) is carried over as upstream wrote it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::dsl::{B, block, list, s, tpl};

/// aws-load-balancer-controller v2.13.x (chart 1.13.0), `docs/install/iam_policy.json`.
pub const LOAD_BALANCER_CONTROLLER: &str =
    include_str!("../../../../data/reference/iam/aws-load-balancer-controller-v2.13.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Policy {
    statement: Vec<Statement>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Statement {
    #[serde(default)]
    sid: Option<String>,
    effect: String,
    action: OneOrMany,
    resource: OneOrMany,
    #[serde(default)]
    condition: BTreeMap<String, BTreeMap<String, OneOrMany>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(x) => vec![x.as_str()],
            OneOrMany::Many(xs) => xs.iter().map(String::as_str).collect(),
        }
    }
}

fn value(text: &str) -> hcl::Expression {
    match text.strip_prefix("arn:aws:") {
        Some(rest) => tpl(format!("arn:${{data.aws_partition.current.partition}}:{rest}")),
        None => s(text),
    }
}

/// The statements of an identity policy document, as `statement` blocks. Identity policies have
/// no `Principal`; a document that is not one (a trust or resource policy) is an error.
pub fn statements(json: &str) -> Result<Vec<B>, serde_json::Error> {
    let policy: Policy = serde_json::from_str(json)?;
    Ok(policy
        .statement
        .iter()
        .map(|st| {
            let mut b = block("statement");
            if let Some(sid) = &st.sid {
                b = b.a("sid", sid.as_str());
            }
            b = b
                .a("effect", st.effect.as_str())
                .a("actions", list(st.action.items().into_iter().map(s)))
                .a("resources", list(st.resource.items().into_iter().map(value)));
            for (test, vars) in &st.condition {
                for (variable, values) in vars {
                    b = b.b(block("condition")
                        .a("test", test.as_str())
                        .a("variable", variable.as_str())
                        .a("values", list(values.items().into_iter().map(value))));
                }
            }
            b
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_balancer_controller_policy_parses_into_every_statement() {
        let sts = statements(LOAD_BALANCER_CONTROLLER).expect("the embedded reference policy is valid JSON");
        let raw: serde_json::Value = serde_json::from_str(LOAD_BALANCER_CONTROLLER).expect("valid JSON");
        assert_eq!(sts.len(), raw["Statement"].as_array().map_or(0, Vec::len));
        assert!(sts.len() > 10);
    }

    #[test]
    fn malformed_or_non_identity_policies_are_errors() {
        assert!(statements("{\"Statement\": [{\"Effect\": \"Allow\"}]}").is_err());
        let trust = "{\"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"Service\": \"x\"}, \"Action\": \"sts:AssumeRole\", \"Resource\": \"*\"}]}";
        assert!(statements(trust).is_err());
        assert!(statements("not json").is_err());
    }
}
