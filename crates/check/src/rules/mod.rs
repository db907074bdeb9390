//! The rules: stable IDs, severities, and what to tell a person about each. The checks live in
//! one module per file family; each reports through [`Sink`], which applies waivers.

pub mod capacity;
pub mod docker;
// Run-time classes (egress cut, runtime contracts, GPU, escalation, quotas).
pub mod egress;
pub mod escalation;
pub mod gpu;
pub mod k8s;
pub mod netpol;
pub mod quota;
pub mod runtime;
pub mod terraform;
// Terraform/AWS classes across files and modules.
pub mod cni;
pub mod iam;
pub mod tf_plan;
pub mod tf_refs;
pub mod wiring;
pub mod workflow;
// PromQL, autoscaler metric semantics, Helm values against the pinned chart.
pub mod autoscaling_metrics;
pub mod helm_values;
pub mod promql;

use crate::finding::{Finding, Severity};

/// A file that could not be parsed.
pub const PARSE_ERROR: &str = "CV-META-000";
/// A waiver that gives no reason.
pub const WAIVER_WITHOUT_REASON: &str = "CV-META-001";

/// One rule's documentation.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub rationale: &'static str,
    pub remediation: &'static str,
    pub references: &'static [&'static str],
    /// checkov checks that judge the same thing (for the agreement test and for users moving over).
    pub checkov: &'static [&'static str],
}

const PSS: &str = "Kubernetes Pod Security Standards, restricted profile";
const NSA: &str = "NSA/CISA Kubernetes Hardening Guide (2022)";
const CIS_EKS: &str = "CIS Amazon EKS Benchmark";
const AWS_FSBP: &str = "AWS Foundational Security Best Practices";

macro_rules! rule {
    ($id:literal, $sev:ident, $title:literal, $why:literal, $fix:literal, [$($r:expr),*], [$($c:literal),*]) => {
        Rule { id: $id, severity: Severity::$sev, title: $title, rationale: $why, remediation: $fix, references: &[$($r),*], checkov: &[$($c),*] }
    };
}

pub const RULES: &[Rule] = &[
    rule!(
        "CV-META-000",
        Critical,
        "File cannot be parsed",
        "A file nobody can parse is a file nobody checked; it must not pass silently.",
        "Fix the syntax error at the reported line.",
        [],
        []
    ),
    rule!(
        "CV-META-001",
        High,
        "Waiver without a reason",
        "An unexplained exception cannot be reviewed or revisited.",
        "Write the reason after the rule ID: `cerverus.io/skip: ID=reason` or `# cerverus:skip=ID reason`.",
        [],
        []
    ),
    rule!(
        "CV-META-002",
        Medium,
        "Duplicate mapping key",
        "YAML forbids a key twice in one mapping, and tools disagree on which value counts: the API server keeps the later one when field validation only warns or ignores, and rejects the object under strict field validation (`kubectl --validate=strict`); YAML libraries differ (some keep the first, some fail) — so what was reviewed may not be what runs. The document is still judged with the later value.",
        "Remove one of the two entries, keeping the value that is meant.",
        [
            "https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation",
            "https://yaml.org/spec/1.2.2/#mapping"
        ],
        []
    ),
    rule!(
        "CV-K8S-001",
        Critical,
        "Privileged container",
        "A privileged container has every capability and access to host devices: it is root on the node.",
        "Remove `privileged: true`; grant the one capability needed, if any.",
        [PSS, NSA, CIS_EKS],
        ["CKV_K8S_16"]
    ),
    rule!(
        "CV-K8S-002",
        High,
        "Host namespaces shared",
        "hostNetwork, hostPID or hostIPC let a pod see and reach the node's processes and network.",
        "Remove hostNetwork/hostPID/hostIPC.",
        [PSS, NSA],
        ["CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19"]
    ),
    rule!(
        "CV-K8S-003",
        High,
        "hostPath volume",
        "hostPath mounts expose the node's filesystem to the pod.",
        "Use a PersistentVolumeClaim, an emptyDir or a projected volume.",
        [PSS, NSA],
        []
    ),
    rule!(
        "CV-K8S-004",
        High,
        "Capabilities not dropped",
        "Containers keep Linux capabilities they do not need unless ALL are dropped; added capabilities widen the attack surface.",
        "Set `capabilities.drop: [ALL]` and add back only NET_BIND_SERVICE if needed.",
        [PSS, NSA],
        ["CKV_K8S_37"]
    ),
    rule!(
        "CV-K8S-005",
        High,
        "Container may run as root",
        "A process running as UID 0 that escapes its container is root on the node.",
        "Set `runAsNonRoot: true` and a non-zero `runAsUser`.",
        [PSS, NSA, CIS_EKS],
        ["CKV_K8S_23"]
    ),
    rule!(
        "CV-K8S-006",
        High,
        "Privilege escalation allowed",
        "Without `allowPrivilegeEscalation: false`, setuid binaries can gain privileges.",
        "Set `allowPrivilegeEscalation: false` on every container.",
        [PSS, NSA],
        ["CKV_K8S_20"]
    ),
    rule!(
        "CV-K8S-007",
        Medium,
        "No seccomp profile",
        "Without seccomp the container can call every syscall the kernel offers.",
        "Set `seccompProfile.type: RuntimeDefault` on the pod or container.",
        [PSS, NSA],
        ["CKV_K8S_31"]
    ),
    rule!(
        "CV-K8S-008",
        Medium,
        "Writable root filesystem",
        "A writable root filesystem lets an attacker drop tools and persist changes.",
        "Set `readOnlyRootFilesystem: true`; mount emptyDirs where the app writes.",
        [NSA],
        ["CKV_K8S_22"]
    ),
    rule!(
        "CV-K8S-009",
        Medium,
        "Missing resource requests or memory limit",
        "Pods without requests are scheduled blind; without a memory limit one pod can starve its node.",
        "Set cpu and memory requests and a memory limit.",
        [NSA, CIS_EKS],
        ["CKV_K8S_10", "CKV_K8S_12", "CKV_K8S_13"]
    ),
    rule!(
        "CV-K8S-010",
        Low,
        "Missing liveness or readiness probe",
        "Without probes Kubernetes cannot tell a hung or unready pod from a healthy one.",
        "Add livenessProbe and readinessProbe.",
        [],
        ["CKV_K8S_8", "CKV_K8S_9"]
    ),
    rule!(
        "CV-K8S-011",
        High,
        "Image without a version",
        "`:latest` or no tag means every pull may run different code; rollbacks are guesses.",
        "Reference a version tag, better a digest.",
        [NSA],
        ["CKV_K8S_14"]
    ),
    rule!(
        "CV-K8S-012",
        Low,
        "Image not pinned by digest",
        "A tag can be moved; a digest cannot.",
        "Reference images as `repo:tag@sha256:…`.",
        [],
        ["CKV_K8S_43"]
    ),
    rule!(
        "CV-K8S-013",
        Low,
        "Service account token mounted",
        "A mounted token is a credential for the API server that most workloads never use.",
        "Set `automountServiceAccountToken: false` unless the workload calls the API.",
        [NSA, CIS_EKS],
        ["CKV_K8S_38"]
    ),
    rule!(
        "CV-K8S-014",
        High,
        "RBAC wildcard",
        "`*` in verbs, resources or API groups grants today's and tomorrow's permissions.",
        "List exactly the verbs, resources and groups needed.",
        [CIS_EKS, NSA],
        ["CKV_K8S_49"]
    ),
    rule!(
        "CV-K8S-015",
        High,
        "RBAC escalation verbs",
        "`escalate`, `bind` and `impersonate` let a subject grant itself more than it has.",
        "Remove escalate/bind/impersonate.",
        [CIS_EKS],
        []
    ),
    rule!(
        "CV-K8S-016",
        Medium,
        "RBAC reads secrets",
        "Reading Secrets reads every credential in the namespace (or cluster). A `*` grants reading too: `*` verbs, `*` resources or `*` API groups cover get/list/watch on core `secrets`.",
        "Mount the one secret the workload needs instead of granting get/list/watch (or `*`) on secrets.",
        [CIS_EKS],
        []
    ),
    rule!(
        "CV-K8S-017",
        High,
        "Binding to cluster-admin",
        "cluster-admin is every permission on everything.",
        "Bind a narrower role; keep cluster-admin for a documented break-glass account and waive it there.",
        [CIS_EKS],
        []
    ),
    rule!(
        "CV-K8S-018",
        Medium,
        "Service exposed on nodes or a load balancer",
        "NodePort and LoadBalancer Services bypass the ingress path and its TLS and policies.",
        "Use ClusterIP behind the ingress gateway.",
        [NSA],
        []
    ),
    rule!(
        "CV-K8S-019",
        Low,
        "Ingress or Gateway without TLS",
        "Traffic to the ingress is readable and forgeable on the wire (Kubernetes Ingress without `tls`, Istio Gateway serving plain HTTP without a redirect or HTTPS without TLS settings).",
        "Add a `tls` section with a certificate.",
        [NSA],
        []
    ),
    rule!(
        "CV-K8S-020",
        Medium,
        "Namespace without default-deny NetworkPolicy",
        "Without a default deny every pod accepts traffic from everywhere in the cluster.",
        "Add a NetworkPolicy with an empty podSelector and policyTypes [Ingress, Egress].",
        [NSA, CIS_EKS],
        []
    ),
    rule!(
        "CV-K8S-021",
        Medium,
        "Pod selected by no NetworkPolicy",
        "Pods no policy selects accept and send anything. (checkov's CKV2_K8S_6 is close but counts an empty-selector policy of any namespace as covering every pod; this rule counts only policies of the pod's own namespace, as Kubernetes does.)",
        "Add a NetworkPolicy whose podSelector matches the pod.",
        [NSA],
        []
    ),
    rule!(
        "CV-K8S-022",
        High,
        "Image from a registry that is not allowed",
        "Images from unreviewed registries bypass the scanning and signing of the platform's own registry. (Enabled by `allowedRegistries` in --config.)",
        "Push the image to an allowed registry and reference it there.",
        [NSA],
        []
    ),
    rule!(
        "CV-NET-001",
        High,
        "Declared dependency not allowed by the policies",
        "A call the spec declares is blocked by the NetworkPolicies or AuthorizationPolicies: the feature breaks in the cluster. (Checked with --spec.)",
        "Render the policies from the spec again, or fix the hand-written policy.",
        [],
        []
    ),
    rule!(
        "CV-NET-002",
        Medium,
        "Allowed connection not declared",
        "The policies allow a call no workload declares: more reachability than intended. (Checked with --spec.)",
        "Narrow the policy, or declare the dependency in the spec.",
        [NSA],
        []
    ),
    // Run-time classes: what a pod needs at run time that the files take away.
    rule!(
        "CV-NET-003",
        High,
        "IRSA pod cannot reach STS",
        "A pod whose ServiceAccount carries `eks.amazonaws.com/role-arn` exchanges its web-identity token at STS on TCP 443; with an STS interface endpoint that address is inside the VPC. Egress that allows 443 only to public addresses (`0.0.0.0/0` except the private ranges) leaves the pod without AWS credentials. In-VPC means the VPC CIDR when a `.tfvars` `vpc_cidr` or an `aws_vpc` of the same environment says it, else the private ranges the pod's policies name, else any RFC 1918 range.",
        "Allow TCP 443 to the VPC CIDR (or the STS endpoint's subnets) in the pod's egress policy.",
        ["Amazon EKS: IAM roles for service accounts", "AWS STS regional endpoints and interface VPC endpoints"],
        []
    ),
    rule!(
        "CV-NET-004",
        High,
        "Pod that calls the API server cannot reach it",
        "A pod that mounts a service-account token and whose account is bound to a Role or ClusterRole talks to the API server on TCP 443. On EKS the control plane's endpoints are ENIs inside the VPC (in-VPC as for CV-NET-003); a CNI may also judge the `kubernetes` Service address before translation, so 443 to the cluster's Service range counts too (from `service_ipv4_cidr` in a `.tfvars` or an `aws_eks_cluster`, else EKS's defaults 10.100.0.0/16 and 172.20.0.0/16).",
        "Allow TCP 443 to the VPC CIDR (or the Service range) in the pod's egress policy, or stop mounting the token if the pod never calls the API.",
        ["Kubernetes NetworkPolicy: traffic to the API server", "Amazon EKS cluster endpoint access"],
        []
    ),
    rule!(
        "CV-NET-005",
        High,
        "Restricted egress without DNS",
        "A pod whose egress is restricted (but not denied entirely) resolves every name through kube-dns; without 53/UDP and 53/TCP to `kube-system` pods labelled `k8s-app: kube-dns` every lookup times out.",
        "Add an egress rule to namespace kube-system, pods `k8s-app: kube-dns`, ports 53/UDP and 53/TCP.",
        ["Kubernetes NetworkPolicy recipes: allow DNS"],
        []
    ),
    rule!(
        "CV-NET-006",
        Medium,
        "Scraped pod does not admit Prometheus",
        "A ServiceMonitor or PodMonitor scrapes a port the pod's ingress policies do not open to the Prometheus pods: the target stays down and alerts on its metrics never fire. (Prometheus is located by a `Prometheus` resource, pods labelled `app.kubernetes.io/name: prometheus`, or a NetworkPolicy written for such pods, in the same environment; without one the rule does not judge.)",
        "Allow ingress on the metrics port from the Prometheus namespace (and pods) in the scraped pod's policy.",
        ["Prometheus Operator: ServiceMonitor and PodMonitor"],
        []
    ),
    rule!(
        "CV-NET-007",
        High,
        "Connection a component's runtime contract needs is cut",
        "The runtime contract (data/runtime-contracts.json) of a container lists what the program must reach: its database, cache, the API server, AWS APIs, another component (e.g. the Airflow webserver fetching task logs from workers on 8793). A NetworkPolicy that cuts one — the source's egress or, for another component of the input, the destination's ingress — breaks the program at run time. Databases, caches, EFS and kubelets are taken to be inside the VPC (as for CV-NET-003).",
        "Allow the connection in the source's egress policy and the destination's ingress policy.",
        ["Kubernetes NetworkPolicy", "Apache Airflow: logging for tasks (serving logs from workers)"],
        []
    ),
    rule!(
        "CV-K8S-023",
        Critical,
        "Cluster-admin reachable through pod creation",
        "Whoever may create a pod in a namespace may run it as any ServiceAccount there and use its token; permission to create a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or Rollout is the same, since the controller creates the pod. A namespace holding an account bound to cluster-admin (or to a role with `*` verbs on `*` resources, or escalate/bind/impersonate) makes every such creator cluster-admin.",
        "Move the all-powerful account to a namespace nobody else may create pods or workload controllers in, or take the create permission away.",
        [CIS_EKS, "Kubernetes RBAC good practices: workload creation"],
        []
    ),
    rule!(
        "CV-HA-005",
        High,
        "Pod fits no node its node group launches",
        "A node group launches, and Cluster Autoscaler models, its first instance type; a pod whose requests exceed one such node's allocatable never triggers a scale-up and stays Pending, even if a later type in the list would hold it. (Groups from `.tfvars` node_groups or aws_eks_node_group; the pod lands on groups whose labels include its nodeSelector and whose NoSchedule taints it tolerates; allocatable per data/instance-types.json, EKS AMI reservations minus a DaemonSet allowance.)",
        "Lower the pod's requests, or put a larger instance type first in the node group.",
        ["Cluster Autoscaler FAQ: mixed instance types (AWS)", "Amazon EKS managed node groups: instance types"],
        []
    ),
    rule!(
        "CV-QUOTA-001",
        High,
        "ResourceQuota blocks a max-scale rollout",
        "At peak every workload of the namespace runs at its autoscaling ceiling plus its rollout surge (Deployment/Rollout maxSurge, default 25% rounded up; blue-green doubles, and so does a traffic-routed canary unless dynamicStableScale shrinks stable, then its largest weight step) while its Jobs and CronJobs run; a quota below that sum (requests, limits, GPUs, pods) rejects pods exactly then. (LimitRange defaults apply; DaemonSets and scoped quotas are not counted.)",
        "Raise the quota to the peak, or lower maxReplicas, maxSurge or requests.",
        ["Kubernetes Resource Quotas", "Kubernetes Deployment rolling update: maxSurge"],
        []
    ),
    rule!(
        "CV-QUOTA-002",
        High,
        "ResourceQuota forbids the namespace's LoadBalancer Service",
        "`services.loadbalancers` below the number of `type: LoadBalancer` Services in the namespace: the API server rejects the Service and its gateway never gets an address.",
        "Raise `services.loadbalancers`, or expose the gateway another way.",
        ["Kubernetes Resource Quotas: object count quota"],
        []
    ),
    rule!(
        "CV-RT-001",
        High,
        "Setting delivered as a file the component reads from the environment",
        "The component's runtime contract (data/runtime-contracts.json) says it reads this setting from an environment variable (or its `_CMD`/`_SECRET` indirect forms); a Secret or ConfigMap file named like the variable is never read, so the component starts without it (e.g. Airflow without its metadata database URL).",
        "Keep the secret a mounted file and point the program at it in a form it reads: the `_CMD` form (`..._CMD=cat /path/KEY`) or `_SECRET` for the settings the component honours them for; use `env.valueFrom.secretKeyRef` only for settings with no indirect form (it puts the value in the process environment, CKV_K8S_35).",
        ["Apache Airflow: Setting configuration options"],
        []
    ),
    rule!(
        "CV-RT-002",
        High,
        "Component writes where its root filesystem is read-only",
        "With `readOnlyRootFilesystem: true` only volume mounts are writable; a path the component's runtime contract says it writes (logs, pid files, generated config) without a writable volume makes it fail at start or at first write.",
        "Mount an emptyDir (or a PVC) at each path the component writes.",
        [NSA, "Apache Airflow: production deployment"],
        []
    ),
    rule!(
        "CV-RT-003",
        Medium,
        "Probe timeout below the component's health check",
        "An exec or HTTP probe that gives up before the component's health check can answer (its runtime contract's timeout) restarts or unreadies healthy pods; CLI checks that start an interpreter are the usual case.",
        "Set the probe's `timeoutSeconds` at least to the contract's.",
        ["Kubernetes: configure liveness, readiness and startup probes"],
        []
    ),
    rule!(
        "CV-GPU-001",
        High,
        "GPU requested on nodes no device plugin serves",
        "`nvidia.com/gpu` is advertised only on nodes where the NVIDIA device plugin runs. The chart (0.15+) schedules only on nodes labelled `nvidia.com/gpu.present=true` or carrying Node Feature Discovery's NVIDIA PCI/CPU vendor labels; a node group that declares neither (and no NFD) never advertises a GPU and GPU pods stay Pending. (Plugin from a DaemonSet in the input or the pinned chart in a charts.yaml with its values, merged over the pinned version's defaults from data/reference/helm; node labels from the node groups.)",
        "Label the GPU node group `nvidia.com/gpu.present: \"true\"` (or deploy NFD), or set the plugin's affinity/nodeSelector to the GPU nodes' labels.",
        ["NVIDIA k8s-device-plugin chart values (affinity)", "Kubernetes: schedule GPUs"],
        []
    ),
    rule!(
        "CV-HA-004",
        High,
        "Autoscaling ceiling beyond node capacity",
        "When every workload pinned to a set of node groups reaches its HPA maximum, their requests exceed what those groups can hold at their maximum size: pods stay Pending exactly during the peak. (Node groups from `.tfvars` node_groups or aws_eks_node_group; capacity model in data/instance-types.json.)",
        "Raise the node groups' max size or instance size, or lower maxReplicas or requests.",
        [],
        []
    ),
    rule!(
        "CV-WIRE-001",
        Medium,
        "Service selects no pod",
        "A Service whose selector matches no pod template routes to nothing; usually a label typo.",
        "Make the selector match the workload's pod labels.",
        [],
        []
    ),
    rule!(
        "CV-WIRE-002",
        Medium,
        "ServiceMonitor selects no Service",
        "Prometheus scrapes nothing and no alert fires on the missing metrics.",
        "Make the selector (and namespaceSelector) match the Service's labels.",
        [],
        []
    ),
    rule!(
        "CV-WIRE-003",
        High,
        "Reference that does not resolve",
        "A pod that mounts a missing Secret, ConfigMap or PVC never starts.",
        "Add the object, its ExternalSecret, or fix the name.",
        [],
        []
    ),
    rule!(
        "CV-WIRE-004",
        High,
        "Rollout analysis template missing",
        "A canary whose analysis template does not exist cannot be promoted or rolled back automatically.",
        "Add the AnalysisTemplate (or ClusterAnalysisTemplate) or fix `templateName`.",
        [],
        []
    ),
    rule!(
        "CV-HA-001",
        High,
        "PodDisruptionBudget blocks node drains",
        "A budget that allows no disruption at the workload's minimum replicas stalls every node drain and upgrade.",
        "Use `maxUnavailable: 1` (or a minAvailable below the minimum replicas).",
        [CIS_EKS],
        []
    ),
    rule!(
        "CV-HA-002",
        Medium,
        "Replicated workload without a PodDisruptionBudget",
        "Drains and autoscaler scale-downs may evict every replica at once.",
        "Add a PodDisruptionBudget with `maxUnavailable: 1`.",
        [],
        []
    ),
    rule!(
        "CV-HA-003",
        Medium,
        "Replicas not spread across zones",
        "Without zone spreading all replicas can land in one availability zone and fall with it.",
        "Add a topologySpreadConstraint on `topology.kubernetes.io/zone`.",
        [],
        []
    ),
    rule!(
        "CV-TF-001",
        High,
        "S3 bucket without a full public access block",
        "One ACL or policy mistake makes the bucket public.",
        "Add aws_s3_bucket_public_access_block with all four settings true.",
        [AWS_FSBP, "CIS AWS Foundations 2.1.5"],
        ["CKV2_AWS_6"]
    ),
    rule!(
        "CV-TF-002",
        High,
        "S3 bucket without default encryption configuration",
        "Objects written without encryption headers are stored under the default key only; a KMS key is auditable.",
        "Add aws_s3_bucket_server_side_encryption_configuration (aws:kms).",
        [AWS_FSBP],
        []
    ),
    rule!(
        "CV-TF-003",
        Critical,
        "Security group open to the internet",
        "Ingress from 0.0.0.0/0 on anything but 80/443 exposes admin and data ports.",
        "Restrict the source to a security group or known CIDRs.",
        [AWS_FSBP, "CIS AWS Foundations 5.2"],
        ["CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260"]
    ),
    rule!(
        "CV-TF-004",
        High,
        "Instance metadata v1 allowed",
        "IMDSv1 lets SSRF bugs steal the instance role's credentials.",
        "Set `metadata_options { http_tokens = \"required\" }`.",
        [AWS_FSBP, CIS_EKS],
        ["CKV_AWS_79"]
    ),
    rule!(
        "CV-TF-005",
        Critical,
        "RDS instance publicly accessible",
        "A database reachable from the internet is one password away from a breach.",
        "Set `publicly_accessible = false`; reach it from inside the VPC.",
        [AWS_FSBP],
        ["CKV_AWS_17"]
    ),
    rule!(
        "CV-TF-006",
        High,
        "Storage not encrypted",
        "Unencrypted volumes and databases leak data through snapshots and disks.",
        "Enable encryption (`storage_encrypted`, `encrypted`) with a KMS key.",
        [AWS_FSBP],
        ["CKV_AWS_16", "CKV_AWS_8"]
    ),
    rule!(
        "CV-TF-007",
        Critical,
        "IAM policy allows * on *",
        "Action \"*\" on Resource \"*\" is administrator access.",
        "Name the actions and resources the principal needs.",
        [AWS_FSBP, "CIS AWS Foundations 1.16"],
        ["CKV_AWS_1", "CKV_AWS_62"]
    ),
    rule!(
        "CV-TF-008",
        Medium,
        "Audit logging incomplete",
        "Without control-plane audit logs or a multi-region trail, incidents cannot be reconstructed.",
        "Enable all EKS control-plane log types; make CloudTrail multi-region.",
        [AWS_FSBP, CIS_EKS],
        ["CKV_AWS_37", "CKV_AWS_67"]
    ),
    // Terraform and AWS classes judged across files and modules (rules/tf_refs.rs, tf_plan.rs,
    // iam.rs, cni.rs; structure in hcl_index.rs).
    rule!(
        "CV-TF-009",
        High,
        "Terraform reference that does not resolve",
        "`terraform validate` (and every plan) fails on a reference to something the module does not declare: `var.x` without `variable \"x\"`, `local.x` without a local, `module.m` without a module block or `module.m.out` where the called module has no such output, `aws_x.n` or `data.aws_x.n` without that block. Names resolve per module directory, never across directories. Judged only for directories whose `.tf` files on disk are all among the inputs (and that have no `.tf.json` files, which are not read); outputs only of local modules (`source = \"./…\"` or `\"../…\"`) found among the inputs. Attributes of resources are not checked against the provider schema.",
        "Declare the variable, local, output or block, or fix the name.",
        ["Terraform: References to named values", "terraform validate"],
        []
    ),
    rule!(
        "CV-TF-010",
        High,
        "Module call does not match the module's variables",
        "Terraform rejects a `module` block that passes an argument the called module does not declare as a variable (\"Unsupported argument\") or omits a variable without a default (\"Missing required argument\"). Judged for local modules found complete among the inputs.",
        "Pass exactly the module's variables: declare the missing variable in the module, or remove the argument; pass every variable that has no default.",
        ["Terraform: Module blocks, input variables"],
        []
    ),
    rule!(
        "CV-TF-011",
        High,
        "for_each or count depends on values known only after apply",
        "Terraform must know a `for_each`'s keys (and a `count`) when it plans: \"Invalid for_each argument … depends on resource attributes that cannot be determined until apply\". The checker evaluates what is known at plan time through locals, variables (every caller's argument) and module outputs: literals, root variables and data sources whose arguments are known are known; an attribute of a managed resource is known only when the configuration sets it from known values (ids, ARNs and everything else the provider computes are unknown); a data source whose arguments are unknown (an `aws_iam_policy_document` built on a bucket ARN) is read at apply, so all of it is unknown. A map is fine with unknown values, but its keys must be known; a `for` expression's `if` clause decides the keys, so it must be known; a set's elements are its keys; `count` must be known entirely. Limits: a module the checker cannot see (registry or git source, or a directory not among the inputs) is taken as known, and so is a variable of a module whose callers are not among the inputs; functions are approximated (a function of unknown arguments is unknown; `merge`, `concat`, `values`, `keys`, `toset`, `length`, `lookup`, `try`, `zipmap`, `flatten` keep the shape they have); an attribute the configuration does not set is unknown even where the provider plans it as null (the schema data does not say which attributes are computed), so `x.optional_attr == null` on an unset, non-computed attribute is a false positive to waive; refinements providers may add to unknown values (\"not null\") are not modelled, nor data sources deferred to apply by `depends_on`, nor `-target`.",
        "Key `for_each` on names from configuration (`for k, v in var.x : k => v` without a condition on computed values, or a separate known flag such as `has_policy = true`), and pass the computed value only as the map's values.",
        [
            "Terraform: The for_each meta-argument (limitations on values used in for_each)",
            "Terraform: The count meta-argument"
        ],
        []
    ),
    rule!(
        "CV-IAM-001",
        High,
        "aws:ResourceTag condition on an action that creates the resource",
        "A resource being created has no tags yet, so a condition on `aws:ResourceTag/…` (or `<service>:ResourceTag/…`) of an Allow statement is never true for a create action on it (`*:Create*`, `ec2:RunInstances`, …): the call is denied. The tags a request sets are `aws:RequestTag/…`. Judged in `aws_iam_policy_document` statements and inline JSON policies (`jsonencode({…})`, JSON strings and heredocs) of `aws_iam_policy`, `aws_iam_role_policy`, `aws_iam_user_policy`, `aws_iam_group_policy` and `aws_iam_role` `inline_policy`, when a statement's resources are `*` or name the created resource type. Tagging actions (`ec2:CreateTags`, `elasticloadbalancing:AddTags`) act on existing resources and may be conditioned on their tags, but a create request that passes tags (its statement conditions `aws:RequestTag/…`) is also authorised for the tagging action on the new resource: when the same policy allows that tagging action only under `aws:ResourceTag`, the create is denied, and that is flagged too for EC2 and ELB (their reference policies add a statement conditioned on `ec2:CreateAction` / `elasticloadbalancing:CreateAction`; EFS evaluates `aws:ResourceTag` against the requested tags, so its `TagResource` is not judged). Not flagged: `Null` tests that require the tag to be absent, `…IfExists` operators, creating actions authorised on an existing parent (`CreateGrant`, `CreateLogStream`, `CreateAssociation`, `CreatePolicyVersion`, EFS `CreateAccessPoint`/`CreateMountTarget`, …), wildcard actions such as `ec2:*`, resources of another type (a `CreateSnapshot` allowed on tagged volumes), and resources given as expressions.",
        "Condition create actions on `aws:RequestTag/…`, and keep `aws:ResourceTag/…` for actions on existing resources (as the upstream reference policies do).",
        [
            "AWS IAM: Controlling access to AWS resources using tags (aws:RequestTag vs aws:ResourceTag)",
            "AWS Load Balancer Controller reference IAM policy"
        ],
        []
    ),
    rule!(
        "CV-IAM-002",
        High,
        "Secret readable without decrypt on its KMS key",
        "Secrets Manager decrypts a secret encrypted with a customer managed key on behalf of the caller: `secretsmanager:GetSecretValue` fails with AccessDenied unless the principal may also `kms:Decrypt` that key. The checker resolves the secrets a policy grants `GetSecretValue` on (`aws_secretsmanager_secret` references, RDS `manage_master_user_password` secrets through `master_user_secret`, through locals, variables and module outputs) and their keys (`kms_key_id`, `master_user_secret_kms_key_id`), and requires a `kms:Decrypt` grant on each key (or `*`) in the same policy or another policy attached to the same role in the input. Limits: secrets named by ARN strings or wildcards (`secret:app/*`) are not matched to secrets; a secret without a customer key (the AWS managed `aws/secretsmanager` key) needs no grant; a policy that reaches its role through module arguments is judged with the policies attached to that role in the role's module, and a policy attached to no role in the input is judged on its own; key policies and grants are not read; when a decrypt grant names a key the checker cannot trace, or the role has a managed policy it cannot read (an administrator policy, a policy ARN from a variable), or the document is attached to users or groups as well, it does not judge.",
        "Add a statement allowing `kms:Decrypt` on each key that encrypts a secret the principal reads (e.g. the database module's key for the RDS master secret).",
        [
            "AWS Secrets Manager: Authentication and access control (permissions for customer managed keys)",
            "AWS KMS: kms:ViaService"
        ],
        []
    ),
    rule!(
        "CV-CNI-001",
        High,
        "NetworkPolicies that the cluster's CNI does not enforce",
        "Amazon VPC CNI enforces Kubernetes NetworkPolicies only when its add-on is configured with `enableNetworkPolicy: \"true\"` (in `configuration_values` of `aws_eks_addon` \"vpc-cni\"); otherwise every policy in the input is accepted by the API server and ignored, and the isolation it describes does not exist. Flagged when the input holds NetworkPolicy objects and a vpc-cni add-on of the same environment without that setting, and no other enforcing network plugin is in the input (Calico or Cilium DaemonSets, Tigera operator `Installation`, an Argo CD Application or Flux HelmRelease of their chart, a chart list `charts.yaml` entry, or a `helm_release` of cilium, calico or tigera-operator). An add-on in a shared module belongs to every environment whose root module calls it (`envs/<env>/`), and Kubernetes objects to the environment of their path (`kubernetes/<env>/`). A `configuration_values` the checker cannot read (a variable) is not judged.",
        "Set `configuration_values = jsonencode({ enableNetworkPolicy = \"true\" })` on the vpc-cni add-on (VPC CNI 1.14 or later), or install a CNI that enforces NetworkPolicies.",
        [
            "Amazon EKS: Limit pod traffic with Kubernetes network policies",
            "Amazon VPC CNI add-on configuration schema"
        ],
        []
    ),
    rule!(
        "CV-DOCKER-001",
        High,
        "Image runs as root",
        "Without a non-root USER the container process runs as root.",
        "Add `USER <uid>` (non-zero) after the last installation step.",
        [NSA],
        ["CKV_DOCKER_3"]
    ),
    rule!(
        "CV-DOCKER-002",
        Medium,
        "ADD from a URL",
        "ADD downloads without checksum verification.",
        "Use `RUN curl … && echo '<sha256>  file' | sha256sum -c`, or COPY.",
        [],
        ["CKV_DOCKER_4"]
    ),
    rule!(
        "CV-DOCKER-003",
        Medium,
        "Base image without a version",
        "`FROM image` or `:latest` changes under you.",
        "Pin the base image tag, better its digest.",
        [],
        ["CKV_DOCKER_7"]
    ),
    rule!(
        "CV-GHA-001",
        Medium,
        "Action not pinned to a commit",
        "A tag of a third-party action can be moved to malicious code.",
        "Pin `uses:` to a full commit SHA (keep the tag in a comment).",
        ["GitHub security hardening for Actions"],
        []
    ),
    rule!(
        "CV-GHA-002",
        Medium,
        "Workflow permissions too broad",
        "The default token can write to the repository; a compromised step inherits that.",
        "Set top-level `permissions:` to the minimum (e.g. `contents: read`).",
        ["GitHub security hardening for Actions"],
        ["CKV2_GHA_1"]
    ),
    rule!(
        "CV-GHA-003",
        High,
        "Script injection from event data",
        "Titles, bodies and branch names are attacker-controlled; `${{ }}` pastes them into the shell.",
        "Pass event data through `env:` and quote it in the script.",
        ["GitHub security hardening for Actions"],
        []
    ),
    // PromQL and autoscaler metric semantics (rules/promql.rs, rules/autoscaling_metrics.rs).
    rule!(
        "CV-PROM-001",
        High,
        "PromQL query does not parse",
        "A query Prometheus rejects fails at run time, not at apply time: a KEDA trigger whose query does not parse never produces a metric (the HPA sees errors and holds or falls back), a PrometheusRule with a bad `expr` is refused by the operator's admission webhook or never evaluates, and an analysis metric errors every run. Queries are parsed with `promql-parser` (the Prometheus grammar, including type checks such as `rate` of an instant vector); Argo Rollouts `{{args.*}}` placeholders are replaced by a value of the kind their position needs before parsing.",
        "Fix the query at the reported line (the parser's message says what is wrong); try it in the Prometheus UI or `promtool`.",
        ["Prometheus: Querying basics", "KEDA Prometheus scaler", "Prometheus Operator PrometheusRule"],
        []
    ),
    rule!(
        "CV-PROM-002",
        High,
        "PromQL query does not return the one series its consumer reads",
        "KEDA's Prometheus scaler decodes the query result as a list of series, takes its one element and fails with \"returned multiple elements\" when there are more, and cannot decode a scalar result at all (`[time, \"value\"]` is not a list of series: `scalar(…)` or a bare number at the top fails; wrap it in `vector(…)`); an Argo Rollouts condition on `result[0]` judges an arbitrary one of several series. A top-level aggregation with `by (labels)` (`sum(rate(x[1m])) by (pod)`), `without (…)`, `topk(k>1, …)`, `count_values`, or no aggregation over a selector returns one series per label value or per matching series. Single: an aggregation without grouping, with `by ()` or by labels every selector fixes with `=` (`sum by (app) (x{app=\"a\"})`), `vector(…)` (a scalar where Argo Rollouts reads it), `histogram_quantile` over `sum by (le)`, one-to-one arithmetic where one side is single, `single or vector(0)`. Limits: the checker does not know a metric's labels, so an unaggregated selector always counts as several series (aggregate it: `sum`/`max` of one series costs nothing); analysis conditions that iterate the result (`all(result, …)`, `len(result)`) are taken to expect several; PrometheusRule expressions may return any number.",
        "Aggregate to one series at the top: `sum(rate(x[2m]))` instead of `sum(rate(x[2m])) by (pod)`, `vector(scalar(…))` instead of `scalar(…)`; pick the figure you scale on (a total with `AverageValue`, an average or maximum with `Value`).",
        [
            "KEDA Prometheus scaler (\"query must return a vector/scalar single element response\")",
            "Argo Rollouts Prometheus analysis"
        ],
        []
    ),
    rule!(
        "CV-SCALE-001",
        High,
        "Autoscaler metric type makes replicas independent of load",
        "A KEDA ScaledObject trigger becomes an External metric of the HPA KEDA creates, with the trigger's `metricType` (default `AverageValue` for every scaler except cpu/memory). With `AverageValue` the HPA computes desired = ceil(metric / target), without the current replica count: the metric must be a total that replicas share (requests per second, queue length). A per-pod figure — a top-level `avg`, `max`, `min`, `quantile`, `stddev` or a ratio of two vectors — does not grow with the work to share, so replicas follow the figure's size, not the load: an average GPU utilisation of at most 100% with target 70 can never ask for more than 2 replicas. With `Value` the HPA computes desired = ceil(current replicas × metric / target): right for a per-pod figure, which falls as replicas are added, but a total rate (`sum(rate(…))`) is not reduced by adding replicas, so above the target replicas multiply every cycle up to maxReplicaCount and below it they shrink to the minimum. Other shapes (a total of a gauge such as a backlog, `count`, a bare selector) are not judged, nor are ScaledJobs (Jobs per metric, not the HPA formulas) or triggers of a ScaledObject with `advanced.scalingModifiers` (the HPA sees only the composite metric).",
        "Per-pod figure: set `metricType: Value`. Total rate: keep `metricType: AverageValue` and set the threshold to the load one replica handles.",
        [
            "Kubernetes HPA algorithm details (External metrics: Value and AverageValue)",
            "KEDA ScaledObject spec: triggers[].metricType"
        ],
        []
    ),
    rule!(
        "CV-SCALE-002",
        High,
        "Utilization metric type on a trigger that has none",
        "KEDA accepts `metricType: Utilization` only on cpu and memory triggers (a percentage of the pods' requests); every other scaler rejects it (`ErrScalerUnsupportedUtilizationMetricType`), so the ScaledObject never becomes ready and the workload does not scale on that trigger.",
        "Use `AverageValue` (a total shared by replicas) or `Value` (a per-pod figure) on non-resource triggers.",
        ["KEDA ScaledObject spec: triggers[].metricType"],
        []
    ),
    // Helm values against the pinned chart version (rules/helm_values.rs, helm_reference.rs).
    rule!(
        "CV-HELM-001",
        Medium,
        "Helm values key the pinned chart does not have",
        "Helm merges values into the chart's defaults and renders templates that read the keys they know; a key no template reads is dropped without a word, so a typo or a key from another chart version is a setting that silently does not happen. A values file `<name>.values.yaml` below a `charts.yaml` is judged against the chart and version that list pins for `<name>`: every key path must be in that version's values.yaml or values.schema.json, or sit under an open map or list (default `{}`, `[]`, `null` or a scalar; a pass-through map such as `extraArgs`), or be a path the chart's templates read although values.yaml leaves it out (the reference's template scan), or belong to a subchart (its key prefix, checked against the subchart's own data; `global.*` against every subchart). Istio charts keep their defaults under `_internal_defaults_do_not_set`: the same keys are valid at the top level and writing under `_internal_defaults_do_not_set` or `defaults` is a finding. Reference data is embedded from `data/reference/helm/` (upstream files, provenance in its README).",
        "Use the key the pinned chart version has (the message suggests a near sibling when there is one), or pin the chart version that has the key.",
        [
            "Helm: Values files",
            "data/reference/helm/README.md (pinned charts' upstream values.yaml and values.schema.json)"
        ],
        []
    ),
    rule!(
        "CV-HELM-002",
        Low,
        "Helm values that cannot be judged against their chart",
        "A `<name>.values.yaml` with no `charts.yaml` in its directory or above, one whose chart list pins no chart of its name, whose pinned chart version has no reference data, or whose keys go to a subchart without reference data cannot be checked for keys the chart ignores; saying so is better than a silent pass. When the chart list names a stored stand-in version (`values_checked_against: \"<version>\"` next to the pin), the values are also judged against that version (CV-HELM-001/003), which is what a waiver of this finding should rely on.",
        "Pin the chart in `charts.yaml`, or add the pinned version's Chart.yaml, values.yaml and values.schema.json under `data/reference/helm/<chart>/<version>/` with their provenance.",
        ["data/reference/helm/README.md"],
        []
    ),
    rule!(
        "CV-HELM-003",
        High,
        "Helm values the chart's values.schema.json rejects",
        "When a chart ships values.schema.json, `helm install`/`helm template` validates the chart's defaults merged with the user's values against it and refuses to render on any error: a wrong type, a value outside an enum, a missing required key, or an unknown key where the schema is closed (`additionalProperties: false`, as in cert-manager, istio-gateway and the OpenTelemetry charts). The check performs the same merge (maps key by key, a `null` deletes a default) and validates it with a JSON-Schema validator; only errors at keys the values file sets are reported.",
        "Change the value to what the schema allows, or remove the key.",
        ["Helm: Schema files (values.schema.json)"],
        []
    ),
];

/// A rule by ID.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Where findings go: applies the object's waivers as they are reported.
pub struct Sink<'a> {
    pub findings: &'a mut Vec<Finding>,
}

/// Waivers of one object: rule ID → reason (empty when none was given).
pub type Waivers = Vec<(String, String)>;

impl Sink<'_> {
    pub fn report(&mut self, id: &str, file: &str, line: usize, object: &str, message: String, waivers: &Waivers) {
        // Every built-in rule reports under an ID of the catalogue (a test checks it); policy
        // findings (Gatekeeper, Rego) do not go through here.
        let severity = rule(id).map_or(Severity::Medium, |r| r.severity);
        let waived = waivers.iter().find(|(w, reason)| w == id && !reason.is_empty()).map(|(_, r)| r.clone());
        self.findings.push(Finding {
            rule: id.to_string(),
            severity,
            file: file.to_string(),
            line,
            object: object.to_string(),
            message,
            waived,
        });
    }

    /// Report waivers that give no reason (they waive nothing).
    pub fn check_waivers(&mut self, file: &str, line: usize, object: &str, waivers: &Waivers) {
        for (id, reason) in waivers {
            if reason.trim().is_empty() {
                self.report(
                    WAIVER_WITHOUT_REASON,
                    file,
                    line,
                    object,
                    format!("waiver of {id} gives no reason"),
                    &Vec::new(),
                );
            }
        }
    }
}

/// Parse `ID=reason; ID2=reason` (annotation form). A `;` inside a reason is kept: a new
/// waiver starts only where a segment begins with a rule ID and `=`.
pub fn parse_annotation_waivers(text: &str) -> Waivers {
    let mut out: Waivers = Vec::new();
    for part in text.split(';') {
        let trimmed = part.trim();
        let starts_waiver = trimmed.split_once('=').is_some_and(|(id, _)| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
        match out.last_mut() {
            Some((_, reason)) if !starts_waiver => {
                reason.push(';');
                reason.push_str(part);
                *reason = reason.trim().to_string();
            }
            _ if trimmed.is_empty() => {}
            _ => {
                let (id, reason) = trimmed.split_once('=').unwrap_or((trimmed, ""));
                out.push((id.trim().to_string(), reason.trim().to_string()));
            }
        }
    }
    out
}

/// Parse `# cerverus:skip=ID reason` comment lines.
pub fn parse_comment_waivers<'a>(comments: impl Iterator<Item = &'a str>) -> Waivers {
    comments
        .filter_map(|c| {
            let rest = c.trim_start_matches('#').trim().strip_prefix("cerverus:skip=")?;
            let (id, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            Some((id.trim().to_string(), reason.trim().to_string()))
        })
        .collect()
}

/// The rule catalogue as Markdown (`docs/rules.md`; a test keeps the committed file current).
pub fn markdown() -> String {
    let mut s = String::from(
        "# `cerverus check` rules\n\nGenerated from `crates/check/src/rules/mod.rs` (`cerverus explain all` prints the same as JSON).\n\
         The checkov column lists checks that judge the same thing; `scripts/validators/agreement.py` runs both tools on\n\
         fixtures for every such pair and requires the same verdict.\n\n\
         | ID | Severity | Title | checkov |\n|---|---|---|---|\n",
    );
    for r in RULES {
        s.push_str(&format!("| `{}` | {} | {} | {} |\n", r.id, r.severity.as_str(), r.title, r.checkov.join(", ")));
    }
    s.push_str("\nWaivers: annotation `cerverus.io/skip: ID=reason` on a Kubernetes object (several: `ID=reason; ID2=reason`),\ncomment `# cerverus:skip=ID reason` above or inside a Terraform block, or anywhere in a Dockerfile or workflow.\nA waiver without a reason waives nothing and is itself reported (CV-META-001).\n");
    // Each rule's why and fix, so the catalogue says what a finding means without the source.
    s.push_str("\n## Rationale and remediation\n");
    for r in RULES {
        s.push_str(&format!(
            "\n### `{}` {}\n\n{} (severity {})\n\n**Fix:** {}\n",
            r.id,
            r.title,
            r.rationale,
            r.severity.as_str(),
            r.remediation
        ));
        if !r.references.is_empty() {
            s.push_str(&format!("\n**References:** {}\n", r.references.join("; ")));
        }
    }
    s
}
