# Pod Security Standard `restricted`, enforced by Gatekeeper on the application namespaces in
# addition to the namespace's PSS label: host namespaces, privileged containers, privilege
# escalation, capabilities beyond the allowed ones (NET_BIND_SERVICE), running as root,
# seccomp, hostPath volumes and host ports.
package cerveruspodsecurityrestricted

import data.lib.cerverus.workloads

violation[{"msg": msg}] {
    spec := workloads.pod_spec(input.review.object)
    host := ["hostNetwork", "hostPID", "hostIPC"][_]
    object.get(spec, host, false) == true
    msg := sprintf("%v %v: %v is not allowed", [input.review.kind.kind, input.review.object.metadata.name, host])
}

violation[{"msg": msg}] {
    spec := workloads.pod_spec(input.review.object)
    v := object.get(spec, "volumes", [])[_]
    v.hostPath
    msg := sprintf("%v %v: hostPath volume %v is not allowed", [input.review.kind.kind, input.review.object.metadata.name, v.name])
}

violation[{"msg": msg}] {
    e := workloads.containers(input.review.object)[_]
    sc := object.get(e.container, "securityContext", {})
    object.get(sc, "privileged", false) == true
    msg := sprintf("container %v is privileged", [e.container.name])
}

violation[{"msg": msg}] {
    e := workloads.containers(input.review.object)[_]
    sc := object.get(e.container, "securityContext", {})
    object.get(sc, "allowPrivilegeEscalation", true) != false
    msg := sprintf("container %v must set securityContext.allowPrivilegeEscalation: false", [e.container.name])
}

violation[{"msg": msg}] {
    e := workloads.containers(input.review.object)[_]
    drop := object.get(object.get(object.get(e.container, "securityContext", {}), "capabilities", {}), "drop", [])
    not has_all(drop)
    msg := sprintf("container %v must drop ALL capabilities", [e.container.name])
}

violation[{"msg": msg}] {
    e := workloads.containers(input.review.object)[_]
    cap := object.get(object.get(object.get(e.container, "securityContext", {}), "capabilities", {}), "add", [])[_]
    not allowed_capability(cap)
    msg := sprintf("container %v adds capability %v; only %v may be added", [e.container.name, cap, input.parameters.allowedCapabilities])
}

violation[{"msg": msg}] {
    spec := workloads.pod_spec(input.review.object)
    e := workloads.containers(input.review.object)[_]
    not runs_as_non_root(spec, e.container)
    msg := sprintf("container %v must run as non-root (runAsNonRoot: true, runAsUser not 0)", [e.container.name])
}

violation[{"msg": msg}] {
    spec := workloads.pod_spec(input.review.object)
    e := workloads.containers(input.review.object)[_]
    not seccomp_confined(spec, e.container)
    msg := sprintf("container %v must use seccomp profile RuntimeDefault or Localhost", [e.container.name])
}

violation[{"msg": msg}] {
    e := workloads.containers(input.review.object)[_]
    p := object.get(e.container, "ports", [])[_]
    object.get(p, "hostPort", 0) != 0
    msg := sprintf("container %v binds host port %v", [e.container.name, p.hostPort])
}

has_all(drop) {
    drop[_] == "ALL"
}

allowed_capability(cap) {
    input.parameters.allowedCapabilities[_] == cap
}

# Container setting wins over the pod's (Kubernetes' own precedence).
effective(spec, c, field) = v {
    v := c.securityContext[field]
}

effective(spec, c, field) = v {
    not has_key(object.get(c, "securityContext", {}), field)
    v := spec.securityContext[field]
}

has_key(obj, k) {
    _ = obj[k]
}

runs_as_non_root(spec, c) {
    effective(spec, c, "runAsNonRoot") == true
    not runs_as_uid_zero(spec, c)
}

runs_as_uid_zero(spec, c) {
    effective(spec, c, "runAsUser") == 0
}

seccomp_confined(spec, c) {
    profile := effective(spec, c, "seccompProfile")
    {"RuntimeDefault", "Localhost"}[profile.type]
}
