# Images come only from the listed registries (the environment's ECR): what the platform
# builds, scans and signs, pulled over the VPC endpoints the nodes are allowed to reach.
package cerverusallowedregistries

import data.lib.cerverus.workloads

violation[{"msg": msg}] {
    e := workloads.containers(input.review.object)[_]
    not workloads.exempt(e.container, input.parameters)
    not allowed(e.container.image)
    msg := sprintf("container %v image %v is not from an allowed registry %v", [e.container.name, e.container.image, input.parameters.registries])
}

# A registry entry matches at a path boundary: `<registry>/…`, never a longer host name that
# merely starts with it.
allowed(image) {
    r := input.parameters.registries[_]
    startswith(image, concat("", [trim_suffix(r, "/"), "/"]))
}
