"""The ``ntklab`` command line.

    ntklab demo [--quick | --full]            the asymmetrical-scaling experiment on simulated data
    ntklab run PRESET_OR_CONFIG [--set k=v]   one preset (or one run from a YAML/JSON config)
    ntklab presets                            list the paper recipes
    ntklab report DIR                         figures + claims table + report.html of an experiment or sweep
    ntklab sweep FILE [--executor local|ray]  many runs from a sweep file (finished runs are skipped)

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
err_console = Console(stderr=True, soft_wrap=True)  # errors stay on one line

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
def report(directory: str = typer.Argument(..., help="An experiment (`ntklab run`) or sweep (`ntklab sweep`) directory.")):
    """Redo figures and the claims table of a stored experiment or sweep, and write its report.html."""
    from .report import report_dir

    result = report_dir(directory)
    if hasattr(result, "frame"):  # a sweep
        from .experiments import Claim, render_claims

        claims = [Claim(r["name"], r["passed"], r["measured"], r["expected"]) for _, r in result.claims.iterrows()]
        render_claims(claims, title=f"{directory}: claims", console=console)
        console.print(f"{len(result.figures)} figures; results table {result.out / 'results.parquet'}")
        console.print(f"report: {result.html}")
        return
    _show(result, f"{directory}: claims")
    console.print(f"report: {result.html}")


@app.command()
def sweep(
    file: str = typer.Argument(..., help="A sweep file (YAML or TOML): base, grid, zip, seeds."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs and their state; run nothing."),
    executor: str = typer.Option("local", "--executor", help="local (process pool) or ray."),
    workers: int = typer.Option(1, "--workers", help="Local worker processes (or CPUs of a private Ray instance)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster: auto or HOST:PORT."),
    out: Optional[str] = typer.Option(None, "--out", help="Sweep directory (default: the file's out, or results/sweeps/NAME)."),
    retries: int = typer.Option(3, "--retries", help="Reruns of a unit whose worker died."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
):
    """Run a sweep: finished runs are skipped, interrupted ones resume, failed or corrupt ones are redone."""
    from .runs import expand_sweep, load_sweep, run_sweep, sweep_table
    from .runs._sweep_dir import default_sweep_dir

    spec = load_sweep(file)
    target = Path(out) if out else default_sweep_dir(spec)
    if dry_run:
        table = sweep_table(expand_sweep(spec), target)
        console.print(table.to_string(index=False))
        counts = table.state.value_counts().to_dict()
        console.print(f"{len(table)} runs in {target}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        return
    res = run_sweep(spec, target, executor=executor, workers=workers, address=address, retries=retries,
                    progress=progress)
    counts = res.state.value_counts().to_dict()
    console.print(f"{len(res)} runs in {target}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for _, r in res[res.state == "failed"].iterrows():
        err_console.print(f"failed {r.id}: {r.error}", markup=False, highlight=False)
    console.print(f"report: ntklab report {target}")
    if (res.state == "failed").any():
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> int:
    try:
        rc = app(args=argv, standalone_mode=False)  # a command's typer.Exit(code) comes back as its return value
        if isinstance(rc, int) and rc:
            return rc
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
