# Every workload and its Pods carry the platform's recommended labels: what dashboards, cost
# reports, NetworkPolicies and alerts select on. A workload's pod template must carry them too,
# since the Pods it creates are what those selectors see.
package cerverusrequiredlabels

import data.lib.cerverus.workloads

violation[{"msg": msg}] {
    key := input.parameters.labels[_]
    not has_label(object.get(input.review.object.metadata, "labels", {}), key)
    msg := sprintf("%v %v is missing label %v", [input.review.kind.kind, input.review.object.metadata.name, key])
}

violation[{"msg": msg}] {
    input.review.object.kind != "Pod"
    labels := workloads.pod_labels(input.review.object)
    key := input.parameters.labels[_]
    not has_label(labels, key)
    msg := sprintf("%v %v: pod template is missing label %v", [input.review.kind.kind, input.review.object.metadata.name, key])
}

# A CronJob's Jobs take their labels from `jobTemplate.metadata.labels`, and Jobs are judged too:
# without them every scheduled Job would be refused long after the CronJob was admitted.
violation[{"msg": msg}] {
    input.review.object.kind == "CronJob"
    labels := object.get(object.get(input.review.object.spec.jobTemplate, "metadata", {}), "labels", {})
    key := input.parameters.labels[_]
    not has_label(labels, key)
    msg := sprintf("CronJob %v: job template is missing label %v (its Jobs would be refused)", [input.review.object.metadata.name, key])
}

has_label(labels, key) {
    labels[key] != ""
}
