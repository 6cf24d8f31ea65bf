"""Every module's runnable example (its docstring's doctest) runs and prints what it says."""

import doctest
import importlib
import pkgutil

import pytest

import ntklab

MODULES = sorted(m.name for m in pkgutil.walk_packages(ntklab.__path__, "ntklab.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} doctest lines failed"
