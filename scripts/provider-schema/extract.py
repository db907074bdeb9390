#!/usr/bin/env python3
"""Extract a compact Terraform provider schema from a CDKTF provider package's `.jsii` file.

The published `@cdktf/provider-*` npm packages describe every resource and data source of a
Terraform provider as jsii types: a `<Name>Config` interface per resource whose properties are
the settable arguments (computed-only attributes are absent), with nested blocks as struct
types. Each property's docs link to the Terraform Registry with the original snake_case name as
the anchor, which is how names are recovered here.

Output (JSON, one resource per line so diffs stay readable):

    {"provider": "aws", "provider_version": "6.25.0", "source": "...", "resources": {
      "aws_s3_bucket": {"a": {"bucket": 0, "region": 0, ...}, "b": {"logging": {"a": {...}, "b": {...}}}},
      ...}, "data_sources": {...}}

`a` maps argument names to 1 (required) or 0 (optional); `b` maps nested block names to the same
shape. Meta-arguments (count, for_each, provider, depends_on, lifecycle, …) are not listed; the
checker allows them everywhere.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

PROVIDER_LINK = re.compile(r"registry\.terraform\.io/providers/[^/]+/([^/]+)/([^/]+)/docs(?:#([A-Za-z0-9_]+))? ")
LINK = re.compile(r"registry\.terraform\.io/providers/[^/]+/([^/]+)/([^/]+)/docs/(resources|data-sources)/([a-z0-9_]+)(?:#([A-Za-z0-9_]+))?")
META = {"count", "forEach", "dependsOn", "provider", "lifecycle", "connection", "provisioners"}


def link_of(docs: dict) -> re.Match | None:
    for key in ("summary", "remarks"):
        m = LINK.search(docs.get(key, "") or "")
        if m:
            return m
    return None


def struct_fqn(t: dict) -> str | None:
    """The struct a property's type refers to, through lists, maps and unions."""
    if "fqn" in t:
        # cdktf.IResolvable and friends are the framework's, not the provider's structs.
        return None if t["fqn"].startswith("cdktf.") else t["fqn"]
    if "collection" in t:
        return struct_fqn(t["collection"]["elementtype"])
    if "union" in t:
        for u in t["union"]["types"]:
            f = struct_fqn(u)
            if f:
                return f
    return None


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def shape(types: dict, fqn: str, depth: int = 0, provider_config: bool = False) -> dict:
    t = types[fqn]
    args: dict[str, int] = {}
    blocks: dict[str, dict] = {}
    props = list(t.get("properties", []))
    for parent in t.get("interfaces", []):
        if parent in types and not parent.startswith("cdktf."):
            props += types[parent].get("properties", [])
    for p in props:
        # Meta-arguments exist only on the resource itself; a nested block may well be called
        # `provider` (aws_eks_cluster.encryption_config.provider).
        if depth == 0 and p["name"] in META:
            continue
        m = link_of(p.get("docs", {}))
        if m and m.group(5):
            name = m.group(5)
        elif provider_config:
            pm = PROVIDER_LINK.search((p.get("docs", {}).get("summary") or "") + " " + (p.get("docs", {}).get("remarks") or ""))
            name = pm.group(3) if pm and pm.group(3) else snake(p["name"])
        else:
            continue
        inner = struct_fqn(p["type"])
        is_block = inner is not None and inner in types and types[inner]["kind"] == "interface" and depth < 12
        if is_block:
            blocks[name] = shape(types, inner, depth + 1, provider_config)
            if not p.get("optional"):
                blocks[name]["required"] = 1
        else:
            args[name] = 0 if p.get("optional") else 1
    out = {"a": dict(sorted(args.items()))}
    if blocks:
        out["b"] = dict(sorted(blocks.items()))
    return out


def extract(jsii_path: Path, package: str) -> dict:
    d = json.loads(jsii_path.read_text())
    types = d["types"]
    resources: dict[str, dict] = {}
    data_sources: dict[str, dict] = {}
    provider_version = None
    provider_shape: dict = {}
    for fqn, t in types.items():
        if t.get("kind") != "class":
            continue
        pm = PROVIDER_LINK.search((t.get("docs", {}).get("summary") or "") + " ")
        if pm and not pm.group(3) and fqn + "Config" in types and "/docs/" not in (t.get("docs", {}).get("summary") or ""):
            provider_shape = shape(types, fqn + "Config", 0, provider_config=True)
            provider_version = provider_version or pm.group(2)
            continue
        m = link_of(t.get("docs", {}))
        if not m or m.group(5):
            continue
        provider_version = provider_version or m.group(2)
        config = fqn + "Config"
        if config not in types:
            continue
        name = m.group(4)
        # Registry pages drop the provider prefix (`s3_bucket` documents `aws_s3_bucket`).
        tf_name = f"{m.group(1)}_{name}"
        target = resources if m.group(3) == "resources" else data_sources
        target[tf_name] = shape(types, config)
    return {
        "provider": d["name"].split("provider-")[-1],
        "provider_version": provider_version,
        "source": f"{package} ({d['name']}@{d['version']}, .jsii fingerprint {d.get('fingerprint', '?')})",
        "provider_config": provider_shape,
        "resources": dict(sorted(resources.items())),
        "data_sources": dict(sorted(data_sources.items())),
    }


def write(schema: dict, out: Path) -> None:
    lines = ["{"]
    for key in ("provider", "provider_version", "source"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(schema[key])},")
    lines.append(f"  \"provider_config\": {json.dumps(schema['provider_config'], separators=(',', ':'))},")
    for section in ("resources", "data_sources"):
        lines.append(f"  {json.dumps(section)}: {{")
        items = list(schema[section].items())
        for i, (name, body) in enumerate(items):
            comma = "," if i + 1 < len(items) else ""
            lines.append(f"    {json.dumps(name)}: {json.dumps(body, separators=(',', ':'))}{comma}")
        lines.append("  }," if section == "resources" else "  }")
    lines.append("}")
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print("usage: extract.py PATH/.jsii PACKAGE@VERSION OUT.json", file=sys.stderr)
        sys.exit(2)
    schema = extract(Path(sys.argv[1]), sys.argv[2])
    write(schema, Path(sys.argv[3]))
    print(f"{sys.argv[3]}: {len(schema['resources'])} resources, {len(schema['data_sources'])} data sources (provider {schema['provider_version']})")
