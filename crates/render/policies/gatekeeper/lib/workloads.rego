# Shared by every Cerverus ConstraintTemplate (Gatekeeper `libs`): where a Pod's spec, labels
# and containers are, for a Pod and for each kind that carries a pod template. Admission sees
# the workload (Deployment, StatefulSet, Rollout, Job, CronJob …) before its Pods exist, so a
# violation is reported on the object a person applied, not only on the Pods a controller
# creates later.
package lib.cerverus.workloads

template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Rollout"}

pod_spec(obj) = spec {
    obj.kind == "Pod"
    spec := obj.spec
}

pod_spec(obj) = spec {
    template_kinds[obj.kind]
    spec := obj.spec.template.spec
}

pod_spec(obj) = spec {
    obj.kind == "CronJob"
    spec := obj.spec.jobTemplate.spec.template.spec
}

pod_labels(obj) = labels {
    obj.kind == "Pod"
    labels := object.get(obj.metadata, "labels", {})
}

pod_labels(obj) = labels {
    template_kinds[obj.kind]
    labels := object.get(object.get(obj.spec.template, "metadata", {}), "labels", {})
}

pod_labels(obj) = labels {
    obj.kind == "CronJob"
    labels := object.get(object.get(obj.spec.jobTemplate.spec.template, "metadata", {}), "labels", {})
}

# Every container of the pod with the field it sits in: containers, initContainers and
# ephemeralContainers all run the image and the security context they declare.
containers(obj) = [{"field": field, "container": c} |
    spec := pod_spec(obj)
    field := ["containers", "initContainers", "ephemeralContainers"][_]
    c := object.get(spec, field, [])[_]
]

# A sidecar the mesh injects at admission (Istio's proxy, in `containers` or, as a native sidecar,
# in `initContainers`), exempted by name AND image (Istio's release repositories at the installed
# minor version, the constraint's `imageRegex`), so a container cannot escape a policy by taking
# the sidecar's name alone.
exempt(c, params) {
    s := object.get(params, "exemptSidecars", [])[_]
    c.name == s.name
    regex.match(s.imageRegex, c.image)
}

# A Pod of a run-to-completion Job (directly or through a CronJob): not long-running.
run_to_completion(obj) {
    {"Job", "CronJob"}[obj.kind]
}

run_to_completion(obj) {
    obj.kind == "Pod"
    ref := object.get(obj.metadata, "ownerReferences", [])[_]
    ref.kind == "Job"
}

# A bare Pod that is not restarted when it exits (restartPolicy Never or OnFailure; the API server
# defaults it to Always before admission): a task, such as the ones Airflow's
# KubernetesPodOperator creates from the worker, with no owner to point at.
run_to_completion(obj) {
    obj.kind == "Pod"
    {"Never", "OnFailure"}[object.get(obj.spec, "restartPolicy", "Always")]
}
