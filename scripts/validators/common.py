"""What every validator module shares: the result row, how tools are run, and the context a
validator gets (the bundle, the repository, the engines' locations)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Result:
    validator: str
    files: int = 0
    passed: int = 0
    failed: int = 0
    unit: str = "files"
    problems: list[str] = field(default_factory=list)
    # Why the validator did not run (an optional engine that is not installed), or None.
    skipped: str | None = None
    seconds: float = 0.0

    def rejected(self) -> bool:
        return not self.skipped and bool(self.failed or (self.files and not self.passed))


@dataclass
class Context:
    """Where a validator looks. `root` is the bundle (`cerverus build --out`); `repo` is the
    repository checkout (for files that are not in the bundle, such as `.github/workflows/`).
    In the self-test both point at one temporary tree of planted failures."""

    root: Path
    repo: Path
    venv_bin: Path
    node_dir: Path
    k8s_version: str
    # The cerverus binary (for `cerverus diff`), or None where the caller did not give one.
    cerverus_bin: Path | None = None


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def tool(venv_bin: Path, name: str) -> str:
    return str(venv_bin / name)


def read_checkov(r: Result, p: subprocess.CompletedProcess, name=lambda path: path) -> list[dict] | None:
    """Add checkov's JSON verdict (`-o json`) to `r`: passed and failed checks, resources, and
    parsing errors as failures (checkov exits 0 on a file it could not parse and says so only
    in its summary). `name` maps the paths checkov reports back to the ones to show. Returns the
    reports, or None when the output is not JSON (recorded as a failure)."""
    try:
        data = json.loads(p.stdout) if p.stdout.strip() else []
    except json.JSONDecodeError:
        r.failed += 1
        r.problems.append(f"checkov output is not JSON (exit {p.returncode}): {p.stderr.strip()[:500]}")
        return None
    reports = data if isinstance(data, list) else [data]
    for rep in reports:
        summary = rep.get("summary", {})
        r.passed += summary.get("passed", 0)
        r.failed += summary.get("failed", 0)
        r.files += summary.get("resource_count", 0)
        parse_errors = summary.get("parsing_errors", 0)
        if parse_errors:
            r.failed += parse_errors
            names = [name(x) for x in rep.get("results", {}).get("parsing_errors", [])]
            r.problems.append(f"checkov {rep.get('check_type')}: {parse_errors} parsing error(s): {names}")
        for f in rep.get("results", {}).get("failed_checks", []):
            r.problems.append(f"{name(f.get('file_path', '?'))}: {f.get('check_id')} {f.get('check_name')} ({f.get('resource')})")
    if p.returncode not in (0, 1):
        r.failed += 1
        r.problems.append(f"checkov exited {p.returncode}: {p.stderr.strip()[:500]}")
    return reports
