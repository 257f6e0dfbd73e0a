"""The layers point down only: a small AST check over every module of the project's packages.

    odcm (shared core) · octopus · octosim      imported by the apps; octopus and octosim
                                               import no other project package
    audit ← identity ← spaces ← monitoring, sharing (and the apps that follow)

Every import counts: top-level, inside functions (a lazy import dodging a cycle is still a
cycle) and under ``TYPE_CHECKING``. The composition root (``odcm/urls.py``, ``odcm/api/urls.py``
and ``odcm``'s management commands) may import any app, at module level only: wiring, not logic.
A new top-level package fails this test until it is given its place in ``MAY_IMPORT``.

Chosen over import-linter: twenty lines of ``ast`` need no new dependency, read every import
(including those inside functions), and name the offending file and line in the failure.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_CORE = {"odcm", "octopus"}
# What each package may import from the project, besides itself.
MAY_IMPORT: dict[str, set[str]] = {
    "octopus": set(),
    "octosim": set(),
    "odcm": {"octopus"},
    "audit": _CORE,
    "identity": _CORE | {"audit"},
    "spaces": _CORE | {"audit", "identity"},
    "monitoring": _CORE | {"audit", "identity", "spaces"},
    "sharing": _CORE | {"audit", "identity", "spaces"},
    "promotions": _CORE | {"audit", "identity", "spaces"},
    # Rollouts stage sharing's deliveries (and, later, other apps' kinds through its registry);
    # its pipelines hand monitoring the allowed versions per stage (monitoring.version_rules).
    # Blueprints and template projects (managed) are rollout kinds too (managed.gates).
    "rollouts": _CORE | {"audit", "identity", "spaces", "sharing", "monitoring", "managed"},
    # Managed spaces build on the registry beside sharing (no import of sharing: a blueprint's
    # library variable sets are created by name; their values stay with sharing's broker;
    # step templates are installed through the library sharing registers in spaces).
    "managed": _CORE | {"audit", "identity", "spaces"},
    # Configuration as code declares the whole fleet: it sits above every other app.
    "fleetconfig": _CORE | {"audit", "identity", "spaces", "monitoring", "sharing"},
}
# Modules of the composition root: they wire every app together.
WIRING = ("odcm.urls", "odcm.api.urls", "odcm.management.commands.")
NOT_PROJECT = {"tests", "bench", "docs", "templates", "static", "var", "node_modules"}


def project_packages(root: Path = ROOT) -> list[str]:
    return sorted(
        p.name
        for p in root.iterdir()
        if (p / "__init__.py").is_file() and p.name not in NOT_PROJECT
    )


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in ``tree``."""
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield name, node.lineno, id(node) in top_level


def violations(root: Path = ROOT, packages: list[str] | None = None) -> list[str]:
    """Every import that breaks the layering, as ``path:line: module imports target``."""
    packages = packages if packages is not None else project_packages(root)
    found: list[str] = []
    for package in packages:
        if package not in MAY_IMPORT:
            found.append(f"{package}/: a new package; give it its layer in MAY_IMPORT")
            continue
        for path in sorted((root / package).rglob("*.py")):
            module = _module_name(path, root)
            tree = ast.parse(path.read_text(), filename=str(path))
            for target, line, top in _imports(tree, module, path.name == "__init__.py"):
                head = target.split(".")[0]
                if head == package or head not in packages:
                    continue
                if module.startswith(WIRING) or module in WIRING:
                    if top:
                        continue
                    problem = "imports an app inside a function (wiring is module-level)"
                elif head in MAY_IMPORT[package]:
                    continue
                else:
                    problem = f"{package} may not import {head}"
                found.append(f"{path.relative_to(root)}:{line}: {problem} ({target})")
    return found


def test_no_import_breaks_the_layers() -> None:
    assert violations() == []


def test_every_project_package_has_a_layer() -> None:
    assert set(project_packages()) == set(MAY_IMPORT)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from spaces.models import Space\n", "identity may not import spaces"),
        ("def f():\n    from spaces import models\n", "identity may not import spaces"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import spaces.models\n",
            "identity may not import spaces",
        ),
        ("from ..spaces import models\n", "identity may not import spaces"),
    ],
)
def test_an_upward_import_is_reported_with_its_file_and_line(
    tmp_path: Path, source: str, expected: str
) -> None:
    root = _tree(tmp_path, {"identity/__init__.py": "", "identity/x.py": source})
    _tree(tmp_path, {"spaces/__init__.py": "", "spaces/models.py": "import identity\n"})
    found = violations(root, ["identity", "spaces"])
    assert len(found) == 1
    assert expected in found[0]
    assert found[0].startswith("identity/")


def test_wiring_may_import_any_app_but_only_at_module_level(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "odcm/__init__.py": "",
            "odcm/urls.py": "import sharing.urls\n",
            "odcm/views.py": "def home():\n    from sharing import views\n",
            "odcm/api/__init__.py": "",
            "odcm/api/urls.py": "def f():\n    import sharing.api\n",
            "sharing/__init__.py": "",
        },
    )
    found = violations(root, ["odcm", "sharing"])
    assert [f.split(":")[0] for f in found] == ["odcm/api/urls.py", "odcm/views.py"]
    assert "inside a function" in found[0]
    assert "odcm may not import sharing" in found[1]


def test_a_package_without_a_layer_is_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"unlayered/__init__.py": ""})
    assert violations(root, ["unlayered"]) == [
        "unlayered/: a new package; give it its layer in MAY_IMPORT"
    ]
