"""`mobiledenoise denoise`: denoise photos of any size into an output folder.

Design choices:
- Inputs are files or folders (a folder's files, not recursive; hidden files ignored). A path
  that does not exist is an error before any work. Files that are not images, or cannot be
  read, are skipped with a warning and counted in the closing summary; if none succeeds the
  command exits 2.
- Output: `<OUT_DIR>/<input stem>.<format>`, PNG by default (lossless; a JPEG input is not
  re-compressed). 8-bit in -> 8-bit out, 16-bit in -> 16-bit out (PNG or TIFF; `--format jpg`
  with a 16-bit input is refused). EXIF orientation is applied on read, so outputs are upright.
- Every output path is checked before the first image is processed: an existing file is
  refused unless `--overwrite`, and two inputs with one stem are refused. Writes are atomic
  (`imageio.write_image`), so an interrupted run leaves no partial file.
- Memory is bounded by the tile: the model runs overlapping tiles blended without seams
  (`deploy.tiling`); a fixed-size .tflite always tiles at its own input size. The 8/16-bit
  input is converted to float per tile and the float32 result back by blocks of rows, so a
  12 MP photo peaks at the input + one float32 output + the 8/16-bit output (~0.2 GB + model).
"""

from __future__ import annotations

from pathlib import Path

import typer

from mobiledenoise.errors import UserError

FORMATS = {"png": ".png", "tif": ".tif", "tiff": ".tif", "jpg": ".jpg", "jpeg": ".jpg"}


def collect_inputs(inputs: list[Path]) -> tuple[list[Path], list[str]]:
    """(candidate image files, warnings for skipped non-image files), in a stable order."""
    from mobiledenoise.data.imageio import is_image_path

    files, skipped = [], []
    for path in inputs:
        if not path.exists():
            raise UserError(f"expected an image file or folder, received {path} which does not "
                            "exist; check the path")
        entries = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if is_image_path(entry):
                files.append(entry)
            else:
                skipped.append(f"skipped {entry}: not an image (PNG, JPEG, TIFF, BMP, WebP)")
    return files, skipped


def plan_outputs(files: list[Path], out_dir: Path, suffix: str, overwrite: bool) -> list[Path]:
    """One output path per input; refuse clashes and existing files (unless overwriting)."""
    from mobiledenoise.data.imageio import check_output_folder

    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"expected an output folder, received {out_dir} which is a file; "
                        "pass a folder path to -o")
    check_output_folder(out_dir)  # a parent that is a file, no permission: one line, before work
    outputs, seen = [], {}
    for file in files:
        target = out_dir / f"{file.stem}{suffix}"
        if target in seen:
            raise UserError(f"expected distinct input names, received {seen[target]} and {file} "
                            f"which would both write {target.name}; denoise them separately")
        if target.exists() and not overwrite:
            raise UserError(f"expected a new output path, received {target} which exists; "
                            "pass --overwrite or choose another -o folder")
        seen[target] = file
        outputs.append(target)
    return outputs


def denoise(
    inputs: list[Path] = typer.Argument(..., metavar="IN",
                                        help="Image files and/or folders of images."),
    out_dir: Path = typer.Option(..., "-o", "--out", help="Output folder (created if needed)."),
    model: str | None = typer.Option(None, help="A shipped model (default: best quality in the "
                                     "speed budget; fast: ~4× cheaper), a .tflite, a run folder "
                                     "or a registered model name. Default: default."),
    precision: str = typer.Option("fp32", help="Shipped models only: fp32 or int8."),
    strength: str = typer.Option("1", help="How much of the model's correction to apply: 0 "
                                 "leaves the input unchanged, 1 is the model as trained, above 1 "
                                 "is stronger (linear, at most 4)."),
    passes: str = typer.Option("auto", help="auto: shipped models get a second pass on heavy "
                               "noise, weighted by how much noise the first removed (clean and "
                               "lightly noisy photos get one); 1: the model once."),
    tile: int = typer.Option(512, help="Tile side for dynamic-size and Keras models (memory "
                             "bound); a fixed-size .tflite tiles at its own input size."),
    overlap: int = typer.Option(32, help="Tile overlap in pixels (blended, no seams)."),
    threads: int = typer.Option(2, help="LiteRT CPU threads."),
    fmt: str = typer.Option("png", "--format", help="Output format: png, tif or jpg."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
) -> None:
    """Denoise images (files or folders IN) into -o OUT_DIR as <stem>.png, same bit depth."""
    from mobiledenoise.deploy.adaptive import parse_passes, with_passes
    from mobiledenoise.deploy.resolve import resolve_denoiser
    from mobiledenoise.deploy.strength import SteeredDenoiser, parse_strength

    strength_value = parse_strength(strength)  # bad input fails before any work
    passes = parse_passes(passes)
    if fmt.lower() not in FORMATS:
        raise UserError(f"expected --format png, tif or jpg, received {fmt!r}")
    files, warnings = collect_inputs(inputs)
    outputs = plan_outputs(files, out_dir, FORMATS[fmt.lower()], overwrite)
    denoiser = SteeredDenoiser(with_passes(resolve_denoiser(model, threads=threads,
                                                            precision=precision), passes, model),
                               strength_value)
    written = _run(denoiser, files, outputs, tile, overlap, overwrite, warnings)
    if written == 0:  # nothing was written: the reasons are the one error line
        more = f"; and {len(warnings) - 3} more" if len(warnings) > 3 else ""
        raise UserError("expected at least one readable image among the inputs, received none ("
                        + "; ".join(warnings[:3]) + more + ")")
    for line in warnings:
        typer.secho(f"Warning: {line}", fg="yellow", err=True)
    typer.echo(f"Denoised {written} of {written + len(warnings)} file(s) into {out_dir}"
               + (f"; {len(warnings)} skipped" if warnings else ""))


def _run(denoiser, files: list[Path], outputs: list[Path], tile: int, overlap: int,
         overwrite: bool, warnings: list[str]) -> int:
    from rich.progress import track

    from mobiledenoise.data.imageio import from_float_in_rows, read_image, write_image

    written = 0
    for file, target in track(list(zip(files, outputs)), description="Denoising",
                              transient=True):
        try:
            image = read_image(file)
        except UserError as exc:
            warnings.append(f"skipped {file}: {exc.message}")
            continue
        if image.dtype.itemsize == 2 and target.suffix == ".jpg":
            warnings.append(f"skipped {file}: 16-bit image cannot be written as JPEG; "
                            "use --format png or tif")
            continue
        restored = denoiser.denoise(image, tile, overlap)  # converted to float per tile
        write_image(target, from_float_in_rows(restored, image.dtype), overwrite=overwrite)
        written += 1
    return written


def register(app: typer.Typer) -> None:
    app.command("denoise")(denoise)
