//! Spec → model: semantic checks (each located in the spec) and resolution per environment.
//!
//! All checks run before anything is resolved and every problem is reported, not just the
//! first, so one run shows the author everything to fix.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use cerverus_spec::{self as spec, Diagnostic, Diagnostics, LoadedSpec, SourceMap, SpecPath, WorkloadKind};
use ipnet::Ipv4Net;

use crate::graph::{DependencyGraph, Edge, Target};
use crate::network::{self, LayoutError, Subnet, SubnetTier};
use crate::{Bucket, Env, NetworkLayout, Platform, Secret, Workload, quantity};

/// Resolve a loaded spec into the model, or report every semantic error with its location.
pub fn resolve(loaded: &LoadedSpec) -> Result<Platform, Diagnostics> {
    let mut cx = Checker { map: &loaded.source_map, diags: Vec::new() };
    let s = &loaded.spec;
    let root = SpecPath::root();

    cx.check_metadata(s, &root);
    cx.check_network(&s.network, &root.at("network"));
    cx.check_cluster(&s.cluster, &root.at("cluster"));
    cx.check_data_stores(s, &root.at("dataStores"));
    cx.check_namespaces(s, &root.at("namespaces"));
    cx.check_workloads(s, &root.at("workloads"));
    if s.environments.is_empty() {
        cx.report(
            &root.at("environments"),
            Diagnostic::new("no environments are declared").expected("at least one environment, e.g. `dev: {}`"),
        );
    }
    for (name, env) in &s.environments {
        cx.check_environment(s, name, env, &root.at("environments").at(name.as_str()));
    }
    if !cx.diags.is_empty() {
        cx.diags.sort_by(|a, b| a.location.cmp(&b.location));
        return Err(loaded.diagnostics(cx.diags));
    }

    let mut environments: Vec<Env> = s
        .environments
        .iter()
        .map(|(name, env)| build_env(s, name, env))
        .collect::<Result<_, _>>()
        .map_err(|d| loaded.diagnostics(vec![*d]))?;

    // With every environment resolved: does each node pool hold its workloads at maximum scale?
    for env in &environments {
        for fit in env.pool_fit() {
            if fit.fits() {
                continue;
            }
            let i = s.cluster.node_pools.iter().position(|p| p.name == fit.pool).unwrap_or(0);
            let path = match s.environments.get(&env.name).and_then(|e| e.node_pools.get(&fit.pool)) {
                Some(_) => {
                    SpecPath::root().at("environments").at(env.name.as_str()).at("nodePools").at(fit.pool.as_str())
                }
                None => SpecPath::root().at("cluster").at("nodePools").at(i).at("scaling"),
            };
            let msg = if fit.pods_too_big.is_empty() {
                format!(
                    "node pool `{}` in `{}` cannot hold its workloads at maximum scale: they request {:.1} CPU, {:.1} GiB, {} GPU; the pool gives at most {:.1} CPU, {:.1} GiB, {} GPU",
                    fit.pool,
                    env.name,
                    fit.needed.0,
                    fit.needed.1,
                    fit.needed.2,
                    fit.capacity.0,
                    fit.capacity.1,
                    fit.capacity.2
                )
            } else {
                format!(
                    "in `{}`, pods of {} do not fit one `{}` node, the first instance type of node pool `{}` (the type its node groups launch and Cluster Autoscaler models)",
                    env.name,
                    fit.pods_too_big.join(", "),
                    fit.launch_type,
                    fit.pool
                )
            };
            cx.report(
                &path,
                Diagnostic::new(msg)
                    .expected("pool max nodes × allocatable per node ≥ Σ max replicas × requests")
                    .hint("raise the pool's scaling.max or larger instance types, or lower autoscaling.max or requests (capacity model: cerverus-model/src/capacity.rs)"),
            );
        }
    }
    if !cx.diags.is_empty() {
        return Err(loaded.diagnostics(cx.diags));
    }
    environments.sort_by_key(|e| (promotion_rank(&e.name), e.name.clone()));

    let mut tags = s.metadata.tags.clone();
    tags.entry("ManagedBy".into()).or_insert_with(|| "cerverus".into());
    tags.entry("Owner".into()).or_insert_with(|| s.metadata.owner.clone());
    Ok(Platform {
        name: s.metadata.name.clone(),
        organization: s.metadata.organization.clone(),
        owner: s.metadata.owner.clone(),
        tags,
        region: s.aws.region.clone(),
        dr_region: s.aws.dr_region.clone(),
        account_id: s.aws.account_id.clone(),
        environments,
    })
}

fn promotion_rank(env: &str) -> u8 {
    match env {
        "dev" | "development" => 0,
        "test" | "qa" => 1,
        "staging" | "stage" => 2,
        "prod" | "production" => 4,
        _ => 3,
    }
}

struct Checker<'a> {
    map: &'a SourceMap,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// Report `diag` at the value found at `path`.
    fn report(&mut self, path: &SpecPath, diag: Diagnostic) {
        let loc = self.map.value(path);
        self.diags.push(diag.at(loc));
    }

    /// Report `diag` at the key of the entry at `path` (for problems with the entry as a whole).
    fn report_key(&mut self, path: &SpecPath, diag: Diagnostic) {
        let loc = self.map.key(path);
        self.diags.push(diag.at(loc));
    }

    fn check_name(&mut self, path: &SpecPath, what: &str, name: &str, max: usize) {
        if !is_dns_label(name, max) {
            self.report(
                path,
                Diagnostic::new(format!("invalid {what} name `{name}`"))
                    .expected(format!(
                        "lowercase letters, digits and `-`, starting with a letter, at most {max} characters"
                    ))
                    .hint("the name ends up in Kubernetes objects and AWS resource names"),
            );
        }
    }

    /// Names in a list must be unique; report every repeat at its own position.
    fn check_unique<'n>(&mut self, list: &SpecPath, what: &str, names: impl Iterator<Item = &'n str>) {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, name) in names.enumerate() {
            if let Some(first) = seen.insert(name, i) {
                self.report(
                    &list.at(i).at("name"),
                    Diagnostic::new(format!("duplicate {what} `{name}`"))
                        .expected(format!("each {what} name once"))
                        .hint(format!("it is first declared at {list}[{first}]")),
                );
            }
        }
    }

    fn check_metadata(&mut self, s: &spec::PlatformSpec, root: &SpecPath) {
        self.check_name(&root.at("metadata").at("name"), "platform", &s.metadata.name, 20);
        let account = &s.aws.account_id;
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            self.report(
                &root.at("aws").at("accountId"),
                Diagnostic::new(format!("invalid AWS account ID `{account}`"))
                    .expected("12 digits, quoted so YAML keeps leading zeros (\"012345678901\")"),
            );
        }
        for (key, region) in [("region", &s.aws.region), ("drRegion", &s.aws.dr_region)] {
            if !is_region(region) {
                self.report(
                    &root.at("aws").at(key),
                    Diagnostic::new(format!("invalid AWS region `{region}`"))
                        .expected("a region code such as us-east-1 or eu-west-2"),
                );
            }
        }
        if s.aws.region == s.aws.dr_region {
            self.report(
                &root.at("aws").at("drRegion"),
                Diagnostic::new("the DR region is the primary region")
                    .expected("a second region, so a regional outage does not take the backups")
                    .hint("us-east-1 pairs well with us-west-2"),
            );
        }
    }

    fn parse_cidr(&mut self, path: &SpecPath, text: &str) -> Option<Ipv4Net> {
        match text.parse::<Ipv4Net>() {
            Ok(net) if net.trunc() == net => Some(net),
            Ok(net) => {
                self.report(
                    path,
                    Diagnostic::new(format!("`{text}` has host bits set"))
                        .expected(format!("the network address, `{}`", net.trunc())),
                );
                None
            }
            Err(_) => {
                self.report(
                    path,
                    Diagnostic::new(format!("`{text}` is not an IPv4 CIDR"))
                        .expected("an address and prefix length, e.g. 10.0.0.0/16"),
                );
                None
            }
        }
    }

    fn check_vpc(&mut self, path: &SpecPath, text: &str) -> Option<Ipv4Net> {
        let vpc = self.parse_cidr(path, text)?;
        if !(16..=24).contains(&vpc.prefix_len()) {
            self.report(
                path,
                Diagnostic::new(format!("VPC range `{text}` has prefix /{}", vpc.prefix_len()))
                    .expected("a prefix from /16 to /24 (the sizes AWS allows for a VPC)"),
            );
            return None;
        }
        if !vpc.network().is_private() {
            self.report(
                path,
                Diagnostic::new(format!("VPC range `{text}` is not a private (RFC 1918) range"))
                    .expected("a range inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"),
            );
        }
        Some(vpc)
    }

    fn check_network(&mut self, n: &spec::Network, path: &SpecPath) {
        if !(2..=6).contains(&n.az_count) {
            self.report(
                &path.at("azCount"),
                Diagnostic::new(format!("azCount is {}", n.az_count))
                    .expected("2 to 6 availability zones")
                    .hint("3 survives the loss of one zone with two thirds of capacity left"),
            );
        }
        let Some(vpc) = self.check_vpc(&path.at("vpcCidr"), &n.vpc_cidr) else { return };
        self.check_layout(vpc, n, path, &path.at("vpcCidr"));
    }

    /// Explicit subnets must sit inside the VPC and not overlap; automatic ones must fit.
    fn check_layout(&mut self, vpc: Ipv4Net, n: &spec::Network, path: &SpecPath, vpc_path: &SpecPath) {
        if let Some(explicit) = &n.subnets {
            let mut seen: Vec<(Ipv4Net, SpecPath)> = Vec::new();
            for (tier, list) in [("public", &explicit.public), ("private", &explicit.private), ("data", &explicit.data)]
            {
                let tier_path = path.at("subnets").at(tier);
                if list.len() != usize::from(n.az_count) {
                    self.report(
                        &tier_path,
                        Diagnostic::new(format!("{} {tier} subnets for {} availability zones", list.len(), n.az_count))
                            .expected(format!("one {tier} subnet per availability zone")),
                    );
                }
                for (i, text) in list.iter().enumerate() {
                    let p = tier_path.at(i);
                    let Some(net) = self.parse_cidr(&p, text) else { continue };
                    if !vpc.contains(&net) {
                        self.report(
                            &p,
                            Diagnostic::new(format!("subnet `{net}` is outside the VPC `{vpc}`"))
                                .expected(format!("a range inside {vpc}")),
                        );
                    }
                    if let Some((other, other_path)) = seen.iter().find(|(o, _)| network::overlaps(*o, net)) {
                        self.report(
                            &p,
                            Diagnostic::new(format!("subnet `{net}` overlaps `{other}`"))
                                .expected("subnets that share no address")
                                .hint(format!("`{other}` is declared at {other_path}")),
                        );
                    }
                    seen.push((net, p));
                }
            }
            return;
        }
        let azs = network::az_names("us-east-1", n.az_count.clamp(1, 6));
        if let Err(e) = network::allocate(vpc, &azs, tier_prefixes(n)) {
            let (msg, expected) = match e {
                LayoutError::DoesNotFit { needed, available } => (
                    format!("the subnets need {needed} addresses but the VPC `{vpc}` has {available}"),
                    "a larger VPC range or longer subnet prefixes".to_string(),
                ),
                LayoutError::PrefixTooShort { tier, prefix, vpc_prefix } => (
                    format!("{} subnets of /{prefix} do not fit a /{vpc_prefix} VPC", tier.as_str()),
                    format!("subnet prefixes from /{vpc_prefix} to /28"),
                ),
            };
            self.report(vpc_path, Diagnostic::new(msg).expected(expected));
        }
    }

    fn check_cluster(&mut self, c: &spec::Cluster, path: &SpecPath) {
        if let Some(name) = &c.name {
            self.check_name(&path.at("name"), "cluster", name, 40);
        }
        let v = &c.kubernetes_version;
        let ok = v
            .split_once('.')
            .is_some_and(|(maj, min)| maj == "1" && !min.is_empty() && min.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            self.report(
                &path.at("kubernetesVersion"),
                Diagnostic::new(format!("invalid Kubernetes version `{v}`"))
                    .expected("a minor version such as \"1.35\", quoted so YAML keeps it a string"),
            );
        }
        if !spec::CLOUDWATCH_RETENTION_DAYS.contains(&c.log_retention_days) || c.log_retention_days < 365 {
            self.report(
                &path.at("logRetentionDays"),
                Diagnostic::new(format!("logRetentionDays is {}", c.log_retention_days))
                    .expected("a CloudWatch retention of at least a year: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653")
                    .hint("control-plane audit logs of a financial platform are kept at least a year (CIS, PCI DSS 10.5)"),
            );
        }
        for (i, arn) in c.admin_role_arns.iter().enumerate() {
            if !(arn.starts_with("arn:aws:iam::") && arn.contains(":role/")) {
                self.report(
                    &path.at("adminRoleArns").at(i),
                    Diagnostic::new(format!("`{arn}` is not an IAM role ARN"))
                        .expected("arn:aws:iam::<account>:role/<name>"),
                );
            }
        }
        let pools = path.at("nodePools");
        self.check_unique(&pools, "node pool", c.node_pools.iter().map(|p| p.name.as_str()));
        if c.node_pools.is_empty() {
            self.report(&pools, Diagnostic::new("no node pools").expected("at least one node pool"));
        }
        for (i, pool) in c.node_pools.iter().enumerate() {
            let p = pools.at(i);
            self.check_name(&p.at("name"), "node pool", &pool.name, 30);
            if pool.instance_types.is_empty() {
                self.report(
                    &p.at("instanceTypes"),
                    Diagnostic::new(format!("node pool `{}` has no instance types", pool.name))
                        .expected("at least one EC2 instance type, e.g. m5.xlarge"),
                );
            }
            self.check_scaling(&p.at("scaling"), &pool.scaling);
            if pool.spot_percentage > 100 {
                self.report(
                    &p.at("spotPercentage"),
                    Diagnostic::new(format!("spotPercentage is {}", pool.spot_percentage))
                        .expected("a percentage from 0 to 100"),
                );
            }
        }
    }

    fn check_scaling(&mut self, path: &SpecPath, s: &spec::Scaling) {
        if !(s.min <= s.desired && s.desired <= s.max) || s.max == 0 {
            self.report(
                path,
                Diagnostic::new(format!(
                    "node counts min {} / desired {} / max {} are out of order",
                    s.min, s.desired, s.max
                ))
                .expected("min ≤ desired ≤ max, and max ≥ 1"),
            );
        }
    }

    fn check_data_stores(&mut self, s: &spec::PlatformSpec, path: &SpecPath) {
        let ds = &s.data_stores;
        let pg = path.at("postgres");
        self.check_unique(&pg, "postgres store", ds.postgres.iter().map(|p| p.name.as_str()));
        for (i, db) in ds.postgres.iter().enumerate() {
            let p = pg.at(i);
            self.check_name(&p.at("name"), "postgres store", &db.name, 50);
            if db.max_storage_gib < db.storage_gib {
                self.report(
                    &p.at("maxStorageGib"),
                    Diagnostic::new(format!(
                        "maxStorageGib {} is below storageGib {}",
                        db.max_storage_gib, db.storage_gib
                    ))
                    .expected("an autoscaling ceiling at or above the allocated storage"),
                );
            }
            if !(1..=35).contains(&db.backup_retention_days) {
                self.report(
                    &p.at("backupRetentionDays"),
                    Diagnostic::new(format!("backupRetentionDays is {}", db.backup_retention_days))
                        .expected("1 to 35 days (RDS limits; 0 would disable backups and PITR)"),
                );
            }
        }
        let rd = path.at("redis");
        self.check_unique(&rd, "redis store", ds.redis.iter().map(|r| r.name.as_str()));
        for (i, r) in ds.redis.iter().enumerate() {
            self.check_name(&rd.at(i).at("name"), "redis store", &r.name, 40);
        }
        let bk = path.at("buckets");
        self.check_unique(&bk, "bucket", ds.buckets.iter().map(|b| b.name.as_str()));
        for (i, b) in ds.buckets.iter().enumerate() {
            self.check_name(&bk.at(i).at("name"), "bucket", &b.name, 50);
            let l = &b.lifecycle;
            let ia = l.infrequent_access_after_days;
            if ia.is_some_and(|d| d < 30) {
                self.report(
                    &bk.at(i).at("lifecycle").at("infrequentAccessAfterDays"),
                    Diagnostic::new("objects move to Standard-IA before 30 days")
                        .expected("30 days or more (S3's minimum for that transition)"),
                );
            }
            let last_transition = l.glacier_after_days.or(ia);
            if let (Some(t), Some(e)) = (last_transition, l.expire_after_days)
                && e <= t
            {
                self.report(
                    &bk.at(i).at("lifecycle").at("expireAfterDays"),
                    Diagnostic::new(format!("objects expire after {e} days, before their last transition at {t}"))
                        .expected("expiration after every transition"),
                );
            }
        }
        let ex = SpecPath::root().at("externalServices");
        self.check_unique(&ex, "external service", s.external_services.iter().map(|e| e.name.as_str()));
        for (i, e) in s.external_services.iter().enumerate() {
            self.check_name(&ex.at(i).at("name"), "external service", &e.name, 50);
            if e.hosts.is_empty() {
                self.report(
                    &ex.at(i).at("hosts"),
                    Diagnostic::new(format!("external service `{}` has no hosts", e.name))
                        .expected("at least one DNS name"),
                );
            }
        }
    }

    fn check_namespaces(&mut self, s: &spec::PlatformSpec, path: &SpecPath) {
        self.check_unique(path, "namespace", s.namespaces.iter().map(|n| n.name.as_str()));
        for (i, ns) in s.namespaces.iter().enumerate() {
            self.check_name(&path.at(i).at("name"), "namespace", &ns.name, 63);
            if ns.pod_security != spec::PodSecurityLevel::Restricted
                && ns.pod_security_reason.as_deref().is_none_or(|r| r.trim().is_empty())
            {
                self.report(
                    &path.at(i).at("podSecurity"),
                    Diagnostic::new(format!(
                        "namespace `{}` relaxes Pod Security to `{}` without a reason",
                        ns.name,
                        ns.pod_security.as_str()
                    ))
                    .expected("podSecurityReason saying which component needs what")
                    .hint("restricted is the default for a reason; every exception is justified"),
                );
            }
        }
    }

    fn check_workloads(&mut self, s: &spec::PlatformSpec, path: &SpecPath) {
        self.check_unique(path, "workload", s.workloads.iter().map(|w| w.name.as_str()));
        let namespaces: Vec<&str> = s.namespaces.iter().map(|n| n.name.as_str()).collect();
        let pools: Vec<&str> = s.cluster.node_pools.iter().map(|p| p.name.as_str()).collect();
        for (i, w) in s.workloads.iter().enumerate() {
            let p = path.at(i);
            self.check_name(&p.at("name"), "workload", &w.name, 40);
            if !namespaces.contains(&w.namespace.as_str()) {
                self.report(
                    &p.at("namespace"),
                    Diagnostic::new(format!("workload `{}` is in unknown namespace `{}`", w.name, w.namespace))
                        .expected(format!("one of the declared namespaces: {}", namespaces.join(", ")))
                        .hint(hint_for(
                            &w.namespace,
                            namespaces.iter().copied(),
                            "declare it under `namespaces:` or correct the name".into(),
                        )),
                );
            }
            match s.cluster.node_pools.iter().find(|np| np.name == w.node_pool) {
                None => self.report(
                    &p.at("nodePool"),
                    Diagnostic::new(format!("workload `{}` runs on unknown node pool `{}`", w.name, w.node_pool))
                        .expected(format!("one of the declared node pools: {}", pools.join(", ")))
                        .hint(hint_for(
                            &w.node_pool,
                            pools.iter().copied(),
                            "declare it under `cluster.nodePools:` or correct the name".into(),
                        )),
                ),
                Some(pool) if w.resources.gpu > 0 && pool.gpu.is_none() => self.report(
                    &p.at("resources").at("gpu"),
                    Diagnostic::new(format!(
                        "workload `{}` asks for {} GPU(s) on node pool `{}`, which has none",
                        w.name, w.resources.gpu, pool.name
                    ))
                    .expected("a node pool with `gpu:` declared"),
                ),
                Some(_) => {}
            }
            self.check_ports(w, &p);
            self.check_resources(w, &p.at("resources"));
            self.check_kind(w, &p);
            if let Some(a) = &w.autoscaling {
                self.check_autoscaling(w, a, &p.at("autoscaling"));
                self.check_replicas_within(w.replicas, a.min, a.max, &p.at("replicas"), &w.name);
            }
            self.check_probes(w, &p);
            if let Some(msg) = crate::runtime::liveness_disagrees_with_contract(w) {
                self.report(
                    &p.at("probes").at("liveness"),
                    Diagnostic::new(msg).hint("the runtime contracts are data/runtime-contracts.json"),
                );
            }
            self.check_dependencies(s, w, &p.at("dependsOn"));
            self.check_secrets(w, &p.at("secrets"));
            if w.exposure == spec::Exposure::Public {
                if w.host.as_deref().is_none_or(str::is_empty) {
                    self.report(
                        &p.at("exposure"),
                        Diagnostic::new(format!("public workload `{}` has no host", w.name))
                            .expected("`host:` with the public DNS name"),
                    );
                }
                if !w.ports.iter().any(|pt| pt.protocol == spec::PortProtocol::Http) {
                    self.report(
                        &p.at("exposure"),
                        Diagnostic::new(format!("public workload `{}` has no HTTP port", w.name))
                            .expected("an http port for the ingress gateway to route to"),
                    );
                }
            }
            if let Some(sa) = &w.service_account {
                self.check_name(&p.at("serviceAccount"), "service account", sa, 63);
            }
            if !w.kubernetes_rbac.is_empty() && !w.uses_kubernetes_api {
                self.report(
                    &p.at("kubernetesRbac"),
                    Diagnostic::new(format!("`{}` has RBAC rules but does not call the Kubernetes API", w.name))
                        .expected("`usesKubernetesApi: true` with `kubernetesRbac`"),
                );
            }
            for (j, rule) in w.kubernetes_rbac.iter().enumerate() {
                for (key, items) in
                    [("resources", &rule.resources), ("verbs", &rule.verbs), ("apiGroups", &rule.api_groups)]
                {
                    if items.is_empty() || items.iter().any(|x| x.contains('*')) {
                        self.report(
                            &p.at("kubernetesRbac").at(j).at(key),
                            Diagnostic::new(format!("RBAC rule {j} of `{}` has empty or wildcard {key}", w.name))
                                .expected(format!("explicit {key}, no `*`"))
                                .hint("least privilege: name exactly what the workload touches"),
                        );
                    }
                }
            }
        }
    }

    fn check_ports(&mut self, w: &spec::Workload, p: &SpecPath) {
        let ports = p.at("ports");
        let mut names = HashSet::new();
        let mut numbers = HashSet::new();
        for (j, port) in w.ports.iter().enumerate() {
            let pp = ports.at(j);
            if !is_dns_label(&port.name, 15) {
                self.report(
                    &pp.at("name"),
                    Diagnostic::new(format!("invalid port name `{}`", port.name))
                        .expected("an IANA service name: lowercase letters, digits, `-`, at most 15 characters"),
                );
            }
            if !names.insert(port.name.as_str()) {
                self.report(&pp.at("name"), Diagnostic::new(format!("duplicate port name `{}`", port.name)));
            }
            if port.port < 1024 {
                self.report(
                    &pp.at("port"),
                    Diagnostic::new(format!("port {} is privileged", port.port))
                        .expected("a port from 1024 to 65535")
                        .hint("containers run as non-root and cannot bind ports below 1024"),
                );
            }
            if !numbers.insert(port.port) {
                self.report(&pp.at("port"), Diagnostic::new(format!("duplicate port {}", port.port)));
            }
        }
    }

    fn check_resources(&mut self, w: &spec::Workload, p: &SpecPath) {
        let r = &w.resources;
        let fields = [
            ("cpu", &r.requests.cpu, &r.limits.cpu),
            ("memory", &r.requests.memory, &r.limits.memory),
            ("ephemeralStorage", &r.requests.ephemeral_storage, &r.limits.ephemeral_storage),
        ];
        for (field, req, lim) in fields {
            let rq = self.quantity(&p.at("requests").at(field), req);
            let lm = self.quantity(&p.at("limits").at(field), lim);
            if let (Some(rq), Some(lm)) = (rq, lm)
                && rq > lm
            {
                self.report(
                    &p.at("requests").at(field),
                    Diagnostic::new(format!("{field} request {req} is above its limit {lim}"))
                        .expected("request ≤ limit"),
                );
            }
        }
    }

    fn quantity(&mut self, path: &SpecPath, text: &str) -> Option<f64> {
        let v = quantity::parse(text);
        if v.is_none() {
            self.report(
                path,
                Diagnostic::new(format!("`{text}` is not a Kubernetes quantity"))
                    .expected("a number with an optional suffix: 500m, 2, 512Mi, 4Gi"),
            );
        }
        v
    }

    fn check_kind(&mut self, w: &spec::Workload, p: &SpecPath) {
        match w.kind {
            WorkloadKind::CronJob if w.schedule.is_none() => self.report(
                &p.at("kind"),
                Diagnostic::new(format!("cron job `{}` has no schedule", w.name))
                    .expected("`schedule:` with a cron expression, e.g. \"0 2 * * *\""),
            ),
            WorkloadKind::CronJob => {
                if let Some(sched) = &w.schedule
                    && sched.split_whitespace().count() != 5
                {
                    self.report(
                        &p.at("schedule"),
                        Diagnostic::new(format!("`{sched}` is not a cron expression"))
                            .expected("five fields: minute hour day-of-month month day-of-week"),
                    );
                }
            }
            _ if w.schedule.is_some() => self.report(
                &p.at("schedule"),
                Diagnostic::new(format!("`schedule` is set on `{}`, which is not a cron job", w.name))
                    .expected("`kind: cronJob`, or no schedule"),
            ),
            _ => {}
        }
        if w.storage.is_some() && w.kind != WorkloadKind::StatefulSet {
            self.report(
                &p.at("storage"),
                Diagnostic::new(format!("`storage` is set on `{}`, which is not a stateful set", w.name))
                    .expected("`kind: statefulSet` for per-replica volumes"),
            );
        }
        if !w.kind.is_long_running() {
            if w.autoscaling.is_some() {
                self.report(
                    &p.at("autoscaling"),
                    Diagnostic::new(format!("`{}` is a job; jobs are not autoscaled", w.name))
                        .expected("autoscaling only on deployments and stateful sets"),
                );
            }
            if w.exposure != spec::Exposure::None {
                self.report(
                    &p.at("exposure"),
                    Diagnostic::new(format!("`{}` is a job and cannot be exposed", w.name)).expected("exposure: none"),
                );
            }
        }
        if w.exposure != spec::Exposure::None && w.ports.is_empty() {
            self.report(
                &p.at("exposure"),
                Diagnostic::new(format!("`{}` is exposed but has no ports", w.name)).expected("at least one port"),
            );
        }
    }

    fn check_autoscaling(&mut self, w: &spec::Workload, a: &spec::Autoscaling, p: &SpecPath) {
        if a.min == 0 || a.min > a.max {
            self.report(
                p,
                Diagnostic::new(format!("autoscaling min {} / max {} for `{}`", a.min, a.max, w.name))
                    .expected("1 ≤ min ≤ max"),
            );
        }
        for (key, pct) in [("cpuPercent", a.cpu_percent), ("memoryPercent", a.memory_percent)] {
            if let Some(v) = pct
                && !(1..=100).contains(&v)
            {
                self.report(
                    &p.at(key),
                    Diagnostic::new(format!("{key} is {v}")).expected("a utilisation target from 1 to 100"),
                );
            }
        }
        if a.cpu_percent.is_none() && a.memory_percent.is_none() && a.custom.is_empty() {
            self.report(
                p,
                Diagnostic::new(format!("autoscaling for `{}` has no metric", w.name))
                    .expected("cpuPercent, memoryPercent or a custom metric"),
            );
        }
        for (j, c) in a.custom.iter().enumerate() {
            if let Err(why) = crate::keda::prometheus_metric_type(&c.query) {
                self.report(
                    &p.at("custom").at(j).at("query"),
                    Diagnostic::new(format!("autoscaling query for metric `{}` {why}", c.metric))
                        .expected("one series: a PromQL query aggregated at the top with sum/count (a total) or avg/max/min (per pod), without by/without"),
                );
            }
            if c.target_per_pod.is_nan() || c.target_per_pod <= 0.0 {
                self.report(
                    &p.at("custom").at(j).at("targetPerPod"),
                    Diagnostic::new(format!("target {} for metric `{}`", c.target_per_pod, c.metric))
                        .expected("a positive number"),
                );
            }
        }
        for (j, sch) in a.schedules.iter().enumerate() {
            if sch.replicas > a.max {
                self.report(
                    &p.at("schedules").at(j).at("replicas"),
                    Diagnostic::new(format!(
                        "schedule `{}` asks for {} replicas, above autoscaling max {}",
                        sch.name, sch.replicas, a.max
                    ))
                    .expected(format!("at most {}", a.max)),
                );
            }
        }
    }

    fn check_replicas_within(&mut self, replicas: u32, min: u32, max: u32, path: &SpecPath, name: &str) {
        if replicas > max {
            self.report(
                path,
                Diagnostic::new(format!("`{name}` has {replicas} replicas, above its autoscaling max {max}"))
                    .expected(format!("replicas ≤ {max}"))
                    .hint("raise autoscaling.max or lower replicas"),
            );
        } else if replicas < min {
            self.report(
                path,
                Diagnostic::new(format!("`{name}` has {replicas} replicas, below its autoscaling min {min}"))
                    .expected(format!("replicas ≥ {min}")),
            );
        }
    }

    fn check_probes(&mut self, w: &spec::Workload, p: &SpecPath) {
        let Some(probes) = &w.probes else {
            if w.kind.is_long_running() {
                self.report(
                    &p.at("name"),
                    Diagnostic::new(format!("long-running workload `{}` has no probes", w.name))
                        .expected("`probes:` with at least a liveness probe")
                        .hint("without probes Kubernetes cannot tell a hung pod from a healthy one"),
                );
            }
            return;
        };
        let pp = p.at("probes");
        for (key, probe) in
            [("readiness", &probes.readiness), ("liveness", &probes.liveness), ("startup", &probes.startup)]
        {
            let Some(probe) = probe else { continue };
            let at = pp.at(key);
            let forms = usize::from(probe.path.is_some()) + usize::from(!probe.exec.is_empty());
            if forms > 1 || (probe.path.is_some() && probe.port.is_none()) || (forms == 0 && probe.port.is_none()) {
                self.report(
                    &at,
                    Diagnostic::new(format!("{key} probe of `{}` is ambiguous or incomplete", w.name))
                        .expected("`path` with `port` (HTTP), `port` alone (TCP), or `exec`"),
                );
            }
            if let Some(port) = &probe.port
                && !w.ports.iter().any(|pt| &pt.name == port)
            {
                self.report(
                    &at.at("port"),
                    Diagnostic::new(format!("{key} probe uses unknown port `{port}`"))
                        .expected(format!("one of the workload's ports: {}", port_names(w))),
                );
            }
        }
        if w.kind.is_long_running() {
            for (key, probe) in [("liveness", &probes.liveness), ("readiness", &probes.readiness)] {
                if probe.is_none() {
                    self.report(
                        &pp,
                        Diagnostic::new(format!("`{}` has no {key} probe", w.name))
                            .expected(format!("a {key} probe (`path` + `port`, `port`, or `exec`)")),
                    );
                }
            }
        }
    }

    fn check_dependencies(&mut self, s: &spec::PlatformSpec, w: &spec::Workload, path: &SpecPath) {
        let ds = &s.data_stores;
        for (j, d) in w.depends_on.iter().enumerate() {
            let p = path.at(j);
            let set = [
                d.workload.is_some(),
                d.postgres.is_some(),
                d.redis.is_some(),
                d.bucket.is_some(),
                d.external.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if set != 1 {
                self.report(
                    &p,
                    Diagnostic::new(format!("dependency {j} of `{}` names {set} targets", w.name))
                        .expected("exactly one of workload, postgres, redis, bucket, external"),
                );
                continue;
            }
            if d.port.is_some() && d.workload.is_none() {
                self.report(
                    &p.at("port"),
                    Diagnostic::new("`port` only applies to a workload dependency")
                        .expected("port with `workload:`; data stores use their own port"),
                );
            }
            if d.access.is_some() && d.bucket.is_none() {
                self.report(
                    &p.at("access"),
                    Diagnostic::new("`access` only applies to a bucket dependency").expected("access with `bucket:`"),
                );
            }
            if let Some(target) = &d.workload {
                self.check_workload_dependency(s, w, target, d.port.as_deref(), &p);
            }
            let lookups: [(&str, &Option<String>, Vec<&str>); 4] = [
                ("postgres", &d.postgres, ds.postgres.iter().map(|x| x.name.as_str()).collect()),
                ("redis", &d.redis, ds.redis.iter().map(|x| x.name.as_str()).collect()),
                ("bucket", &d.bucket, ds.buckets.iter().map(|x| x.name.as_str()).collect()),
                ("external", &d.external, s.external_services.iter().map(|x| x.name.as_str()).collect()),
            ];
            for (key, wanted, known) in lookups {
                let Some(wanted) = wanted else { continue };
                if !known.contains(&wanted.as_str()) {
                    let (what, section) = match key {
                        "postgres" => ("PostgreSQL store", "dataStores.postgres"),
                        "redis" => ("Redis store", "dataStores.redis"),
                        "bucket" => ("bucket", "dataStores.buckets"),
                        _ => ("external service", "externalServices"),
                    };
                    self.report(
                        &p.at(key),
                        Diagnostic::new(format!("workload `{}` depends on unknown {what} `{wanted}`", w.name))
                            .expected(if known.is_empty() {
                                format!("a {what} declared under `{section}` (there are none)")
                            } else {
                                format!("one of: {}", known.join(", "))
                            })
                            .hint(hint_for(
                                wanted,
                                known.iter().copied(),
                                format!("declare it under `{section}:` or correct the name"),
                            )),
                    );
                }
            }
        }
    }

    fn check_workload_dependency(
        &mut self,
        s: &spec::PlatformSpec,
        w: &spec::Workload,
        target: &str,
        port: Option<&str>,
        p: &SpecPath,
    ) {
        if target == w.name {
            self.report(
                &p.at("workload"),
                Diagnostic::new(format!("workload `{}` depends on itself", w.name))
                    .expected("a dependency on another workload"),
            );
            return;
        }
        let Some(t) = s.workloads.iter().find(|x| x.name == target) else {
            let known: Vec<&str> = s.workloads.iter().map(|x| x.name.as_str()).collect();
            self.report(
                &p.at("workload"),
                Diagnostic::new(format!("workload `{}` depends on unknown workload `{target}`", w.name))
                    .expected(format!("one of the declared workloads: {}", known.join(", ")))
                    .hint(hint_for(
                        target,
                        known.iter().copied(),
                        "declare it under `workloads:` or correct the name".into(),
                    )),
            );
            return;
        };
        if t.exposure == spec::Exposure::None {
            self.report(
                &p.at("workload"),
                Diagnostic::new(format!("`{}` depends on `{target}`, which is not exposed", w.name))
                    .expected(format!("`{target}` to have `exposure: internal` or `public`")),
            );
        }
        match port {
            Some(port) if !t.ports.iter().any(|pt| pt.name == port) => self.report(
                &p.at("port"),
                Diagnostic::new(format!("workload `{target}` has no port `{port}`"))
                    .expected(format!("one of its ports: {}", port_names(t))),
            ),
            None if t.ports.len() != 1 => self.report(
                &p.at("workload"),
                Diagnostic::new(format!("`{target}` has {} ports; which one is called?", t.ports.len()))
                    .expected(format!("`port:` naming one of {}", port_names(t))),
            ),
            _ => {}
        }
    }

    fn check_secrets(&mut self, w: &spec::Workload, path: &SpecPath) {
        let mut seen = HashSet::new();
        for (j, sec) in w.secrets.iter().enumerate() {
            let p = path.at(j);
            self.check_name(&p.at("name"), "secret", &sec.name, 63);
            if !seen.insert(sec.name.as_str()) {
                self.report(&p.at("name"), Diagnostic::new(format!("secret `{}` is listed twice", sec.name)));
            }
            if sec.keys.is_empty() {
                self.report(
                    &p.at("keys"),
                    Diagnostic::new(format!("secret `{}` has no keys", sec.name))
                        .expected("the keys the workload reads, e.g. [DATABASE_URL]"),
                );
            }
            if let Some(days) = sec.rotation_days
                && !(1..=365).contains(&days)
            {
                self.report(
                    &p.at("rotationDays"),
                    Diagnostic::new(format!("rotationDays is {days}"))
                        .expected("1 to 365 days (Secrets Manager's rotation window)"),
                );
            }
        }
    }

    fn check_environment(&mut self, s: &spec::PlatformSpec, name: &str, env: &spec::Environment, p: &SpecPath) {
        if !is_dns_label(name, 12) {
            self.report_key(
                p,
                Diagnostic::new(format!("invalid environment name `{name}`"))
                    .expected("lowercase letters, digits and `-`, at most 12 characters"),
            );
        }
        if let Some(cidr) = &env.vpc_cidr
            && let Some(vpc) = self.check_vpc(&p.at("vpcCidr"), cidr)
        {
            if s.network.subnets.is_some() {
                self.report(
                    &p.at("vpcCidr"),
                    Diagnostic::new("an environment VPC range cannot be combined with explicit subnets").expected(
                        "automatic subnet allocation (no `network.subnets`) when environments override vpcCidr",
                    ),
                );
            } else {
                self.check_layout(vpc, &s.network, &SpecPath::root().at("network"), &p.at("vpcCidr"));
            }
        }
        for (pool, o) in &env.node_pools {
            let pp = p.at("nodePools").at(pool.as_str());
            if !s.cluster.node_pools.iter().any(|np| &np.name == pool) {
                self.unknown_override(&pp, "node pool", pool, s.cluster.node_pools.iter().map(|x| x.name.as_str()));
            }
            if let Some(sc) = &o.scaling {
                self.check_scaling(&pp.at("scaling"), sc);
            }
            if o.spot_percentage.is_some_and(|v| v > 100) {
                self.report(&pp.at("spotPercentage"), Diagnostic::new("spotPercentage above 100").expected("0 to 100"));
            }
            if o.instance_types.as_ref().is_some_and(Vec::is_empty) {
                self.report(&pp.at("instanceTypes"), Diagnostic::new("empty instanceTypes").expected("at least one"));
            }
        }
        if let Some(id) = &env.efs_file_system_id
            && !(id.starts_with("fs-") && id.len() > 3 && id[3..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            self.report(
                &p.at("efsFileSystemId"),
                Diagnostic::new(format!("`{id}` is not an EFS file system ID")).expected("fs- followed by hex digits"),
            );
        }
        for db in env.postgres.keys() {
            if !s.data_stores.postgres.iter().any(|x| &x.name == db) {
                let pp = p.at("postgres").at(db.as_str());
                self.unknown_override(
                    &pp,
                    "postgres store",
                    db,
                    s.data_stores.postgres.iter().map(|x| x.name.as_str()),
                );
            }
        }
        for r in env.redis.keys() {
            if !s.data_stores.redis.iter().any(|x| &x.name == r) {
                let pp = p.at("redis").at(r.as_str());
                self.unknown_override(&pp, "redis store", r, s.data_stores.redis.iter().map(|x| x.name.as_str()));
            }
        }
        for (wname, o) in &env.workloads {
            let wp = p.at("workloads").at(wname.as_str());
            let Some(w) = s.workloads.iter().find(|x| &x.name == wname) else {
                self.unknown_override(&wp, "workload", wname, s.workloads.iter().map(|x| x.name.as_str()));
                continue;
            };
            match &w.autoscaling {
                None if o.min.is_some() || o.max.is_some() => self.report(
                    &wp,
                    Diagnostic::new(format!("`{wname}` sets min/max but the workload is not autoscaled"))
                        .expected("min/max only for workloads with `autoscaling:`"),
                ),
                None => {}
                Some(a) => {
                    let (min, max) = (o.min.unwrap_or(a.min), o.max.unwrap_or(a.max));
                    if min == 0 || min > max {
                        self.report(
                            &wp,
                            Diagnostic::new(format!("autoscaling min {min} / max {max} for `{wname}` in `{name}`"))
                                .expected("1 ≤ min ≤ max"),
                        );
                    }
                    let replicas = o.replicas.unwrap_or(w.replicas);
                    let at = if o.replicas.is_some() { wp.at("replicas") } else { wp.clone() };
                    self.check_replicas_within(replicas, min, max, &at, wname);
                }
            }
            if o.replicas.is_some() && !w.kind.is_long_running() {
                self.report(&wp.at("replicas"), Diagnostic::new(format!("`{wname}` is a job; it has no replicas")));
            }
        }
    }

    fn unknown_override<'n>(&mut self, p: &SpecPath, what: &str, name: &str, known: impl Iterator<Item = &'n str>) {
        let known: Vec<&str> = known.collect();
        self.report_key(
            p,
            Diagnostic::new(format!("override for unknown {what} `{name}`"))
                .expected(format!("one of: {}", known.join(", ")))
                .hint(hint_for(
                    name,
                    known.iter().copied(),
                    "overrides can only adjust what the base spec declares".into(),
                )),
        );
    }
}

fn port_names(w: &spec::Workload) -> String {
    if w.ports.is_empty() {
        return "(none)".to_string();
    }
    w.ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
}

fn tier_prefixes(n: &spec::Network) -> [(SubnetTier, u8); 3] {
    [
        (SubnetTier::Public, n.subnet_prefix.public),
        (SubnetTier::Private, n.subnet_prefix.private),
        (SubnetTier::Data, n.subnet_prefix.data),
    ]
}

/// RFC 1123 label: lowercase alphanumerics and `-`, starting with a letter, not ending in `-`.
fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Build one environment. Called only after every check passed, so lookups succeed; the few
/// that could still fail return a diagnostic rather than panicking.
fn build_env(s: &spec::PlatformSpec, name: &str, env: &spec::Environment) -> Result<Env, Box<Diagnostic>> {
    let internal =
        |what: &str| Box::new(Diagnostic::new(format!("internal error resolving environment `{name}`: {what}")));
    let vpc_text = env.vpc_cidr.as_deref().unwrap_or(&s.network.vpc_cidr);
    let vpc: Ipv4Net = vpc_text.parse().map_err(|_| internal("VPC range"))?;
    let azs = network::az_names(&s.aws.region, s.network.az_count);
    let subnets = match &s.network.subnets {
        Some(explicit) => {
            let mut out = Vec::new();
            for (tier, list) in [
                (SubnetTier::Public, &explicit.public),
                (SubnetTier::Private, &explicit.private),
                (SubnetTier::Data, &explicit.data),
            ] {
                for (az_index, (cidr, az)) in list.iter().zip(&azs).enumerate() {
                    let cidr = cidr.parse().map_err(|_| internal("subnet"))?;
                    out.push(Subnet { tier, az_index, az: az.clone(), cidr });
                }
            }
            out
        }
        None => network::allocate(vpc, &azs, tier_prefixes(&s.network)).map_err(|_| internal("subnets"))?,
    };

    let node_pools = s
        .cluster
        .node_pools
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if let Some(o) = env.node_pools.get(&p.name) {
                if let Some(t) = &o.instance_types {
                    p.instance_types = t.clone();
                }
                if let Some(sc) = o.scaling {
                    p.scaling = sc;
                }
                if let Some(sp) = o.spot_percentage {
                    p.spot_percentage = sp;
                }
            }
            p.on_demand_base = p.on_demand_base.min(p.scaling.max);
            p
        })
        .collect();

    let postgres = s
        .data_stores
        .postgres
        .iter()
        .map(|db| {
            let mut db = db.clone();
            if let Some(o) = env.postgres.get(&db.name) {
                if let Some(v) = &o.instance_class {
                    db.instance_class = v.clone();
                }
                if let Some(v) = o.multi_az {
                    db.multi_az = v;
                }
                if let Some(v) = o.read_replicas {
                    db.read_replicas = v;
                }
                if let Some(v) = o.storage_gib {
                    db.storage_gib = v;
                    db.max_storage_gib = db.max_storage_gib.max(v);
                }
                if let Some(v) = o.cross_region_backups {
                    db.cross_region_backups = v;
                }
            }
            db
        })
        .collect();

    let redis = s
        .data_stores
        .redis
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(o) = env.redis.get(&r.name) {
                if let Some(v) = &o.node_type {
                    r.node_type = v.clone();
                }
                if let Some(v) = o.replicas {
                    r.replicas = v;
                }
            }
            r
        })
        .collect();

    let buckets = s
        .data_stores
        .buckets
        .iter()
        .map(|b| Bucket { bucket_name: format!("{}-{name}", b.name), spec: b.clone() })
        .collect();

    let registry = format!("{}.dkr.ecr.{}.amazonaws.com", s.aws.account_id, s.aws.region);
    let workloads: Vec<Workload> = s
        .workloads
        .iter()
        .map(|w| {
            let mut w = w.clone();
            if let Some(o) = env.workloads.get(&w.name) {
                if let Some(r) = o.replicas {
                    w.replicas = r;
                }
                if let Some(a) = &mut w.autoscaling {
                    if let Some(v) = o.min {
                        a.min = v;
                    }
                    if let Some(v) = o.max {
                        a.max = v;
                    }
                    for sch in &mut a.schedules {
                        sch.replicas = sch.replicas.clamp(a.min, a.max);
                    }
                }
            }
            let image_ref = match &w.image.digest {
                Some(d) => format!("{registry}/{}:{}@{d}", w.image.repository, w.image.tag),
                None => format!("{registry}/{}:{}", w.image.repository, w.image.tag),
            };
            let secrets = w
                .secrets
                .iter()
                .map(|sec| Secret {
                    name: sec.name.clone(),
                    aws_name: format!("{}/{name}/{}", s.metadata.name, sec.name),
                    keys: sec.keys.clone(),
                    rotation_days: sec.rotation_days,
                })
                .collect();
            let contract = cerverus_contracts::for_container(&image_ref, &w.command, &w.args);
            Workload {
                service_account: w.service_account.clone().unwrap_or_else(|| w.name.clone()),
                image_ref,
                secrets,
                contract,
                spec: w,
            }
        })
        .collect();

    let graph = derive_graph(s, &workloads);
    Ok(Env {
        name: name.to_string(),
        cluster_name: s.cluster.name.clone().unwrap_or_else(|| format!("{}-{name}", s.metadata.name)),
        kubernetes_version: s.cluster.kubernetes_version.clone(),
        endpoint: env.endpoint.clone().unwrap_or_else(|| s.cluster.endpoint.clone()),
        log_types: s.cluster.log_types.iter().copied().collect::<BTreeSet<_>>().into_iter().collect(),
        log_retention_days: s.cluster.log_retention_days,
        ssh_key_name: s.cluster.ssh_key_name.clone(),
        admin_role_arns: s.cluster.admin_role_arns.clone(),
        network: NetworkLayout { vpc_cidr: vpc, azs, subnets, nat: env.nat.unwrap_or(s.network.nat) },
        node_pools,
        postgres,
        redis,
        buckets,
        recovery: s.recovery.clone(),
        external_services: s.external_services.clone(),
        namespaces: s.namespaces.clone(),
        workloads,
        graph,
        registry,
        efs_file_system_id: env.efs_file_system_id.clone(),
    })
}

fn derive_graph(s: &spec::PlatformSpec, workloads: &[Workload]) -> DependencyGraph {
    let mut edges = Vec::new();
    for w in workloads {
        for d in &w.spec.depends_on {
            let (to, port) = if let Some(t) = &d.workload {
                let Some(tw) = workloads.iter().find(|x| &x.spec.name == t) else { continue };
                let port = match &d.port {
                    Some(pn) => tw.spec.ports.iter().find(|p| &p.name == pn),
                    None => tw.spec.ports.first(),
                };
                let Some(port) = port else { continue };
                (
                    Target::Workload {
                        name: t.clone(),
                        namespace: tw.spec.namespace.clone(),
                        port_name: port.name.clone(),
                    },
                    Some(port.port),
                )
            } else if let Some(db) = &d.postgres {
                let port = s.data_stores.postgres.iter().find(|x| &x.name == db).map(|x| x.port);
                (Target::Postgres { name: db.clone() }, port)
            } else if let Some(r) = &d.redis {
                let port = s.data_stores.redis.iter().find(|x| &x.name == r).map(|x| x.port);
                (Target::Redis { name: r.clone() }, port)
            } else if let Some(b) = &d.bucket {
                let access = d.access.unwrap_or(spec::BucketAccess::Read);
                (Target::Bucket { name: b.clone(), access }, None)
            } else if let Some(e) = &d.external {
                let Some(ext) = s.external_services.iter().find(|x| &x.name == e) else { continue };
                (Target::External { name: e.clone(), hosts: ext.hosts.clone() }, Some(ext.port))
            } else {
                continue;
            };
            edges.push(Edge { from: w.spec.name.clone(), from_namespace: w.spec.namespace.clone(), to, port });
        }
    }
    // What the programs' runtime contracts require (the webserver fetching task logs from the
    // workers), so policies and security groups open it like any declared dependency.
    edges.extend(crate::runtime::contract_edges(workloads));
    DependencyGraph::new(edges)
}

/// The known name closest to `wanted`, when it is close enough to be a likely typo.
fn did_you_mean<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).max(2);
    known.into_iter().map(|k| (edit_distance(wanted, k), k)).filter(|(d, _)| *d <= limit).min().map(|(_, k)| k)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A hint that suggests the closest known name, or falls back to `otherwise`.
fn hint_for<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>, otherwise: String) -> String {
    match did_you_mean(wanted, known) {
        Some(k) => format!("did you mean `{k}`?"),
        None => otherwise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["inference-service", "alerts-api", "general"];
        assert_eq!(did_you_mean("inference-svc", known), Some("inference-service"));
        assert_eq!(did_you_mean("genral", known), Some("general"));
        assert_eq!(did_you_mean("postgres", known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
