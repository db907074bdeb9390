//! Creation times by resource type, read from `data/simulation/provisioning.json`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::SimError;
use crate::data::{self, Provenance};

const FILE: &str = "data/simulation/provisioning.json";
const TEXT: &str = include_str!("../../../../data/simulation/provisioning.json");

/// Whether a number was observed somewhere public or is this model's estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    Observed,
    Estimate,
}

/// The data file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub provenance: Provenance,
    /// Terraform's default `-parallelism`.
    pub parallelism: usize,
    /// The seed's "infrastructure provisioning < 30 minutes".
    pub target_minutes: f64,
    /// How many of the longest resources the report lists.
    pub top_n: usize,
    /// Reading one data source instance during apply.
    pub data_source_minutes: f64,
    /// Any resource type not listed.
    pub default: TypeTime,
    pub resource_types: BTreeMap<String, TypeTime>,
}

/// Creation time of one instance of a resource type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeTime {
    pub minutes: f64,
    pub basis: Basis,
    pub note: String,
    /// Times for particular configurations (the first that matches wins).
    #[serde(default)]
    pub variants: Vec<Variant>,
}

/// A configuration of a type that takes a different time (a Multi-AZ database, a read replica).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub when: Condition,
    pub minutes: f64,
    pub basis: Basis,
    pub note: String,
}

/// A test on one attribute of the resource, as the configuration evaluates it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub attribute: String,
    /// The attribute is set to something other than null (a reference counts as set).
    #[serde(default)]
    pub set: Option<bool>,
    /// The attribute evaluates to exactly this value.
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
}

/// The time chosen for one instance, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chosen {
    pub minutes: f64,
    pub basis: Basis,
    /// `type` or `type (attribute = value)`, or `default` for an unlisted type.
    pub rule: String,
}

static CELL: OnceLock<Result<Weights, String>> = OnceLock::new();

pub fn load() -> Result<&'static Weights, SimError> {
    let w = data::cached(&CELL, FILE, TEXT)?;
    let bad = |m: String| SimError::Data { file: FILE.to_string(), message: m };
    if w.parallelism == 0 {
        return Err(bad("parallelism must be at least 1".into()));
    }
    let all = std::iter::once(("default", w.default.minutes))
        .chain(w.resource_types.iter().map(|(k, t)| (k.as_str(), t.minutes)))
        .chain(w.resource_types.iter().flat_map(|(k, t)| t.variants.iter().map(move |v| (k.as_str(), v.minutes))));
    for (k, m) in all.chain([("data_source_minutes", w.data_source_minutes), ("target_minutes", w.target_minutes)]) {
        if !m.is_finite() || m < 0.0 {
            return Err(bad(format!("`{k}`: {m} is not a time in minutes")));
        }
    }
    Ok(w)
}

impl Weights {
    /// The time of one instance of `ty`; `attr` evaluates one of the instance's attributes
    /// (`None` when it is absent or cannot be known before apply without being a reference).
    pub fn resource(&self, ty: &str, attr: &dyn Fn(&str) -> Option<serde_json::Value>) -> Chosen {
        let Some(t) = self.resource_types.get(ty) else {
            return Chosen { minutes: self.default.minutes, basis: self.default.basis, rule: "default".into() };
        };
        for v in &t.variants {
            let value = attr(&v.when.attribute);
            let set_ok = v.when.set.is_none_or(|want| want == value.as_ref().is_some_and(|x| !x.is_null()));
            let eq_ok = v.when.equals.as_ref().is_none_or(|want| value.as_ref() == Some(want));
            if set_ok && eq_ok {
                let shown = match &v.when.equals {
                    Some(e) => format!("{} = {e}", v.when.attribute),
                    None => format!("{} set", v.when.attribute),
                };
                return Chosen { minutes: v.minutes, basis: v.basis, rule: format!("{ty} ({shown})") };
            }
        }
        Chosen { minutes: t.minutes, basis: t.basis, rule: ty.to_string() }
    }

    pub fn data_source(&self) -> Chosen {
        Chosen { minutes: self.data_source_minutes, basis: Basis::Estimate, rule: "data source read".into() }
    }
}
