"""Plain-text tables for the benchmark report, readable in a terminal and in a closing note."""

from __future__ import annotations


def table(rows: list[list[str]], right_aligned: set[int]) -> list[str]:
    """Rows padded into columns; numbers read best right-aligned."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column in right_aligned else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
