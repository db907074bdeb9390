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
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml  # PyYAML comes with yamllint.

HERE = Path(__file__).resolve().parent


@dataclass
class Result:
    validator: str
    files: int = 0
    passed: int = 0
    failed: int = 0
    unit: str = "files"
    problems: list[str] = field(default_factory=list)


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True)


def tool(venv_bin: Path, name: str) -> str:
    return str(venv_bin / name)


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


def hcl2_parse(files: list[Path]) -> Result:
    import hcl2  # python-hcl2

    r = Result("python-hcl2", files=len(files))
    for f in files:
        try:
            with f.open() as fh:
                hcl2.load(fh)
            r.passed += 1
        except Exception as e:  # noqa: BLE001 - any parse failure is a failure
            r.failed += 1
            r.problems.append(f"{f}: {type(e).__name__}: {e}")
    return r


def checkov(venv_bin: Path, root: Path, frameworks: list[str]) -> Result:
    r = Result("checkov (" + ", ".join(frameworks) + ")", unit="checks")
    p = run(
        [tool(venv_bin, "checkov"), "-d", str(root), "--framework", *frameworks, "--skip-download", "-o", "json", "--quiet", "--compact"]
    )
    try:
        data = json.loads(p.stdout) if p.stdout.strip() else []
    except json.JSONDecodeError:
        r.failed += 1
        r.problems.append(f"checkov output is not JSON (exit {p.returncode}): {p.stderr.strip()[:500]}")
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


BROKEN_FIXTURES = {
    # yamllint: inconsistent indentation and a duplicate key.
    "kubernetes/dev/x/configmap-bad-indent.yaml": "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n   name: a\n   name: b\n",
    # kubernetes-validate --strict: unknown field in a core object.
    "kubernetes/dev/x/service-unknown-field.yaml": "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  bogusField: 1\n  ports:\n    - port: 80\n",
    # checkov (kubernetes): a privileged pod.
    "kubernetes/dev/x/pod-privileged.yaml": "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: x\nspec:\n  containers:\n    - name: c\n      image: nginx\n      securityContext:\n        privileged: true\n",
    # python-hcl2 and checkov parsing: unbalanced braces.
    "terraform/broken/main.tf": "resource \"aws_s3_bucket\" \"b\" {\n  bucket = \"x\"\n",
    # checkov and trivy (terraform): a security group open to the world on SSH.
    "terraform/open/main.tf": "resource \"aws_security_group\" \"open\" {\n  ingress {\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    cidr_blocks = [\"0.0.0.0/0\"]\n  }\n}\n",
}


def self_test(venv_bin: Path, k8s_version: str) -> int:
    """Every validator must fail on a bundle made to fail it: a check that cannot fail proves nothing."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, text in BROKEN_FIXTURES.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        yaml_files = sorted(root.rglob("*.yaml"))
        tf_files = sorted(root.rglob("*.tf"))
        results = [
            yamllint(venv_bin, yaml_files),
            kubernetes_validate(venv_bin, yaml_files, k8s_version),
            hcl2_parse(tf_files),
            checkov(venv_bin, root, ["terraform", "kubernetes"]),
            trivy(venv_bin, root),
        ]
    ok = True
    for r in results:
        caught = r.failed > 0
        ok &= caught
        print(f"self-test: {r.validator}: {'rejects' if caught else 'DID NOT REJECT'} the broken bundle ({r.failed} failed)")
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
    ap.add_argument("--kubernetes-version", default="1.35.0")
    args = ap.parse_args()
    if args.self_test:
        return self_test(args.venv_bin, args.kubernetes_version)
    if args.bundle is None:
        ap.error("the bundle directory is required")

    root: Path = args.bundle
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 2
    yaml_files = sorted(p for p in root.rglob("*.yaml") if p.is_file())
    yaml_files += sorted(p for p in root.rglob("*.yml") if p.is_file())
    tf_files = sorted(p for p in root.rglob("*.tf") if p.is_file())
    tf_files += sorted(p for p in root.rglob("*.tfvars") if p.is_file())
    k8s_files = [p for p in yaml_files if "kubernetes" in p.relative_to(root).parts[:1]]

    results = [
        yamllint(args.venv_bin, yaml_files),
        kubernetes_validate(args.venv_bin, k8s_files, args.kubernetes_version),
        hcl2_parse(tf_files),
        checkov(args.venv_bin, root, ["terraform", "kubernetes"]),
        trivy(args.venv_bin, root),
    ]

    width = max(len(r.validator) for r in results)
    print(f"\n{'validator':<{width}}  {'inputs':>8}  {'passed':>8}  {'failed':>8}  unit")
    print("-" * (width + 40))
    for r in results:
        print(f"{r.validator:<{width}}  {r.files:>8}  {r.passed:>8}  {r.failed:>8}  {r.unit}")
    failed = [r for r in results if r.failed or (r.files and not r.passed)]
    for r in failed:
        print(f"\n{r.validator}: FAILED")
        for line in r.problems[:50]:
            print(f"  {line}")
        if len(r.problems) > 50:
            print(f"  … and {len(r.problems) - 50} more")
    total_passed = sum(1 for r in results if r not in failed)
    print(f"\nvalidators: {total_passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
