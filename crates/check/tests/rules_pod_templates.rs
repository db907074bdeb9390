//! Every kind that carries a pod template is judged by the pod rules, the same as a Deployment
//! (issue 12: a privileged, hostPID, hostNetwork ReplicationController used to get 0 findings).

use std::collections::BTreeSet;

use cerverus_check::inventory::{Inventory, load_text};

/// Unwaived rule IDs found in one file.
fn findings(text: &str) -> BTreeSet<String> {
    let mut inv = Inventory::default();
    load_text(&mut inv, "app.yaml", text);
    cerverus_check::check_inventory(&inv).findings.into_iter().filter(|f| f.waived.is_none()).map(|f| f.rule).collect()
}

/// An insecure pod template (privileged, host PID and network, untagged image), indented to sit
/// under `template:` at `indent` spaces.
fn template(indent: usize) -> String {
    let t = "metadata: {labels: {app: app}}\nspec:\n  hostPID: true\n  hostNetwork: true\n  containers:\n    - name: app\n      image: nginx\n      securityContext: {privileged: true}\n";
    let pad = " ".repeat(indent);
    t.lines().map(|l| format!("{pad}{l}\n")).collect()
}

fn object(kind: &str, api: &str, body: &str) -> String {
    format!("apiVersion: {api}\nkind: {kind}\nmetadata: {{name: app, namespace: x}}\n{body}")
}

/// Each kind with its template where that kind keeps it.
fn kinds() -> Vec<(&'static str, String)> {
    let sel = "  selector: {matchLabels: {app: app}}\n";
    vec![
        (
            "Deployment",
            object("Deployment", "apps/v1", &format!("spec:\n  replicas: 1\n{sel}  template:\n{}", template(4))),
        ),
        (
            "ReplicationController",
            object(
                "ReplicationController",
                "v1",
                &format!("spec:\n  replicas: 1\n  selector: {{app: app}}\n  template:\n{}", template(4)),
            ),
        ),
        (
            "ReplicaSet",
            object("ReplicaSet", "apps/v1", &format!("spec:\n  replicas: 1\n{sel}  template:\n{}", template(4))),
        ),
        (
            "StatefulSet",
            object("StatefulSet", "apps/v1", &format!("spec:\n  serviceName: app\n{sel}  template:\n{}", template(4))),
        ),
        ("DaemonSet", object("DaemonSet", "apps/v1", &format!("spec:\n{sel}  template:\n{}", template(4)))),
        ("Job", object("Job", "batch/v1", &format!("spec:\n  template:\n{}", template(4)))),
        (
            "CronJob",
            object(
                "CronJob",
                "batch/v1",
                &format!("spec:\n  schedule: '0 * * * *'\n  jobTemplate:\n    spec:\n      template:\n{}", template(8)),
            ),
        ),
        ("PodTemplate", object("PodTemplate", "v1", &format!("template:\n{}", template(2)))),
        (
            "Rollout",
            object(
                "Rollout",
                "argoproj.io/v1alpha1",
                &format!("spec:\n  replicas: 1\n{sel}  template:\n{}", template(4)),
            ),
        ),
        ("Pod", object("Pod", "v1", &template(0).replacen("metadata: {labels: {app: app}}\n", "", 1))),
    ]
}

/// The findings every one of these templates must raise (probes, CV-K8S-010, are asked only of
/// long-running kinds, so the ReplicationController test checks that one).
const POD_RULES: [&str; 3] = ["CV-K8S-001", "CV-K8S-002", "CV-K8S-011"];

#[test]
fn a_replication_controller_is_judged_like_a_deployment() {
    let all = kinds();
    let deployment = findings(&all[0].1);
    let rc = findings(&all[1].1);
    for r in POD_RULES.iter().chain(&["CV-K8S-010"]) {
        assert!(deployment.contains(*r), "the Deployment fixture must raise {r}: {deployment:?}");
    }
    // Same pod, same verdicts: whatever differs between the two is a rule that ignores RCs.
    assert_eq!(rc, deployment, "ReplicationController vs Deployment");
}

#[test]
fn every_kind_with_a_pod_template_is_judged() {
    for (kind, text) in kinds() {
        let got = findings(&text);
        for r in POD_RULES {
            assert!(got.contains(r), "{kind} does not raise {r}: {got:?}\n{text}");
        }
    }
}

/// A PodTemplate describes pods but runs none: a Service selecting only its labels selects no
/// pod (CV-WIRE-001), while its template is still judged by the pod rules.
#[test]
fn a_pod_template_runs_no_pods() {
    let (_, template) = kinds().into_iter().find(|(k, _)| *k == "PodTemplate").expect("PodTemplate fixture");
    let service = "---\napiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: x}\nspec: {selector: {app: app}, ports: [{port: 80}]}\n";
    let got = findings(&format!("{template}{service}"));
    assert!(got.contains("CV-WIRE-001"), "{got:?}");
    assert!(got.contains("CV-K8S-001"), "{got:?}");
}
