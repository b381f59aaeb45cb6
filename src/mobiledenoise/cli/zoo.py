"""`mobiledenoise zoo list`: every registered model beside the MAI 2021 report's Table 1.

Per model (its deployable form, `registry.deployable`): parameters, FP32 TFLite size, MACs and
GPU-delegate compatibility from the op audit of an FP32 export at `--size` (HxW, default
480x720, the challenge's 720×480 frame), and with `--bench` the LiteRT CPU runtime (median,
1 thread by default) of that export. Beside them: Table 1's size, PSNR, SSIM, Mali-G78
runtime, score and rank (`models.zoo_reference`). `--json` prints a list of dicts instead of
the table; progress goes to stderr so stdout stays machine-readable.
"""

from __future__ import annotations

import typer

REFERENCE_FIELDS = ("team", "size_kb", "psnr", "ssim", "mali_ms", "score", "rank")


def survey_model(name: str, preset: str, size: tuple[int, int], bench: bool, threads: int) -> dict:
    """One row: figures of model `name` exported at `size`, plus its Table 1 reference."""
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.opaudit import audit
    from mobiledenoise.models import build_model, get_spec
    from mobiledenoise.models.registry import deployable
    from mobiledenoise.models.zoo_reference import reference

    model = deployable(build_model(name, preset=preset))
    tflite = to_tflite(model, precision="fp32", size=size)
    report = audit(tflite)
    row = {"model": name, "summary": get_spec(name).summary, "preset": preset,
           "params": int(model.count_params()), "tflite_kb": len(tflite) / 1024,
           "gmacs": report.macs / 1e9, "size": list(size), "gpu_compatible": report.compatible,
           "cpu_ms": None, "threads": threads if bench else None}
    if bench:
        from mobiledenoise.deploy.bench import benchmark

        row["cpu_ms"] = benchmark(tflite, size=size, threads=threads).median_ms
    ref = reference(name)
    for field in REFERENCE_FIELDS:
        row[f"ref_{field}"] = getattr(ref, field) if ref else None
    return row


def survey(names: list[str], preset: str, size: tuple[int, int], bench: bool,
           threads: int) -> list[dict]:
    """Rows of `survey_model` for `names`, with a progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    rows = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("zoo", total=len(names))
        for name in names:
            action = "exporting + timing" if bench else "exporting"
            progress.update(task, description=f"{action} {name}")
            rows.append(survey_model(name, preset, size, bench, threads))
            progress.advance(task)
    return rows


def _rank(rows: list[dict], key: str) -> dict[str, int]:
    timed = sorted((r for r in rows if r[key] is not None and r["ref_team"]), key=lambda r: r[key])
    return {r["model"]: i + 1 for i, r in enumerate(timed)}


def render_table(rows: list[dict], size: tuple[int, int]):
    from rich.table import Table

    bench = any(r["cpu_ms"] is not None for r in rows)
    cpu_rank, mali_rank = _rank(rows, "cpu_ms"), _rank(rows, "ref_mali_ms")
    table = Table(title=f"Model zoo at {size[0]}x{size[1]} (FP32 TFLite) vs MAI 2021 Table 1")
    for column in ("model", "params", "TFLite KB", "GMACs", "GPU ops", "CPU ms",
                   "speed rank CPU/Mali", "T1 KB", "T1 PSNR", "T1 SSIM", "T1 Mali ms",
                   "T1 score", "T1 rank"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in rows:
        def ref(key: str, fmt: str) -> str:
            return "-" if r[f"ref_{key}"] is None else format(r[f"ref_{key}"], fmt)

        ranks = "-"
        if bench:
            ranks = f"{cpu_rank.get(r['model'], '-')}/{mali_rank.get(r['model'], '-')}"
        table.add_row(r["model"], f"{r['params']:,}", f"{r['tflite_kb']:.0f}", f"{r['gmacs']:.2f}",
                      "yes" if r["gpu_compatible"] else "NO",
                      "-" if r["cpu_ms"] is None else f"{r['cpu_ms']:.1f}", ranks,
                      ref("size_kb", ".0f"), ref("psnr", ".2f"), ref("ssim", ".4f"),
                      ref("mali_ms", ".0f"), ref("score", ".2f"), ref("rank", "d"))
    return table


def register(app: typer.Typer) -> None:
    zoo = typer.Typer(help="The model zoo: MAI 2021 finalist families and the baseline.",
                      no_args_is_help=True)
    app.add_typer(zoo, name="zoo")

    @zoo.command("list")
    def list_command(
        bench: bool = typer.Option(False, "--bench", help="Also time each model (LiteRT, CPU)."),
        json_out: bool = typer.Option(False, "--json", help="Print a JSON list of dicts."),
        size: str = typer.Option("480x720", "--size", help="Export / timing size HEIGHTxWIDTH."),
        models: list[str] = typer.Option(None, "--model", "-m", help="Only these (repeatable)."),
        preset: str = typer.Option("default", "--preset", help="Preset of every model, e.g. tiny."),
        threads: int = typer.Option(1, "--threads", help="LiteRT CPU threads for --bench."),
    ) -> None:
        """Parameters, TFLite size, MACs, GPU-op check (and CPU runtime) beside Table 1."""
        import json

        from rich.console import Console

        from mobiledenoise.cli.options import parse_size
        from mobiledenoise.models import list_models
        from mobiledenoise.models.registry import check_input_size, resolve_config

        hw = parse_size(size)
        names = list(models) if models else list_models()
        for name in names:  # fail on bad input before minutes of exporting
            config = resolve_config(name, preset)  # UserError for an unknown model or preset
            check_input_size(config, *hw)
        rows = survey(names, preset, hw, bench, threads)
        if json_out:
            typer.echo(json.dumps(rows, indent=2))
        else:
            Console().print(render_table(rows, hw))

