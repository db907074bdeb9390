//! Helm inputs in anyone's tree: chart pins and values files.
//!
//! A chart list is a `charts.yaml` (or `.yml`) whose `charts:` is a list of
//! `{name, chart, version, …}` — the layout `cerverus build` writes to `helm/addons/charts.yaml`.
//! A values file is `<name>.values.yaml` (or `.yml`) anywhere below a chart list's directory
//! (`helm/addons/<env>/<name>.values.yaml`); `<name>` is the entry's `name`. Both are also loaded
//! as ordinary YAML (they hold no Kubernetes objects, so that yields nothing).

use cerverus_spec::{SourceMap, SpecPath};
use serde_json::Value;

use crate::inventory::{Inventory, documents};

/// One pinned chart.
#[derive(Debug, Clone)]
pub struct ChartPin {
    /// The release name, which names the values file.
    pub name: String,
    /// The chart's name in its repository (`chart:`, else `name:`).
    pub chart: String,
    pub version: String,
    pub line: usize,
    /// `values_checked_against`: the stored version to judge the values against when the pinned
    /// one has no reference data (the pinned version still cannot be judged).
    pub checked_against: Option<String>,
}

/// A `charts.yaml`.
#[derive(Debug, Clone)]
pub struct ChartList {
    pub file: String,
    /// The directory the list governs (values files below it belong to it).
    pub dir: String,
    pub charts: Vec<ChartPin>,
}

/// One YAML document of a values file, with its key positions.
#[derive(Debug, Clone)]
pub struct ValuesDoc {
    pub value: Value,
    map: SourceMap,
    /// Lines before the document in its file.
    offset: usize,
}

impl ValuesDoc {
    /// File line of the key at `path` (or of its nearest ancestor).
    pub fn key_line(&self, path: &[String]) -> usize {
        let mut p = SpecPath::root();
        for seg in path {
            p = match seg.parse::<usize>() {
                Ok(i) => p.at(i),
                Err(_) => p.at(seg.as_str()),
            };
        }
        self.map.key(&p).map_or(self.offset + 1, |l| l.line + self.offset)
    }
}

/// A `<name>.values.yaml`.
#[derive(Debug, Clone)]
pub struct ValuesFile {
    pub file: String,
    /// `<name>` of `<name>.values.yaml`.
    pub name: String,
    pub docs: Vec<ValuesDoc>,
    /// Comment lines (for `# cerverus:skip=ID reason` waivers).
    pub comments: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct HelmFiles {
    pub chart_lists: Vec<ChartList>,
    pub values: Vec<ValuesFile>,
}

impl HelmFiles {
    pub fn extend(&mut self, other: HelmFiles) {
        self.chart_lists.extend(other.chart_lists);
        self.values.extend(other.values);
    }

    /// The chart list governing `file`: the one in the nearest enclosing directory.
    pub fn list_for(&self, file: &str) -> Option<&ChartList> {
        self.chart_lists
            .iter()
            .filter(|l| l.dir.is_empty() || file.starts_with(&format!("{}/", l.dir)))
            .max_by_key(|l| l.dir.len())
    }
}

fn split_name(file: &str) -> (&str, &str) {
    match file.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => ("", file),
    }
}

/// Record `file` if it is a chart list or a values file. Syntax errors are the YAML loader's
/// finding; a document that does not parse is skipped here.
pub fn capture(inv: &mut Inventory, file: &str, text: &str) {
    let (dir, name) = split_name(file);
    if name == "charts.yaml" || name == "charts.yml" {
        let mut charts = Vec::new();
        for (offset, doc) in documents(text) {
            let Ok(v) = serde_saphyr::from_str::<Value>(&doc) else { continue };
            let map = SourceMap::build(file, &doc);
            for (i, c) in v["charts"].as_array().into_iter().flatten().enumerate() {
                let (Some(name), Some(version)) = (c["name"].as_str(), c["version"].as_str()) else { continue };
                let line = map.value(&SpecPath::root().at("charts").at(i)).map_or(offset + 1, |l| l.line + offset);
                charts.push(ChartPin {
                    name: name.to_string(),
                    chart: c["chart"].as_str().unwrap_or(name).to_string(),
                    version: version.to_string(),
                    line,
                    checked_against: c["values_checked_against"].as_str().map(str::to_string),
                });
            }
        }
        if !charts.is_empty() {
            inv.helm.chart_lists.push(ChartList { file: file.to_string(), dir: dir.to_string(), charts });
        }
        return;
    }
    let Some(stem) = name.strip_suffix(".values.yaml").or_else(|| name.strip_suffix(".values.yml")) else { return };
    let mut docs = Vec::new();
    for (offset, doc) in documents(text) {
        if doc.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            continue;
        }
        let Ok(value) = serde_saphyr::from_str::<Value>(&doc) else { continue };
        docs.push(ValuesDoc { value, map: SourceMap::build(file, &doc), offset });
    }
    let comments = text.lines().map(str::trim).filter(|l| l.starts_with('#')).map(str::to_string).collect();
    inv.helm.values.push(ValuesFile { file: file.to_string(), name: stem.to_string(), docs, comments });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::load_text;

    #[test]
    fn chart_lists_and_values_files_are_recognised() {
        let mut inv = Inventory::default();
        load_text(
            &mut inv,
            "deploy/helm/addons/charts.yaml",
            "# header\n---\ncharts:\n  - name: keda\n    chart: keda\n    version: \"2.17.2\"\n",
        );
        load_text(&mut inv, "deploy/helm/addons/dev/keda.values.yaml", "# c\n---\nresources:\n  limits:\n    cpu: 1\n");
        load_text(&mut inv, "other/values.yaml", "a: 1\n");
        assert_eq!(inv.helm.chart_lists.len(), 1);
        assert_eq!(inv.helm.chart_lists[0].charts[0].line, 4);
        assert_eq!(inv.helm.values.len(), 1);
        let v = &inv.helm.values[0];
        assert_eq!(v.name, "keda");
        assert_eq!(v.docs[0].key_line(&["resources".into(), "limits".into(), "cpu".into()]), 5);
        let list = inv.helm.list_for(&v.file).expect("governed");
        assert_eq!(list.file, "deploy/helm/addons/charts.yaml");
        assert!(inv.k8s.is_empty() && inv.errors.is_empty());
    }
}
