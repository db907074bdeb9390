//! Backup and DR invariants over the default bundle: every stateful workload is covered by a
//! Velero Schedule whose interval meets its tier's RPO; Velero writes to the bucket and assumes
//! the role the Terraform creates; schedules, restore verifications and alerts fit together.

use std::collections::{BTreeMap, BTreeSet};

use cerverus_bundle::Bundle;
use cerverus_model::Platform;
use cerverus_render::kubernetes::backup::{
    self, PLATFORM_CONFIG, POLICIES, RPO_ANNOTATION, RTO_ANNOTATION, cron_interval_minutes, policy_for,
};
use serde_json::Value;

fn build() -> (Platform, Bundle) {
    cerverus::build_default().expect("the default spec builds")
}

fn yaml(bundle: &Bundle, path: &str) -> Value {
    let bytes = bundle.iter().find(|(p, _)| *p == path).map(|(_, b)| b).unwrap_or_else(|| panic!("no {path}"));
    serde_saphyr::from_str(std::str::from_utf8(bytes).expect("utf-8")).expect("yaml")
}

fn text(bundle: &Bundle, path: &str) -> String {
    let bytes = bundle.iter().find(|(p, _)| *p == path).map(|(_, b)| b).unwrap_or_else(|| panic!("no {path}"));
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// Every object under `kubernetes/<env>/` of `kind`.
fn objects(bundle: &Bundle, env: &str, kind: &str) -> Vec<Value> {
    let prefix = format!("kubernetes/{env}/");
    bundle
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix) && p.ends_with(".yaml"))
        .filter_map(|(_, b)| serde_saphyr::from_str::<Value>(std::str::from_utf8(b).ok()?).ok())
        .filter(|v| v["kind"] == kind)
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Minutes of a Go duration as the Schedules' annotations write it (`4h0m0s`).
fn go_minutes(d: &str) -> u32 {
    let (h, rest) = d.split_once('h').expect("hours");
    let (m, _) = rest.split_once('m').expect("minutes");
    h.parse::<u32>().expect("h") * 60 + m.parse::<u32>().expect("m")
}

// ---- The cron interval calculator ----

#[test]
fn cron_intervals_are_exact_for_the_emitted_forms() {
    for (cron, minutes) in [
        ("5 * * * *", 60),
        ("15 */4 * * *", 240),
        ("30 1 * * *", 1440),
        ("50 */6 * * *", 360),
        ("*/15 * * * *", 15),
        ("0 1,13 * * *", 720),
        // Uneven: 07:00 → next day 00:00 is the longest gap.
        ("0 0,6,7 * * *", 1020),
        // Office hours: the night is the gap.
        ("0 9-17 * * *", 960),
        ("0,30 */2 * * *", 90),
        ("10 3/6 * * *", 360),
    ] {
        assert_eq!(cron_interval_minutes(cron), Ok(minutes), "{cron}");
    }
    for bad in ["0 0 * * 1", "61 * * * *", "0 */0 * * *", "0 24 * * *", "bad", "0 5-3 * * *"] {
        assert!(cron_interval_minutes(bad).is_err(), "`{bad}` must be refused, not guessed");
    }
}

#[test]
fn every_policy_cron_meets_its_own_rpo() {
    for p in POLICIES {
        let interval = cron_interval_minutes(p.cron).expect("policy crons are in the calculator's forms");
        assert!(
            interval <= p.rpo_minutes,
            "{}: runs every {interval} min, RPO {} min",
            p.schedule_name(),
            p.rpo_minutes
        );
        assert!(p.ttl_hours * 60 >= 2 * interval, "{}: keeps fewer than two backups", p.schedule_name());
    }
}

// ---- Stateful data is covered within its RPO ----

/// A rendered Schedule: name, RPO annotation, cron, namespaces, OR-ed label selectors.
#[derive(Clone, Debug)]
struct Schedule {
    name: String,
    rpo_minutes: u32,
    cron: String,
    namespaces: Vec<String>,
    selectors: Vec<BTreeMap<String, String>>,
    snapshots: bool,
}

fn schedules(bundle: &Bundle, env: &str) -> Vec<Schedule> {
    objects(bundle, env, "Schedule")
        .into_iter()
        .map(|v| {
            let t = &v["spec"]["template"];
            let selectors = t["orLabelSelectors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| {
                            s["matchLabels"]
                                .as_object()
                                .map(|m| {
                                    m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect()
                                })
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .unwrap_or_default();
            Schedule {
                name: v["metadata"]["name"].as_str().unwrap_or("").to_string(),
                rpo_minutes: go_minutes(v["metadata"]["annotations"][RPO_ANNOTATION].as_str().expect("rpo annotation")),
                cron: v["spec"]["schedule"].as_str().unwrap_or("").to_string(),
                namespaces: strings(&t["includedNamespaces"]),
                selectors,
                snapshots: t["snapshotVolumes"] == true,
            }
        })
        .collect()
}

/// A stateful data class: the claims of one StatefulSet, with the RPO its tier declares.
struct Stateful {
    workload: String,
    namespace: String,
    claim_labels: BTreeMap<String, String>,
    rpo_minutes: u32,
}

fn stateful(platform: &Platform, bundle: &Bundle, env: &str) -> Vec<Stateful> {
    let e = platform.env(env).expect("env");
    e.workloads
        .iter()
        .filter(|w| w.spec.storage.is_some())
        .map(|w| {
            let ss = yaml(bundle, &format!("kubernetes/{env}/{}/statefulset-{}.yaml", w.namespace(), w.name()));
            let claim_labels = claim_labels(&ss);
            Stateful {
                workload: w.name().to_string(),
                namespace: w.namespace().to_string(),
                claim_labels,
                rpo_minutes: policy_for(w.spec.tier).expect("every tier has a policy").rpo_minutes,
            }
        })
        .collect()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default()
}

/// The labels of the claims a StatefulSet's controller creates from its first
/// volumeClaimTemplate: the template's labels, overwritten by the StatefulSet's selector
/// `matchLabels` (Kubernetes' `getPersistentVolumeClaims` in `stateful_set_utils.go`).
fn claim_labels(statefulset: &Value) -> BTreeMap<String, String> {
    let mut labels = string_map(&statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]);
    labels.extend(string_map(&statefulset["spec"]["selector"]["matchLabels"]));
    labels
}

#[test]
fn claims_carry_their_template_and_selector_labels() {
    let ss = serde_json::json!({"spec": {
        "selector": {"matchLabels": {"app": "db"}},
        "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"app": "other", "disk": "fast"}}}]
    }});
    let l = claim_labels(&ss);
    assert_eq!(l.get("app").map(String::as_str), Some("db"), "the selector wins");
    assert_eq!(l.get("disk").map(String::as_str), Some("fast"));
    // A template without labels still yields claims carrying the selector labels.
    let bare = serde_json::json!({"spec": {"selector": {"matchLabels": {"app": "db"}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}});
    assert_eq!(claim_labels(&bare), BTreeMap::from([("app".to_string(), "db".to_string())]));
}

/// What is wrong with the coverage of `data` by `schedules` (empty: every class is covered by a
/// snapshotting schedule that selects its claims, runs at least as often as the RPO, and
/// promises no worse than the RPO).
fn coverage_violations(data: &[Stateful], schedules: &[Schedule]) -> Vec<String> {
    let mut out = Vec::new();
    for d in data {
        let covering: Vec<&Schedule> = schedules
            .iter()
            .filter(|s| s.snapshots)
            .filter(|s| s.namespaces.iter().any(|n| n == &d.namespace || n == "*"))
            .filter(|s| s.selectors.iter().any(|sel| sel.iter().all(|(k, v)| d.claim_labels.get(k) == Some(v))))
            .collect();
        let ok = covering.iter().any(|s| {
            cron_interval_minutes(&s.cron).is_ok_and(|i| i <= d.rpo_minutes && i <= s.rpo_minutes)
                && s.rpo_minutes <= d.rpo_minutes
        });
        if !ok {
            let names: Vec<&str> = covering.iter().map(|s| s.name.as_str()).collect();
            out.push(format!("{}: RPO {} min, covered only by {names:?}", d.workload, d.rpo_minutes));
        }
    }
    out
}

#[test]
fn every_stateful_data_class_has_a_schedule_meeting_its_rpo() {
    let (platform, bundle) = build();
    let mut checked = 0;
    for env in &platform.environments {
        let data = stateful(&platform, &bundle, &env.name);
        let s = schedules(&bundle, &env.name);
        assert!(!s.is_empty(), "{}: no Schedules", env.name);
        let v = coverage_violations(&data, &s);
        assert!(v.is_empty(), "{}: {v:?}", env.name);
        checked += data.len();
    }
    assert!(checked >= 3, "the default spec's StatefulSet with storage is checked in every environment");
}

#[test]
fn a_schedule_that_runs_too_rarely_or_misses_the_claims_fails_the_invariant() {
    let (platform, bundle) = build();
    let data = stateful(&platform, &bundle, "prod");
    let good = schedules(&bundle, "prod");
    assert!(coverage_violations(&data, &good).is_empty());
    let tier_of = |name: &str| good.iter().position(|s| s.name == name).expect("schedule");
    let i = tier_of("tier-high");
    // Daily instead of every 4 hours.
    let mut slow = good.clone();
    slow[i].cron = "15 2 * * *".into();
    assert!(!coverage_violations(&data, &slow).is_empty(), "a daily schedule cannot keep a 4h RPO");
    // Without the StatefulSet's claim selector.
    let mut blind = good.clone();
    blind[i].selectors.retain(|s| s.contains_key(backup::TIER_LABEL));
    assert!(!coverage_violations(&data, &blind).is_empty(), "claims carry no tier label: they must be selected");
    // Without snapshots.
    let mut no_snap = good;
    for s in &mut no_snap {
        s.snapshots = false;
    }
    assert!(!coverage_violations(&data, &no_snap).is_empty());
}

#[test]
fn every_schedule_promises_its_policy_and_names_namespaces_that_exist() {
    let (platform, bundle) = build();
    for env in &platform.environments {
        let namespaces: BTreeSet<String> = objects(&bundle, &env.name, "Namespace")
            .iter()
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        let rendered = objects(&bundle, &env.name, "Schedule");
        let names: BTreeSet<String> =
            rendered.iter().filter_map(|s| s["metadata"]["name"].as_str().map(str::to_string)).collect();
        assert!(names.contains(PLATFORM_CONFIG), "{}: {names:?}", env.name);
        for w in &env.workloads {
            assert!(
                names.contains(&format!("tier-{}", w.spec.tier.as_str())),
                "{}: {} has no tier schedule",
                env.name,
                w.name()
            );
        }
        for s in &rendered {
            let name = s["metadata"]["name"].as_str().unwrap_or("");
            let policy = POLICIES.iter().find(|p| p.schedule_name() == name).expect("a policy per schedule");
            let a = &s["metadata"]["annotations"];
            assert_eq!(a[RPO_ANNOTATION].as_str().map(go_minutes), Some(policy.rpo_minutes), "{name}");
            assert_eq!(a[RTO_ANNOTATION].as_str().map(go_minutes), Some(policy.rto_minutes), "{name}");
            assert_eq!(s["spec"]["schedule"], policy.cron, "{name}");
            assert_eq!(s["spec"]["template"]["storageLocation"], backup::STORAGE_LOCATION);
            for ns in strings(&s["spec"]["template"]["includedNamespaces"]) {
                assert!(
                    ns == "*" || namespaces.contains(&ns),
                    "{}: {name} backs up `{ns}`, not in the bundle",
                    env.name
                );
            }
        }
        // Configuration and certificates: every namespace, cluster resources, nothing left out
        // that a rebuild needs.
        let config = rendered.iter().find(|s| s["metadata"]["name"] == PLATFORM_CONFIG).expect("platform-config");
        let t = &config["spec"]["template"];
        assert_eq!(strings(&t["includedNamespaces"]), vec!["*"]);
        assert_eq!(t["includeClusterResources"], true);
        assert!(t["labelSelector"].is_null() && t["orLabelSelectors"].is_null());
        let excluded = strings(&t["excludedResources"]);
        for needed in ["secrets", "configmaps", "certificates.cert-manager.io", "certificates"] {
            assert!(!excluded.iter().any(|e| e == needed), "{needed} excluded");
        }
        assert!(namespaces.contains("istio-system") && namespaces.contains("cert-manager"));
    }
}

// ---- Velero writes where Terraform lets it ----

fn tfvars(bundle: &Bundle, env: &str) -> Value {
    hcl::from_str(&text(bundle, &format!("terraform/envs/{env}/terraform.tfvars"))).expect("tfvars parse")
}

/// The block of `data "aws_iam_policy_document" "velero"` in the root's iam.tf.
fn velero_policy(iam: &str) -> &str {
    let start = iam.find("data \"aws_iam_policy_document\" \"velero\"").expect("velero policy document");
    let rest = &iam[start..];
    let end = rest[1..].find("\ndata ").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[test]
fn the_backup_location_is_the_terraform_backups_bucket_and_key() {
    let (platform, bundle) = build();
    let storage = text(&bundle, "terraform/modules/storage/main.tf");
    // How the storage module names buckets and their key.
    assert!(storage.contains("bucket   = \"${each.key}-${var.name}\""), "bucket naming changed");
    assert!(storage.contains("name          = \"alias/${var.name}-s3\""), "bucket key alias changed");
    assert!(storage.contains("kms_master_key_id = aws_kms_key.s3.arn"), "buckets' SSE-KMS key changed");
    for env in &platform.environments {
        let vars = tfvars(&bundle, &env.name);
        let environment = vars["environment"].as_str().expect("environment");
        let backups: Vec<&String> = vars["buckets"]
            .as_object()
            .expect("buckets")
            .iter()
            .filter(|(_, b)| b["class"] == "backup")
            .map(|(k, _)| k)
            .collect();
        assert_eq!(backups.len(), 1, "{}: one backups bucket", env.name);
        let key = backups[0];
        let main = text(&bundle, &format!("terraform/envs/{}/main.tf", env.name));
        // The root passes the environment's name as the storage module's `name`.
        let call = &main[main.find("module \"storage\"").expect("storage module call")..];
        let call = &call[..call.find("\n}").unwrap_or(call.len())];
        assert!(
            call.lines().map(str::trim).any(|l| l.starts_with("name ") && l.ends_with("= var.environment")),
            "{call}"
        );
        let values = yaml(&bundle, &format!("helm/addons/{}/velero.values.yaml", env.name));
        let bsl = &values["configuration"]["backupStorageLocation"][0];
        assert_eq!(bsl["bucket"], format!("{key}-{environment}"), "{}", env.name);
        assert_eq!(bsl["provider"], "aws");
        assert_eq!(bsl["config"]["region"], platform.region.as_str());
        assert_eq!(bsl["config"]["kmsKeyId"], format!("alias/{environment}-s3"));
        assert_eq!(bsl["default"], true);
        assert_eq!(values["configuration"]["volumeSnapshotLocation"][0]["provider"], "aws");
        // The role's policy grants exactly that bucket and its key.
        let iam = text(&bundle, &format!("terraform/envs/{}/iam.tf", env.name));
        let doc = velero_policy(&iam);
        assert!(doc.contains(&format!("module.storage.bucket_arns[\"{key}\"]")), "{doc}");
        assert!(doc.contains("\"kms:GenerateDataKey\"") && doc.contains("module.storage.kms_key_arn"), "{doc}");
        let outputs = text(&bundle, "terraform/modules/storage/outputs.tf");
        let out = &outputs[outputs.find("output \"kms_key_arn\"").expect("kms_key_arn output")..];
        assert!(out[..out.find("\n}").unwrap_or(out.len())].contains("aws_kms_key.s3.arn"));
    }
}

#[test]
fn velero_assumes_the_role_terraform_creates() {
    let (platform, bundle) = build();
    let eks = text(&bundle, "terraform/modules/eks/main.tf");
    assert!(eks.contains("\"${var.name}-${each.value.namespace}-${each.value.service_account}\""), "IRSA role naming");
    for env in &platform.environments {
        let vars = tfvars(&bundle, &env.name);
        let cluster = vars["cluster_name"].as_str().expect("cluster_name");
        let main = text(&bundle, &format!("terraform/envs/{}/main.tf", env.name));
        assert!(main.contains("var.cluster_name"));
        let iam = text(&bundle, &format!("terraform/envs/{}/iam.tf", env.name));
        let entry = iam.find("velero = {").expect("velero IRSA role");
        let block = &iam[entry..entry + 200];
        assert!(
            block.contains("namespace       = \"velero\"") && block.contains("service_account = \"velero\""),
            "{block}"
        );
        let values = yaml(&bundle, &format!("helm/addons/{}/velero.values.yaml", env.name));
        let sa = &values["serviceAccount"]["server"];
        assert_eq!(sa["name"], "velero");
        assert_eq!(
            sa["annotations"]["eks.amazonaws.com/role-arn"],
            format!("arn:aws:iam::{}:role/{cluster}-velero-velero", platform.account_id)
        );
        assert_eq!(values["credentials"]["useSecret"], false);
        assert_eq!(values["deployNodeAgent"], false, "the node agent would need a privileged namespace");
        let plugin = &values["initContainers"][0];
        assert!(plugin["image"].as_str().is_some_and(|i| i.starts_with("velero/velero-plugin-for-aws:v1.14.")));
        assert_eq!(plugin["volumeMounts"][0]["mountPath"], "/target");
        for sc in [&values["containerSecurityContext"], &plugin["securityContext"]] {
            assert_eq!(sc["runAsNonRoot"], true);
            assert_eq!(sc["allowPrivilegeEscalation"], false);
            assert_eq!(sc["capabilities"]["drop"][0], "ALL");
        }
        assert_eq!(values["metrics"]["serviceMonitor"]["enabled"], true);
    }
}

// ---- Restore verification ----

#[test]
fn restore_verification_restores_each_tier_into_scratch_namespaces_only() {
    let (platform, bundle) = build();
    for env in &platform.environments {
        let schedules: BTreeMap<String, Value> = objects(&bundle, &env.name, "Schedule")
            .into_iter()
            .map(|s| (s["metadata"]["name"].as_str().unwrap_or("").to_string(), s))
            .collect();
        let cm = yaml(&bundle, &format!("kubernetes/{}/velero/configmap-restore-verify.yaml", env.name));
        let role = yaml(&bundle, &format!("kubernetes/{}/cluster/clusterrole-cerverus-restore-verify.yaml", env.name));
        let deletable: BTreeSet<String> = strings(&role["rules"][0]["resourceNames"]).into_iter().collect();
        assert_eq!(strings(&role["rules"][0]["resources"]), vec!["namespaces"]);
        let crons = objects(&bundle, &env.name, "CronJob");
        let verify: Vec<&Value> = crons
            .iter()
            .filter(|c| c["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("restore-verify-")))
            .collect();
        assert!(verify.len() >= 3, "{}: {} verifications", env.name, verify.len());
        for c in verify {
            let pod = &c["spec"]["jobTemplate"]["spec"]["template"]["spec"];
            assert_eq!(pod["serviceAccountName"], "restore-verify");
            let envs: BTreeMap<String, String> = pod["containers"][0]["env"]
                .as_array()
                .expect("env")
                .iter()
                .map(|e| (e["name"].as_str().unwrap_or("").to_string(), e["value"].as_str().unwrap_or("").to_string()))
                .collect();
            let file = envs["RESTORE_FILE"].rsplit('/').next().unwrap_or("").to_string();
            let restore: Value =
                serde_saphyr::from_str(cm["data"][&file].as_str().expect("template")).expect("restore yaml");
            assert_eq!(restore["kind"], "Restore");
            let schedule = restore["spec"]["scheduleName"].as_str().expect("scheduleName");
            let s = schedules.get(schedule).unwrap_or_else(|| panic!("restore from unknown schedule {schedule}"));
            let sources: BTreeSet<String> = strings(&s["spec"]["template"]["includedNamespaces"]).into_iter().collect();
            let mapping = restore["spec"]["namespaceMapping"].as_object().expect("mapping");
            let included: BTreeSet<String> = strings(&restore["spec"]["includedNamespaces"]).into_iter().collect();
            assert_eq!(included, sources, "{schedule}: restores what the schedule backs up");
            let scratch: BTreeSet<String> = envs["SCRATCH_NAMESPACES"].split(' ').map(str::to_string).collect();
            for ns in &included {
                // Every restored namespace lands elsewhere: never over the live one.
                let target = mapping.get(ns).and_then(|t| t.as_str()).unwrap_or_else(|| panic!("{ns} unmapped"));
                assert_ne!(target, ns);
                assert!(scratch.contains(target) && deletable.contains(target), "{target}");
            }
            // Data and configuration only: no workload objects that would start the application.
            for r in strings(&restore["spec"]["includedResources"]) {
                assert!(["persistentvolumeclaims", "persistentvolumes", "configmaps"].contains(&r.as_str()), "{r}");
            }
            let modifiers =
                yaml(&bundle, &format!("kubernetes/{}/velero/configmap-{}.yaml", env.name, backup::VERIFY_MODIFIERS));
            assert_eq!(volume_leaks(&restore, &modifiers), None, "{schedule}");
            let rto = s["metadata"]["annotations"][RTO_ANNOTATION].as_str().map(go_minutes).expect("rto");
            assert_eq!(envs["RTO_SECONDS"], (rto * 60).to_string(), "the verification holds the restore to the RTO");
        }
    }
}

/// Why the PersistentVolumes a verification restores would outlive its scratch namespaces: a
/// restored PV keeps its class's reclaim policy, so unless the Restore's resource modifiers (one
/// ConfigMap data key, Velero's `resourceModifierRules`) replace it with `Delete`, a `Retain`
/// class leaves a Released PV and its EBS volume behind every run.
fn volume_leaks(restore: &Value, modifiers: &Value) -> Option<String> {
    let reference = &restore["spec"]["resourceModifier"];
    if reference["kind"] != "configmap" || reference["name"] != modifiers["metadata"]["name"] {
        return Some(format!("the Restore names no resource modifiers ConfigMap: {reference}"));
    }
    let data = modifiers["data"].as_object().filter(|d| d.len() == 1)?;
    let rules: Value = serde_saphyr::from_str(data.values().next()?.as_str()?).ok()?;
    let sets_delete = rules["version"] == "v1"
        && rules["resourceModifierRules"].as_array().is_some_and(|rs| {
            rs.iter().any(|r| {
                r["conditions"]["groupResource"] == "persistentvolumes"
                    && r["patches"].as_array().is_some_and(|ps| {
                        ps.iter().any(|p| {
                            p["operation"] == "replace"
                                && p["path"] == "/spec/persistentVolumeReclaimPolicy"
                                && p["value"] == "Delete"
                        })
                    })
            })
        });
    (!sets_delete).then(|| "no rule makes restored PersistentVolumes `Delete`".to_string())
}

#[test]
fn a_verification_that_would_leave_volumes_behind_is_caught() {
    let (_, bundle) = build();
    let cm = yaml(&bundle, &format!("kubernetes/prod/velero/configmap-{}.yaml", backup::VERIFY_MODIFIERS));
    let restore =
        serde_json::json!({"spec": {"resourceModifier": {"kind": "configmap", "name": backup::VERIFY_MODIFIERS}}});
    assert_eq!(volume_leaks(&restore, &cm), None);
    assert!(volume_leaks(&serde_json::json!({"spec": {}}), &cm).is_some(), "no modifiers named");
    let mut retain = cm.clone();
    let key = retain["data"].as_object().and_then(|d| d.keys().next().cloned()).expect("a data key");
    let text = retain["data"][&key].as_str().unwrap_or("").replace("Delete", "Retain");
    retain["data"][&key] = text.into();
    assert!(volume_leaks(&restore, &retain).is_some(), "a rule keeping Retain");
}

// ---- Alerts ----

#[test]
fn every_schedule_has_failed_and_late_alerts_at_one_and_a_half_intervals() {
    let (platform, bundle) = build();
    for env in &platform.environments {
        let rule = yaml(&bundle, &format!("kubernetes/{}/velero/prometheusrule-velero-backups.yaml", env.name));
        let rules = rule["spec"]["groups"][0]["rules"].as_array().expect("rules").clone();
        assert!(bundle.iter().any(|(p, _)| p == format!("promtool/{}/velero-backups.test.yaml", env.name)));
        for s in objects(&bundle, &env.name, "Schedule") {
            let name = s["metadata"]["name"].as_str().unwrap_or("");
            let interval = cron_interval_minutes(s["spec"]["schedule"].as_str().unwrap_or("")).expect("interval");
            let sel = format!("schedule=\"{name}\"");
            let failed = rules.iter().find(|r| {
                r["alert"].as_str().is_some_and(|a| a.starts_with("VeleroBackupFailed"))
                    && r["expr"].as_str().is_some_and(|e| {
                        // Velero counts failed, partially failed and invalid backups apart.
                        e.contains(&sel)
                            && [
                                "velero_backup_failure_total",
                                "velero_backup_partial_failure_total",
                                "velero_backup_validation_failure_total",
                            ]
                            .iter()
                            .all(|m| e.contains(&format!("{m}{{{sel}}}")))
                    })
            });
            assert!(failed.is_some(), "{name}: no failed-backup alert");
            let late = rules
                .iter()
                .find(|r| {
                    r["alert"].as_str().is_some_and(|a| a.starts_with("VeleroBackupLate"))
                        && r["expr"].as_str().is_some_and(|e| e.contains(&sel))
                })
                .unwrap_or_else(|| panic!("{name}: no late-backup alert"));
            let expr = late["expr"].as_str().unwrap_or("");
            assert!(expr.contains(&format!("> {}", interval * 90)), "{name}: {expr}");
            for r in [failed.expect("failed"), late] {
                assert!(["critical", "warning"].contains(&r["labels"]["severity"].as_str().unwrap_or("")));
                assert!(r["annotations"]["runbook_url"].as_str().is_some_and(|u| u.ends_with(".md")));
            }
        }
    }
}

// ---- Application data ----

#[test]
fn every_data_store_has_its_recovery_recorded() {
    let (platform, _) = build();
    for env in &platform.environments {
        let table = backup::application_data(env);
        let stores: BTreeSet<String> = table.iter().map(|r| r.store.clone()).collect();
        for p in &env.postgres {
            assert!(stores.contains(&format!("postgres/{}", p.name)));
            let row = table.iter().find(|r| r.store == format!("postgres/{}", p.name)).expect("row");
            // PITR exists only with automated backups, which the Terraform keeps 7 to 35 days.
            assert!(p.backup_retention_days >= 7);
            assert_eq!(row.cross_region, p.cross_region_backups);
            assert!(row.rpo_minutes <= policy_for(cerverus_spec::Tier::Critical).expect("critical").rpo_minutes);
        }
        for r in &env.redis {
            assert!(stores.contains(&format!("redis/{}", r.name)));
        }
        for b in &env.buckets {
            let row = table.iter().find(|r| r.store == format!("bucket/{}", b.bucket_name)).expect("bucket row");
            assert_eq!(row.cross_region, b.spec.replicate);
        }
        assert_eq!(table.len(), env.postgres.len() + env.redis.len() + env.buckets.len());
    }
}
