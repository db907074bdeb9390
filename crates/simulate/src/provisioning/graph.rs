//! The dependency graph Terraform builds to `apply` an environment's root module, with every
//! module call expanded into the objects of the called module.
//!
//! Nodes are configuration objects (`module.eks.aws_eks_node_group.this`), each with its
//! instances (one per `count` index or `for_each` key, times the instances of the module call
//! it sits in). Edges are Terraform's: every reference in every expression and `depends_on`.
//! Variables, locals and outputs are nodes of their own, as in Terraform, so a resource that
//! reads one module output waits only for what that output references — not for the whole
//! module. Module input variables depend on what the caller's expression for them references;
//! everything inside a module also waits for its call's `for_each` / `count` / `depends_on`.
//! Like Terraform, an edge joins configuration objects, not instances: `aws_x.y["a"]` waits
//! for every instance of what it references.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use cerverus_check::inventory::TfBlock;
use hcl::Value;
use hcl::expr::{Expression, ObjectKey, TraversalOperator};

use super::eval::{self, Scope, UNKNOWN};
use super::refs::{self, Ref};
use super::weights::{Chosen, Weights};

/// What a node is in Terraform's graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Resource,
    Data,
    Variable,
    Local,
    Output,
    Provider,
    /// A module call referenced as a whole (`values(module.m)`): waits for all its outputs.
    Module,
}

/// One instance Terraform creates or reads, and how long it takes.
#[derive(Debug, Clone)]
pub struct Instance {
    pub address: String,
    pub time: Chosen,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// Configuration address (`module.eks.aws_eks_cluster.this`, `module.eks.var.name`).
    pub id: String,
    pub kind: Kind,
    /// Resource or data source type; empty for other kinds.
    pub ty: String,
    pub instances: Vec<Instance>,
}

impl Node {
    /// Time of the node when its instances run side by side: the longest one.
    pub fn minutes(&self) -> f64 {
        self.instances.iter().map(|i| i.time.minutes).fold(0.0, f64::max)
    }
}

/// The graph: nodes and, for each, the nodes it waits for.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub preds: Vec<Vec<usize>>,
    /// Where the model had to assume something (an instance count not known before apply, a
    /// module whose source is not in the bundle).
    pub assumptions: Vec<String>,
}

/// Module calls nested deeper than this are not followed (a module calling itself).
const MAX_DEPTH: usize = 16;

/// One instance of a module (the root has one): its address prefix and the variables it is given.
struct ModInstance {
    addr: String,
    vars: hcl::Map<String, Value>,
}

struct Builder<'a> {
    weights: &'a Weights,
    modules: &'a BTreeMap<String, Vec<TfBlock>>,
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    /// (dependency, dependant) by id, resolved once every node exists.
    edges: Vec<(String, String)>,
    assumptions: Vec<String>,
}

/// Build the graph of `root` (the environment's blocks) with `tfvars` (an object, or null).
pub fn build(
    root: &[TfBlock],
    modules: &BTreeMap<String, Vec<TfBlock>>,
    tfvars: &serde_json::Value,
    weights: &Weights,
) -> Graph {
    let mut b = Builder {
        weights,
        modules,
        nodes: Vec::new(),
        index: HashMap::new(),
        edges: Vec::new(),
        assumptions: Vec::new(),
    };
    let vars = match eval::from_json(tfvars) {
        Value::Object(m) => m,
        _ => hcl::Map::new(),
    };
    let call = Call { input_deps: BTreeMap::new(), call_deps: BTreeSet::new(), providers: BTreeMap::new() };
    b.expand("", root, vec![ModInstance { addr: String::new(), vars }], &call, 0);
    let mut preds = vec![BTreeSet::new(); b.nodes.len()];
    let mut unresolved = BTreeSet::new();
    for (dep, node) in &b.edges {
        match (b.index.get(dep), b.index.get(node)) {
            (Some(&d), Some(&n)) if d != n => {
                preds[n].insert(d);
            }
            (None, _) => {
                unresolved.insert(dep.clone());
            }
            _ => {}
        }
    }
    for u in unresolved {
        b.assumptions.push(format!("`{u}` is referenced but not declared: the reference adds no edge"));
    }
    let mut g = Graph {
        nodes: b.nodes,
        preds: preds.into_iter().map(|s| s.into_iter().collect()).collect(),
        assumptions: b.assumptions,
    };
    read_during_plan(&mut g);
    g
}

/// Terraform reads a data source during plan when its configuration is known then — when it
/// waits, directly or through variables, locals and outputs, for no managed resource. Only the
/// others are read during apply and take time there. (A graph with a cycle is left as is: it
/// is reported as an error.)
fn read_during_plan(g: &mut Graph) {
    let Ok(order) = super::schedule::topo_order(g) else { return };
    let mut after_resource = vec![false; g.nodes.len()];
    for &i in &order {
        after_resource[i] = g.preds[i].iter().any(|&p| g.nodes[p].kind == Kind::Resource || after_resource[p]);
        if g.nodes[i].kind == Kind::Data && !after_resource[i] {
            for inst in &mut g.nodes[i].instances {
                inst.time = Chosen { minutes: 0.0, basis: inst.time.basis, rule: "read during plan".into() };
            }
        }
    }
}

/// What a module call hands the module.
struct Call {
    /// Per input variable: the caller's nodes its expression references.
    input_deps: BTreeMap<String, BTreeSet<String>>,
    /// Nodes everything in the module waits for (the call's for_each / count / depends_on).
    call_deps: BTreeSet<String>,
    /// Provider local name (`aws`, `aws.dr`) → provider node id.
    providers: BTreeMap<String, String>,
}

/// The declarations of one module.
#[derive(Default)]
struct Decls<'b> {
    variables: Vec<(String, Option<&'b Expression>)>,
    locals: Vec<(String, &'b Expression)>,
    resources: Vec<&'b TfBlock>,
    data: Vec<&'b TfBlock>,
    modules: Vec<&'b TfBlock>,
    outputs: Vec<&'b TfBlock>,
    providers: Vec<&'b TfBlock>,
}

fn declarations(blocks: &[TfBlock]) -> Decls<'_> {
    let mut d = Decls::default();
    for b in blocks {
        let name = || b.labels.first().cloned().unwrap_or_default();
        match b.kind.as_str() {
            "variable" => d.variables.push((name(), attr(b, "default"))),
            "locals" => d.locals.extend(b.body.attributes().map(|a| (a.key.to_string(), &a.expr))),
            "resource" if b.labels.len() == 2 => d.resources.push(b),
            "data" if b.labels.len() == 2 => d.data.push(b),
            "module" if b.labels.len() == 1 => d.modules.push(b),
            "output" if b.labels.len() == 1 => d.outputs.push(b),
            "provider" if b.labels.len() == 1 => d.providers.push(b),
            _ => {}
        }
    }
    d
}

fn attr<'b>(b: &'b TfBlock, key: &str) -> Option<&'b Expression> {
    b.body.attributes().find(|a| a.key.as_str() == key).map(|a| &a.expr)
}

/// `aws` or `aws.dr` written as an expression (a provider reference).
fn provider_name(e: &Expression) -> Option<String> {
    match e {
        Expression::Variable(v) => Some(v.as_str().to_string()),
        Expression::Traversal(t) => match (&t.expr, t.operators.as_slice()) {
            (Expression::Variable(v), [TraversalOperator::GetAttr(a)]) => Some(format!("{}.{a}", v.as_str())),
            _ => None,
        },
        Expression::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Instance key suffix: `["k"]` or `[0]`.
fn key_suffix(key: &Value) -> String {
    match key {
        Value::String(s) => format!("[{s:?}]"),
        other => format!("[{other}]"),
    }
}

/// Attributes of a module block that are meta-arguments, not input variables.
const MODULE_META: [&str; 6] = ["source", "version", "for_each", "count", "providers", "depends_on"];

impl Builder<'_> {
    fn node(&mut self, id: String, kind: Kind, ty: &str) -> usize {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        let i = self.nodes.len();
        self.index.insert(id.clone(), i);
        self.nodes.push(Node { id, kind, ty: ty.to_string(), instances: Vec::new() });
        i
    }

    fn edge_all(&mut self, deps: &BTreeSet<String>, to: &str) {
        self.edges.extend(deps.iter().map(|d| (d.clone(), to.to_string())));
    }

    /// Expand one module (prefix `module.eks.`; "" for the root) with its instances.
    fn expand(&mut self, prefix: &str, blocks: &[TfBlock], instances: Vec<ModInstance>, call: &Call, depth: usize) {
        let d = declarations(blocks);
        let declared: HashSet<(String, String)> =
            d.resources.iter().map(|b| (b.labels[0].clone(), b.labels[1].clone())).collect();
        let types: HashSet<String> = declared.iter().map(|(t, _)| t.clone()).collect();
        let resolve = |r: &Ref| -> Option<String> {
            Some(match r {
                Ref::Var(x) => format!("{prefix}var.{x}"),
                Ref::Local(x) => format!("{prefix}local.{x}"),
                Ref::Data(t, n) => format!("{prefix}data.{t}.{n}"),
                Ref::ModuleOutput(m, o) => format!("{prefix}module.{m}.output.{o}"),
                Ref::ModuleAll(m) => format!("{prefix}module.{m}"),
                Ref::Resource(t, n) => {
                    if !declared.contains(&(t.clone(), n.clone())) {
                        return None;
                    }
                    format!("{prefix}{t}.{n}")
                }
            })
        };
        let deps_of_body = |body: &hcl::Body| -> BTreeSet<String> {
            let mut rs = BTreeSet::new();
            refs::in_body(body, &mut rs);
            rs.iter().filter_map(&resolve).collect()
        };
        let deps_of_expr = |e: &Expression| -> BTreeSet<String> {
            let mut rs = BTreeSet::new();
            refs::in_expr(e, &mut rs);
            rs.iter().filter_map(&resolve).collect()
        };

        // Scopes: each module instance's variables (given, else default) and locals.
        let scopes: Vec<Scope<'static>> = instances
            .iter()
            .map(|inst| {
                let defaults = Scope::new(Value::Object(hcl::Map::new()), types.clone());
                let mut vars = hcl::Map::new();
                for (name, default) in &d.variables {
                    let v = inst
                        .vars
                        .get(name)
                        .cloned()
                        .or_else(|| default.and_then(|e| defaults.eval(e)))
                        .unwrap_or(Value::Null);
                    vars.insert(name.clone(), v);
                }
                let mut scope = Scope::new(Value::Object(vars), types.clone());
                let mut locals = hcl::Map::new();
                // Locals may use each other in any order: evaluate until nothing more resolves.
                loop {
                    let before = locals.len();
                    for (name, e) in &d.locals {
                        if !locals.contains_key(name)
                            && let Some(v) = scope.eval(e)
                        {
                            locals.insert(name.clone(), v);
                            scope.set_locals(Value::Object(locals.clone()));
                        }
                    }
                    if locals.len() == before {
                        break;
                    }
                }
                scope
            })
            .collect();

        for (name, _) in &d.variables {
            let id = format!("{prefix}var.{name}");
            self.node(id.clone(), Kind::Variable, "");
            let mut deps = call.call_deps.clone();
            deps.extend(call.input_deps.get(name).cloned().unwrap_or_default());
            self.edge_all(&deps, &id);
        }
        for (name, e) in &d.locals {
            let id = format!("{prefix}local.{name}");
            self.node(id.clone(), Kind::Local, "");
            self.edge_all(&deps_of_expr(e), &id);
        }

        // Providers: this module's own blocks, over those it inherits or is passed.
        let mut providers = call.providers.clone();
        for p in &d.providers {
            let name = match attr(p, "alias").and_then(provider_name) {
                Some(alias) => format!("{}.{alias}", p.labels[0]),
                None => p.labels[0].clone(),
            };
            let id = format!("{prefix}provider.{name}");
            self.node(id.clone(), Kind::Provider, "");
            self.edge_all(&deps_of_body(&p.body), &id);
            providers.insert(name, id);
        }

        // Resources and data sources; a for_each over another resource reuses its keys, so
        // those come second.
        let mut keys_of: HashMap<(usize, String), Vec<(Value, Value)>> = HashMap::new();
        let objects: Vec<(&TfBlock, bool)> =
            d.resources.iter().map(|b| (*b, false)).chain(d.data.iter().map(|b| (*b, true))).collect();
        let (later, first): (Vec<_>, Vec<_>) =
            objects.into_iter().partition(|(b, _)| attr(b, "for_each").and_then(refs::bare_resource).is_some());
        for (b, is_data) in first.into_iter().chain(later) {
            let (ty, name) = (b.labels[0].as_str(), b.labels[1].as_str());
            let local = if is_data { format!("data.{ty}.{name}") } else { format!("{ty}.{name}") };
            let id = format!("{prefix}{local}");
            let n = self.node(id.clone(), if is_data { Kind::Data } else { Kind::Resource }, ty);
            let mut deps = deps_of_body(&b.body);
            deps.extend(call.call_deps.iter().cloned());
            let provider = attr(b, "provider")
                .and_then(provider_name)
                .unwrap_or_else(|| ty.split('_').next().unwrap_or(ty).to_string());
            if let Some(p) = providers.get(&provider) {
                deps.insert(p.clone());
            }
            self.edge_all(&deps, &id);
            for (si, (inst, scope)) in instances.iter().zip(&scopes).enumerate() {
                let base = format!("{}{local}", inst.addr);
                let expanded = self.instances_of(b, scope, si, &keys_of, &base);
                if !is_data && let Some(keys) = &expanded.keys {
                    keys_of.insert((si, format!("{ty}.{name}")), keys.clone());
                }
                for (address, s) in expanded.scopes {
                    let time = if is_data {
                        self.weights.data_source()
                    } else {
                        let read = |a: &str| -> Option<serde_json::Value> {
                            attr(b, a).and_then(|e| s.eval(e)).and_then(|v| eval::to_json(&v))
                        };
                        self.weights.resource(ty, &read)
                    };
                    self.nodes[n].instances.push(Instance { address, time });
                }
            }
        }

        // Module calls.
        for m in &d.modules {
            let name = &m.labels[0];
            let child_prefix = format!("{prefix}module.{name}.");
            let source = attr(m, "source").and_then(|e| match e {
                Expression::String(s) => Some(s.trim_end_matches('/').rsplit('/').next().unwrap_or(s).to_string()),
                _ => None,
            });
            let Some(child_blocks) = source.as_ref().and_then(|s| self.modules.get(s)) else {
                self.assumptions.push(format!(
                    "module `{prefix}module.{name}`: source {} is not a module of the bundle; its resources are not modelled",
                    source.as_deref().unwrap_or("(not a literal)")
                ));
                continue;
            };
            let mut input_deps = BTreeMap::new();
            for a in m.body.attributes() {
                if !MODULE_META.contains(&a.key.as_str()) {
                    input_deps.insert(a.key.to_string(), deps_of_expr(&a.expr));
                }
            }
            let mut call_deps = call.call_deps.clone();
            for meta in ["for_each", "count", "depends_on"] {
                if let Some(e) = attr(m, meta) {
                    call_deps.extend(deps_of_expr(e));
                }
            }
            let mut child_providers = providers.clone();
            if let Some(Expression::Object(o)) = attr(m, "providers") {
                for (k, v) in o.iter() {
                    let k = match k {
                        ObjectKey::Identifier(i) => Some(i.to_string()),
                        ObjectKey::Expression(e) => provider_name(e),
                        _ => None,
                    };
                    if let (Some(k), Some(v)) = (k, provider_name(v))
                        && let Some(id) = providers.get(&v)
                    {
                        child_providers.insert(k, id.clone());
                    }
                }
            }
            let mut child_instances = Vec::new();
            for (si, (inst, scope)) in instances.iter().zip(&scopes).enumerate() {
                let base = format!("{}module.{name}", inst.addr);
                let expanded = self.instances_of(m, scope, si, &keys_of, &base);
                for (address, s) in expanded.scopes {
                    let mut vars = hcl::Map::new();
                    for a in m.body.attributes() {
                        if !MODULE_META.contains(&a.key.as_str()) {
                            let v = s.eval(&a.expr).unwrap_or_else(|| Value::String(UNKNOWN.to_string()));
                            vars.insert(a.key.to_string(), v);
                        }
                    }
                    child_instances.push(ModInstance { addr: format!("{address}."), vars });
                }
            }
            if depth >= MAX_DEPTH {
                self.assumptions.push(format!("module `{child_prefix}`: nested deeper than {MAX_DEPTH}; not followed"));
                continue;
            }
            let child_call = Call { input_deps, call_deps, providers: child_providers };
            self.expand(&child_prefix, child_blocks, child_instances, &child_call, depth + 1);
            // `module.m` as a whole waits for every output of the call.
            let whole = format!("{prefix}module.{name}");
            self.node(whole.clone(), Kind::Module, "");
            let outputs: BTreeSet<String> = declarations(child_blocks)
                .outputs
                .iter()
                .map(|o| format!("{child_prefix}output.{}", o.labels[0]))
                .collect();
            self.edge_all(&outputs, &whole);
        }

        for o in &d.outputs {
            let id = format!("{prefix}output.{}", o.labels[0]);
            self.node(id.clone(), Kind::Output, "");
            self.edge_all(&deps_of_body(&o.body), &id);
        }
    }

    /// The instances of a resource, data source or module call in one module instance.
    fn instances_of<'s>(
        &mut self,
        b: &TfBlock,
        scope: &Scope<'s>,
        si: usize,
        keys_of: &HashMap<(usize, String), Vec<(Value, Value)>>,
        base: &str,
    ) -> Expanded<'s> {
        let what = base.to_string();
        if let Some(e) = attr(b, "count") {
            return match scope.eval(e).as_ref().and_then(eval::count_of) {
                Some(n) => Expanded {
                    keys: None,
                    scopes: (0..n).map(|i| (format!("{base}[{i}]"), scope.with_count(i))).collect(),
                },
                None => {
                    self.assumptions
                        .push(format!("`{what}`: count is not known before apply; modelled as one instance"));
                    Expanded { keys: None, scopes: vec![(base.to_string(), scope.with_count(0))] }
                }
            };
        }
        if let Some(e) = attr(b, "for_each") {
            let keys = match refs::bare_resource(e) {
                Some((t, n)) => keys_of.get(&(si, format!("{t}.{n}"))).map(|ks| {
                    ks.iter().map(|(k, _)| (k.clone(), Value::String(UNKNOWN.to_string()))).collect::<Vec<_>>()
                }),
                None => scope.eval(e).as_ref().and_then(eval::for_each_keys),
            };
            return match keys {
                Some(keys) => Expanded {
                    scopes: keys
                        .iter()
                        .map(|(k, v)| (format!("{base}{}", key_suffix(k)), scope.with_each(k, v)))
                        .collect(),
                    keys: Some(keys),
                },
                None => {
                    self.assumptions
                        .push(format!("`{what}`: for_each keys are not known before apply; modelled as one instance"));
                    let unknown = Value::String(UNKNOWN.to_string());
                    Expanded { keys: None, scopes: vec![(base.to_string(), scope.with_each(&unknown, &unknown))] }
                }
            };
        }
        Expanded { keys: None, scopes: vec![(base.to_string(), scope.clone())] }
    }
}

/// Instance addresses with the scope each is evaluated in; the for_each keys when known.
struct Expanded<'s> {
    keys: Option<Vec<(Value, Value)>>,
    scopes: Vec<(String, Scope<'s>)>,
}
