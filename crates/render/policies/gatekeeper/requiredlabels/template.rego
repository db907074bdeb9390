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

has_label(labels, key) {
	labels[key] != ""
}
