# A PodDisruptionBudget that can never be satisfied blocks every node drain (upgrades, spot
# interruptions, scale-down): maxUnavailable 0, minAvailable 100%, or minAvailable at or above
# the replicas of a workload it selects. Replicas come from `data.inventory` (Gatekeeper's
# Config syncs Deployments, StatefulSets and Argo Rollouts); a workload whose replicas an autoscaler owns and
# that leaves `spec.replicas` unset in its manifest is judged once the live object has them.
package cerveruspdbsanity

violation[{"msg": msg}] {
    pdb := input.review.object
    pdb.kind == "PodDisruptionBudget"
    zero(object.get(pdb.spec, "maxUnavailable", null))
    msg := sprintf("PodDisruptionBudget %v has maxUnavailable 0: no pod can ever be evicted", [pdb.metadata.name])
}

violation[{"msg": msg}] {
    pdb := input.review.object
    pdb.kind == "PodDisruptionBudget"
    object.get(pdb.spec, "minAvailable", null) == "100%"
    msg := sprintf("PodDisruptionBudget %v has minAvailable of 100 percent: no pod can ever be evicted", [pdb.metadata.name])
}

violation[{"msg": msg}] {
    pdb := input.review.object
    pdb.kind == "PodDisruptionBudget"
    least := pdb.spec.minAvailable
    is_number(least)
    w := workloads_in(input.review.namespace)[_]
    selects(pdb.spec.selector, object.get(object.get(w.spec.template, "metadata", {}), "labels", {}))
    least >= w.spec.replicas
    msg := sprintf("PodDisruptionBudget %v has minAvailable %v but %v %v has %v replicas: no pod can ever be evicted", [pdb.metadata.name, least, w.kind, w.metadata.name, w.spec.replicas])
}

# The same judgement when the workload is the object under review and the budget exists.
violation[{"msg": msg}] {
    w := input.review.object
    {"Deployment", "StatefulSet", "Rollout"}[w.kind]
    pdb := data.inventory.namespace[input.review.namespace]["policy/v1"].PodDisruptionBudget[_]
    least := pdb.spec.minAvailable
    is_number(least)
    selects(pdb.spec.selector, object.get(object.get(w.spec.template, "metadata", {}), "labels", {}))
    least >= w.spec.replicas
    msg := sprintf("%v %v has %v replicas but PodDisruptionBudget %v requires minAvailable %v: no pod can ever be evicted", [w.kind, w.metadata.name, w.spec.replicas, pdb.metadata.name, least])
}

zero(v) {
    v == 0
}

zero(v) {
    v == "0%"
}

workloads_in(ns) = array.concat(
    [w | kind := ["Deployment", "StatefulSet"][_]; w := data.inventory.namespace[ns]["apps/v1"][kind][_]],
    [w | w := data.inventory.namespace[ns]["argoproj.io/v1alpha1"].Rollout[_]],
)

# matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist), as the API server reads
# a label selector.
selects(selector, labels) {
    count(object.get(selector, "matchLabels", {})) + count(object.get(selector, "matchExpressions", [])) > 0
    not label_mismatch(selector, labels)
    not expression_fails(selector, labels)
}

label_mismatch(selector, labels) {
    v := selector.matchLabels[k]
    object.get(labels, k, null) != v
}

expression_fails(selector, labels) {
    e := selector.matchExpressions[_]
    not expression_holds(e, labels)
}

expression_holds(e, labels) {
    e.operator == "In"
    labels[e.key] == e.values[_]
}

expression_holds(e, labels) {
    e.operator == "NotIn"
    not value_in(labels, e)
}

expression_holds(e, labels) {
    e.operator == "Exists"
    _ = labels[e.key]
}

expression_holds(e, labels) {
    e.operator == "DoesNotExist"
    not has_key(labels, e.key)
}

value_in(labels, e) {
    labels[e.key] == e.values[_]
}

has_key(obj, k) {
    _ = obj[k]
}
