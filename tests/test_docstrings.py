"""Every public name says what it is: ntklab.__all__ and each subpackage's re-exported names have a docstring."""

from __future__ import annotations

import importlib
import inspect

import pytest

import ntklab

SUBPACKAGES = ("nets", "kernels", "data", "dynamics", "optim", "runs", "report", "prune", "transfer",
               "approximation", "experiments", "sweeps")


def _public(module) -> list[tuple[str, object]]:
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    out = []
    for n in names:
        obj = getattr(module, n)
        if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
            continue  # constants and registries are documented in their module
        out.append((f"{module.__name__}.{n}", obj))
    return out


def _all_public():
    seen, out = set(), []
    for mod in [ntklab] + [importlib.import_module(f"ntklab.{p}") for p in SUBPACKAGES]:
        for name, obj in _public(mod):
            if id(obj) not in seen:
                seen.add(id(obj))
                out.append((name, obj))
    return out


def _own_doc(obj) -> str:
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return (doc or "").strip()


@pytest.mark.parametrize("name, obj", _all_public(), ids=lambda v: v if isinstance(v, str) else "")
def test_public_name_has_a_docstring(name, obj):
    assert len(_own_doc(obj)) >= 20, f"{name}: missing or empty docstring"
