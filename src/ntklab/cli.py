"""The ``ntklab`` command line.

    ntklab demo [--quick | --full] [--set k=v] [--check]   the asymmetrical-scaling experiment on simulated data
    ntklab run PRESET_OR_CONFIG [--quick | --full] [--set k=v] [--out DIR] [--overwrite] [--check]
    ntklab presets                                         list the paper recipes
    ntklab report DIR [--check]                            figures, claims and report.html of an experiment or sweep
    ntklab sweep FILE [--executor local|ray]               many runs from a sweep file (finished runs are skipped)

Exit status: 0 when the commands ran; 2 for a bad argument, config value or output directory (one line naming
the field, no traceback); 1 for a run that failed or diverged, an OS error while writing (one line naming the
path), or, with ``--check``, any claim that is FAIL or INCONCLUSIVE; 130 after Ctrl-C (the run is checkpointed:
the same command resumes it).  This module decides what a directory holds (sweep or experiment).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import click
import typer
from rich.console import Console

from ._errors import ConfigError
from ._io import WriteError

# typer may vendor its own click: catch whichever ClickException its parser raises
_CLICK_ERRORS = tuple({click.exceptions.ClickException,
                       *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")})

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ntklab: wide networks between the lazy (NTK) regime and feature learning.")
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, soft_wrap=True)  # errors stay on one line

SetOpt = typer.Option(None, "--set", help="Override an option: key=value (repeatable); device=cuda runs on a GPU.")
CheckOpt = typer.Option(False, "--check", help="Exit with status 1 when any claim is FAIL or INCONCLUSIVE.")
OverwriteOpt = typer.Option(False, "--overwrite",
                            help="Replace what --out holds (atomically, once the new results are complete).")
QuickOpt = typer.Option(False, "--quick", help="The small variant (about a minute here); claims still testable.")
FullOpt = typer.Option(False, "--full", help="The paper's scale, with the paper's numbers beside ours.")


def _log(msg: str) -> None:
    err_console.print(msg, markup=False, highlight=False)


def _show(result, title: str, check: bool) -> None:
    from .report import failing, render_claims

    render_claims(result.claims, title=title, console=console, problems=result.problems)
    for f in result.figures:
        console.print(f"figure: {f}")
    console.print(f"results in {result.out}")
    if check and failing(result.claims):
        raise typer.Exit(1)


def _run_preset(name, out, quick, full, sets, progress, overwrite, check) -> None:
    from .experiments import run_preset

    out = Path(out) if out else Path("results") / name
    result = run_preset(name, out, quick=quick, full=full, overrides=sets or [], progress=progress,
                        overwrite=overwrite)
    _show(result, f"{name}: claims", check)


@app.command()
def demo(
    quick: bool = typer.Option(False, "--quick", help="Small version (about a minute)."),
    full: bool = typer.Option(False, "--full", help="The authors' scale: 50,000 steps x 5 seeds."),
    out: Optional[str] = typer.Option(None, "--out", help="Output directory (default results/demo)."),
    sets: Optional[List[str]] = SetOpt,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    overwrite: bool = OverwriteOpt,
    check: bool = CheckOpt,
):
    """Caron et al. E1: gamma = 1, 0.5, 0.2, 0 on simulated sphere data, figures and the claims table."""
    _run_preset("asym-simulated", out or "results/demo", quick, full, sets, progress, overwrite, check)


def _run_config(path: Path, out, sets, progress, overwrite) -> None:
    from .config import apply_overrides, load_config
    from .runs import train

    cfg = apply_overrides(load_config(path), sets or [])
    run_ = train(cfg, out=out or Path("results") / cfg.name, progress=progress, overwrite=overwrite, log=_log)
    m = run_.metrics
    last = m[m.step == m.step.max()]
    console.print(f"status: {run_.status}  ({run_.path})")
    for _, row in last[last.key == ""].iterrows():
        console.print(f"  {row.metric:>22s} = {row.value:.6g}")
    if run_.status == "diverged":
        _log(f"diverged: {run_.name} at step {run_.info.get('step')} (loss {run_.info.get('loss')})")
    if run_.status != "done":
        raise typer.Exit(1)


@app.command()
def run(
    target: str = typer.Argument(..., help="A preset name (see `ntklab presets`) or a YAML/JSON run config."),
    quick: bool = QuickOpt,
    full: bool = FullOpt,
    out: Optional[str] = typer.Option(None, "--out", help="Output directory (default results/NAME)."),
    sets: Optional[List[str]] = SetOpt,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    overwrite: bool = OverwriteOpt,
    check: bool = CheckOpt,
):
    """Run one preset, or one training run from a config file."""
    p = Path(target)
    if p.suffix in (".yaml", ".yml", ".json") or p.exists():
        if quick or full:
            raise ConfigError("--quick/--full", "apply to presets, not to a run config")
        _run_config(p, out, sets, progress, overwrite)
        return
    _run_preset(target, out, quick, full, sets, progress, overwrite, check)


@app.command()
def presets(name: Optional[str] = typer.Argument(None, help="A preset: show its options, defaults and modes.")):
    """List the paper recipes, or one recipe's options with their defaults and its --quick / --full overrides."""
    from rich.table import Table

    from .experiments._catalogue import CATALOGUE  # plain data: listing the recipes imports no torch

    if name is None:
        table = Table(title="presets (ntklab presets NAME for one preset's options)")
        for col in ("name", "paper", "what it shows", "modes"):
            table.add_column(col, overflow="fold")
        for key in sorted(CATALOGUE):
            item = CATALOGUE[key]
            table.add_row(key, item.paper, item.summary, ", ".join(f"--{m}" for m in item.modes))
        console.print(table)
        return
    _show_preset(name)


def _show_preset(name: str) -> None:
    import json

    from rich.table import Table

    from .experiments import get_preset

    preset = get_preset(name)
    console.print(f"[bold]{preset.name}[/] ({preset.paper}): {preset.description}")
    table = Table(title=f"{preset.name}: options (--set NAME=VALUE)")
    modes = list(preset.modes)
    for col in ["option", "default", *[f"--{m}" for m in modes], "type"]:
        table.add_column(col, overflow="fold")
    defaults = preset.options().model_dump(mode="json")
    for field, info in preset.options.model_fields.items():
        cells = [json.dumps(preset.modes[m][field]) if field in preset.modes[m] else "" for m in modes]
        kind = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        table.add_row(field, json.dumps(defaults.get(field)), *cells, kind)
    table.add_row("device", '"cpu"', *["" for _ in modes], "cpu | cuda | cuda:N (every preset; not an option of "
                                                              "its identity)")
    console.print(table)


@app.command()
def report(directory: str = typer.Argument(..., help="An experiment (`ntklab run`) or sweep (`ntklab sweep`) "
                                                   "directory."),
           check: bool = CheckOpt):
    """Redo figures and the claims table of a stored experiment or sweep, and write its report.html."""
    from .report import failing, render_claims

    d = Path(directory)
    if (d / "sweep.json").is_file():
        from .sweeps import report_sweep

        result = report_sweep(d)
        render_claims(result.claims, title=f"{directory}: claims", console=console, problems=result.problems)
        console.print(f"{len(result.figures)} figures; results table {result.out / 'results.parquet'}")
        console.print(f"report: {result.html}")
        if check and failing(result.claims):
            raise typer.Exit(1)
        return
    if (d / "experiment.json").is_file():
        from .experiments import report_experiment

        result = report_experiment(d)
        console.print(f"report: {result.html}")
        _show(result, f"{directory}: claims", check)
        return
    raise ConfigError("DIR", f"{str(d)!r} holds neither sweep.json nor experiment.json",
                      allowed="a directory written by `ntklab sweep` or `ntklab run`")


@app.command()
def sweep(
    file: str = typer.Argument(..., help="A sweep file (YAML or TOML): base, grid, zip, seeds."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs and their state; run nothing."),
    executor: str = typer.Option("local", "--executor", help="local (process pool) or ray."),
    workers: int = typer.Option(1, "--workers", help="Local worker processes (or CPUs of a private Ray instance)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster: auto or HOST:PORT."),
    out: Optional[str] = typer.Option(None, "--out", help="Sweep directory (default: the file's out, or "
                                                        "results/sweeps/NAME)."),
    retries: int = typer.Option(3, "--retries", help="Reruns of a unit whose worker died."),
    gpus_per_run: float = typer.Option(0.0, "--gpus-per-run", help="Ray: GPUs each run asks for (num_gpus); its "
                                                                   "runs compute on cuda."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Print one line per finished unit."),
):
    """Run a sweep: finished runs are skipped, interrupted ones resume, failed or corrupt ones are redone."""
    from .sweeps import default_sweep_dir, expand_sweep, load_sweep, run_sweep, sweep_table

    spec = load_sweep(file)
    target = Path(out) if out else default_sweep_dir(spec)
    if dry_run:
        table = sweep_table(expand_sweep(spec), target)
        console.print(table.to_string(index=False))
        counts = table.state.value_counts().to_dict()
        console.print(f"{len(table)} runs in {target}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        return
    res = run_sweep(spec, target, executor=executor, workers=workers, address=address, retries=retries,
                    gpus_per_run=gpus_per_run,
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
        if rc == 130:  # typer turns a KeyboardInterrupt inside a command into Exit(130)
            return _interrupted()
        if isinstance(rc, int) and rc:
            return rc
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an OS fault outside the atomic writers (a read, a rename): one line, no traceback
        where = f" {exc.filename!r}" if getattr(exc, "filename", None) else ""
        print(f"error:{where} {exc.strerror or exc}", file=sys.stderr)
        return 1
    except typer.Exit as exc:  # typer turns Ctrl-C inside a command into Exit(130)
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return _interrupted()
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted()
    except _CLICK_ERRORS as exc:
        print(f"error: {exc.format_message()}".replace("\n", " "), file=sys.stderr)
        return exc.exit_code
    return 0


def _interrupted() -> int:
    print("interrupted; run the same command again to resume", file=sys.stderr)
    return 130


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
