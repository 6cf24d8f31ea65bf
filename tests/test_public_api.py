"""The public surface: lazily imported, complete, and light to start."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ntklab


def _type_checking_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            return {alias.asname or alias.name for imp in node.body for alias in imp.names}
    return set()


def test_every_lazy_name_resolves_and_is_spelled_out_for_type_checkers():
    declared = set(ntklab._PUBLIC) | {"approximation", "prune", "transfer"}
    assert _type_checking_names(Path(ntklab.__file__)) == declared
    for name in ntklab.__all__:
        assert getattr(ntklab, name) is not None, name
    assert set(ntklab.__all__) <= set(dir(ntklab))
    from ntklab import experiments

    assert _type_checking_names(Path(experiments.__file__)) == set(experiments._PUBLIC)
    assert all(getattr(experiments, n) is not None for n in experiments.__all__)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout.split()
    return set(out)


def test_import_ntklab_and_the_cli_load_no_heavy_module():
    heavy = {"torch", "pandas", "matplotlib", "scipy"}
    assert not heavy & _modules_after("import ntklab")
    assert not heavy & _modules_after("from ntklab.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
                                      "    pass")
    assert not heavy & _modules_after("from ntklab.cli import main\nmain(['presets'])")
