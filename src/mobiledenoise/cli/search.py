"""`mobiledenoise search`: hardware-aware architecture search scored by the Final Score."""

from __future__ import annotations

from pathlib import Path

import typer

from mobiledenoise.search.space import DEFAULT_SPACE


def search(
    space: str = typer.Option(DEFAULT_SPACE, help="Search space: one per model family (see "
                              "docs/architecture.md); an unknown name lists them."),
    data: Path = typer.Option(..., help="Folder of noisy/clean pairs (validated by scene split)."),
    budget_minutes: float = typer.Option(60.0, help="Search time, counted across restarts."),
    out: Path = typer.Option(..., "--out", "-o", help="Search folder (resumes from state.json)."),
    steps: int = typer.Option(600, help="Proxy training steps per candidate."),
    patch_size: int = typer.Option(96, help="Proxy training patch side."),
    batch_size: int = typer.Option(8, help="Proxy training batch size."),
    population: int = typer.Option(10, help="Population of the regularized evolution."),
    max_slowdown: float = typer.Option(4.0, help="Skip training candidates this many times "
                                                  "slower than the best so far."),
    teacher: str = typer.Option(None, help="Run folder to distil the proxy training from."),
    max_candidates: int = typer.Option(None, help="Stop after this many candidates in total."),
    tiny: bool = typer.Option(False, help="Tiny widths and depth (smoke tests)."),
    seed: int = typer.Option(0, help="Seed of the search's random draws."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Evolve candidates, score them by proxy PSNR and LiteRT runtime; killed searches resume."""
    from mobiledenoise.errors import UserError
    from mobiledenoise.search.evolution import SearchSettings, run_search
    from mobiledenoise.search.report import best_record
    from mobiledenoise.search.space import get_space

    get_space(space)  # fail fast on a bad space, before TensorFlow loads
    if teacher is not None and not Path(teacher).is_dir():
        raise UserError(f"expected --teacher to be a run folder, received {teacher!r}; "
                        "train one first or leave --teacher out")
    settings = SearchSettings(space=space, data=str(data), budget_minutes=budget_minutes,
                              max_candidates=max_candidates, steps=steps, patch_size=patch_size,
                              batch_size=batch_size, population=population, teacher=teacher,
                              max_slowdown=max_slowdown,
                              tiny=tiny, seed=seed)
    state = run_search(settings, out, progress=not quiet)
    best = best_record(state["records"])
    typer.echo(f"{len(state['records'])} candidates in {state['elapsed_s'] / 60:.1f} min; "
               f"front: {out / 'front.md'}")
    if best:
        typer.echo(f"best {best.candidate}: {best.psnr:.2f} dB, {best.runtime_ms:.1f} ms, "
                   f"score {best.score:.3g}; recipe {out / 'best.yaml'}")


def register(app: typer.Typer) -> None:
    app.command("search")(search)
