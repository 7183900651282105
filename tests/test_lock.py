"""`requirements.lock` agrees with `pyproject.toml`, so CI installs what the project declares."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            requirement = Requirement(line)
            assert requirement.url is None, f"the lock must not point at a path or URL: {line}"
            (spec,) = requirement.specifier
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_the_lock_pins_every_declared_package_at_a_version_the_project_accepts():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [
        Requirement(line)
        for group in [project["dependencies"], *project["optional-dependencies"].values()]
        for line in group
    ]
    pins = locked()

    assert "corral" not in pins
    for requirement in declared:
        if canonicalize_name(requirement.name) == "corral":
            continue
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(version), f"{requirement} but the lock has {version}"
