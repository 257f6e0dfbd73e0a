"""Every package the code imports is declared, and what is declared is locked with hashes."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

from tests.fixtures.processes import ROOT

RUNTIME = [
    "audit",
    "fleetconfig",
    "identity",
    "managed",
    "monitoring",
    "octopus",
    "octosim",
    "promotions",
    "rollouts",
    "odcm",
    "sharing",
    "spaces",
]
# Optional LDAP support: imported only when LDAP is configured, declared in its own file.
LDAP_MODULES = {"ldap", "django_auth_ldap"}
LOCAL = {*RUNTIME, "tests", "bench", "fleetconfig"}


def top_level_imports(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in LOCAL}


def python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*files: str) -> set[str]:
    names = set()
    for name in files:
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-"):
                names.add(normal(re.split(r"[\[<>=!~; ]", line)[0]))
    return names


def distributions(module: str) -> set[str]:
    return {normal(d) for d in importlib.metadata.packages_distributions().get(module, [module])}


def test_every_package_the_product_imports_is_a_declared_runtime_requirement():
    files = python_files(*RUNTIME) + [ROOT / "gunicorn.conf.py", ROOT / "manage.py"]
    runtime, ldap = declared("requirements.in"), declared("requirements-ldap.in")
    missing = sorted(
        module
        for module in top_level_imports(files)
        if not distributions(module) & (ldap if module in LDAP_MODULES else runtime)
    )
    assert not missing, f"declare the packages of these imports in requirements.in: {missing}"


def test_every_package_the_tests_and_benchmarks_import_is_declared():
    everything = declared("requirements.in", "requirements-ldap.in", "requirements-dev.in")
    missing = sorted(
        module
        for module in top_level_imports(python_files("tests", "bench"))
        if not distributions(module) & everything
    )
    assert not missing, f"declare these in requirements-dev.in: {missing}"


def test_every_locked_requirement_is_pinned_with_hashes_and_installed_checking_them():
    for name in ("requirements.txt", "requirements-ldap.txt", "requirements-dev.txt"):
        text = (ROOT / name).read_text()
        pins = re.findall(
            r"^([A-Za-z0-9_.-]+)==\S+ \\\n((?:    --hash=sha256:[0-9a-f]{64}.*\n)+)", text, re.M
        )
        entries = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
        assert pins and len(pins) == len(entries), f"{name}: every entry pinned with hashes"
        assert "pip-compile" in text and "--generate-hashes" in text
    runtime = declared("requirements.txt")
    assert declared("requirements.in") <= runtime | {"celery", "psycopg", "django-allauth"}
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes" in makefile.split("PIP :=", 1)[1].splitlines()[0]
    assert "\nlock:" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes" in dockerfile
