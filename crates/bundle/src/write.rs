//! Writing a bundle: stage everything, then swap it in file by file, then clean up.
//!
//! The order matters for "on any error nothing is changed":
//! 1. Plan: read the manifest, refuse to overwrite files we did not write, refuse symlinks.
//! 2. Stage: write every changed file into a staging directory inside the output directory (same
//!    filesystem, so the later renames are atomic). Any I/O error here removes the staging
//!    directory and leaves the output exactly as it was.
//! 3. Commit: rename staged files over their targets (each rename is atomic), delete files the
//!    previous manifest listed that are no longer produced, write the new manifest last.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::{Bundle, MANIFEST, Scope, everything, parse_manifest};

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    pub written: Vec<String>,
    pub unchanged: usize,
    pub removed: Vec<String>,
}

/// Why a bundle was not written. Nothing in the output directory changed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("`{0}` exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error(
        "`{}` exists but was not written by cerverus (it is not in {MANIFEST}); refusing to overwrite it",
        .0.display()
    )]
    Foreign(PathBuf),
    #[error("`{}` is a symbolic link; refusing to write through it", .0.display())]
    Symlink(PathBuf),
    #[error("{action} `{}`: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> WriteError + 'a {
    move |source| WriteError::Io { action, path: path.to_path_buf(), source }
}

/// Write `bundle` into `out`. See the module docs for the guarantees.
pub fn write(bundle: &Bundle, out: &Path) -> Result<WriteReport, WriteError> {
    write_scoped(bundle, out, &everything)
}

/// Write `bundle` into `out`, treating only paths in `scope` as this write's business: owned
/// files outside it are neither replaced nor removed (a build of one environment leaves the
/// others alone).
pub fn write_scoped(bundle: &Bundle, out: &Path, scope: Scope<'_>) -> Result<WriteReport, WriteError> {
    if out.exists() && !out.is_dir() {
        return Err(WriteError::NotADirectory(out.to_path_buf()));
    }
    if fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(WriteError::Symlink(out.to_path_buf()));
    }
    let manifest_path = out.join(MANIFEST);
    let owned_list: Vec<String> = match fs::read_to_string(&manifest_path) {
        Ok(text) => parse_manifest(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err("reading", &manifest_path)(e)),
    };
    let owned: BTreeSet<&str> = owned_list.iter().map(String::as_str).collect();

    // 1. Plan.
    let mut changed = Vec::new();
    let mut unchanged = 0;
    for (rel, bytes) in bundle.iter() {
        let target = out.join(rel);
        refuse_symlinks(out, rel)?;
        match fs::read(&target) {
            Ok(existing) if existing == bytes => unchanged += 1,
            Ok(_) if !owned.contains(rel) => return Err(WriteError::Foreign(target)),
            Ok(_) => changed.push(rel),
            Err(e) if e.kind() == io::ErrorKind::NotFound => changed.push(rel),
            Err(e) if target.is_dir() => {
                let _ = e;
                return Err(WriteError::Foreign(target));
            }
            Err(e) => return Err(io_err("reading", &target)(e)),
        }
    }
    let stale: Vec<String> =
        owned.iter().filter(|p| scope(p) && bundle.get(p).is_none()).map(|p| p.to_string()).collect();
    let manifest = bundle.manifest_over(&owned_list, scope);
    let manifest_same = fs::read_to_string(&manifest_path).is_ok_and(|m| m == manifest);
    if changed.is_empty() && stale.is_empty() && manifest_same {
        return Ok(WriteReport { written: Vec::new(), unchanged, removed: Vec::new() });
    }

    // 2. Stage.
    fs::create_dir_all(out).map_err(io_err("creating", out))?;
    let staging = out.join(format!(".cerverus-staging-{}", std::process::id()));
    let staged = stage(bundle, &changed, &manifest, &staging);
    if let Err(e) = staged {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }

    // 3. Commit.
    let result = commit(out, &staging, &changed, &stale);
    let _ = fs::remove_dir_all(&staging);
    let removed = result?;
    Ok(WriteReport { written: changed.iter().map(|s| s.to_string()).collect(), unchanged, removed })
}

fn refuse_symlinks(out: &Path, rel: &str) -> Result<(), WriteError> {
    let mut p = out.to_path_buf();
    for part in rel.split('/') {
        p.push(part);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => return Err(WriteError::Symlink(p)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

fn stage(bundle: &Bundle, changed: &[&str], manifest: &str, staging: &Path) -> Result<(), WriteError> {
    fs::create_dir_all(staging).map_err(io_err("creating", staging))?;
    for rel in changed {
        let Some(bytes) = bundle.get(rel) else { continue };
        let dest = staging.join(rel);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
        }
        write_synced(&dest, bytes)?;
    }
    write_synced(&staging.join(MANIFEST), manifest.as_bytes())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let mut f = fs::File::create(path).map_err(io_err("creating", path))?;
    f.write_all(bytes).map_err(io_err("writing", path))?;
    f.sync_all().map_err(io_err("syncing", path))
}

fn commit(out: &Path, staging: &Path, changed: &[&str], stale: &[String]) -> Result<Vec<String>, WriteError> {
    for rel in changed {
        let target = out.join(rel);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
        }
        let from = staging.join(rel);
        fs::rename(&from, &target).map_err(io_err("replacing", &target))?;
    }
    let mut removed = Vec::new();
    for rel in stale {
        let target = out.join(rel);
        match fs::remove_file(&target) {
            Ok(()) => removed.push(rel.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing", &target)(e)),
        }
        remove_empty_parents(out, &target);
    }
    let manifest = out.join(MANIFEST);
    fs::rename(staging.join(MANIFEST), &manifest).map_err(io_err("replacing", &manifest))?;
    Ok(removed)
}

/// Remove directories left empty by a deletion, up to (not including) `out`.
fn remove_empty_parents(out: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == out || !d.starts_with(out) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(files: &[(&str, &str)]) -> Bundle {
        let mut b = Bundle::new();
        for (p, c) in files {
            b.add(*p, *c).expect("valid path");
        }
        b
    }

    #[test]
    fn writes_then_removes_only_what_it_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("deploy");
        write(&bundle(&[("a/x.txt", "1"), ("b/y.txt", "2")]), &out).expect("first write");
        fs::write(out.join("a/mine.txt"), "user file").expect("user file");
        let r = write(&bundle(&[("a/x.txt", "1")]), &out).expect("second write");
        assert_eq!(r.removed, vec!["b/y.txt"]);
        assert!(!out.join("b").exists(), "empty directory left behind");
        assert_eq!(fs::read_to_string(out.join("a/mine.txt")).expect("kept"), "user file");
        assert_eq!(r.unchanged, 1);
    }

    #[test]
    fn refuses_to_overwrite_foreign_files_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path();
        fs::write(out.join("x.txt"), "not ours").expect("seed");
        let err = write(&bundle(&[("x.txt", "ours"), ("y.txt", "new")]), out).expect_err("foreign");
        assert!(matches!(err, WriteError::Foreign(_)));
        assert_eq!(fs::read_to_string(out.join("x.txt")).expect("kept"), "not ours");
        assert!(!out.join("y.txt").exists());
        assert!(!out.join(MANIFEST).exists());
    }

    #[cfg(unix)]
    #[test]
    fn refuses_to_write_through_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let elsewhere = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("deploy");
        fs::create_dir_all(&out).expect("out");
        std::os::unix::fs::symlink(elsewhere.path(), out.join("link")).expect("symlink");
        let err = write(&bundle(&[("link/x.txt", "1")]), &out).expect_err("symlink");
        assert!(matches!(err, WriteError::Symlink(_)));
        assert!(!elsewhere.path().join("x.txt").exists());
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("deploy");
        fs::write(&out, "file").expect("file");
        assert!(matches!(write(&bundle(&[("a", "1")]), &out), Err(WriteError::NotADirectory(_))));
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    #[test]
    fn a_scoped_write_leaves_other_scopes_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path();
        let mut all = Bundle::new();
        all.add("dev/a", "1").expect("add");
        all.add("prod/a", "1").expect("add");
        write(&all, out).expect("write all");
        let mut dev = Bundle::new();
        dev.add("dev/b", "2").expect("add");
        let r = write_scoped(&dev, out, &|p: &str| p.starts_with("dev/")).expect("write dev");
        assert_eq!(r.removed, vec!["dev/a"]);
        assert!(out.join("prod/a").exists());
        let manifest = fs::read_to_string(out.join(MANIFEST)).expect("manifest");
        assert_eq!(parse_manifest(&manifest), vec!["dev/b", "prod/a"]);
        assert!(crate::check_scoped(&dev, out, &|p: &str| p.starts_with("dev/")).expect("check").is_clean());
    }
}
