//! Reference data for Helm charts: each pinned chart version's own `values.yaml` (defaults),
//! `values.schema.json` and `Chart.yaml`, plus the heuristic template scan (keys templates read
//! that values.yaml leaves out, maps that look free-form). Embedded at build time from
//! `data/reference/helm/` (see `build.rs` and that folder's README for provenance), or loaded from
//! a directory of the same layout.
//!
//! [`ChartRef::lookup`] answers the one question the values rule asks — does this key path exist
//! in this chart version? — following `data/reference/helm/README.md`: a path exists when it is
//! in values.yaml or the schema, sits under an open map or list (`{}`, `[]`, `null`, a scalar, or
//! a free-form map), or is (under) a template-only path. Istio charts keep their defaults under
//! `_internal_defaults_do_not_set`, which users set at the top level.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

mod data {
    include!(concat!(env!("OUT_DIR"), "/helm_reference_data.rs"));
}

/// What a chart version's data says about one key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A known key whose value is a map of known keys: look at each child.
    Map,
    /// A known key whose value (and everything below it) the chart takes as given.
    Open,
    /// Not a key of this chart.
    Unknown,
}

/// A subchart dependency: values under `key` go to `chart` at `version` (a range when the
/// parent's Chart.yaml gives one).
#[derive(Debug, Clone)]
pub struct Dependency {
    pub key: String,
    pub chart: String,
    pub version: String,
}

/// One chart version's reference data, parsed.
#[derive(Debug, Clone)]
pub struct ChartRef {
    pub chart: String,
    pub version: String,
    /// values.yaml as data (Istio: `_internal_defaults_do_not_set` merged into the top level).
    pub defaults: Value,
    /// values.yaml exactly as shipped (what Helm merges user values into).
    pub raw_defaults: Value,
    pub schema: Option<Value>,
    pub dependencies: Vec<Dependency>,
    /// Paths (dot-joined) a template reads that values.yaml leaves out.
    pub template_only: Vec<String>,
    /// Non-empty maps that pass keys through (`extraArgs`, `podAnnotations`).
    pub free_form: Vec<String>,
    /// Istio-style chart: `_internal_defaults_do_not_set` holds the defaults.
    pub istio_style: bool,
    /// Paths Helm itself reads: the dependencies' `condition`s (`nfd.enabled`).
    pub conditions: Vec<String>,
}

/// Charts the reference data stores under another folder name than the chart's own: Istio's
/// repository calls its charts `base` and `gateway`, stored as `istio-base` and `istio-gateway`
/// (data/reference/helm/index.json records the upstream path of each).
const STORED_AS: &[(&str, &str)] = &[("base", "istio-base"), ("gateway", "istio-gateway")];

/// Istio's top-level selectors of `files/profile-*.yaml` (not part of values.yaml).
const ISTIO_TOP_LEVEL: &[&str] = &["profile", "compatibilityVersion", "platform"];

/// Pass-through maps the reference README's per-chart notes name: their keys are the consuming
/// program's (INI sections, ConfigMap entries, controller flags), not the chart's, although
/// values.yaml gives some defaults.
const PASS_THROUGH: &[(&str, &[&str])] = &[
    ("grafana", &["grafana.ini", "env", "envFromSecrets", "datasources", "dashboards", "dashboardProviders"]),
    ("ingress-nginx", &["controller.config", "controller.extraArgs"]),
    ("nvidia-device-plugin", &["config.map"]),
    ("cluster-autoscaler", &["extraArgs"]),
    ("keda", &["extraArgs.keda", "extraArgs.metricsAdapter"]),
    ("vpa", &["recommender.extraArgs", "updater.extraArgs", "admissionController.extraArgs"]),
    ("external-secrets", &["extraArgs"]),
    ("kube-prometheus-stack", &["defaultRules.rules", "defaultRules.disabled"]),
    ("istiod", &["meshConfig", "env"]),
    ("argo-cd", &["configs.cm", "configs.params", "configs.rbac", "configs.cmp.plugins"]),
    ("cert-manager", &["config"]),
    ("falco", &["falco"]),
    ("opentelemetry-collector", &["config"]),
    ("opentelemetry-operator", &["manager.featureGatesMap"]),
    ("kiali-server", &["external_services", "server", "auth"]),
    ("fluent-bit", &["config.extraFiles", "config.upstream"]),
    ("opensearch", &["config"]),
];

/// Kubernetes API types charts pass through whole (`toYaml .Values.securityContext.operator`):
/// the field names of SecurityContext ∪ PodSecurityContext, ResourceRequirements and Probe
/// (Kubernetes 1.35), each with the least number of default keys that identifies one.
const K8S_TYPES: &[(usize, &[&str])] = &[
    (
        2,
        &[
            "allowPrivilegeEscalation",
            "appArmorProfile",
            "capabilities",
            "privileged",
            "procMount",
            "readOnlyRootFilesystem",
            "runAsGroup",
            "runAsNonRoot",
            "runAsUser",
            "seLinuxOptions",
            "seccompProfile",
            "windowsOptions",
            "fsGroup",
            "fsGroupChangePolicy",
            "seLinuxChangePolicy",
            "supplementalGroups",
            "supplementalGroupsPolicy",
            "sysctls",
        ],
    ),
    (1, &["claims", "limits", "requests"]),
    (
        2,
        &[
            "exec",
            "failureThreshold",
            "grpc",
            "httpGet",
            "initialDelaySeconds",
            "periodSeconds",
            "successThreshold",
            "tcpSocket",
            "terminationGracePeriodSeconds",
            "timeoutSeconds",
        ],
    ),
];

/// The fields of the Kubernetes type a default map is an instance of: every default key is a
/// field of one type (and there are enough of them to tell).
fn k8s_fields(m: &Map<String, Value>) -> Option<&'static [&'static str]> {
    K8S_TYPES
        .iter()
        .find(|(least, fields)| m.len() >= *least && m.keys().all(|k| fields.contains(&k.as_str())))
        .map(|(_, fields)| *fields)
}

fn joined(path: &[String]) -> String {
    path.join(".")
}

impl ChartRef {
    fn parse(
        chart: &str,
        version: &str,
        files: &BTreeMap<String, String>,
        refs: Option<&str>,
    ) -> Result<ChartRef, String> {
        let where_ = |f: &str| format!("reference data {chart}/{version}/{f}");
        let values_text = files.get("values.yaml").ok_or_else(|| format!("{} is missing", where_("values.yaml")))?;
        // Whole-line comments go first: upstream values.yaml files document keys in long comment
        // blocks, more than the YAML parser buffers while looking ahead. Removing them changes at
        // most the text of a block scalar, never a key.
        let uncommented: String =
            values_text.lines().filter(|l| !l.trim_start().starts_with('#')).map(|l| format!("{l}\n")).collect();
        let raw_defaults: Value = match serde_saphyr::from_str::<Value>(&uncommented) {
            Ok(Value::Null) => Value::Object(Map::new()),
            Ok(v) => v,
            Err(e) => return Err(format!("{} does not parse: {e}", where_("values.yaml"))),
        };
        let istio_style = raw_defaults.get("_internal_defaults_do_not_set").is_some();
        let defaults = if istio_style {
            let mut m = raw_defaults.as_object().cloned().unwrap_or_default();
            let internal = m.remove("_internal_defaults_do_not_set");
            if let Some(Value::Object(inner)) = internal {
                for (k, v) in inner {
                    m.entry(k).or_insert(v);
                }
            }
            Value::Object(m)
        } else {
            raw_defaults.clone()
        };
        let schema = match files.get("values.schema.json") {
            Some(t) => Some(
                serde_json::from_str::<Value>(t)
                    .map_err(|e| format!("{} does not parse: {e}", where_("values.schema.json")))?,
            ),
            None => None,
        };
        let chart_yaml: Value = match files.get("Chart.yaml") {
            Some(t) => {
                serde_saphyr::from_str(t).map_err(|e| format!("{} does not parse: {e}", where_("Chart.yaml")))?
            }
            None => Value::Null,
        };
        let dependencies = chart_yaml["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let name = d["name"].as_str()?;
                Some(Dependency {
                    key: d["alias"].as_str().unwrap_or(name).to_string(),
                    chart: name.to_string(),
                    version: d["version"].as_str().unwrap_or("").to_string(),
                })
            })
            .collect();
        let conditions = chart_yaml["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["condition"].as_str())
            .flat_map(|c| c.split(',').map(|p| p.trim().to_string()))
            .filter(|p| !p.is_empty())
            .collect();
        let (mut template_only, mut free_form) = (Vec::new(), Vec::new());
        if let Some(text) = refs {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| format!("reference data helm-template-refs/{chart}-{version}.json does not parse: {e}"))?;
            template_only = v["template_only_paths_absent_from_values_yaml"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect();
            // Entries read "podAnnotations (3 default keys)".
            free_form = v["non_empty_maps_that_look_free_form"]["paths"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(|s| s.split(" (").next().unwrap_or(s).trim().to_string()))
                .collect();
        }
        free_form.extend(
            PASS_THROUGH.iter().filter(|(c, _)| *c == chart).flat_map(|(_, paths)| paths.iter().map(|p| p.to_string())),
        );
        Ok(ChartRef {
            chart: chart.to_string(),
            version: version.to_string(),
            defaults,
            raw_defaults,
            schema,
            dependencies,
            template_only,
            free_form,
            istio_style,
            conditions,
        })
    }

    /// Whether the schema rejects unknown top-level keys (then `helm install` itself fails on one).
    pub fn closed_schema(&self) -> bool {
        self.schema.as_ref().is_some_and(|s| s["additionalProperties"] == Value::Bool(false))
    }

    /// Does `path` exist in this chart version?
    pub fn lookup(&self, path: &[String]) -> Lookup {
        if self.istio_style && path.len() == 1 && ISTIO_TOP_LEVEL.contains(&path[0].as_str()) {
            return Lookup::Open;
        }
        match self.in_values(path) {
            Lookup::Unknown => {}
            found => return found,
        }
        match self.in_schema(path) {
            Lookup::Unknown => {}
            found => return found,
        }
        let p = joined(path);
        if self.conditions.contains(&p) {
            return Lookup::Open;
        }
        if self.template_only.iter().any(|t| p == *t || p.starts_with(&format!("{t}."))) {
            return Lookup::Open;
        }
        // A parent of a template-only path (`serviceAccount` of `serviceAccount.create`).
        if self.template_only.iter().any(|t| t.starts_with(&format!("{p}."))) {
            return Lookup::Map;
        }
        Lookup::Unknown
    }

    fn in_values(&self, path: &[String]) -> Lookup {
        let mut node = &self.defaults;
        for (i, seg) in path.iter().enumerate() {
            if i > 0 && self.free_form.contains(&joined(&path[..i])) {
                return Lookup::Open;
            }
            match node {
                Value::Object(m) if m.is_empty() => return Lookup::Open,
                // A map that is an instance of a Kubernetes type takes every field of that type,
                // and the chart renders what is below a field as given.
                Value::Object(m) if k8s_fields(m).is_some() => {
                    return if m.contains_key(seg) || k8s_fields(m).is_some_and(|f| f.contains(&seg.as_str())) {
                        Lookup::Open
                    } else {
                        Lookup::Unknown
                    };
                }
                Value::Object(m) => match m.get(seg) {
                    Some(n) => node = n,
                    None => return Lookup::Unknown,
                },
                // Lists are user-defined items; `null` and scalars often take a map (README §5:
                // the default's type is only a hint).
                _ => return Lookup::Open,
            }
        }
        match node {
            Value::Object(m) if !m.is_empty() && !self.free_form.contains(&joined(path)) => Lookup::Map,
            _ => Lookup::Open,
        }
    }

    fn resolve<'a>(&'a self, node: &'a Value) -> &'a Value {
        let mut n = node;
        for _ in 0..16 {
            let Some(r) = n["$ref"].as_str().and_then(|r| r.strip_prefix('#')) else { break };
            match self.schema.as_ref().and_then(|s| s.pointer(r)) {
                Some(target) => n = target,
                None => break,
            }
        }
        n
    }

    /// The schema's property `seg` of `node`, looking through `allOf`/`anyOf`/`oneOf`.
    fn property<'a>(&'a self, node: &'a Value, seg: &str) -> Option<&'a Value> {
        let node = self.resolve(node);
        if let Some(p) = node["properties"].get(seg) {
            return Some(p);
        }
        ["allOf", "anyOf", "oneOf"]
            .iter()
            .flat_map(|k| node[*k].as_array().into_iter().flatten())
            .find_map(|sub| self.property(sub, seg))
    }

    /// Whether a schema object takes keys it does not list.
    fn open_object(&self, node: &Value) -> bool {
        let node = self.resolve(node);
        // Schemas generated from values.yaml write `properties: {}` for an empty map.
        let declares = node["properties"].as_object().is_some_and(|m| !m.is_empty())
            || ["allOf", "anyOf", "oneOf"].iter().any(|k| node[*k].is_array());
        !declares
            || node["additionalProperties"].is_object()
            || node["additionalProperties"] == Value::Bool(true)
            || node["patternProperties"].is_object()
    }

    fn in_schema(&self, path: &[String]) -> Lookup {
        let Some(mut node) = self.schema.as_ref() else { return Lookup::Unknown };
        for seg in path {
            match self.property(node, seg) {
                Some(n) => node = n,
                None if self.open_object(node) => return Lookup::Open,
                None => return Lookup::Unknown,
            }
        }
        if self.open_object(node) { Lookup::Open } else { Lookup::Map }
    }
}

/// A chart version's parsed data, or why it could not be parsed.
type Parsed = Result<Arc<ChartRef>, String>;

/// A set of chart versions' reference data.
pub struct HelmReference {
    /// (chart, version) → file name → text.
    sources: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// `<chart>-<version>` → template scan JSON.
    refs: BTreeMap<String, String>,
    parsed: Mutex<BTreeMap<(String, String), Parsed>>,
}

impl HelmReference {
    fn new(sources: BTreeMap<(String, String), BTreeMap<String, String>>, refs: BTreeMap<String, String>) -> Self {
        HelmReference { sources, refs, parsed: Mutex::new(BTreeMap::new()) }
    }

    /// The data embedded at build time.
    pub fn embedded() -> &'static HelmReference {
        static EMBEDDED: OnceLock<HelmReference> = OnceLock::new();
        EMBEDDED.get_or_init(|| {
            let mut sources: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
            for (chart, version, file, text) in data::CHART_FILES {
                sources
                    .entry((chart.to_string(), version.to_string()))
                    .or_default()
                    .insert(file.to_string(), text.to_string());
            }
            let refs = data::TEMPLATE_REFS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            HelmReference::new(sources, refs)
        })
    }

    /// Load `<dir>/<chart>/<version>/{Chart.yaml,values.yaml,values.schema.json}` and
    /// `<dir>/derived/helm-template-refs/<chart>-<version>.json`.
    pub fn from_dir(dir: &Path) -> Result<HelmReference, String> {
        let read_dir = |p: &Path| std::fs::read_dir(p).map_err(|e| format!("cannot list `{}`: {e}", p.display()));
        let mut sources: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
        for chart in read_dir(dir)?.flatten().filter(|e| e.path().is_dir()) {
            for version in read_dir(&chart.path())?.flatten().filter(|e| e.path().is_dir()) {
                for file in ["Chart.yaml", "values.yaml", "values.schema.json"] {
                    let p = version.path().join(file);
                    if p.is_file() {
                        let text =
                            std::fs::read_to_string(&p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?;
                        sources
                            .entry((
                                chart.file_name().to_string_lossy().into_owned(),
                                version.file_name().to_string_lossy().into_owned(),
                            ))
                            .or_default()
                            .insert(file.to_string(), text);
                    }
                }
            }
        }
        let mut refs = BTreeMap::new();
        let refs_dir = dir.join("derived/helm-template-refs");
        if refs_dir.is_dir() {
            for f in read_dir(&refs_dir)?.flatten() {
                let p = f.path();
                if let (Some(stem), Some("json")) =
                    (p.file_stem().map(|s| s.to_string_lossy().into_owned()), p.extension().and_then(|e| e.to_str()))
                {
                    let text =
                        std::fs::read_to_string(&p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?;
                    refs.insert(stem, text);
                }
            }
        }
        Ok(HelmReference::new(sources, refs))
    }

    /// Stored versions of a chart.
    pub fn versions(&self, chart: &str) -> Vec<String> {
        self.sources.keys().filter(|(c, _)| c == chart).map(|(_, v)| v.clone()).collect()
    }

    /// Every (chart, version) stored.
    pub fn charts(&self) -> Vec<(String, String)> {
        self.sources.keys().cloned().collect()
    }

    /// A chart version's data: `None` when not stored, `Err` when stored but unreadable.
    pub fn get(&self, chart: &str, version: &str) -> Option<Parsed> {
        let chart = match STORED_AS.iter().find(|(c, _)| *c == chart) {
            Some((_, folder)) if !self.sources.contains_key(&(chart.to_string(), version.to_string())) => *folder,
            _ => chart,
        };
        let key = (chart.to_string(), version.to_string());
        let files = self.sources.get(&key)?;
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        let entry = parsed.entry(key).or_insert_with(|| {
            ChartRef::parse(chart, version, files, self.refs.get(&format!("{chart}-{version}")).map(String::as_str))
                .map(Arc::new)
        });
        Some(entry.clone())
    }

    /// The stored version a dependency range selects: the exact version, else the highest stored
    /// version matching a `x.y.*` / `x.*` / `~x.y` / `^x` range.
    pub fn resolve_dependency(&self, chart: &str, range: &str) -> Option<String> {
        let versions = self.versions(chart);
        if versions.iter().any(|v| v == range) {
            return Some(range.to_string());
        }
        let prefix = if let Some(p) = range.strip_suffix(".*").or_else(|| range.strip_suffix(".x")) {
            format!("{p}.")
        } else if let Some(p) = range.strip_prefix('~') {
            let parts: Vec<&str> = p.trim().split('.').collect();
            format!("{}.", parts[..parts.len().min(2)].join("."))
        } else if let Some(p) = range.strip_prefix('^') {
            format!("{}.", p.trim().split('.').next().unwrap_or(""))
        } else {
            return None;
        };
        let key = |v: &str| v.split('.').map(|n| n.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
        versions.into_iter().filter(|v| v.starts_with(&prefix)).max_by_key(|v| key(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_chart_parses_and_has_its_template_scan() {
        let r = HelmReference::embedded();
        assert!(!r.charts().is_empty(), "no reference data embedded");
        for (chart, version) in r.charts() {
            let c = r.get(&chart, &version).expect("listed").unwrap_or_else(|e| panic!("{e}"));
            assert!(c.defaults.is_object(), "{chart}/{version}");
            assert!(
                !c.template_only.is_empty() || r.refs.contains_key(&format!("{chart}-{version}")),
                "{chart}/{version} has no template scan"
            );
        }
    }

    /// The template scans are the reference's files, byte for byte (compared when `../shared`
    /// is beside the repository, as on the machines that built the copies).
    #[test]
    fn template_scans_match_the_shared_reference_when_present() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let shared = root.join("../shared/reference/derived/helm-template-refs");
        if !shared.is_dir() {
            return;
        }
        for (stem, text) in data::TEMPLATE_REFS {
            let upstream = std::fs::read_to_string(shared.join(format!("{stem}.json")))
                .unwrap_or_else(|e| panic!("{stem}.json is not in the shared reference: {e}"));
            assert!(upstream == *text, "{stem}.json differs from the shared reference");
        }
    }

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn lookups_follow_the_reference_rules() {
        let r = HelmReference::embedded();
        let keda = r.get("keda", "2.17.2").expect("keda stored").expect("parses");
        assert_eq!(keda.lookup(&p("resources")), Lookup::Map);
        assert_eq!(keda.lookup(&p("resources.operator.limits.cpu")), Lookup::Open);
        assert_eq!(keda.lookup(&p("podAnnotations.keda.anything")), Lookup::Open);
        // Template-only (commented out in values.yaml, read by templates).
        assert_eq!(keda.lookup(&p("serviceAccount.annotations.x")), Lookup::Open);
        assert_eq!(keda.lookup(&p("resourcez")), Lookup::Unknown);
        // A container SecurityContext passed through whole: any of its fields, not only the defaults.
        assert_eq!(keda.lookup(&p("securityContext.operator")), Lookup::Map);
        assert_eq!(keda.lookup(&p("securityContext.operator.runAsNonRoot")), Lookup::Open);
        assert_eq!(keda.lookup(&p("securityContext.operator.runAsNonRot")), Lookup::Unknown);
        let nth = r.get("aws-node-termination-handler", "0.21.0").expect("stored").expect("parses");
        assert_eq!(nth.lookup(&p("deleteSqsMsgIfNodeNotFound")), Lookup::Unknown, "not in the released 0.21.0");
        assert_eq!(nth.lookup(&p("enableSqsTerminationDraining")), Lookup::Open);
    }
}
