"""The structure itself: layering, documentation coverage, and the public surface."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import corral
from corral.settings import Settings
from corral.types.errors import ErrorCode

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_layers_and_forbidden_imports_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_setting_is_documented():
    documented = (ROOT / "docs" / "settings.md").read_text()
    missing = [
        f"CORRAL_{name.upper()}"
        for name in Settings.model_fields
        if f"`CORRAL_{name.upper()}`" not in documented
    ]
    assert missing == []


def test_every_setting_explains_itself():
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_every_error_code_is_documented():
    documented = (ROOT / "docs" / "errors.md").read_text()
    assert [code.value for code in ErrorCode if f"`{code.value}`" not in documented] == []


def test_every_package_declares_its_public_names():
    packages = [
        name
        for _, name, is_package in pkgutil.walk_packages(corral.__path__, "corral.")
        if is_package and ".migrations" not in name
    ]
    undeclared = [
        name for name in packages if not hasattr(importlib.import_module(name), "__all__")
    ]
    assert undeclared == []


def test_every_module_says_what_it_is_for():
    silent = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "src" / "corral").rglob("*.py")
        if "migrations" not in path.parts and not _docstring(path)
    ]
    assert silent == []


def _docstring(path: Path) -> bool:
    import ast

    return ast.get_docstring(ast.parse(path.read_text())) is not None


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_code_passes_the_linter_and_the_formatter():
    lint = _tool("ruff", "check", "src", "tests", "benchmarks")
    formatted = _tool("ruff", "format", "--check", "src", "tests", "benchmarks")
    assert lint.returncode == 0, lint.stdout
    assert formatted.returncode == 0, formatted.stdout


def test_the_source_type_checks_strictly():
    result = _tool("mypy", "src")
    assert result.returncode == 0, result.stdout


def test_a_worker_process_loads_no_web_framework():
    # Until a run uses an MCP server: the MCP SDK loads its server side, a web framework with it.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, corral.cli.main, corral.cli.worker, corral.process; "
            "print(sorted({'fastapi', 'starlette', 'uvicorn', 'mcp'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
