"""`mobiledenoise data ...`: dataset tools (a Typer sub-app).

`data build` turns a folder of bursts (one sub-folder per scene) into a noisy/ + clean/ pair
folder that `mobiledenoise train --data` reads, with a report of every rejected frame and
scene; `data synth-bursts` writes synthetic test bursts with known transforms. The work is
done by `mobiledenoise.data.bursts`; this module only parses options and prints the summary.
"""

from __future__ import annotations

from pathlib import Path

import typer

data_app = typer.Typer(help="Dataset tools: build noisy/clean pairs from bursts.",
                       no_args_is_help=True)


@data_app.command("build")
def build(
    bursts_dir: Path = typer.Argument(..., help="Folder with one sub-folder of frames per scene."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (noisy/, clean/, report)."),
    noisy_per_scene: int = typer.Option(1, help="Noisy frames written per scene."),
    reference: str = typer.Option("middle", help="Reference frame: middle or sharpest."),
    homography: bool = typer.Option(False, "--homography",
                                    help="Align with a homography instead of a euclidean motion."),
    trim: float = typer.Option(0.2, help="Fraction of frames dropped per pixel (half low, half "
                                         "high) in the trimmed mean."),
    max_motion: float = typer.Option(0.1, help="Largest frame motion accepted, as a fraction of "
                                               "the shorter image side."),
    min_correlation: float = typer.Option(0.5, help="Lowest ECC correlation accepted."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier build."),
) -> None:
    """Align, reject and average each burst into noisy/clean pairs plus report.csv."""
    from mobiledenoise.data.bursts import BuildOptions, build_dataset

    options = BuildOptions(reference=reference, homography=homography, trim=trim,
                           noisy_per_scene=noisy_per_scene, max_motion=max_motion,
                           min_correlation=min_correlation)
    results = build_dataset(bursts_dir, out, options, overwrite=overwrite)
    kept = [r for r in results if r.status == "ok"]
    pairs = sum(len(r.pairs) for r in kept)
    frames_rejected = sum(len(r.frames) - len(r.used) for r in kept)
    typer.echo(f"{pairs} pair{'s' * (pairs != 1)} from {len(kept)} of {len(results)} scenes "
               f"in {out} ({frames_rejected} frames rejected in kept scenes; see report.csv)")
    for r in results:
        if r.status != "ok":
            typer.echo(f"rejected scene {r.scene}: {r.reason}")


@data_app.command("synth-bursts")
def synth_bursts(
    out: Path = typer.Argument(..., help="Folder to write <scene>/frame_NNN.png into."),
    scenes: int = typer.Option(2, help="Number of scenes (crops of scikit-image test images)."),
    frames: int = typer.Option(20, help="Frames per burst."),
    size: int = typer.Option(256, help="Square frame size in pixels."),
    seed: int = typer.Option(0),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing frames."),
) -> None:
    """Write synthetic bursts (from 5 frames on, one blurred and one far-shifted) to try `build`."""
    from mobiledenoise.data.synthetic_bursts import make_burst, sample_scene, write_burst

    for s in range(scenes):
        clean = sample_scene(s, size)
        bad = frames >= 5
        burst = make_burst(clean, frames, blurred=[1] * bad, shifted=[frames - 2] * bad,
                           seed=seed + s)
        write_burst(burst, out / f"scene{s}", overwrite=overwrite)
    typer.echo(f"wrote {scenes} bursts of {frames} frames to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
