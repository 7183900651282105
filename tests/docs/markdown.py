"""What the docs' tests read out of Markdown: fenced blocks, sections, tables and inline code.

The conventions for examples, which `docs/*.md` follow:

- An example is a fenced block tagged `python` or `sh`. Blocks tagged otherwise (`json`, `yaml`,
  `ts`) and untagged ones (output samples, event frames) are data, and are not run.
- An HTML comment on the line just above a fence says how the block runs:
  `<!-- not run: REASON -->` keeps it from running, and REASON must say why (a real provider
  key, a server that runs until stopped, ids of the reader's own objects);
  `<!-- needs: sandbox -->` runs it only where the sandbox can be enforced (bubblewrap, as
  root), and skips it elsewhere with the sandbox probe's explanation.
- In a `python` block, a line `print(...)  # → TEXT` promises that TEXT is a line of the block's
  output.
- An untagged block just after a `sh` block (one blank line between) that starts with a table's
  header in capitals (`MODEL  PROVIDER  CONTEXT …`) is a sample of that block's output: the
  header's words must be those of a line the block printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLE_LANGUAGES = ("python", "sh")
NEEDS = ("sandbox",)

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<kind>not run|needs)\s*:\s*(?P<value>.*?)\s*-->\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_TABLE_HEADER = re.compile(r"^[A-Z$][A-Z0-9$/]*( +[A-Z$][A-Z0-9$/]*)+$")
_INLINE_CODE = re.compile(r"`([^`]+)`")
PROMISE = re.compile(r"^\s*print\(.*\)\s+# → (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown file."""

    path: Path
    line: int
    """Line number of the opening fence."""
    lang: str
    code: str
    section: str
    """The nearest heading above the block, without its `#`s."""
    not_run: str | None = None
    """Why the block is not run (`<!-- not run: … -->`), if it is not."""
    needs: str | None = None
    """What the block needs to run (`<!-- needs: … -->`), if anything."""

    @property
    def end(self) -> int:
        """Line number of the closing fence."""
        return self.line + self.code.count("\n") + 1

    @property
    def is_example(self) -> bool:
        return self.lang in EXAMPLE_LANGUAGES

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Table:
    """A Markdown table: its header cells and its rows of cells."""

    line: int
    section: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Marker:
    """An example marker comment, and whether a fence follows it as it should."""

    line: int
    kind: str
    value: str
    precedes_fence: bool


def doc_pages() -> list[Path]:
    """Every page of `docs/`."""
    return sorted(DOCS.glob("*.md"))


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of `path`, in order."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    section = ""
    index = 0
    while index < len(lines):
        heading = _HEADING.match(lines[index])
        if heading:
            section = heading.group(2)
        fence = _FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        indent = len(fence.group("indent"))
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        code = "".join(line[indent:] + "\n" for line in lines[index + 1 : end])
        marker = _MARKER.match(lines[index - 1]) if index else None
        not_run = marker.group("value") if marker and marker.group("kind") == "not run" else None
        needs = marker.group("value") if marker and marker.group("kind") == "needs" else None
        found.append(Block(path, index + 1, fence.group("lang"), code, section, not_run, needs))
        index = end + 1
    return found


def sample_after(block: Block, page: list[Block]) -> Block | None:
    """The sample of `block`'s output that follows it, if one does (see the conventions)."""
    if block.lang != "sh":
        return None
    later = [b for b in page if b.line > block.end]
    if not later or later[0].lang or later[0].line != block.end + 2:
        return None
    header = later[0].code.splitlines()[0] if later[0].code else ""
    return later[0] if _TABLE_HEADER.match(header) else None


def markers(path: Path) -> list[Marker]:
    """Every example marker comment of `path`."""
    lines = path.read_text().splitlines()
    found = []
    for index, line in enumerate(lines):
        marker = _MARKER.match(line)
        if marker:
            after = lines[index + 1] if index + 1 < len(lines) else ""
            found.append(
                Marker(
                    index + 1,
                    marker.group("kind"),
                    marker.group("value"),
                    bool(_FENCE.match(after)),
                )
            )
    return found


def prose(path: Path) -> list[tuple[int, str, str]]:
    """`(line, section, text)` of every line outside fenced blocks."""
    found = []
    section = ""
    in_block = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if _FENCE.match(line):
            in_block = not in_block
            continue
        if in_block:
            continue
        heading = _HEADING.match(line)
        if heading:
            section = heading.group(2)
        found.append((number, section, line))
    return found


def inline_code(text: str) -> list[str]:
    """The contents of the inline code spans of `text` (spans may cross lines)."""
    return _INLINE_CODE.findall(text)


def section_text(text: str, heading: str) -> str:
    """The text under the heading `heading` (any level), up to the next heading of its level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\n", text, re.MULTILINE)
    assert match is not None, f"no heading {heading!r}"
    level = len(match.group(1))
    end = re.search(rf"^#{{1,{level}}} ", text[match.end() :], re.MULTILINE)
    return text[match.end() : match.end() + end.start() if end else len(text)]


def tables(path: Path) -> list[Table]:
    """The tables of `path` outside fenced blocks."""
    found: list[Table] = []
    rows: list[list[str]] = []
    start, section = 0, ""
    for number, line_section, line in [*prose(path), (0, "", "")]:
        if line.lstrip().startswith("|"):
            if not rows:
                start, section = number, line_section
            rows.append(_cells(line))
            continue
        if len(rows) >= 2:
            found.append(Table(start, section, rows[0], rows[2:]))
        rows = []
    return found


def _cells(line: str) -> list[str]:
    """The cells of a table row, split on `|` outside inline code."""
    cells, current, in_code = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
            continue
        current += char
    cells.append(current.strip())
    return cells


def missing_promises(code: str, output: str) -> list[str]:
    """The promised lines (`print(...)  # → TEXT`) of `code` that `output` lacks."""
    lines = output.splitlines()
    return [promise for promise in PROMISE.findall(code) if promise not in lines]
