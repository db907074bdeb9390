"""Find every PromQL query a bundle carries, for `promtool check rules`.

Queries live in KEDA ScaledObjects (`type: prometheus` triggers' `metadata.query`) and in
Prometheus rules (`expr` of each rule in a PrometheusRule, or of rules in Helm values). They
are found by shape, wherever they sit in a YAML document.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass
class Query:
    origin: str
    expr: str


def walk(node, where: str, out: list[Query], origin: str) -> None:
    if isinstance(node, dict):
        meta = node.get("metadata")
        if node.get("type") == "prometheus" and isinstance(meta, dict) and isinstance(meta.get("query"), str):
            out.append(Query(f"{origin} {where}.metadata.query", meta["query"]))
        if isinstance(node.get("expr"), str) and ("alert" in node or "record" in node):
            out.append(Query(f"{origin} {where}.expr", node["expr"]))
        for k, v in node.items():
            walk(v, f"{where}.{k}", out, origin)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f"{where}[{i}]", out, origin)


def collect(root: Path) -> list[Query]:
    queries: list[Query] = []
    for f in sorted(list(root.rglob("*.yaml")) + list(root.rglob("*.yml"))):
        try:
            docs = list(yaml.safe_load_all(f.read_text()))
        except yaml.YAMLError:
            continue  # yamllint reports it
        for doc in docs:
            if isinstance(doc, dict):
                name = (doc.get("metadata") or {}).get("name", "?") if "kind" in doc else "values"
                walk(doc, "", queries, f"{f.relative_to(root)} {doc.get('kind', '')}/{name}".replace(" /", " "))
    return queries


def rules_file(queries: list[Query]) -> str:
    """A rules file with one group per query (so promtool's errors name the query's group)."""
    groups = [{"name": f"q{i}", "rules": [{"record": f"cerverus:query_{i}", "expr": q.expr}]} for i, q in enumerate(queries)]
    return yaml.safe_dump({"groups": groups}, sort_keys=False)
