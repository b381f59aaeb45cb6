"""`mobiledenoise demo`: the main job in one command (what `make demo` runs).

1. Denoises the bundled real-noise sample (package data `mobiledenoise/samples`, linked as
   `examples/` in a checkout) with the shipped default model, as `denoise` runs it, and
   writes a labelled before/after side-by-side PNG.
2. Prints PSNR / SSIM / runtime at 720×480 / Final Score of the default model (FP32 and INT8)
   on the PolyU validation scenes of the shared data when present, else on the sample pair.
   The shared data is `$MOBILEDENOISE_SHARED_DATA`, else `../shared/data` from the current
   folder (the checkout, for `make demo`): an installed package knows no checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Where the images go."),
    data: Path = typer.Option(None, help="Pairs to score on (default: ../shared/data/polyu_cropped "
                                         "validation scenes, else the bundled sample)."),
    threads: int = typer.Option(1, help="LiteRT threads for the runtime figure."),
) -> None:
    """Denoise the sample photo with the shipped model and print its scores."""
    from mobiledenoise.data.imageio import from_float, read_image, write_image
    from mobiledenoise.deploy.adaptive import with_passes
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.evaluate.metrics import psnr, ssim
    from mobiledenoise.evaluate.report import print_eval
    from mobiledenoise.evaluate.runner import evaluate_tflite
    from mobiledenoise.resources import sample_pair
    from mobiledenoise.weights import default_model_path

    fp32 = default_model_path("fp32")
    noisy_path, clean_path = sample_pair()
    noisy, clean = read_image(noisy_path), read_image(clean_path)
    model = with_passes(TFLiteDenoiser(fp32, threads=threads), "auto", "default")
    denoised = from_float(model.denoise(noisy))
    out.mkdir(parents=True, exist_ok=True)
    write_image(out / "sample_denoised.png", denoised, overwrite=True)
    panel = side_by_side([("noisy input", noisy), ("mobiledenoise", denoised), ("clean reference", clean)])
    write_image(out / "before_after.png", panel, overwrite=True)
    typer.echo(f"sample: noisy {psnr(noisy, clean):.2f} dB / {ssim(noisy, clean):.4f} -> denoised "
               f"{psnr(denoised, clean):.2f} dB / {ssim(denoised, clean):.4f}; wrote "
               f"{out / 'before_after.png'}")

    data_dir, val_only = _score_data(data, out, noisy, clean)
    for precision in ("fp32", "int8"):
        result = evaluate_tflite(default_model_path(precision), data_dir, threads=threads,
                                 val_only=val_only, progress=False)
        typer.echo(f"\ndefault model {precision.upper()} on {data_dir}"
                   f"{' (validation scenes)' if val_only else ''}:")
        print_eval(result, per_image=False)


def _score_data(data: Path | None, out: Path, noisy, clean) -> tuple[Path, bool]:
    if data is not None:
        return data, False
    shared = Path(os.environ.get("MOBILEDENOISE_SHARED_DATA", "../shared/data")) / "polyu_cropped"
    if (shared / "noisy").is_dir():
        return shared, True
    from mobiledenoise.data.imageio import write_image

    sample = out / "sample_pair"
    write_image(sample / "noisy" / "sample.png", noisy, overwrite=True)
    write_image(sample / "clean" / "sample.png", clean, overwrite=True)
    return sample, False


def side_by_side(panels: list, scale: int = 2):
    """Label and join uint8 images horizontally, enlarged `scale`× (nearest) to show grain."""
    import numpy as np
    from PIL import Image, ImageDraw

    tiles = []
    for label, image in panels:
        tile = Image.fromarray(image).resize((image.shape[1] * scale, image.shape[0] * scale),
                                             Image.NEAREST)
        canvas = Image.new("RGB", (tile.width, tile.height + 24), "white")
        canvas.paste(tile, (0, 24))
        ImageDraw.Draw(canvas).text((6, 5), label, fill="black")
        tiles.append(np.asarray(canvas))
    gap = np.full((tiles[0].shape[0], 8, 3), 255, np.uint8)
    joined = [tiles[0]]
    for tile in tiles[1:]:
        joined += [gap, tile]
    return np.concatenate(joined, axis=1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
