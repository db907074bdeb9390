"""Validators of the local development stack (`compose/compose.yaml` in the bundle): the compose
specification's schema (check-jsonschema's vendored `compose-spec`), Docker Compose itself
(`docker-compose config`, Debian's 1.29.2, where installed) and the stack's structural rules
(every service has a health check, limits and reservations, and a profile).

Both engines read the same file: it uses only fields the compose specification and
docker-compose 1.29.2 both accept (no top-level `name:`, which 1.29.2 rejects; the project name
comes from COMPOSE_PROJECT_NAME in `.env`)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import yaml

from common import Context, Result, run, tool

# A service without a health check, a field the specification does not have, a depends_on on a
# service that does not exist: each must be named by the validator that catches it.
_VALID_SERVICE = """\
    image: docker.io/library/redis:7.4@sha256:71da9275c5f3fcb97d0fa0c8c5b36cc995327265420f17a04bfd544f458059f7
    profiles: [core, full]
    user: "999:999"
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 512M}
        reservations: {cpus: "0.1", memory: 64M}
"""
_HEALTH = """\
    healthcheck:
      test: [CMD, redis-cli, ping]
"""
_NETWORK = "networks:\n  cerverus:\n    ipam:\n      config:\n        - subnet: 172.29.42.0/24\n"

BROKEN_FIXTURES: dict[str, str] = {
    "compose/no-healthcheck/compose.yaml": "services:\n  cache:\n" + _VALID_SERVICE + _NETWORK,
    "compose/bad-field/compose.yaml": "services:\n  cache:\n" + _VALID_SERVICE + _HEALTH + "    restart_policy: always\n" + _NETWORK,
    "compose/unknown-dependency/compose.yaml": "services:\n  cache:\n"
    + _VALID_SERVICE
    + _HEALTH
    + "    depends_on:\n      no-such-service:\n        condition: service_healthy\n"
    + _NETWORK,
}
SCHEMA = "check-jsonschema (compose-spec)"
ENGINE = "docker-compose config -q"
STRUCTURE = "compose structure (health check, limits, profile)"
MUST_NAME: dict[str, list[str]] = {
    SCHEMA: ["compose/bad-field/compose.yaml"],
    ENGINE: ["compose/unknown-dependency/compose.yaml", "compose/bad-field/compose.yaml"],
    STRUCTURE: ["compose/no-healthcheck/compose.yaml", "compose/unknown-dependency/compose.yaml"],
}

PROFILES = {"core", "ml", "monitoring"}
# `${NAME`, `${NAME:?…}`, `${NAME:-…}`, not the escaped `$${…}`.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def compose_files(root: Path) -> list[Path]:
    base = root / "compose"
    return sorted(base.rglob("compose.yaml")) if base.is_dir() else []


def rel(root: Path, p: Path) -> str:
    return str(p.relative_to(root))


def schema(ctx: Context, files: list[Path]) -> Result:
    r = Result(SCHEMA)
    r.files = len(files)
    for f in files:
        p = run([tool(ctx.venv_bin, "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(f)])
        if p.returncode == 0:
            r.passed += 1
        else:
            r.failed += 1
            r.problems.append(f"{rel(ctx.root, f)}: {(p.stdout + p.stderr).strip()[-800:]}")
    return r


def engine(ctx: Context, files: list[Path]) -> Result:
    """`docker-compose config -q` with an env file giving every interpolated variable a dummy,
    non-secret value, and empty stand-ins for the secret files the developer creates."""
    r = Result(ENGINE)
    exe = shutil.which("docker-compose")
    if exe is None:
        r.skipped = "docker-compose not on PATH (Debian package docker-compose)"
        return r
    r.files = len(files)
    for f in files:
        text = f.read_text()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            # A copy beside stand-in secret files, so the bundle stays untouched.
            shutil.copytree(f.parent, work / "stack", dirs_exist_ok=True)
            stack = work / "stack"
            try:
                doc = yaml.safe_load(text) or {}
            except yaml.YAMLError as e:
                r.failed += 1
                r.problems.append(f"{rel(ctx.root, f)}: not YAML: {e}")
                continue
            for s in (doc.get("secrets") or {}).values() if isinstance(doc, dict) else []:
                if isinstance(s, dict) and isinstance(s.get("file"), str):
                    target = stack / s["file"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.touch()
            env_file = work / "dummy.env"
            env_file.write_text("".join(f"{v}=1\n" for v in sorted(set(VARIABLE.findall(text)))))
            p = run([exe, "--project-directory", str(stack), "-f", str(stack / f.name), "--env-file", str(env_file), "config", "-q"])
            if p.returncode == 0:
                r.passed += 1
            else:
                r.failed += 1
                r.problems.append(f"{rel(ctx.root, f)}: {(p.stderr + p.stdout).strip()[-800:]}")
    return r


def structure(ctx: Context, files: list[Path]) -> Result:
    r = Result(STRUCTURE)
    r.files = len(files)
    for f in files:
        name = rel(ctx.root, f)
        problems: list[str] = []
        try:
            doc = yaml.safe_load(f.read_text()) or {}
        except yaml.YAMLError as e:
            doc, problems = {}, [f"not YAML: {e}"]
        services = doc.get("services") or {} if isinstance(doc, dict) else {}
        if not services:
            problems.append("no services")
        for sname, s in services.items():
            s = s or {}
            hc = s.get("healthcheck") or {}
            one_shot = s.get("restart") == "no"
            if not (hc.get("test") and not hc.get("disable")) and not (hc.get("disable") and one_shot):
                problems.append(f"service {sname}: no health check")
            res = (s.get("deploy") or {}).get("resources") or {}
            for part in ("limits", "reservations"):
                for field in ("cpus", "memory"):
                    if not (res.get(part) or {}).get(field):
                        problems.append(f"service {sname}: no deploy.resources.{part}.{field}")
            profiles = set(s.get("profiles") or [])
            if "full" not in profiles or not profiles & PROFILES:
                problems.append(f"service {sname}: profiles {sorted(profiles)} lack full or one of {sorted(PROFILES)}")
            for dep in s.get("depends_on") or {}:
                if dep not in services:
                    problems.append(f"service {sname}: depends on unknown service {dep}")
        subnets = [c.get("subnet") for n in (doc.get("networks") or {}).values() for c in ((n or {}).get("ipam") or {}).get("config") or []]
        if not any(subnets):
            problems.append("no network with an ipam subnet")
        if problems:
            r.failed += 1
            r.problems += [f"{name}: {p}" for p in problems]
        else:
            r.passed += 1
    return r


def results(ctx: Context) -> list[Result]:
    files = compose_files(ctx.root)
    out = [schema(ctx, files), engine(ctx, files), structure(ctx, files)]
    if not files:
        for r in out:
            if not r.skipped:
                r.failed += 1
                r.problems.append("no compose/**/compose.yaml in the bundle")
    return out
