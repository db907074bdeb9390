"""Validators of the container images (`docker/<image>/Dockerfile` in the bundle): hadolint at
warning level (an inline `# hadolint ignore=` only with a reason on the line above), checkov's
Dockerfile checks (0 failed, no parsing errors), and the images' structural rules: a Dockerfile
that builds anything has at least two stages (build tools never reach the runtime), every base
is pinned by digest, the final stage runs as a non-root user (with a HOME when it is a bare UID),
no `ARG` precedes a `RUN` of the final stage (a per-build value would defeat the layer cache), and
no `ENV`/`ARG` name looks like a secret (it would sit in the image's config and history for anyone
who pulls it).

The same rules hold in `cerverus build` itself (`crates/render/src/packaging/docker.rs`,
`dockerfile_disagreements`); these engines judge the printed text, as docker would read it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from common import Context, Result, read_checkov, run, tool

HADOLINT = "hadolint --failure-threshold warning"
CHECKOV = "checkov (dockerfile)"
STRUCTURE = "Dockerfile rules (stages, digests, non-root USER, no secrets, ignore reasons)"

# One Dockerfile that breaks every rule: one stage that builds, a `:latest` base, a secret in the
# environment, an unpinned apt-get install, root at run time, an inline ignore without a reason.
_BROKEN = """\
FROM python:latest
ENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
ARG DB_PASSWORD
RUN apt-get update && apt-get install -y curl
# hadolint ignore=DL3013
RUN pip install flask
COPY . /app
CMD python /app/app.py
"""
BROKEN_FIXTURES: dict[str, str] = {"docker/broken/Dockerfile": _BROKEN}
MUST_NAME: dict[str, list[str]] = {
    HADOLINT: ["docker/broken/Dockerfile"],
    CHECKOV: ["docker/broken/Dockerfile"],
    STRUCTURE: ["docker/broken/Dockerfile"],
}

_SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL", "PRIVATE_KEY", "ACCESS_KEY", "API_KEY", "APIKEY", "FERNET")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_IGNORE = re.compile(r"^\s*#\s*hadolint\s+ignore=", re.IGNORECASE)


def secret_like(name: str) -> bool:
    n = name.upper()
    return any(w in n for w in _SECRET_WORDS) or n.endswith("_KEY")


def dockerfiles(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("Dockerfile") if p.is_file())


def _rel(ctx: Context, p: Path | str) -> str:
    try:
        return str(Path(p).resolve().relative_to(ctx.root.resolve()))
    except ValueError:
        return str(p)


def instructions(text: str) -> list[tuple[int, str, str]]:
    """(line, KEYWORD, arguments) per instruction: continuations joined, comments dropped."""
    out: list[tuple[int, str, str]] = []
    buf, start = "", 0
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        keyword, _, args = buf.partition(" ")
        out.append((start, keyword.upper(), args.strip()))
        buf = ""
    return out


def _names(keyword: str, args: str) -> list[str]:
    """Variable names an ENV or ARG instruction sets."""
    args = re.sub(r"^(--\S+\s+)*", "", args)
    if keyword == "ARG":
        return [args.split("=", 1)[0].strip()] if args else []
    if "=" not in args.split(" ", 1)[0]:
        return [args.split(" ", 1)[0]]  # legacy `ENV NAME value`
    return re.findall(r'(?:^|\s)([A-Za-z_][A-Za-z0-9_.-]*)=(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|\S*)', args)


def structure_problems(rel: str, text: str) -> list[str]:
    problems: list[str] = []
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if _IGNORE.match(line):
            above = lines[n - 1].strip() if n else ""
            reason = above.lstrip("#").strip()
            if not above.startswith("#") or not reason or _IGNORE.match(above):
                problems.append(f"{rel}:{n + 1}: `{line.strip()}` has no reason on the line above")
    instrs = instructions(text)
    stages: list[list[tuple[int, str, str]]] = []
    names: set[str] = set()
    for ins in instrs:
        if ins[1] == "FROM":
            stages.append([ins])
            words = [w for w in ins[2].split() if not w.startswith("--")]
            image = words[0] if words else ""
            if len(words) >= 3 and words[1].upper() == "AS":
                names.add(words[2].lower())
            if image.lower() not in names and image != "scratch":
                if not _DIGEST.search(image):
                    problems.append(f"{rel}:{ins[0]}: FROM {image} is not pinned by a sha256 digest")
                if image.split("@")[0].endswith(":latest"):
                    problems.append(f"{rel}:{ins[0]}: FROM {image} uses the latest tag")
        elif stages:
            stages[-1].append(ins)
        if ins[1] in ("ENV", "ARG"):
            for name in _names(ins[1], ins[2]):
                if secret_like(name):
                    problems.append(f"{rel}:{ins[0]}: {ins[1]} {name} looks like a secret (it would be baked into the image)")
    if not stages:
        return problems + [f"{rel}: no FROM"]
    builds = any(k in ("RUN", "COPY", "ADD") for _, k, _ in instrs)
    if builds and len(stages) < 2:
        problems.append(f"{rel}: {len(stages)} stage(s): a Dockerfile that builds needs a builder and a runtime stage")
    users = [a for _, k, a in stages[-1] if k == "USER"]
    if not users:
        problems.append(f"{rel}: the final stage sets no USER (it runs as root)")
    else:
        user = users[-1].split(":")[0].strip()
        if user in ("root", "0", ""):
            problems.append(f"{rel}: the final stage runs as USER {users[-1]}")
        # A numeric UID the image does not name has no passwd entry: HOME would be `/`.
        home = any("HOME" in _names(k, a) for _, k, a in stages[-1] if k == "ENV")
        if user.isdigit() and user != "0" and not home:
            problems.append(f"{rel}: the final stage runs as UID {user} and sets no HOME (it would be `/`)")
    # Every RUN after an ARG sees it in its environment: a per-build value (a commit) would
    # rebuild every later RUN of the runtime.
    args: list[tuple[int, str]] = []
    for line, k, a in stages[-1]:
        if k == "ARG":
            args += [(line, name) for name in _names(k, a)]
        elif k == "RUN" and args:
            for at, name in args:
                problems.append(f"{rel}:{at}: ARG {name} comes before the RUN at line {line} of the final stage (its cache misses whenever the value changes)")
            args = []
    return problems


def hadolint(ctx: Context, files: list[Path]) -> Result:
    r = Result(HADOLINT, files=len(files))
    if not files:
        return r
    p = run([tool(ctx.venv_bin, "hadolint"), "--failure-threshold", "warning", "-f", "json", *map(str, files)])
    try:
        findings = json.loads(p.stdout) if p.stdout.strip() else []
    except json.JSONDecodeError:
        r.failed += 1
        r.problems.append(f"hadolint output is not JSON (exit {p.returncode}): {(p.stderr or p.stdout).strip()[:500]}")
        return r
    bad = [f for f in findings if f.get("level") in ("error", "warning")]
    failing = {f.get("file") for f in bad}
    for f in bad:
        r.problems.append(f"{_rel(ctx, f.get('file', '?'))}:{f.get('line')}: {f.get('code')} {f.get('level')}: {f.get('message')}")
    r.failed += len(failing)
    r.passed = len(files) - len(failing)
    if p.returncode not in (0, 1) or (p.returncode == 1 and not bad):
        r.failed += 1
        r.problems.append(f"hadolint exited {p.returncode}: {p.stderr.strip()[:500]}")
    return r


def checkov(ctx: Context, files: list[Path]) -> Result:
    """checkov's Dockerfile framework over the same files; its JSON summary read as run.py's
    `checkov()` reads it (failed checks and parsing errors both fail)."""
    r = Result(CHECKOV, unit="checks")
    if not files:
        return r
    args = [a for f in files for a in ("-f", str(f))]
    p = run([tool(ctx.venv_bin, "checkov"), *args, "--framework", "dockerfile", "--skip-download", "-o", "json", "--quiet", "--compact"])
    read_checkov(r, p, name=lambda path: _rel(ctx, path))
    return r
    for rep in data if isinstance(data, list) else [data]:
        summary = rep.get("summary", {})
        r.passed += summary.get("passed", 0)
        r.failed += summary.get("failed", 0)
        r.files += summary.get("resource_count", 0)
        parse_errors = summary.get("parsing_errors", 0)
        if parse_errors:
            r.failed += parse_errors
            r.problems.append(f"checkov: {parse_errors} parsing error(s): {rep.get('results', {}).get('parsing_errors')}")
        for f in rep.get("results", {}).get("failed_checks", []):
            r.problems.append(f"{_rel(ctx, f.get('file_path', '?'))}: {f.get('check_id')} {f.get('check_name')} ({f.get('resource')})")
    if p.returncode not in (0, 1):
        r.failed += 1
        r.problems.append(f"checkov exited {p.returncode}: {p.stderr.strip()[:500]}")
    return r


def structure(ctx: Context, files: list[Path]) -> Result:
    r = Result(STRUCTURE, files=len(files))
    for f in files:
        problems = structure_problems(_rel(ctx, f), f.read_text())
        r.problems += problems
        if problems:
            r.failed += 1
        else:
            r.passed += 1
    return r


def results(ctx: Context) -> list[Result]:
    files = dockerfiles(ctx.root)
    out = [hadolint(ctx, files), checkov(ctx, files), structure(ctx, files)]
    if not files:
        for r in out:
            r.failed += 1
            r.problems.append("no Dockerfile in the bundle (docker/<image>/Dockerfile)")
    return out
