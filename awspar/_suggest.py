"""Closest-name hints for "unknown service / operation" errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

__all__ = ["did_you_mean"]


def did_you_mean(name: str, candidates: Iterable[str] | Mapping[str, str]) -> str:
    """``"; did you mean: a, b?"`` with up to three closest names (case-insensitive), or ``""``.

    ``candidates`` are names, or a mapping of alias -> the name to suggest for it (so that
    ``get_objct`` suggests ``GetObject``).
    """
    shown = candidates if isinstance(candidates, Mapping) else {c: c for c in candidates}
    lowered = {alias.lower(): target for alias, target in shown.items()}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=6, cutoff=0.6)
    unique = list(dict.fromkeys(lowered[m] for m in matches))[:3]
    return f"; did you mean: {', '.join(unique)}?" if unique else ""
