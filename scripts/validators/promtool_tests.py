#!/usr/bin/env python3
"""Run the `promtool test rules` unit tests of every PrometheusRule in a built bundle.

Layout (the renderer's, `crates/render/src/kubernetes/promtool.rs`): a PrometheusRule named N
in `kubernetes/<env>/<ns>/prometheusrule-*.yaml` has its tests in `promtool/<env>/N.test.yaml`,
whose `rule_files` is `[N.rules.yaml]`. For each environment this script writes every
PrometheusRule's `spec` (its `groups`, which is a Prometheus rules file) to `N.rules.yaml` in a
temporary directory beside copies of the test files, runs `promtool check rules` on every rules
file and `promtool test rules` on every test file.

It fails when a rule file does not pass `check rules`, a test fails, a PrometheusRule has no test
file (or a test file no rule), a test file does not name its rule file, or an alert has no test
case in which it fires or none in which it stays silent (an empty `exp_alerts`, or an input
series that the firing case's exact expectation leaves out while other series of the same metric
raise it).

    promtool_tests.py BUNDLE [--promtool PATH]    exit 0 when all hold, 1 otherwise, 77 when
                                                 promtool is not installed (skipped)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SKIPPED = 77


@dataclass
class Outcome:
    """What the harness found: one entry per rule file judged."""

    rules: int = 0
    passed: int = 0
    problems: list[str] = field(default_factory=list)


def prometheus_rules(bundle: Path) -> dict[str, dict[str, tuple[str, dict]]]:
    """env → rule name → (bundle-relative path, spec) of every PrometheusRule."""
    out: dict[str, dict[str, tuple[str, dict]]] = {}
    for f in sorted((bundle / "kubernetes").rglob("*.yaml")):
        rel = f.relative_to(bundle)
        env = rel.parts[1]
        try:
            docs = list(yaml.safe_load_all(f.read_text()))
        except yaml.YAMLError:
            continue  # yamllint reports it
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule" and str(doc.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
                name = (doc.get("metadata") or {}).get("name", "?")
                out.setdefault(env, {})[name] = (str(rel), doc.get("spec") or {})
    return out


def alert_names(spec: dict) -> list[str]:
    names = []
    for g in spec.get("groups") or []:
        for r in g.get("rules") or []:
            if isinstance(r, dict) and "alert" in r and r["alert"] not in names:
                names.append(r["alert"])
    return names


SERIES = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*$")
LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    m = SERIES.match(text or "")
    if not m:
        return "", {}
    return m.group(1), dict(LABEL.findall(m.group(2) or ""))


def silent_series(group: dict, case: dict) -> bool:
    """Whether a firing case also proves silence: promtool matches the expected alerts exactly,
    so an input series of a metric whose other series raise the expected alerts (an expected
    alert agrees with their labels) but that no expected alert agrees with stays silent by
    assertion."""
    expected = [{k: str(v) for k, v in (a.get("exp_labels") or {}).items()} for a in case.get("exp_alerts") or []]
    covered: dict[str, list[bool]] = {}
    for s in group.get("input_series") or []:
        name, labels = parse_series(s.get("series", ""))
        # Raised by an expected alert: one that agrees on every label both carry (and shares one).
        hit = any(any(k in e for k in labels) and all(e[k] == v for k, v in labels.items() if k in e) for e in expected)
        covered.setdefault(name, []).append(hit)
    return any(any(hits) and not all(hits) for hits in covered.values())


def coverage(test: dict) -> tuple[set[str], set[str]]:
    """Alert names with a firing case, and with a silent case (an empty expectation, or series
    the firing case asserts silent, see `silent_series`)."""
    firing, silent = set(), set()
    for group in test.get("tests") or []:
        for case in group.get("alert_rule_test") or []:
            if case.get("exp_alerts"):
                firing.add(case.get("alertname"))
                if silent_series(group, case):
                    silent.add(case.get("alertname"))
            else:
                silent.add(case.get("alertname"))
    return firing, silent


def judge(bundle: Path, promtool: str) -> Outcome:
    o = Outcome()
    rules = prometheus_rules(bundle)
    envs = set(rules) | {p.name for p in (bundle / "promtool").glob("*") if p.is_dir()}
    for env in sorted(envs):
        tests_dir = bundle / "promtool" / env
        test_files = {p.name[: -len(".test.yaml")]: p for p in sorted(tests_dir.glob("*.test.yaml"))}
        env_rules = rules.get(env, {})
        for orphan in sorted(set(test_files) - set(env_rules)):
            o.problems.append(f"promtool/{env}/{orphan}.test.yaml: no PrometheusRule named {orphan} in kubernetes/{env}/")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for name, (path, spec) in sorted(env_rules.items()):
                o.rules += 1
                ok = True
                rules_file = work / f"{name}.rules.yaml"
                rules_file.write_text(yaml.safe_dump({"groups": spec.get("groups") or []}, sort_keys=False))
                p = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True, text=True)
                if p.returncode != 0:
                    ok = False
                    o.problems.append(f"{path}: promtool check rules: {(p.stdout + p.stderr).strip()[-600:]}")
                test_path = test_files.get(name)
                if test_path is None:
                    o.problems.append(f"{path}: PrometheusRule {name} has no unit tests (promtool/{env}/{name}.test.yaml)")
                    continue
                rel_test = f"promtool/{env}/{test_path.name}"
                try:
                    test = yaml.safe_load(test_path.read_text()) or {}
                except yaml.YAMLError as e:
                    o.problems.append(f"{rel_test}: not YAML: {e}")
                    continue
                if test.get("rule_files") != [rules_file.name]:
                    ok = False
                    o.problems.append(f"{rel_test}: rule_files is {test.get('rule_files')}, expected [{rules_file.name}]")
                firing, silent = coverage(test)
                for a in alert_names(spec):
                    if a not in firing:
                        ok = False
                        o.problems.append(f"{rel_test}: alert {a} of {path} has no test case in which it fires")
                    if a not in silent:
                        ok = False
                        o.problems.append(f"{rel_test}: alert {a} of {path} has no test case in which it stays silent")
                shutil.copy(test_path, work / test_path.name)
                p = subprocess.run([promtool, "test", "rules", test_path.name], capture_output=True, text=True, cwd=work)
                if p.returncode != 0:
                    ok = False
                    o.problems.append(f"{rel_test}: promtool test rules failed: {(p.stdout + p.stderr).strip()[-1500:]}")
                o.passed += ok
    return o


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--promtool", default=None, help="promtool executable (default: the one on PATH)")
    args = ap.parse_args()
    exe = args.promtool or shutil.which("promtool")
    if exe is None:
        print("promtool tests: SKIPPED (promtool is not on PATH; install Debian's prometheus package)")
        return SKIPPED
    o = judge(args.bundle, exe)
    for line in o.problems:
        print(line)
    print(f"promtool tests: {o.passed} of {o.rules} PrometheusRules pass their unit tests; {len(o.problems)} problem(s)")
    return 1 if o.problems or not o.rules else 0


if __name__ == "__main__":
    sys.exit(main())
