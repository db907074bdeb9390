//! Embed the pinned charts' reference data (`data/reference/helm/<chart>/<version>/` and the
//! template scans in `data/reference/helm/derived/helm-template-refs/`) so `cerverus check` judges
//! Helm values in anyone's clone without network access or a data path. The table lists whatever
//! is on disk: adding a chart version there is all it takes.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

const CHART_FILES: &[&str] = &["Chart.yaml", "values.yaml", "values.schema.json"];

fn sorted_dirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        fs::read_dir(p).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let reference = manifest.join("../../data/reference");
    let helm = reference.join("helm");
    println!("cargo:rerun-if-changed={}", helm.display());
    let mut charts = String::from("pub(crate) static CHART_FILES: &[(&str, &str, &str, &str)] = &[\n");
    for chart in sorted_dirs(&helm) {
        for version in sorted_dirs(&chart) {
            for file in CHART_FILES {
                let path = version.join(file);
                if path.is_file() {
                    println!("cargo:rerun-if-changed={}", path.display());
                    let _ = writeln!(
                        charts,
                        "    ({:?}, {:?}, {:?}, include_str!({:?})),",
                        name(&chart),
                        name(&version),
                        file,
                        path.display().to_string()
                    );
                }
            }
        }
    }
    charts.push_str("];\n");
    let mut refs = String::from("pub(crate) static TEMPLATE_REFS: &[(&str, &str)] = &[\n");
    for dir in [helm.join("derived/helm-template-refs"), reference.join("helm-template-refs")] {
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for f in files {
            let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let _ = writeln!(refs, "    ({stem:?}, include_str!({:?})),", f.display().to_string());
        }
    }
    refs.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("helm_reference_data.rs");
    if let Err(e) = fs::write(&out, charts + &refs) {
        panic!("cannot write {}: {e}", out.display());
    }
}
