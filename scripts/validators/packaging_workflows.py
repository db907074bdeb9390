"""Validators of the GitHub Actions workflows: the service pipelines the bundle renders
(`github/workflows/`, including `examples/`) and this repository's own `.github/workflows/`.

- actionlint, with shellcheck on PATH so every `run:` block is checked too (and its expression
  checks: untrusted event data pasted into a script, undeclared inputs, unknown contexts);
- checkov's `github_actions` framework (0 failed checks, no parsing errors). checkov only picks
  workflows up under a `.github/workflows/` path, so the rendered ones are copied into one in a
  temporary directory and its findings are mapped back to their bundle paths;
- check-jsonschema with the vendored GitHub workflow schema;
- the pins: every action is `owner/repo@<40-hex commit>` as `data/github-actions.json` records it
  (the platform's own reusable workflows may follow `main`);
- the k6 load tests (`loadtest/*.js`) parse as ES modules (`node --check`), and each declares
  thresholds (the SLO the run is held to).

Trivy has no workflow checks; the whole-bundle `trivy config` run in run.py still sees these
files."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import yaml

from common import Context, Result, read_checkov, run, tool

HERE = Path(__file__).resolve().parent
PINS = HERE.parent.parent / "data" / "github-actions.json"

ACTIONLINT = "actionlint (+ shellcheck on run:)"
CHECKOV = "checkov (github_actions)"
SCHEMA = "check-jsonschema (github-workflows)"
PINNED = "workflow actions pinned (data/github-actions.json)"
K6 = "k6 scripts parse (node --check), declare thresholds"

# Script injection (an untrusted title in `run:`), an unpinned action, a shellcheck error
# (SC2115: `rm -rf $DIR/*` can expand to `/*`), write-all permissions, and a job without
# `runs-on` (the schema requires it). Planted once in the bundle and once where the repository's
# workflows live (in the self-test the repository is the planted tree).
_BAD = """\
name: bad
on: pull_request_target
permissions: write-all
jobs:
  inject:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: |
          echo "${{ github.event.pull_request.title }}"
          rm -rf $TARGET_DIR/*
  nowhere:
    steps:
      - run: echo hi
"""
BROKEN_FIXTURES: dict[str, str] = {
    "github/workflows/bad.yml": _BAD,
    ".github/workflows/bad-repo.yml": _BAD,
    # A k6 script that does not parse (an unclosed call), and one without thresholds.
    "loadtest/bad-syntax.js": 'import http from "k6/http";\nconst TARGET = { "thresholds": {} };\nexport default function () {\n  http.get("http://x";\n}\n',
    "loadtest/no-thresholds.js": 'import http from "k6/http";\nexport default function () {\n  http.get("http://x");\n}\n',
}
MUST_NAME: dict[str, list[str]] = {
    ACTIONLINT: ["github/workflows/bad.yml", ".github/workflows/bad-repo.yml"],
    CHECKOV: ["github/workflows/bad.yml", ".github/workflows/bad-repo.yml"],
    SCHEMA: ["github/workflows/bad.yml", ".github/workflows/bad-repo.yml"],
    PINNED: ["github/workflows/bad.yml", ".github/workflows/bad-repo.yml"],
    K6: ["loadtest/bad-syntax.js", "loadtest/no-thresholds.js"],
}


def workflow_files(ctx: Context) -> list[tuple[str, Path]]:
    """(label, path): bundle workflows labelled by their bundle path, the repository's by
    `.github/workflows/<name>`."""
    out: list[tuple[str, Path]] = []
    rendered = ctx.root / "github" / "workflows"
    if rendered.is_dir():
        out += [(str(p.relative_to(ctx.root)), p) for p in sorted(rendered.rglob("*.y*ml"))]
    own = ctx.repo / ".github" / "workflows"
    if own.is_dir():
        out += [(str(p.relative_to(ctx.repo)), p) for p in sorted(own.glob("*.y*ml"))]
    return out


def actionlint(ctx: Context, files: list[tuple[str, Path]]) -> Result:
    r = Result(ACTIONLINT)
    r.files = len(files)
    if not files:
        return r
    env = dict(os.environ)
    # actionlint runs shellcheck from PATH: the pinned one in the venv.
    env["PATH"] = f"{ctx.venv_bin}{os.pathsep}{env.get('PATH', '')}"
    if not (ctx.venv_bin / "shellcheck").exists() and shutil.which("shellcheck", path=env["PATH"]) is None:
        r.failed += 1
        r.problems.append("shellcheck is not on PATH: actionlint would skip every run: block")
        return r
    by_path = {str(p.resolve()): label for label, p in files}
    # actionlint prints paths relative to its working directory: resolved back to the labels.
    cwd = Path.cwd()
    p = run([tool(ctx.venv_bin, "actionlint"), "-format", "{{json .}}", *by_path], env=env, cwd=cwd)
    try:
        found = json.loads(p.stdout) if p.stdout.strip() else []
    except json.JSONDecodeError:
        r.failed += 1
        r.problems.append(f"actionlint output is not JSON (exit {p.returncode}): {(p.stdout + p.stderr).strip()[:500]}")
        return r
    bad = set()
    for e in found or []:
        path = str((cwd / e.get("filepath", "")).resolve())
        label = by_path.get(path, e.get("filepath", ""))
        bad.add(label)
        r.problems.append(f"{label}:{e.get('line')}: [{e.get('kind')}] {e.get('message')}")
    if p.returncode not in (0, 1) or (p.returncode == 1 and not found):
        r.failed += 1
        r.problems.append(f"actionlint exited {p.returncode}: {p.stderr.strip()[:500]}")
    r.failed += len(bad)
    r.passed = len(files) - len(bad)
    return r


def checkov(ctx: Context, files: list[tuple[str, Path]]) -> Result:
    """checkov discovers workflows by their `.github/workflows/` path: every file is copied into
    one, under a directory per label, and the findings are mapped back."""
    r = Result(CHECKOV, unit="checks")
    if not files:
        return r
    with tempfile.TemporaryDirectory() as tmp:
        back: dict[str, str] = {}
        for i, (label, path) in enumerate(files):
            rel = Path(".github/workflows") / f"{i:03d}-{path.name}"
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(tmp) / rel)
            back["/" + str(rel)] = label
            back[str(rel)] = label
        p = run([tool(ctx.venv_bin, "checkov"), "-d", tmp, "--framework", "github_actions", "--skip-download", "-o", "json", "--quiet", "--compact"])
    reports = read_checkov(r, p, name=lambda path: back.get(path, path))
    if reports is None:
        return r
    r.files = len(files)
    if not any(rep.get("check_type") == "github_actions" for rep in reports) and r.passed == 0:
        # checkov found no workflow at all: that is a discovery failure, not a pass.
        r.failed += 1
        r.problems.append(f"checkov judged none of the {len(files)} workflows (exit {p.returncode}): {p.stderr.strip()[:300]}")
    return r
    reports = data if isinstance(data, list) else [data]
    seen_any = False
    for rep in reports:
        summary = rep.get("summary", {})
        seen_any |= rep.get("check_type") == "github_actions"
        r.passed += summary.get("passed", 0)
        r.failed += summary.get("failed", 0)
        r.files = len(files)
        parse_errors = summary.get("parsing_errors", 0)
        if parse_errors:
            r.failed += parse_errors
            names = [back.get(x, x) for x in rep.get("results", {}).get("parsing_errors", [])]
            r.problems.append(f"checkov: {parse_errors} parsing error(s): {names}")
        for f in rep.get("results", {}).get("failed_checks", []):
            label = back.get(f.get("file_path", ""), f.get("file_path"))
            r.problems.append(f"{label}: {f.get('check_id')} {f.get('check_name')} ({f.get('resource')})")
    if not seen_any and r.passed == 0:
        # checkov found no workflow at all: that is a discovery failure, not a pass.
        r.failed += 1
        r.problems.append(f"checkov judged none of the {len(files)} workflows (exit {p.returncode}): {p.stderr.strip()[:300]}")
    if p.returncode not in (0, 1):
        r.failed += 1
        r.problems.append(f"checkov exited {p.returncode}: {p.stderr.strip()[:500]}")
    return r


def schema(ctx: Context, files: list[tuple[str, Path]]) -> Result:
    r = Result(SCHEMA)
    r.files = len(files)
    for label, path in files:
        p = run([tool(ctx.venv_bin, "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)])
        if p.returncode == 0:
            r.passed += 1
        else:
            r.failed += 1
            detail = " ".join((p.stdout + p.stderr).split())[:400]
            r.problems.append(f"{label}: {detail}")
    return r


def _uses(workflow: dict) -> list[tuple[str, str]]:
    """(job, uses) for every step action and every reusable-workflow call."""
    out = []
    for name, job in (workflow.get("jobs") or {}).items():
        if not isinstance(job, dict):
            continue
        if isinstance(job.get("uses"), str):
            out.append((name, job["uses"]))
        for step in job.get("steps") or []:
            if isinstance(step, dict) and isinstance(step.get("uses"), str):
                out.append((name, step["uses"]))
    return out


SHA = re.compile(r"^[0-9a-f]{40}$")


def pinned(ctx: Context, files: list[tuple[str, Path]]) -> Result:
    r = Result(PINNED, unit="uses")
    pins = {k: v["sha"] for k, v in json.loads(PINS.read_text())["actions"].items()}
    reusable = {p.name for _, p in files if p.name.startswith("service-")}
    for label, path in files:
        try:
            workflow = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            r.failed += 1
            r.problems.append(f"{label}: not YAML: {e}")
            continue
        r.files += 1
        for job, uses in _uses(workflow):
            action, _, ref = uses.partition("@")
            repo = "/".join(action.split("/")[:2])
            first_party = "/.github/workflows/" in action and action.rsplit("/", 1)[-1] in reusable and ref == "main"
            # A workflow of the same repository at the same commit (ci.yml calling release.yml).
            local = not ref and action.startswith("./.github/workflows/") and (ctx.repo / action).is_file()
            if first_party or local or (SHA.match(ref) and pins.get(repo) == ref):
                r.passed += 1
            else:
                r.failed += 1
                why = "not in data/github-actions.json" if repo not in pins else f"not the pinned commit {pins[repo][:12]}…"
                r.problems.append(f"{label}: job {job}: `{uses}` ({why})")
    return r


def k6(ctx: Context) -> Result:
    r = Result(K6)
    scripts = sorted((ctx.root / "loadtest").glob("*.js")) if (ctx.root / "loadtest").is_dir() else []
    r.files = len(scripts)
    if not scripts:
        return r
    node = shutil.which("node")
    if node is None:
        r.skipped = "node is not installed (scripts/validate requires it)"
        return r
    with tempfile.TemporaryDirectory() as tmp:
        for script in scripts:
            label = str(script.relative_to(ctx.root))
            text = script.read_text()
            # k6 scripts are ES modules; the .mjs copy makes node parse them as one.
            module = Path(tmp) / (script.stem + ".mjs")
            module.write_text(text)
            p = run([node, "--check", str(module)])
            problems = []
            if p.returncode != 0:
                problems.append(f"{label}: does not parse: {' '.join(p.stderr.split())[:300]}")
            if "thresholds" not in text or '"http_req_failed"' not in text:
                problems.append(f"{label}: no http_req_failed threshold (the SLO's error budget)")
            if problems:
                r.failed += 1
                r.problems += problems
            else:
                r.passed += 1
    return r


def results(ctx: Context) -> list[Result]:
    files = workflow_files(ctx)
    return [actionlint(ctx, files), checkov(ctx, files), schema(ctx, files), pinned(ctx, files), k6(ctx)]
