//! A bundle of generated files, its atomic writer, and its drift check.
//!
//! A [`Bundle`] maps relative paths to bytes, sorted, so the same spec always yields the same
//! bundle. [`write`] puts it on disk without ever leaving a half-written tree behind and without
//! touching files it did not write; [`check`] says how a directory differs from the bundle.
//!
//! What the writer owns is recorded in a manifest file ([`MANIFEST`]) inside the output
//! directory. Only files listed there are ever replaced or deleted.

mod check;
mod write;

use std::collections::BTreeMap;
use std::path::{Component, Path};

pub use check::{CheckReport, FileDiff, check, check_scoped};
pub use write::{WriteError, WriteReport, write, write_scoped};

/// The manifest of files the writer owns, relative to the output directory.
pub const MANIFEST: &str = ".cerverus-manifest";

/// Why a path cannot be part of a bundle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("bundle path `{0}` is not a plain relative path inside the output directory")]
    PathOutside(String),
    #[error("bundle path `{0}` is produced twice")]
    Duplicate(String),
    #[error("bundle path `{0}` is reserved for the manifest")]
    Reserved(String),
}

/// Generated files by relative path (always `/`-separated), in sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    files: BTreeMap<String, Vec<u8>>,
}

impl Bundle {
    pub fn new() -> Self {
        Bundle::default()
    }

    /// Add a file. The path must be relative, with no `.`/`..` parts, and not yet present.
    pub fn add(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Result<(), BundleError> {
        let path = path.into();
        validate_path(&path)?;
        if self.files.contains_key(&path) {
            return Err(BundleError::Duplicate(path));
        }
        self.files.insert(path, bytes.into());
        Ok(())
    }

    /// Add every file of `other` under `prefix/`.
    pub fn merge(&mut self, prefix: &str, other: Bundle) -> Result<(), BundleError> {
        for (p, b) in other.files {
            let full = if prefix.is_empty() { p } else { format!("{prefix}/{p}") };
            self.add(full, b)?;
        }
        Ok(())
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, b)| (p.as_str(), b.as_slice()))
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Total size in bytes.
    pub fn size(&self) -> usize {
        self.files.values().map(Vec::len).sum()
    }

    /// The manifest text listing this bundle's files.
    pub fn manifest(&self) -> String {
        manifest_text(self.files.keys().map(String::as_str))
    }

    /// The manifest after writing this bundle over a directory whose manifest lists `owned`:
    /// this bundle's files, plus the owned files outside `scope` (left as they are).
    pub(crate) fn manifest_over(&self, owned: &[String], scope: Scope<'_>) -> String {
        let mut all: std::collections::BTreeSet<&str> = self.files.keys().map(String::as_str).collect();
        all.extend(owned.iter().map(String::as_str).filter(|p| !scope(p)));
        manifest_text(all.into_iter())
    }
}

/// Which paths a write or check is about; others are neither written, removed nor compared.
pub type Scope<'a> = &'a dyn Fn(&str) -> bool;

/// Every path is in scope.
pub fn everything(_: &str) -> bool {
    true
}

fn manifest_text<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    let mut s = String::from(
        "# Files written by `cerverus build`. Generated; do not edit.\n\
         # cerverus replaces and removes only the files listed here.\n",
    );
    for p in paths {
        s.push_str(p);
        s.push('\n');
    }
    s
}

fn validate_path(path: &str) -> Result<(), BundleError> {
    let outside = || BundleError::PathOutside(path.to_string());
    if path.is_empty() || path.contains('\\') || path.contains('\0') || path.ends_with('/') {
        return Err(outside());
    }
    if path == MANIFEST {
        return Err(BundleError::Reserved(path.to_string()));
    }
    for c in Path::new(path).components() {
        if !matches!(c, Component::Normal(_)) {
            return Err(outside());
        }
    }
    if path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err(outside());
    }
    Ok(())
}

/// Paths listed in a manifest's text (comments and blank lines skipped; unsafe entries dropped,
/// so a tampered manifest cannot make the writer delete outside its directory).
pub(crate) fn parse_manifest(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| validate_path(l).is_ok())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_paths_that_escape() {
        let mut b = Bundle::new();
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a\\b", "a/", MANIFEST] {
            assert!(b.add(bad, "x").is_err(), "{bad:?} must be rejected");
        }
        assert!(b.add("terraform/envs/dev/main.tf", "x").is_ok());
        assert_eq!(
            b.add("terraform/envs/dev/main.tf", "y"),
            Err(BundleError::Duplicate("terraform/envs/dev/main.tf".into()))
        );
    }

    #[test]
    fn manifest_lists_sorted_paths_and_parses_back() {
        let mut b = Bundle::new();
        b.add("b/z.yaml", "1").expect("add");
        b.add("a.txt", "2").expect("add");
        let m = b.manifest();
        assert_eq!(parse_manifest(&m), vec!["a.txt", "b/z.yaml"]);
        assert_eq!(parse_manifest("../evil\n/abs\nok/file\n"), vec!["ok/file"]);
    }
}
