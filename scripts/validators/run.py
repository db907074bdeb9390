#!/usr/bin/env python3
"""Run the third-party validators on a built bundle and print one summary table.

Called by scripts/validate with the validators' virtualenv. Each validator is the field's own
tool, run as its users run it; this script only selects the files each one judges, reads the
verdicts, and refuses to call a run clean when a tool could not parse its input (checkov, for
one, exits 0 on a parse error and reports it only in its JSON summary).

Exit status: 0 when every validator passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml  # PyYAML comes with yamllint.

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import promql  # noqa: E402 - the helpers sit next to this script
from common import Context, Result, read_checkov, run, tool  # noqa: E402,F401
# Packaging validators (issue 10), one module per artifact family. Each has
# `results(ctx) -> list[Result]`, and planted failures for the self-test: `BROKEN_FIXTURES`
# (bundle-relative path -> text) and `MUST_NAME` (validator -> files its problems must name).
import packaging_docker  # noqa: E402
import packaging_compose  # noqa: E402
import packaging_chart  # noqa: E402
import packaging_workflows  # noqa: E402

PACKAGING = [packaging_docker, packaging_compose, packaging_chart, packaging_workflows]
# The simulation report in a browser (issue 11): same module shape as the packaging validators.
import simulate_html  # noqa: E402

MODULES = PACKAGING + [simulate_html]
import promtool_tests  # noqa: E402
import shell  # noqa: E402


def yamllint(venv_bin: Path, files: list[Path]) -> Result:
    r = Result("yamllint", files=len(files))
    if not files:
        return r
    p = run([tool(venv_bin, "yamllint"), "-c", str(HERE / "yamllint.yaml"), "-f", "parsable", "-s"] + [str(f) for f in files])
    bad = set()
    for line in p.stdout.splitlines():
        if ":" in line:
            bad.add(line.split(":", 1)[0])
            r.problems.append(line)
    if p.returncode not in (0,) and not bad:
        r.problems.append(p.stderr.strip() or f"yamllint exited {p.returncode}")
        bad.add("?")
    r.failed = len(bad)
    r.passed = r.files - r.failed if "?" not in bad else 0
    return r


# The API groups Kubernetes itself serves; kubernetes-validate has schemas for exactly these.
# (`autoscaling.k8s.io`, the VPA, ends in .k8s.io but is a CRD.)
CORE_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "node.k8s.io", "certificates.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "apiregistration.k8s.io", "resource.k8s.io",
}


def is_core(api_version: str) -> bool:
    """Objects of the built-in API groups, which kubernetes-validate has schemas for."""
    group = api_version.split("/")[0] if "/" in api_version else ""
    return group in CORE_GROUPS


def kubernetes_validate(venv_bin: Path, files: list[Path], k8s_version: str) -> Result:
    r = Result("kubernetes-validate --strict", unit="objects")
    core_files = []
    for f in files:
        try:
            docs = [d for d in yaml.safe_load_all(f.read_text()) if d]
        except yaml.YAMLError as e:
            r.failed += 1
            r.problems.append(f"{f}: not YAML: {e}")
            continue
        if docs and all(is_core(str(d.get("apiVersion", ""))) for d in docs):
            core_files.append(f)
    r.files = len(core_files)
    # Batches keep the command line short and the run fast.
    for i in range(0, len(core_files), 200):
        batch = core_files[i : i + 200]
        p = run([tool(venv_bin, "kubernetes-validate"), "--strict", "-k", k8s_version] + [str(f) for f in batch])
        for line in p.stdout.splitlines() + p.stderr.splitlines():
            if line.startswith("INFO") and " passed " in line:
                r.passed += 1
            elif line.startswith(("ERROR", "WARN", "CRITICAL")) or "failed" in line:
                r.failed += 1
                r.problems.append(line)
        if p.returncode != 0 and r.failed == 0:
            r.failed += 1
            r.problems.append(f"kubernetes-validate exited {p.returncode}: {p.stderr.strip()[:500]}")
    return r


def hashicorp_hcl(node_dir: Path, root: Path) -> list[Result]:
    """HashiCorp's parser (hclsyntax, via @cdktf/hcl2json) and formatter (hclwrite.Format, via
    @cdktf/hcl-tools) on every .tf/.tfvars: a file that does not parse, or that the formatter
    would change, fails."""
    parse = Result("HCL parse (hclsyntax, @cdktf/hcl2json)")
    fmt = Result("HCL format (hclwrite.Format, @cdktf/hcl-tools)")
    node = shutil.which("node")
    if node is None or not (node_dir / "node_modules").is_dir():
        for r in (parse, fmt):
            r.failed = 1
            r.problems.append(f"node or {node_dir}/node_modules missing (scripts/validate installs them)")
        return [parse, fmt]
    p = run([node, str(node_dir / "hcl.mjs"), "--json", str(root)])
    try:
        data = json.loads(p.stdout)
    except json.JSONDecodeError:
        for r in (parse, fmt):
            r.failed = 1
            r.problems.append(f"hcl.mjs exited {p.returncode}: {(p.stderr or p.stdout).strip()[:500]}")
        return [parse, fmt]
    for r, key, detail in ((parse, "parse", "message"), (fmt, "format", "diff")):
        r.files = data["files"]
        r.passed = data[key]["passed"]
        r.failed = len(data[key]["failures"])
        for f in data[key]["failures"]:
            name = os.path.relpath(f["file"], root)
            r.problems.append(f"{name}: {f[detail]}" if key == "parse" else f"{name} is not formatted:\n{f[detail]}")
    return [parse, fmt]


def terraform_fmt(root: Path) -> Result:
    """`terraform fmt -check -recursive`, when a terraform binary is on PATH."""
    r = Result("terraform fmt -check -recursive")
    tf = shutil.which("terraform")
    if tf is None:
        r.skipped = "not on PATH"
        return r
    r.files = sum(1 for p in root.rglob("*") if p.suffix in (".tf", ".tfvars") and p.is_file())
    env = dict(os.environ, CHECKPOINT_DISABLE="1")
    p = subprocess.run([tf, "fmt", "-check", "-recursive", "-list=true", "-no-color", "."], cwd=root, capture_output=True, text=True, env=env)
    listed = [line.strip() for line in p.stdout.splitlines() if line.strip()]
    if p.returncode == 0:
        r.passed = r.files
        return r
    if listed:
        r.failed = len(listed)
        r.problems += [f"{f} is not formatted (terraform fmt -diff {f})" for f in listed]
    else:
        # A file that does not parse stops terraform fmt before it lists anything.
        r.failed = 1
        errors = [line for line in p.stderr.splitlines() if line.strip() and "CLI configuration" not in line]
        r.problems.append("terraform fmt failed: " + " ".join(errors)[-800:])
    r.passed = max(r.files - r.failed, 0)
    return r


def shellcheck(venv_bin: Path, root: Path) -> Result:
    """shellcheck on every shell script the bundle carries (see shell.py): findings of
    severity warning and above fail."""
    r = Result("shellcheck -S warning", unit="scripts")
    scripts, unreadable = shell.collect(root)
    r.files = len(scripts)
    r.problems += unreadable
    bad: set[int] = set()
    with tempfile.TemporaryDirectory() as tmp:
        by_dialect: dict[str, list[int]] = {}
        for i, sc in enumerate(scripts):
            (Path(tmp) / f"{i}.sh").write_text(sc.text)
            by_dialect.setdefault(sc.dialect, []).append(i)
        for dialect, ids in sorted(by_dialect.items()):
            files = [str(Path(tmp) / f"{i}.sh") for i in ids]
            p = run([tool(venv_bin, "shellcheck"), "-s", dialect, "-S", "warning", "-f", "json1"] + files)
            try:
                comments = json.loads(p.stdout).get("comments", []) if p.stdout.strip() else []
            except json.JSONDecodeError:
                comments = []
            if p.returncode not in (0, 1) or (p.returncode == 1 and not comments):
                bad.update(ids)
                r.problems.append(f"shellcheck exited {p.returncode}: {p.stderr.strip()[:500]}")
            for c in comments:
                i = int(Path(c["file"]).stem)
                bad.add(i)
                r.problems.append(f"{scripts[i].origin}: script line {c['line']}: SC{c['code']} ({c['level']}) {c['message']}")
    r.failed = len(bad) + len(unreadable)
    r.passed = r.files - len(bad)
    return r


def promtool(root: Path) -> Result:
    """`promtool check rules` on every PromQL query the bundle carries, when promtool is on
    PATH (Debian's `prometheus` package)."""
    r = Result("promtool check rules (PromQL)", unit="queries")
    exe = shutil.which("promtool")
    if exe is None:
        r.skipped = "not on PATH (install Debian's prometheus package to check PromQL)"
        return r
    queries = promql.collect(root)
    r.files = len(queries)
    if not queries:
        return r
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "bundle-queries.rules.yaml"
        rules.write_text(promql.rules_file(queries))
        p = run([exe, "check", "rules", str(rules)])
    if p.returncode == 0:
        r.passed = r.files
        return r
    out = (p.stdout + p.stderr).splitlines()
    bad = set()
    for line in out:
        m = re.search(r'group "q(\d+)"', line)
        if m and int(m.group(1)) < len(queries):
            i = int(m.group(1))
            bad.add(i)
            r.problems.append(f"{queries[i].origin}: {line.strip()}  [query: {queries[i].expr.strip()[:200]}]")
    if not bad:
        r.problems.append("promtool: " + " ".join(line.strip() for line in out)[-800:])
    r.failed = max(len(bad), 1)
    r.passed = r.files - len(bad)
    return r


def promtool_unit_tests(root: Path) -> Result:
    """`promtool test rules` on every PrometheusRule's unit tests (`promtool_tests.py`): each
    rule has a test file, each alert a firing and a silent case, and every test passes."""
    r = Result("promtool test rules (unit tests)", unit="rules")
    exe = shutil.which("promtool")
    if exe is None:
        r.skipped = "not on PATH (install Debian's prometheus package to run the rules' unit tests)"
        return r
    o = promtool_tests.judge(root, exe)
    r.files = o.rules
    r.passed = o.passed
    r.failed = max(o.rules - o.passed, 1 if o.problems else 0)
    r.problems = o.problems
    return r


def checkov(venv_bin: Path, root: Path, frameworks: list[str]) -> Result:
    r = Result("checkov (" + ", ".join(frameworks) + ")", unit="checks")
    p = run(
        [tool(venv_bin, "checkov"), "-d", str(root), "--framework", *frameworks, "--skip-download", "-o", "json", "--quiet", "--compact"]
    )
    read_checkov(r, p)
    return r
    reports = data if isinstance(data, list) else [data]
    for rep in reports:
        summary = rep.get("summary", {})
        r.passed += summary.get("passed", 0)
        r.failed += summary.get("failed", 0)
        parse_errors = summary.get("parsing_errors", 0)
        r.files += summary.get("resource_count", 0)
        if parse_errors:
            r.failed += parse_errors
            r.problems.append(f"checkov {rep.get('check_type')}: {parse_errors} parsing error(s): {rep.get('results', {}).get('parsing_errors')}")
        for f in rep.get("results", {}).get("failed_checks", []):
            r.problems.append(f"{f.get('file_path')}: {f.get('check_id')} {f.get('check_name')} ({f.get('resource')})")
    r.unit = "checks"
    if p.returncode not in (0, 1):
        r.failed += 1
        r.problems.append(f"checkov exited {p.returncode}: {p.stderr.strip()[:500]}")
    return r


USER_DATA_BAD_SHELL = """resource "aws_launch_template" "bad" {
  user_data = base64encode(<<EOT
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="//"

--//
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/bash
cd /var/lib/app
rm -rf $TARGET/*
--//--
EOT
  )
}
"""

BROKEN_FIXTURES = {
    # yamllint: inconsistent indentation and a duplicate key.
    "kubernetes/dev/x/configmap-bad-indent.yaml": "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n   name: a\n   name: b\n",
    # kubernetes-validate --strict: unknown field in a core object.
    "kubernetes/dev/x/service-unknown-field.yaml": "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  bogusField: 1\n  ports:\n    - port: 80\n",
    # checkov (kubernetes): a privileged pod.
    "kubernetes/dev/x/pod-privileged.yaml": "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: x\nspec:\n  containers:\n    - name: c\n      image: nginx\n      securityContext:\n        privileged: true\n",
    # shellcheck: a container's `sh -c` script (SC2164 cd without a fallback, SC2115 rm of $VAR/*).
    "kubernetes/dev/x/pod-shell.yaml": "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: sh\n  namespace: x\nspec:\n  containers:\n    - name: c\n      image: busybox\n      command: [\"sh\", \"-c\", \"cd /data; rm -rf $TARGET/*\"]\n",
    # promtool: a PrometheusRule whose expression does not parse.
    "kubernetes/dev/x/prometheusrule-bad.yaml": "---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: bad\n  namespace: x\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: Bad\n          expr: sum(rate(http_requests_total[5m]) by (pod)\n",
    # promtool unit tests: a rule whose test expects it silent although it fires (a planted
    # wrong expectation); the unparsable rule above has no test file at all.
    "kubernetes/dev/x/prometheusrule-wrong-expectation.yaml": "---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: wrong-expectation\n  namespace: x\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: AlwaysFiring\n          expr: vector(1)\n",
    "promtool/dev/wrong-expectation.test.yaml": "---\nrule_files: [wrong-expectation.rules.yaml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series: []\n    alert_rule_test:\n      - eval_time: 5m\n        alertname: AlwaysFiring\n        exp_alerts: []\n",
    # checkov parsing: unbalanced braces.
    "terraform/broken/main.tf": "resource \"aws_s3_bucket\" \"b\" {\n  bucket = \"x\"\n",
    # HashiCorp's parser: a heredoc closed as `EOT)` (the marker must stand alone on its line).
    "terraform/eot/main.tf": "locals {\n  user_data = base64encode(<<EOT\n#!/bin/sh\necho hi\nEOT)\n}\n",
    # HashiCorp's formatter: parses, but is not in `terraform fmt` form.
    "terraform/unformatted/main.tf": "resource \"aws_s3_bucket\" \"u\" {\n  bucket = \"x\"\n  force_destroy = true\n  filter {    }\n}\n",
    # shellcheck: user data whose shell part has findings.
    "terraform/userdata/main.tf": USER_DATA_BAD_SHELL,
    # checkov and trivy (terraform): a security group open to the world on SSH.
    "terraform/open/main.tf": "resource \"aws_security_group\" \"open\" {\n  ingress {\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    cidr_blocks = [\"0.0.0.0/0\"]\n  }\n}\n",
}

# For the validators that judge one planted file each: a file their problems must name, so a
# validator that fails for an unrelated reason does not pass the self-test.
MUST_NAME = {
    "HCL parse (hclsyntax, @cdktf/hcl2json)": ["terraform/eot/main.tf"],
    "HCL format (hclwrite.Format, @cdktf/hcl-tools)": ["terraform/unformatted/main.tf"],
    # terraform fmt stops at the first file that does not parse, so either planted file counts.
    "terraform fmt -check -recursive": ["terraform/eot/main.tf|terraform/unformatted/main.tf"],
    "shellcheck -S warning": ["terraform/userdata/main.tf", "kubernetes/dev/x/pod-shell.yaml"],
    "promtool check rules (PromQL)": ["kubernetes/dev/x/prometheusrule-bad.yaml"],
    "promtool test rules (unit tests)": ["promtool/dev/wrong-expectation.test.yaml", "kubernetes/dev/x/prometheusrule-bad.yaml"],
}


def all_results(ctx: Context, yaml_files, k8s_files) -> list[Result]:
    venv_bin, node_dir, root, k8s_version = ctx.venv_bin, ctx.node_dir, ctx.root, ctx.k8s_version
    steps = [
        lambda: [yamllint(venv_bin, yaml_files)],
        lambda: [kubernetes_validate(venv_bin, k8s_files, k8s_version)],
        lambda: hashicorp_hcl(node_dir, root),
        lambda: [terraform_fmt(root)],
        lambda: [shellcheck(venv_bin, root)],
        lambda: [promtool(root)],
        lambda: [promtool_unit_tests(root)],
        lambda: [checkov(venv_bin, root, ["terraform", "kubernetes"])],
        lambda: [trivy(venv_bin, root)],
    ]
    steps += [lambda m=m: m.results(ctx) for m in MODULES]
    results: list[Result] = []
    for step in steps:
        t0 = time.monotonic()
        got = step()
        for r in got:
            r.seconds = (time.monotonic() - t0) / len(got)
        results += got
    return results


def self_test(venv_bin: Path, node_dir: Path, k8s_version: str, cerverus_bin: Path | None) -> int:
    """Every validator must fail on a bundle made to fail it: a check that cannot fail proves nothing."""
    fixtures = dict(BROKEN_FIXTURES)
    must_name = dict(MUST_NAME)
    for m in MODULES:
        fixtures.update(m.BROKEN_FIXTURES)
        must_name.update(m.MUST_NAME)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, text in fixtures.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        # The core validators judge the planted Kubernetes and Terraform files; the packaging
        # validators pick their own inputs from the tree.
        yaml_files = sorted(p for p in root.rglob("*.yaml") if p.relative_to(root).parts[0] in ("kubernetes", "promtool", "terraform"))
        ctx = Context(root=root, repo=root, venv_bin=venv_bin, node_dir=node_dir, k8s_version=k8s_version, cerverus_bin=cerverus_bin)
        results = all_results(ctx, yaml_files, yaml_files)
    ok = True
    for r in results:
        if r.skipped:
            print(f"self-test: {r.validator}: skipped: {r.skipped}")
            continue
        missing = [alts for alts in must_name.get(r.validator, []) if not any(a in p for p in r.problems for a in alts.split("|"))]
        caught = r.failed > 0 and not missing
        ok &= caught
        verdict = "rejects" if caught else "DID NOT REJECT"
        detail = f" (missed {', '.join(missing)})" if missing else ""
        print(f"self-test: {r.validator}: {verdict} the broken bundle ({r.failed} failed){detail}")
    return 0 if ok else 1


def trivy(venv_bin: Path, root: Path) -> Result:
    """trivy config with its built-in checks (no download): HIGH and CRITICAL findings fail."""
    r = Result("trivy config (HIGH, CRITICAL)", unit="findings")
    p = run([tool(venv_bin, "trivy"), "config", "--skip-check-update", "--severity", "HIGH,CRITICAL", "--format", "json", "--quiet", str(root)])
    try:
        data = json.loads(p.stdout) if p.stdout.strip() else {}
    except json.JSONDecodeError:
        r.failed += 1
        r.problems.append(f"trivy output is not JSON (exit {p.returncode}): {p.stderr.strip()[:500]}")
        return r
    results = data.get("Results") or []
    r.files = len(results)
    for res in results:
        found = res.get("Misconfigurations") or []
        summary = res.get("MisconfSummary") or {}
        r.passed += summary.get("Successes", 0)
        for m in found:
            r.failed += 1
            r.problems.append(f"{res.get('Target')}: {m.get('Severity')} {m.get('ID')} {m.get('Title')} ({(m.get('CauseMetadata') or {}).get('Resource')})")
    if p.returncode != 0:
        r.failed += 1
        r.problems.append(f"trivy exited {p.returncode}: {p.stderr.strip()[:500]}")
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundle", type=Path, nargs="?", help="directory written by `cerverus build`")
    ap.add_argument("--self-test", action="store_true", help="check that every validator rejects a broken bundle")
    ap.add_argument("--venv-bin", type=Path, default=Path(sys.executable).parent)
    ap.add_argument("--node-dir", type=Path, default=HERE / "node", help="where hcl.mjs and its node_modules are")
    ap.add_argument("--kubernetes-version", default="1.35.0")
    ap.add_argument("--repo", type=Path, default=HERE.parent.parent, help="the repository checkout (for .github/workflows)")
    ap.add_argument("--cerverus-bin", type=Path, default=None, help="the cerverus binary (for `cerverus diff`)")
    args = ap.parse_args()
    if args.self_test:
        return self_test(args.venv_bin, args.node_dir, args.kubernetes_version, args.cerverus_bin)
    if args.bundle is None:
        ap.error("the bundle directory is required")

    root: Path = args.bundle
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 2
    yaml_files = sorted(p for p in root.rglob("*.yaml") if p.is_file())
    yaml_files += sorted(p for p in root.rglob("*.yml") if p.is_file())
    # Helm templates are Go templates, not YAML: the chart validators render them first.
    yaml_files = [p for p in yaml_files if "templates" not in p.relative_to(root).parts]
    k8s_files = [p for p in yaml_files if "kubernetes" in p.relative_to(root).parts[:1]]

    ctx = Context(
        root=root, repo=args.repo, venv_bin=args.venv_bin, node_dir=args.node_dir, k8s_version=args.kubernetes_version, cerverus_bin=args.cerverus_bin
    )
    results = all_results(ctx, yaml_files, k8s_files)

    width = max(len(r.validator) for r in results)
    print(f"\n{'validator':<{width}}  {'inputs':>7}  {'passed':>7}  {'failed':>7}  {'unit':<8} {'time':>6}")
    print("-" * (width + 46))
    for r in results:
        if r.skipped:
            print(f"{r.validator:<{width}}  skipped: {r.skipped}")
        else:
            print(f"{r.validator:<{width}}  {r.files:>7}  {r.passed:>7}  {r.failed:>7}  {r.unit:<8} {r.seconds:>5.1f}s")
    failed = [r for r in results if r.rejected()]
    for r in failed:
        print(f"\n{r.validator}: FAILED")
        for line in r.problems[:50]:
            print(f"  {line}")
        if len(r.problems) > 50:
            print(f"  … and {len(r.problems) - 50} more")
    ran = [r for r in results if not r.skipped]
    print(f"\nvalidators: {len(ran) - len(failed)} passed, {len(failed)} failed, {len(results) - len(ran)} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
