"""The ``ntklab`` command line.

    ntklab demo [--quick | --full]            the asymmetrical-scaling experiment on simulated data
    ntklab run PRESET_OR_CONFIG [--set k=v]   one preset (or one run from a YAML/JSON config)
    ntklab presets                            list the paper recipes
    ntklab report DIR                         figures + claims table of a stored experiment

A bad argument or config value prints one line naming the field and the allowed values and exits with
status 2 (no traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import click
import typer
from rich.console import Console

from ._errors import ConfigError

# typer may vendor its own click: catch whichever ClickException its parser raises
_CLICK_ERRORS = tuple({click.exceptions.ClickException,
                       *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")})

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ntklab: wide networks between the lazy (NTK) regime and feature learning.")
console = Console(width=None if sys.stdout.isatty() else 140)

SetOpt = typer.Option(None, "--set", help="Override an option: key=value (repeatable).")


def _show(result, title: str) -> None:
    from .experiments import render_claims

    render_claims(result.claims, title=title, console=console)
    for f in result.figures:
        console.print(f"figure: {f}")
    console.print(f"results in {result.out}")


def _run_preset(name, out, quick, full, sets, progress) -> None:
    from .experiments import run_preset

    out = Path(out) if out else Path("results") / name
    result = run_preset(name, out, quick=quick, full=full, overrides=sets or [], progress=progress)
    _show(result, f"{name}: claims")


@app.command()
def demo(
    quick: bool = typer.Option(False, "--quick", help="Small version (about a minute)."),
    full: bool = typer.Option(False, "--full", help="The authors' scale: 50,000 steps x 5 seeds."),
    out: Optional[str] = typer.Option(None, "--out", help="Output directory."),
    sets: Optional[List[str]] = SetOpt,
    progress: bool = typer.Option(True, "--progress/--no-progress"),
):
    """Caron et al. E1: gamma = 1, 0.5, 0.2, 0 on simulated sphere data, figures and the claims table."""
    _run_preset("asym-simulated", out or "results/demo", quick, full, sets, progress)


@app.command()
def run(
    target: str = typer.Argument(..., help="A preset name (see `ntklab presets`) or a YAML/JSON run config."),
    quick: bool = typer.Option(False, "--quick"),
    full: bool = typer.Option(False, "--full"),
    out: Optional[str] = typer.Option(None, "--out"),
    sets: Optional[List[str]] = SetOpt,
    progress: bool = typer.Option(True, "--progress/--no-progress"),
):
    """Run one preset, or one training run from a config file."""
    p = Path(target)
    if p.suffix in (".yaml", ".yml", ".json") or p.exists():
        from .config import apply_overrides, load_config
        from .dynamics import train

        cfg = apply_overrides(load_config(p), sets or [])
        run_ = train(cfg, out=out or Path("results") / cfg.name, progress=progress)
        m = run_.metrics
        last = m[m.step == m.step.max()]
        console.print(f"status: {run_.status}  ({run_.path})")
        for _, row in last[last.key == ""].iterrows():
            console.print(f"  {row.metric:>22s} = {row.value:.6g}")
        if run_.status != "done":
            raise typer.Exit(1)
        return
    _run_preset(target, out, quick, full, sets, progress)


@app.command()
def presets():
    """List the paper recipes."""
    from rich.table import Table

    from .experiments._registry import PRESETS, get_preset

    get_preset  # ensure registration
    from .experiments import _load_all  # noqa: F401

    table = Table(title="presets")
    table.add_column("name")
    table.add_column("paper")
    table.add_column("what it shows", overflow="fold")
    table.add_column("modes")
    for name in sorted(PRESETS):
        pr = PRESETS[name]
        table.add_row(name, pr.paper, pr.description, ", ".join(f"--{m}" for m in pr.modes))
    console.print(table)


@app.command()
def report(directory: str = typer.Argument(..., help="An experiment directory written by `ntklab run`.")):
    """Redo figures and the claims table of a stored experiment."""
    from .experiments import analyse_dir

    result = analyse_dir(directory)
    _show(result, f"{directory}: claims")


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, standalone_mode=False)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except _CLICK_ERRORS as exc:
        print(f"error: {exc.format_message()}".replace("\n", " "), file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
