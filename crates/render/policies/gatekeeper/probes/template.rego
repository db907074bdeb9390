# Long-running workloads tell Kubernetes when they can take traffic (readiness) and when they
# must be restarted (liveness). Run-to-completion Jobs, CronJobs and their Pods, and bare Pods with
# restartPolicy Never or OnFailure (task pods), have neither.
package cerverusprobes

import data.lib.cerverus.workloads

violation[{"msg": msg}] {
    obj := input.review.object
    not workloads.run_to_completion(obj)
    c := workloads.pod_spec(obj).containers[_]
    not workloads.exempt(c, input.parameters)
    probe := input.parameters.probes[_]
    not c[probe]
    msg := sprintf("%v %v: container %v has no %v", [input.review.kind.kind, obj.metadata.name, c.name, probe])
}
