"""Plain-text tables for the terminal tools: columns sized to their content."""

from __future__ import annotations

import textwrap
from collections.abc import Collection, Sequence
from datetime import timedelta


def table(head: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> str:
    """Columns as wide as their widest cell, two spaces apart; left-aligned, but those
    whose index is in `right` (numbers). Cells are shown as given: escape untrusted text
    first (terminal.safe_text), so a cell is one line and its length its width."""
    lines = [list(head), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in lines
    )


def ago(delta: timedelta) -> str:
    """A duration the way people read it: 45s, 12m, 3h05m, 2d04h."""
    s = max(0, int(delta.total_seconds()))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def side_by_side(
    left_title: str,
    left: list[str],
    right_title: str,
    right: list[str],
    width: int = 48,
) -> str:
    """Two columns of wrapped text under their titles, separated by a rule."""

    def wrap(lines: list[str]) -> list[str]:
        return [part for line in lines for part in (textwrap.wrap(line, width) or [""])]

    a, b = wrap(left), wrap(right)
    a += [""] * (len(b) - len(a))
    b += [""] * (len(a) - len(b))
    rule = "-" * width
    rows = [(left_title, right_title), (rule, rule), *zip(a, b, strict=True)]
    return "\n".join(f"{x.ljust(width)} | {y}".rstrip() for x, y in rows)
