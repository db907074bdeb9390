# Every container declares requests (what the scheduler and the quota count) and limits (what
# keeps one pod from starving its node) for the listed resources.
package cerveruscontainerresources

import data.lib.cerverus.workloads

violation[{"msg": msg}] {
    e := workloads.containers(input.review.object)[_]
    e.field != "ephemeralContainers"
    r := input.parameters.requests[_]
    not object.get(object.get(e.container, "resources", {}), "requests", {})[r]
    msg := sprintf("container %v has no %v request", [e.container.name, r])
}

violation[{"msg": msg}] {
    e := workloads.containers(input.review.object)[_]
    e.field != "ephemeralContainers"
    r := input.parameters.limits[_]
    not object.get(object.get(e.container, "resources", {}), "limits", {})[r]
    msg := sprintf("container %v has no %v limit", [e.container.name, r])
}
