"""`mobiledenoise bench`: LiteRT timing of a .tflite on one patch and, optionally, a whole
full-resolution photo through the tiled runner (see `deploy.bench` for what is measured)."""

from __future__ import annotations

from pathlib import Path

import typer

from mobiledenoise.cli.options import parse_size


def bench(
    model: Path = typer.Argument(..., help="The .tflite to time."),
    size: str | None = typer.Option(None, help="Patch HEIGHTxWIDTH; default: the model's input "
                                    "size, or 480x720 for a dynamic-size model."),
    threads: int = typer.Option(1, help="LiteRT CPU threads (XNNPACK uses the same count)."),
    runs: int = typer.Option(20, help="Timed runs (after the warm-up)."),
    warmup: int = typer.Option(3, help="Untimed warm-up runs."),
    full_res: str | None = typer.Option(None, "--full-res", help="Also time a whole "
                                        "HEIGHTxWIDTH photo in tiles, e.g. 3000x4000."),
    tile: int = typer.Option(512, help="Tile side for a dynamic-size model at --full-res."),
    overlap: int = typer.Option(32, help="Tile overlap in pixels at --full-res."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Median/min/max ms per patch; with --full-res, a tiled full photo's ms and peak memory."""
    from mobiledenoise.deploy import bench as bench_lib
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.evaluate import report

    patch_size, photo_size = parse_size(size, "--size"), parse_size(full_res, "--full-res")
    denoiser = TFLiteDenoiser(model, threads=threads)
    result = bench_lib.benchmark(denoiser, size=patch_size, runs=runs, warmup=warmup)
    full = None
    if photo_size is not None:
        full = bench_lib.benchmark_full_resolution(denoiser, size=photo_size, tile=tile,
                                                   overlap=overlap)
    if json_out:
        typer.echo(report.to_json({**result.to_dict(), "model": str(model),
                                   **({"full_res": full.to_dict()} if full else {})}))
    else:
        report.print_bench(result, full)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
