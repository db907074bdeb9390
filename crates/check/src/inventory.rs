//! Loading files into an inventory: Kubernetes objects, Terraform blocks, Dockerfile
//! instructions and GitHub workflows, each with where it came from. A file that cannot be read,
//! decoded (see `decode`) or parsed becomes a parse-error finding, never a silent skip and never
//! the end of the run; a YAML/JSON file with nothing any rule judges is listed in `skipped`.

use std::fs;
use std::path::{Path, PathBuf};

use cerverus_spec::{SourceMap, SpecPath};
use serde_json::Value;

use crate::finding::{Finding, Severity};
use crate::rules::PARSE_ERROR;

/// A Kubernetes object and where its fields are.
#[derive(Debug, Clone)]
pub struct K8sObject {
    pub file: String,
    /// Line where the object's document starts.
    pub line: usize,
    pub value: Value,
    map: SourceMap,
    /// Lines before the document in its file (document line 1 = file line `offset + 1`).
    offset: usize,
}

impl K8sObject {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }

    pub fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"].as_str()
    }

    /// `Kind/namespace/name` or `Kind/name`.
    pub fn id(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{}/{ns}/{}", self.kind(), self.name()),
            None => format!("{}/{}", self.kind(), self.name()),
        }
    }

    /// File line of the value at `path` (or its nearest ancestor).
    pub fn line_of(&self, path: &[&str]) -> usize {
        let mut p = SpecPath::root();
        for seg in path {
            p = match seg.parse::<usize>() {
                Ok(i) => p.at(i),
                Err(_) => p.at(*seg),
            };
        }
        self.map.value(&p).map_or(self.line, |l| l.line + self.offset)
    }

    /// The cluster this object belongs to when a tree holds several (see [`scope`]).
    pub fn scope(&self) -> String {
        scope(&self.file)
    }

    /// An annotation value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.value["metadata"]["annotations"][key].as_str()
    }
}

/// A top-level Terraform block (`resource`, `data`, `module`, `provider`, …).
#[derive(Debug, Clone)]
pub struct TfBlock {
    pub file: String,
    pub line: usize,
    pub kind: String,
    pub labels: Vec<String>,
    pub body: hcl::Body,
    /// Comment lines inside and directly above the block (for waivers).
    pub comments: Vec<String>,
}

impl TfBlock {
    pub fn id(&self) -> String {
        match self.kind.as_str() {
            "resource" => self.labels.join("."),
            _ => format!("{}.{}", self.kind, self.labels.join(".")),
        }
    }

    pub fn ty(&self) -> &str {
        self.labels.first().map_or("", String::as_str)
    }
}

/// One Dockerfile instruction.
#[derive(Debug, Clone)]
pub struct DockerInstruction {
    pub line: usize,
    pub keyword: String,
    pub args: String,
}

#[derive(Debug, Clone)]
pub struct Dockerfile {
    pub file: String,
    pub instructions: Vec<DockerInstruction>,
    pub comments: Vec<(usize, String)>,
}

/// A `.tfvars` file: values of a root module's variables, as plain data.
#[derive(Debug, Clone)]
pub struct TfVars {
    pub file: String,
    pub value: Value,
}

/// A Terraform body as plain data (literal values as JSON, expressions as their `${…}` text),
/// or its canonical text when it cannot be represented.
pub fn body_value(body: &hcl::Body) -> Value {
    hcl::from_body::<Value>(body.clone())
        .unwrap_or_else(|_| Value::String(hcl::format::to_string(body).unwrap_or_default()))
}

#[derive(Debug, Clone)]
pub struct Workflow {
    pub file: String,
    pub value: Value,
    pub text: String,
}

/// Everything loaded.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub k8s: Vec<K8sObject>,
    pub terraform: Vec<TfBlock>,
    pub dockerfiles: Vec<Dockerfile>,
    pub workflows: Vec<Workflow>,
    pub tfvars: Vec<TfVars>,
    /// Helm chart pins and values files (see `helm_inventory`).
    pub helm: crate::helm_inventory::HelmFiles,
    /// Text of each Terraform file, (file, text): where an expression sits inside a block.
    pub tf_text: Vec<(String, String)>,
    pub files: usize,
    /// Parse failures, already as findings.
    pub errors: Vec<Finding>,
    /// Files read but holding nothing any rule judges (a JSON data file, a `tsconfig.json`, a
    /// compose file, an empty file): counted and listed in the report, never failed.
    pub skipped: Vec<String>,
}

/// Why loading could not even start (a path that does not exist, an unreadable directory).
#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Load every supported file under `paths` (files or directories, recursively, sorted).
pub fn load(paths: &[PathBuf]) -> Result<Inventory, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    files.sort();
    files.dedup();
    // Parse in parallel, one contiguous chunk of the sorted list per thread, and merge the chunks
    // in order: the inventory is the same whatever the thread count.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(64);
    let parts: Vec<Result<Inventory, LoadError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut inv = Inventory::default();
                    for f in part {
                        load_file(&mut inv, f);
                    }
                    Ok(inv)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(LoadError("a loader thread failed".into()))))
            .collect()
    });
    let mut inv = Inventory::default();
    for part in parts {
        let p = part?;
        inv.k8s.extend(p.k8s);
        inv.terraform.extend(p.terraform);
        inv.dockerfiles.extend(p.dockerfiles);
        inv.workflows.extend(p.workflows);
        inv.tfvars.extend(p.tfvars);
        inv.helm.extend(p.helm);
        inv.tf_text.extend(p.tf_text);
        inv.errors.extend(p.errors);
        inv.skipped.extend(p.skipped);
        inv.files += p.files;
    }
    Ok(inv)
}

/// The environment a file belongs to when one tree holds several clusters' files: the segment
/// after `envs/` or `kubernetes/` in its path (this project's bundle layout), or "" otherwise.
/// Cross-resource rules only relate objects of the same scope.
pub fn scope(file: &str) -> String {
    let parts: Vec<&str> = file.split('/').collect();
    parts.windows(2).find(|w| w[0] == "envs" || w[0] == "kubernetes").map_or(String::new(), |w| w[1].to_string())
}

/// What a file is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Yaml,
    Json,
    Terraform,
    TfVars,
    Dockerfile,
    Workflow,
}

pub fn classify(path: &str) -> Option<FileKind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    // `.github/workflows/` in a repository; `github/workflows/` in this project's bundle (the
    // service repositories' reusable workflows before they are copied to `.github/`).
    let in_workflows = path.contains(".github/workflows/")
        || path.starts_with("github/workflows/")
        || path.contains("/github/workflows/");
    if in_workflows && (name.ends_with(".yml") || name.ends_with(".yaml")) {
        return Some(FileKind::Workflow);
    }
    // `Dockerfile.dockerignore` is the ignore file BuildKit reads next to its Dockerfile.
    if name.ends_with(".dockerignore") {
        return None;
    }
    if name == "Dockerfile"
        || name.starts_with("Dockerfile.")
        || name.ends_with(".Dockerfile")
        || name.ends_with(".dockerfile")
    {
        return Some(FileKind::Dockerfile);
    }
    if name.ends_with(".tf") {
        return Some(FileKind::Terraform);
    }
    if name.ends_with(".tfvars") {
        return Some(FileKind::TfVars);
    }
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return Some(FileKind::Yaml);
    }
    if name.ends_with(".json") {
        return Some(FileKind::Json);
    }
    None
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let meta = fs::metadata(p).map_err(|e| LoadError(format!("cannot read `{}`: {e}", p.display())))?;
    if meta.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let entries = fs::read_dir(p).map_err(|e| LoadError(format!("cannot list `{}`: {e}", p.display())))?;
    for e in entries {
        let e = e.map_err(|e| LoadError(format!("cannot list `{}`: {e}", p.display())))?;
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name != ".github" {
            continue;
        }
        if path.is_dir() {
            // A Helm chart's templates are Go template text, not YAML: what they render is
            // judged where it is rendered (this project holds its chart's output equal to
            // `kubernetes/<env>/`), never the template source.
            if name == "templates" && p.join("Chart.yaml").is_file() {
                continue;
            }
            collect(&path, out)?;
        } else if classify(&path.display().to_string()).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

/// Read and decode one file. A file that cannot be read or decoded is a finding with its reason,
/// so one bad file never hides the others.
fn load_file(inv: &mut Inventory, path: &Path) {
    let file = path.display().to_string();
    let text = fs::read(path)
        .map_err(|e| format!("cannot read the file: {e}"))
        .and_then(|bytes| crate::decode::decode(&bytes).map_err(|e| format!("cannot decode the file: {e}")));
    match text {
        Ok(text) => load_text(inv, &file, &text),
        Err(reason) => {
            inv.files += 1;
            inv.errors.push(parse_error(&file, 1, reason));
        }
    }
}

fn parse_error(file: &str, line: usize, message: String) -> Finding {
    Finding {
        rule: PARSE_ERROR.to_string(),
        severity: Severity::Critical,
        file: file.to_string(),
        line,
        object: String::new(),
        message,
        waived: None,
    }
}

/// Load one file's text (also what `-` on stdin goes through).
pub fn load_text(inv: &mut Inventory, file: &str, text: &str) {
    let Some(kind) = classify(file).or(Some(FileKind::Yaml)) else { return };
    // Text from stdin (or a caller) may still carry a UTF-8 byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    inv.files += 1;
    let before = (inv.k8s.len(), inv.errors.len(), inv.helm.chart_lists.len(), inv.helm.values.len());
    match kind {
        FileKind::Yaml => {
            crate::helm_inventory::capture(inv, file, text);
            load_yaml(inv, file, text);
        }
        FileKind::Json => load_json(inv, file, text),
        FileKind::Terraform => load_terraform(inv, file, text),
        FileKind::TfVars => match hcl::from_str::<Value>(text) {
            Ok(value) => inv.tfvars.push(TfVars { file: file.to_string(), value }),
            Err(e) => inv.errors.push(parse_error(file, 1, format!("not valid HCL: {e}"))),
        },
        FileKind::Dockerfile => inv.dockerfiles.push(parse_dockerfile(file, text)),
        FileKind::Workflow => {
            if let Some(value) = parse_yaml(inv, file, 0, text) {
                inv.workflows.push(Workflow { file: file.to_string(), value, text: text.to_string() });
            }
        }
    }
    // A YAML or JSON file that yielded no object, no Helm input and no error holds nothing any
    // rule judges (Helm values outside a chart list, compose files, data, empty files).
    let after = (inv.k8s.len(), inv.errors.len(), inv.helm.chart_lists.len(), inv.helm.values.len());
    if matches!(kind, FileKind::Yaml | FileKind::Json) && before == after {
        inv.skipped.push(file.to_string());
    }
}

/// A JSON file is infrastructure when it holds Kubernetes objects. One that does not parse is
/// judged broken only when it names `apiVersion` and `kind`; otherwise it is someone's data or a
/// JSON-with-comments config (`tsconfig.json`), which is skipped, not failed.
fn load_json(inv: &mut Inventory, file: &str, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let before = inv.k8s.len();
            push_k8s(inv, file, 1, 0, v, SourceMap::default());
            // serde_json keeps the later of two equal keys without a word (as the API server
            // does); JSON is YAML, and the YAML reader names the duplicate. Only manifests pay
            // for the second read.
            if inv.k8s.len() > before
                && let Err(e) = serde_saphyr::from_str::<Value>(text)
                && let Some(key) = duplicate_key(&e)
            {
                let line = e.location().map_or(1, |l| l.line() as usize);
                inv.errors.push(duplicate_finding(file, line, &key));
            }
        }
        Err(e) if text.contains("\"apiVersion\"") && text.contains("\"kind\"") => {
            inv.errors.push(parse_error(file, e.line(), format!("not valid JSON: {e}")))
        }
        Err(_) => {}
    }
}

/// The rule a duplicate mapping key reports.
pub const DUPLICATE_KEY: &str = "CV-META-002";

/// Parse one YAML document. A duplicate mapping key is a finding of its own and the document is
/// still read, the later value winning — what the API server keeps when field validation does not
/// reject the object (`fieldValidation=Warn`/`Ignore`). Other errors are parse-error findings.
/// `offset`: lines before the document in its file.
fn parse_yaml(inv: &mut Inventory, file: &str, offset: usize, doc: &str) -> Option<Value> {
    let line_of = |e: &serde_saphyr::Error| offset + e.location().map_or(1, |l| l.line() as usize);
    match serde_saphyr::from_str::<Value>(doc) {
        Ok(v) => Some(v),
        Err(e) => {
            let Some(key) = duplicate_key(&e) else {
                inv.errors.push(parse_error(file, line_of(&e), format!("not valid YAML: {}", e.without_snippet())));
                return None;
            };
            let mut options = serde_saphyr::Options::default();
            options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
            match serde_saphyr::from_str_with_options::<Value>(doc, options) {
                Ok(v) => {
                    inv.errors.push(duplicate_finding(file, line_of(&e), &key));
                    Some(v)
                }
                Err(e) => {
                    inv.errors.push(parse_error(file, line_of(&e), format!("not valid YAML: {}", e.without_snippet())));
                    None
                }
            }
        }
    }
}

fn duplicate_finding(file: &str, line: usize, key: &str) -> Finding {
    Finding {
        rule: DUPLICATE_KEY.to_string(),
        severity: Severity::Medium,
        file: file.to_string(),
        line,
        object: String::new(),
        message: format!(
            "{key} appears twice in one mapping; the later value is used, as the API server does when it does not reject the object"
        ),
        waived: None,
    }
}

/// The key of a duplicate-key error (quoted, or "a key" when it is not a plain scalar).
fn duplicate_key(e: &serde_saphyr::Error) -> Option<String> {
    // The parser wraps its errors with the source snippet around them.
    match e.without_snippet() {
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => {
            Some(key.as_ref().map_or_else(|| "a key".to_string(), |k| format!("key `{k}`")))
        }
        _ => None,
    }
}

/// Split a multi-document YAML text at `---` lines; each piece with the number of lines before it.
pub(crate) fn documents(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut cur = String::new();
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            out.push((start, std::mem::take(&mut cur)));
            start = i + 1;
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    out.push((start, cur));
    out
}

fn load_yaml(inv: &mut Inventory, file: &str, text: &str) {
    for (offset, doc) in documents(text) {
        if doc.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            continue;
        }
        if let Some(v) = parse_yaml(inv, file, offset, &doc) {
            let map = SourceMap::build(file, &doc);
            push_k8s(inv, file, offset + first_content_line(&doc), offset, v, map);
        }
    }
}

fn first_content_line(doc: &str) -> usize {
    doc.lines().position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).map_or(1, |i| i + 1)
}

fn push_k8s(inv: &mut Inventory, file: &str, line: usize, offset: usize, v: Value, map: SourceMap) {
    // A `List` carries its objects in `items`.
    if v["kind"].as_str().is_some_and(|k| k == "List" || k.ends_with("List")) {
        for item in v["items"].as_array().into_iter().flatten() {
            push_k8s(inv, file, line, offset, item.clone(), SourceMap::default());
        }
        return;
    }
    // Documents without apiVersion and kind (Helm values, compose files, …) are not Kubernetes.
    if v["apiVersion"].is_string() && v["kind"].is_string() {
        inv.k8s.push(K8sObject { file: file.to_string(), line, value: v, map, offset });
    }
}

fn load_terraform(inv: &mut Inventory, file: &str, text: &str) {
    let body = match hcl::parse(text) {
        Ok(b) => b,
        Err(e) => {
            let line = match &e {
                hcl::Error::Parse(pe) => pe.location().line(),
                _ => 1,
            };
            inv.errors.push(parse_error(file, line, format!("not valid HCL: {e}")));
            return;
        }
    };
    inv.tf_text.push((file.to_string(), text.to_string()));
    // Block start lines, in order: the first line of each top-level block header.
    let lines: Vec<&str> = text.lines().collect();
    let mut starts = Vec::new();
    let mut depth = 0i32;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        // A block header ends its line with `{`, or opens and closes on it (`data "x" "y" {}`).
        let header = t.split_once('{').map_or("", |(h, _)| h);
        if depth == 0
            && !t.is_empty()
            && !t.starts_with('#')
            && !t.starts_with("//")
            && (t.ends_with('{') || t.ends_with('}'))
            && t.contains('{')
            && !header.contains('=')
        {
            starts.push(i);
        }
        depth += brace_delta(l);
    }
    for (n, b) in body.blocks().enumerate() {
        let start = starts.get(n).copied().unwrap_or(0);
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        // Comments directly above (contiguous) and inside the block.
        let mut comments: Vec<String> = Vec::new();
        let mut k = start;
        while k > 0 && lines[k - 1].trim_start().starts_with('#') {
            k -= 1;
            comments.push(lines[k].trim().to_string());
        }
        comments.extend(lines[start..end].iter().map(|l| l.trim()).filter(|l| l.starts_with('#')).map(str::to_string));
        inv.terraform.push(TfBlock {
            file: file.to_string(),
            line: start + 1,
            kind: b.identifier().to_string(),
            labels: b.labels.iter().map(|l| l.as_str().to_string()).collect(),
            body: b.body.clone(),
            comments,
        });
    }
}

/// Net `{`/`}` of a line outside strings and comments.
fn brace_delta(line: &str) -> i32 {
    let mut d = 0;
    let mut in_str = false;
    let mut prev = ' ';
    for c in line.chars() {
        match c {
            '"' if prev != '\\' => in_str = !in_str,
            '#' if !in_str => break,
            '{' if !in_str => d += 1,
            '}' if !in_str => d -= 1,
            _ => {}
        }
        prev = c;
    }
    d
}

fn parse_dockerfile(file: &str, text: &str) -> Dockerfile {
    let mut instructions = Vec::new();
    let mut comments = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if pending.is_none() {
            if line.is_empty() {
                continue;
            }
            if line.starts_with('#') {
                comments.push((i + 1, line.to_string()));
                continue;
            }
            pending = Some((i + 1, String::new()));
        }
        if let Some((_, buf)) = pending.as_mut() {
            let part = line.strip_suffix('\\').unwrap_or(line);
            buf.push_str(part);
            buf.push(' ');
        }
        if !line.ends_with('\\')
            && let Some((start, buf)) = pending.take()
        {
            let buf = buf.trim().to_string();
            let (kw, args) = buf.split_once(char::is_whitespace).unwrap_or((&buf, ""));
            instructions.push(DockerInstruction {
                line: start,
                keyword: kw.to_ascii_uppercase(),
                args: args.trim().to_string(),
            });
        }
    }
    Dockerfile { file: file.to_string(), instructions, comments }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_ignore_files_and_bundle_workflows() {
        assert_eq!(classify("deploy/docker/cerverus/Dockerfile"), Some(FileKind::Dockerfile));
        assert_eq!(classify("deploy/docker/cerverus/Dockerfile.dockerignore"), None);
        assert_eq!(classify("deploy/docker/api/.dockerignore"), None);
        assert_eq!(classify("deploy/github/workflows/service-ci.yml"), Some(FileKind::Workflow));
        assert_eq!(classify("github/workflows/service-ci.yml"), Some(FileKind::Workflow));
        assert_eq!(classify(".github/workflows/ci.yml"), Some(FileKind::Workflow));
        assert_eq!(classify("kubernetes/dev/x/workflows.yaml"), Some(FileKind::Yaml));
    }

    #[test]
    fn skips_helm_chart_templates_but_not_other_templates_dirs() {
        let dir = std::env::temp_dir().join(format!("cerverus-inv-{}", std::process::id()));
        let chart = dir.join("chart");
        let other = dir.join("other/templates");
        fs::create_dir_all(chart.join("templates")).expect("mkdir");
        fs::create_dir_all(&other).expect("mkdir");
        fs::write(chart.join("Chart.yaml"), "apiVersion: v2\nname: c\nversion: 0.1.0\n").expect("write");
        fs::write(chart.join("templates/deploy.yaml"), "{{- if .Values.x }}\nkind: {{ .Values.kind }}\n{{- end }}\n")
            .expect("write");
        fs::write(other.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n").expect("write");
        let inv = load(std::slice::from_ref(&dir)).expect("loads");
        let _ = fs::remove_dir_all(&dir);
        assert!(inv.errors.is_empty(), "a chart template was parsed as YAML: {:?}", inv.errors);
        assert_eq!(inv.k8s.len(), 1, "the ConfigMap outside a chart is still judged");
    }

    #[test]
    fn splits_documents_and_keeps_lines() {
        let mut inv = Inventory::default();
        let text = "# header\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  namespace: x\n";
        load_text(&mut inv, "m.yaml", text);
        assert_eq!(inv.k8s.len(), 2);
        assert_eq!(inv.k8s[0].line, 3);
        assert_eq!(inv.k8s[1].id(), "Service/x/b");
        assert_eq!(inv.k8s[1].line_of(&["metadata", "namespace"]), 12);
    }

    #[test]
    fn lists_are_unpacked_and_non_kubernetes_yaml_is_ignored() {
        let mut inv = Inventory::default();
        load_text(
            &mut inv,
            "l.yaml",
            "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: p}\n",
        );
        load_text(&mut inv, "values.yaml", "replicaCount: 2\n");
        assert_eq!(inv.k8s.len(), 1);
        assert_eq!(inv.k8s[0].kind(), "Pod");
    }

    #[test]
    fn unparsable_files_are_findings() {
        let mut inv = Inventory::default();
        load_text(&mut inv, "bad.yaml", "a: [\n");
        load_text(&mut inv, "bad.tf", "resource \"x\" \"y\" {\n");
        assert_eq!(inv.errors.len(), 2);
        assert!(inv.errors.iter().all(|e| e.rule == PARSE_ERROR));
    }

    #[test]
    fn terraform_blocks_know_their_lines_and_comments() {
        let mut inv = Inventory::default();
        let text = "# cerverus:skip=CV-TF-001 reason here\nresource \"aws_s3_bucket\" \"a\" {\n  bucket = \"x\"\n  tags = {\n    A = \"b\"\n  }\n}\n\nresource \"aws_s3_bucket\" \"b\" {\n  #checkov:skip=CKV_AWS_18:because\n}\n";
        load_text(&mut inv, "m.tf", text);
        assert_eq!(inv.terraform.len(), 2);
        assert_eq!((inv.terraform[0].line, inv.terraform[1].line), (2, 9));
        assert_eq!(inv.terraform[0].comments, vec!["# cerverus:skip=CV-TF-001 reason here"]);
        assert_eq!(inv.terraform[1].comments, vec!["#checkov:skip=CKV_AWS_18:because"]);
    }

    #[test]
    fn one_line_blocks_count_as_block_starts() {
        let mut inv = Inventory::default();
        let text = "data \"aws_region\" \"current\" {}\n\nlocals { a = 1 }\n\nresource \"aws_kms_key\" \"k\" {\n  tags = var.tags\n}\n";
        load_text(&mut inv, "m.tf", text);
        let lines: Vec<usize> = inv.terraform.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![1, 3, 5]);
    }

    #[test]
    fn dockerfile_continuations_join() {
        let d = parse_dockerfile(
            "Dockerfile",
            "FROM python:3.12-slim AS build\nRUN apt-get update && \\\n    apt-get install -y gcc\nUSER 10001\n",
        );
        assert_eq!(d.instructions.len(), 3);
        assert_eq!(d.instructions[1].line, 2);
        assert!(d.instructions[1].args.contains("apt-get install"));
    }
}
