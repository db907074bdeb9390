//! Drift check: how does a directory differ from the bundle that should be there?

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::fs;
use std::path::Path;

use crate::{Bundle, MANIFEST, Scope, everything, parse_manifest};

/// One file that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    pub path: String,
    /// Lines present in the bundle but not on disk.
    pub added: usize,
    /// Lines present on disk but not in the bundle.
    pub removed: usize,
}

/// Differences between a directory and a bundle; empty when the directory is up to date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Produced by the bundle, absent on disk.
    pub missing: Vec<String>,
    /// Present on both sides with different content.
    pub changed: Vec<FileDiff>,
    /// Listed in the directory's manifest but no longer produced.
    pub stale: Vec<String>,
    /// Whether the manifest itself is absent or out of date.
    pub manifest_differs: bool,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.changed.is_empty() && self.stale.is_empty() && !self.manifest_differs
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for p in &self.missing {
            let _ = writeln!(s, "  missing  {p}");
        }
        for d in &self.changed {
            let _ = writeln!(s, "  changed  {} (+{} -{} lines)", d.path, d.added, d.removed);
        }
        for p in &self.stale {
            let _ = writeln!(s, "  stale    {p} (no longer produced)");
        }
        if self.manifest_differs {
            let _ = writeln!(s, "  changed  {MANIFEST}");
        }
        f.write_str(&s)
    }
}

/// Compare `out` with `bundle` without writing anything.
pub fn check(bundle: &Bundle, out: &Path) -> std::io::Result<CheckReport> {
    check_scoped(bundle, out, &everything)
}

/// Like [`check`], for a bundle that covers only the paths in `scope`.
pub fn check_scoped(bundle: &Bundle, out: &Path, scope: Scope<'_>) -> std::io::Result<CheckReport> {
    let mut report = CheckReport::default();
    for (rel, bytes) in bundle.iter() {
        match fs::read(out.join(rel)) {
            Ok(existing) if existing == bytes => {}
            Ok(existing) => {
                let (added, removed) = line_delta(&existing, bytes);
                report.changed.push(FileDiff { path: rel.to_string(), added, removed });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.missing.push(rel.to_string()),
            Err(e) => return Err(e),
        }
    }
    match fs::read_to_string(out.join(MANIFEST)) {
        Ok(text) => {
            let owned = parse_manifest(&text);
            report.manifest_differs = text != bundle.manifest_over(&owned, scope);
            report.stale =
                owned.into_iter().filter(|p| scope(p) && bundle.get(p).is_none() && out.join(p).exists()).collect();
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.manifest_differs = true,
        Err(e) => return Err(e),
    }
    Ok(report)
}

/// Lines only in `new` and lines only in `old`, as multisets: cheap, and enough to say how big
/// a change is.
fn line_delta(old: &[u8], new: &[u8]) -> (usize, usize) {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let mut counts: HashMap<&str, isize> = HashMap::new();
    for l in old.lines() {
        *counts.entry(l).or_default() -= 1;
    }
    for l in new.lines() {
        *counts.entry(l).or_default() += 1;
    }
    let added = counts.values().filter(|v| **v > 0).map(|v| *v as usize).sum();
    let removed = counts.values().filter(|v| **v < 0).map(|v| v.unsigned_abs()).sum();
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write;

    #[test]
    fn clean_after_write_and_reports_each_kind_of_drift() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path();
        let mut b = Bundle::new();
        b.add("a.txt", "one\ntwo\n").expect("add");
        b.add("gone.txt", "x\n").expect("add");
        write(&b, out).expect("write");
        assert!(check(&b, out).expect("check").is_clean());

        let mut b2 = Bundle::new();
        b2.add("a.txt", "one\nthree\n").expect("add");
        b2.add("new.txt", "n\n").expect("add");
        let r = check(&b2, out).expect("check");
        assert_eq!(r.missing, vec!["new.txt"]);
        assert_eq!(r.changed, vec![FileDiff { path: "a.txt".into(), added: 1, removed: 1 }]);
        assert_eq!(r.stale, vec!["gone.txt"]);
        assert!(r.manifest_differs);
        assert!(!r.is_clean());
    }
}
