# Images are pinned: no `latest` tag, and a digest, so what runs is exactly what was scanned
# and a re-pushed tag cannot change it.
package cerverusimagedigest

import data.lib.cerverus.workloads

violation[{"msg": msg}] {
    e := workloads.containers(input.review.object)[_]
    not workloads.exempt(e.container, input.parameters)
    not contains(e.container.image, "@sha256:")
    msg := sprintf("container %v image %v is not pinned by digest (@sha256:…)", [e.container.name, e.container.image])
}

violation[{"msg": msg}] {
    e := workloads.containers(input.review.object)[_]
    tag(e.container.image) == "latest"
    msg := sprintf("container %v image %v uses the latest tag", [e.container.name, e.container.image])
}

# The tag: after the last `:` of the name (digest removed), unless that `:` is a registry port.
tag(image) = t {
    name := split(image, "@")[0]
    parts := split(name, "/")
    last := parts[count(parts) - 1]
    contains(last, ":")
    t := split(last, ":")[1]
}
