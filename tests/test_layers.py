"""The layering holds: the import-linter contract in pyproject.toml, and every package says what it may import."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import ntklab

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(m.name for m in pkgutil.walk_packages(ntklab.__path__, "ntklab.") if m.ispkg)


def test_import_linter_contract_holds(capsys):
    """No import runs up a layer, lazy imports inside functions included (grimp reads every import statement)."""
    from importlinter import cli

    code = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out


def test_the_contract_would_catch_an_upward_import(tmp_path, monkeypatch):
    """The check is live: a copy of the package with one upward (lazy) import breaks the contract."""
    import shutil

    from importlinter import cli

    src = tmp_path / "src"
    shutil.copytree(Path(ntklab.__file__).parent, src / "ntklab", ignore=shutil.ignore_patterns("__pycache__"))
    loop = src / "ntklab" / "dynamics" / "_loop.py"
    loop.write_text(loop.read_text() + "\n\ndef _sneaky():\n    from ..runs import load_run  # noqa: F401\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    monkeypatch.syspath_prepend(str(src))
    for name in [m for m in list(importlib.sys.modules) if m == "ntklab" or m.startswith("ntklab.")]:
        monkeypatch.delitem(importlib.sys.modules, name)
    assert cli.lint_imports(config_filename=str(tmp_path / "pyproject.toml"), no_cache=True, no_logo=True) == 1


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_says_what_it_is_for_and_may_import(name):
    doc = (importlib.import_module(name).__doc__ or "").strip()
    assert len(doc) > 80, f"{name}: no opening paragraph"
    assert "import" in doc.lower(), f"{name}: the opening paragraph does not say what it may import"


def test_tests_mirror_the_package_folders():
    src_folders = {p.name for p in Path(ntklab.__file__).parent.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    test_folders = {p.name for p in Path(__file__).parent.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert src_folders <= test_folders, f"no tests/ folder for {sorted(src_folders - test_folders)}"
