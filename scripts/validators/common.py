"""What every validator module shares: the result row, how tools are run, and the context a
validator gets (the bundle, the repository, the engines' locations)."""

from __future__ import annotations

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
