"""TODO(issue 10): validators of the docker artifacts (owner: the docker helper)."""

from __future__ import annotations

from common import Context, Result

BROKEN_FIXTURES: dict[str, str] = {}
MUST_NAME: dict[str, list[str]] = {}


def results(ctx: Context) -> list[Result]:
    return []
