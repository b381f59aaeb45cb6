"""Before/after picture grid: real noisy photos and phone crops, the model next to OpenCV NLM.

    python benchmarks/before_after.py [--model NAME=M.tflite ...] [--passes auto|1]
        [--data-root ../shared/data] [--out benchmarks/results] [--crop 200] [--scale 2]

Two panels, one row per image, centre crops of `--crop` px shown ×`--scale` (nearest, so
noise and detail stay visible), each cell labelled (PSNR against clean where there is one):
- `rni15` real noisy photos (no clean version): noisy | each model | NLM with blind h (the h
  map of the last `vs_classical.py` run, from its `.json`; fitted afresh when there is none);
- `sidd_mini` crops (4 spread over the set, two of them SIDD validation blocks): noisy | each
  model | NLM oracle (the set's h from that `.json`, else tuned on the shown images) | clean.
Models (default: every shipped `<name>_fp32.tflite`, run as `denoise --passes auto` runs them
unless `--passes 1`) and NLM run on the whole image, then are cropped.
Writes `before_after-<host>.png`.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import typer

import classical
import vs_classical
from mobiledenoise.cli.errors import UserErrorCommand
from mobiledenoise.errors import UserError

RNI15 = ("Audrey_Hepburn.jpg", "Bears.png", "Frog.png", "Postcards.png")
Cell = tuple[str, np.ndarray]  # (label, uint8 crop)


def blind_map_and_oracle(results: Path, root: Path) -> tuple[classical.HMap, float | None, str]:
    """The blind h map and sidd_mini's oracle h from a vs_classical .json, or fitted here."""
    if results.is_file():
        saved = json.loads(results.read_text())
        oracle = saved.get("sets", {}).get("sidd_mini", {}).get("h_oracle")
        return classical.HMap(**saved["h_map"]), oracle, results.name
    typer.echo(f"{results} not found: fitting the blind h map on training images (~1 min)")
    return classical.fit_h_map(classical.blind_h_samples(root, 4, 6)), None, "fitted here"


def label(image: np.ndarray, text: str, font) -> np.ndarray:
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas, "RGBA")
    box = draw.textbbox((6, 4), text, font=font)
    draw.rectangle((box[0] - 4, box[1] - 3, box[2] + 4, box[3] + 3), fill=(0, 0, 0, 170))
    draw.text((6, 4), text, fill=(255, 255, 255), font=font)
    return np.asarray(canvas)


def grid(panels: list[tuple[str, list[list[Cell]]]], crop: int, scale: int) -> np.ndarray:
    """Panels of rows of labelled cells on one white canvas, a title bar over each panel."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=max(12, 7 * scale))
    side, gap, title = crop * scale, 4, 12 * scale + 8
    cols = max(len(row) for _, rows in panels for row in rows)
    height = sum(title + len(rows) * (side + gap) for _, rows in panels)
    canvas = Image.new("RGB", (cols * (side + gap) - gap, height), "white")
    draw, y = ImageDraw.Draw(canvas), 0
    for heading, rows in panels:
        draw.text((4, y + 4), heading, fill=(0, 0, 0), font=font)
        y += title
        for row in rows:
            for c, (text, image) in enumerate(row):
                big = np.kron(image, np.ones((scale, scale, 1), np.uint8))  # nearest ×scale
                big = np.pad(big, ((0, side - big.shape[0]), (0, side - big.shape[1]), (0, 0)),
                             constant_values=255)
                canvas.paste(Image.fromarray(label(big, text, font)), (c * (side + gap), y))
            y += side + gap
    return np.asarray(canvas)


def build(models: dict[str, Path], root: Path, results: Path, crop: int, scale: int,
          runner: vs_classical.ModelRunner = vs_classical.model_runner) -> np.ndarray:
    from mobiledenoise.data.imageio import read_image
    from mobiledenoise.data.pairs import find_pairs, load_pair
    from mobiledenoise.evaluate.metrics import psnr

    h_map, h_oracle, source = blind_map_and_oracle(results, root)
    runs = {name: runner(path, 2) for name, path in models.items()}
    cut = lambda image: classical.centre_crop(image, crop)  # noqa: E731
    photo_rows = []
    for name in RNI15:
        noisy = read_image(root / "rni15" / "noisy" / name)
        h = h_map(classical.noise_sigma(noisy))
        photo_rows.append([(f"noisy: {Path(name).stem}", cut(noisy)),
                           *[(m, cut(run(noisy))) for m, run in runs.items()],
                           (f"NLM blind h={h:.1f}", cut(classical.opencv_nlm(noisy, h)))])
    sidd = find_pairs(root / "sidd_mini")
    val = [p for p in sidd if p.name.startswith("nafnetpd_val_")]
    chosen = vs_classical.spread([p for p in sidd if p not in val], 2) + vs_classical.spread(val, 2)
    pairs = [load_pair(p) for p in chosen]
    if h_oracle is None:
        h_oracle = classical.tune_opencv_h_refined([(cut(n), cut(c)) for n, c in pairs])[0]
    phone_rows = []
    for noisy, clean in pairs:
        outputs = {m: run(noisy) for m, run in runs.items()}
        nlm = classical.opencv_nlm(noisy, h_oracle)
        score = lambda image: f"{psnr(cut(image), cut(clean)):.1f} dB"  # noqa: E731
        phone_rows.append([(f"noisy {score(noisy)}", cut(noisy)),
                           *[(f"{m} {score(o)}", cut(o)) for m, o in outputs.items()],
                           (f"NLM oracle h={h_oracle:g} {score(nlm)}", cut(nlm)),
                           ("clean", cut(clean))])
    return grid([(f"rni15: real noisy photos, no clean version (blind h: {source})", photo_rows),
                 ("sidd_mini: phone crops, PSNR of the crop against clean", phone_rows)],
                crop, scale)


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


@app.command(cls=UserErrorCommand)
def main(
    model: list[str] = typer.Option([], "--model", help="NAME=FILE.tflite, repeatable "
                                    "(default: every shipped <name>_fp32.tflite)."),
    data_root: Path = typer.Option(vs_classical.DEFAULT_DATA, help="The shared data folder."),
    out: Path = typer.Option(vs_classical.DEFAULT_OUT, help="Folder for the PNG."),
    crop: int = typer.Option(200, min=32, max=1000, help="Centre crop size (px)."),
    scale: int = typer.Option(2, min=1, max=4, help="Nearest-neighbour enlargement."),
    passes: str = typer.Option("auto", help="auto: shipped models as `denoise` runs them (a "
                               "second pass on heavy noise); 1: one pass."),
) -> None:
    """Write a before/after grid of rni15 photos and sidd_mini crops."""
    from mobiledenoise.deploy.adaptive import THRESHOLDS, parse_passes

    auto = parse_passes(passes) == "auto"
    models = vs_classical.parse_models(model)
    if not model:
        models = {n: p for n, p in models.items() if n.endswith("_fp32")} or models
    missing = [str(p) for p in (data_root / "rni15" / "noisy", data_root / "sidd_mini")
               if not p.is_dir()]
    if missing:
        raise UserError(f"expected the shared data folders, received missing {', '.join(missing)}"
                        "; pass --data-root")
    for path in models.values():
        vs_classical.model_runner(path, 1)  # a file LiteRT cannot load fails before any work
    host = socket.gethostname()
    adaptive = {path for path in models.values()
                if auto and vs_classical.shipped_name(path) in THRESHOLDS}

    def runner(path: Path, threads: int) -> vs_classical.Denoise:
        return (vs_classical.adaptive_runner if path in adaptive else vs_classical.model_runner)(
            path, threads)

    labels = {(f"{name} auto" if path in adaptive else name): path
              for name, path in models.items()}
    picture = build(labels, data_root, out / f"vs_classical-{host}.json", crop, scale, runner)
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"before_after-{host}.png"
    Image.fromarray(picture).save(path)
    typer.echo(f"wrote {path} ({picture.shape[1]}×{picture.shape[0]})")


if __name__ == "__main__":
    app()
