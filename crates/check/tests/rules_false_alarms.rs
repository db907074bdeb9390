//! False alarms from issue 12, each with a fixture that raised the rule before the fix: what
//! Kubernetes itself accepts or provides must not be reported as missing.

use cerverus_check::inventory::{Inventory, load_text};

/// Unwaived rule IDs found in one file.
fn findings(text: &str) -> Vec<String> {
    let mut inv = Inventory::default();
    load_text(&mut inv, "app.yaml", text);
    cerverus_check::check_inventory(&inv).findings.into_iter().filter(|f| f.waived.is_none()).map(|f| f.rule).collect()
}

fn count(text: &str, rule: &str) -> usize {
    findings(text).iter().filter(|r| *r == rule).count()
}

/// A StatefulSet `db` in namespace x with `extra` lines under its pod spec and `claims` under its
/// spec.
fn statefulset(replicas: u32, pod_extra: &str, claims: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db, namespace: x}}\nspec:\n  replicas: {replicas}\n  serviceName: db\n  selector: {{matchLabels: {{app: db}}}}\n  template:\n    metadata: {{labels: {{app: db}}}}\n    spec:\n      containers: [{{name: db, image: 'db:1'}}]\n{pod_extra}{claims}"
    )
}

#[test]
fn optional_secret_and_configmap_volumes_are_not_missing() {
    let optional = statefulset(
        1,
        "      volumes:\n        - {name: tls, secret: {secretName: db-tls, optional: true}}\n        - {name: conf, configMap: {name: db-conf, optional: true}}\n",
        "",
    );
    assert_eq!(count(&optional, "CV-WIRE-003"), 0, "{:?}", findings(&optional));
    // The same references without `optional` are still reported, once per missing object.
    let required = optional.replace(", optional: true", "");
    assert_eq!(count(&required, "CV-WIRE-003"), 2, "{:?}", findings(&required));
}

#[test]
fn optional_env_references_are_not_missing() {
    let env = "          env:\n            - {name: A, valueFrom: {secretKeyRef: {name: s1, key: k, optional: true}}}\n            - {name: B, valueFrom: {configMapKeyRef: {name: c1, key: k, optional: true}}}\n          envFrom:\n            - {secretRef: {name: s2, optional: true}}\n            - {configMapRef: {name: c2, optional: true}}\n";
    let text = statefulset(1, "", "").replace(
        "      containers: [{name: db, image: 'db:1'}]\n",
        &format!("      containers:\n        - name: db\n          image: 'db:1'\n{env}"),
    );
    assert!(text.contains("secretKeyRef"), "fixture edit applies");
    assert_eq!(count(&text, "CV-WIRE-003"), 0, "{:?}", findings(&text));
    let required = text.replace(", optional: true", "");
    assert!(
        count(&required, "CV-WIRE-003") >= 1,
        "required envFrom refs are still reported: {:?}",
        findings(&required)
    );
}

#[test]
fn volumes_backed_by_volume_claim_templates_are_not_missing() {
    let text = statefulset(
        1,
        "      volumes:\n        - {name: data, persistentVolumeClaim: {claimName: data}}\n",
        "  volumeClaimTemplates:\n    - metadata: {name: data}\n      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
    );
    assert_eq!(count(&text, "CV-WIRE-003"), 0, "{:?}", findings(&text));
    // Without the claim template the claim really is missing.
    let (without, _) = text.split_once("  volumeClaimTemplates:").expect("fixture has claim templates");
    assert_eq!(count(without, "CV-WIRE-003"), 1, "{:?}", findings(without));
}

fn pod_name_service(pod: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: db-0, namespace: x}}\nspec:\n  selector: {{app: db, statefulset.kubernetes.io/pod-name: {pod}}}\n  ports: [{{port: 80}}]\n"
    )
}

#[test]
fn a_service_selecting_a_statefulset_pod_by_name_selects_it() {
    // Pods db-0, db-1 and db-2.
    for pod in ["db-0", "db-2"] {
        let text = format!("{}{}", statefulset(3, "", ""), pod_name_service(pod));
        assert_eq!(count(&text, "CV-WIRE-001"), 0, "{pod}: {:?}", findings(&text));
    }
    // No such pod: past the last ordinal, another StatefulSet's name, not an ordinal.
    for pod in ["db-3", "cache-0", "db-x"] {
        let text = format!("{}{}", statefulset(3, "", ""), pod_name_service(pod));
        assert_eq!(count(&text, "CV-WIRE-001"), 1, "{pod}: {:?}", findings(&text));
    }
    // The rest of the selector still has to match the template.
    let text = format!("{}{}", statefulset(3, "", ""), pod_name_service("db-0").replace("app: db,", "app: web,"));
    assert_eq!(count(&text, "CV-WIRE-001"), 1, "{:?}", findings(&text));
}
