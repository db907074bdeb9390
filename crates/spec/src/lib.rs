//! The Cerverus platform spec.
//!
//! - [`types`]: the spec language as Rust types (the one definition of it).
//! - [`load()`]: YAML text → [`PlatformSpec`], with located [`Diagnostics`] on bad input.
//! - [`SourceMap`]: positions of every node, for checks that run after deserialization.
//! - [`json_schema`]: the JSON Schema derived from the types, for editors and `cerverus schema`.

pub mod diag;
mod load;
pub mod source_map;
pub mod types;

pub use diag::{Diagnostic, Diagnostics, Location, Severity};
pub use load::{DEFAULT_SPEC, DEFAULT_SPEC_NAME, LoadedSpec, load};
pub use source_map::{Seg, SourceMap, SpecPath};
pub use types::*;

/// The JSON Schema of the spec language, generated from [`PlatformSpec`].
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(PlatformSpec)).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".to_string(),
            serde_json::Value::String("https://cerverus.io/schemas/platform-v1alpha1.json".into()),
        );
        obj.insert(
            "title".to_string(),
            serde_json::Value::String("Cerverus platform spec (cerverus.io/v1alpha1)".into()),
        );
    }
    schema
}

/// [`json_schema`] as pretty-printed JSON with a trailing newline.
pub fn json_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    s.push('\n');
    s
}
