"""MkDocs hooks: pages generated from the code at build time, so they cannot drift from it.

- ``<!-- ntklab:config-fields -->``: every field of :class:`ntklab.RunConfig` (dotted name, type, default,
  description), read from the pydantic model;
- ``<!-- ntklab:cli -->``: the help text of every ``ntklab`` command, read from the typer app;
- ``<!-- ntklab:presets -->``: the catalogue of recipes;
- ``::: ntklab.PACKAGE`` (mkdocstrings): the package's re-exported functions and classes, listed as members.
"""

from __future__ import annotations

import json

import re

MARKERS = ("<!-- ntklab:config-fields -->", "<!-- ntklab:cli -->", "<!-- ntklab:presets -->")
_DIRECTIVE = re.compile(r"^::: (ntklab(?:\.[A-Za-z_]+)*)\s*$", re.M)


def public_members(module_name: str) -> list[str]:
    """A package's public functions and classes in the order its ``__init__`` re-exports them (``__all__`` for
    the lazily importing packages): the members its API page documents."""
    import importlib
    import inspect

    module = importlib.import_module(module_name)
    names = list(getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")])
    out = []
    for n in names:
        obj = getattr(module, n, None)
        if obj is not None and (inspect.isclass(obj) or inspect.isfunction(obj)) and n not in out:
            out.append(n)
    return out


def _api_directive(match) -> str:
    name = match.group(1)
    members = ", ".join(public_members(name))
    return f"::: {name}\n    options:\n      members: [{members}]\n"


def _type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("Annotated[", "").split(", <")[0].rstrip("]") if "Annotated" in str(
        annotation) else text.replace("typing.", "")


def _rows(model, prefix: str = ""):
    from pydantic import BaseModel

    defaults = model().model_dump(mode="json")
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield key, "section", "", (info.description or "").replace("\n", " ")
            yield from _rows(ann, key + ".")
            continue
        default = json.dumps(defaults.get(name))
        yield key, _type_name(ann), default, (info.description or "").replace("\n", " ")


def config_fields() -> str:
    import ntklab

    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for key, kind, default, text in _rows(ntklab.RunConfig):
        if kind == "section":
            lines.append(f"| **`{key}`** | | | {text} |")
        else:
            lines.append(f"| `{key}` | `{kind}` | `{default}` | {text.replace('|', '/')} |")
    return "\n".join(lines)


def cli_reference() -> str:
    import click
    import typer

    from ntklab.cli import app

    root = typer.main.get_command(app)
    ctx = click.Context(root, info_name="ntklab")
    parts = []
    for name in root.list_commands(ctx):
        cmd = root.get_command(ctx, name)
        args = " ".join(p.name.upper() for p in cmd.params if isinstance(p, click.Argument))
        lines = [f"## `ntklab {name}`", "", f"```text\nntklab {name} {args} [OPTIONS]\n```", "",
                 (cmd.help or "").strip(), "", "| argument / option | default | meaning |", "|---|---|---|"]
        for p in cmd.params:
            if isinstance(p, click.Argument):
                lines.append(f"| `{p.name.upper()}` | (required) | {getattr(p, 'help', '') or ''} |")
                continue
            flags = " / ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
            default = "" if p.default in (None, False, ()) or p.is_flag and not p.secondary_opts else f"`{p.default}`"
            lines.append(f"| {flags} | {default} | {(p.help or '').replace('|', '/')} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def presets_table() -> str:
    from ntklab.experiments._catalogue import CATALOGUE

    lines = ["| recipe | paper | what it shows | modes |", "|---|---|---|---|"]
    for name in sorted(CATALOGUE):
        item = CATALOGUE[name]
        lines.append(f"| [`{name}`]({name}.md) | {item.paper} | {item.summary} | "
                     f"{', '.join('--' + m for m in item.modes)} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files):  # noqa: ARG001  (mkdocs hook signature)
    markdown = _DIRECTIVE.sub(_api_directive, markdown)
    if MARKERS[0] in markdown:
        markdown = markdown.replace(MARKERS[0], config_fields())
    if MARKERS[1] in markdown:
        markdown = markdown.replace(MARKERS[1], cli_reference())
    if MARKERS[2] in markdown:
        markdown = markdown.replace(MARKERS[2], presets_table())
    return markdown
