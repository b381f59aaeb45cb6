"""Files of the burst dataset builder: scene folders and frames in, pairs and a report out.

Input: ``BURSTS_DIR/<scene>/<frames>``, one sub-folder per scene; frames are PNG/TIFF/JPEG
(8 or 16 bit, read by `imageio.read_image`) or DNG. DNG frames are developed with `rawpy`
(an optional dependency, imported only when a DNG is met) at 16 bits with the camera white
balance, the standard gamma, **no auto-brightening** (it would change the exposure from frame
to frame) and no noise reduction — a plain ISP with the denoiser off, as in the challenge.
Frames sort in natural order (``f2`` before ``f10``); files of other types are ignored.

Output: ``noisy/<scene>_<k>.png`` + ``clean/<scene>_<k>.png`` (k = frame index; one clean file
per noisy one because `pairs.find_pairs` pairs equal names), ``report.csv`` (one row per scene),
``frames.csv`` (one row per frame) and ``thumbs/<scene>.jpg`` (reference | clean). Images go
through `imageio.write_image` (atomic); the CSVs are written to a temp file and renamed.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mobiledenoise.data.imageio import is_image_path, read_image, write_image
from mobiledenoise.errors import UserError
from mobiledenoise.fileio import write_text_atomically

if TYPE_CHECKING:
    from mobiledenoise.data.bursts import FrameRecord, SceneResult

RAW_SUFFIXES = {".dng"}
THUMB_HEIGHT = 192

REPORT_FIELDS = ["scene", "status", "reason", "reference", "frames", "used", "rejected",
                 "shifts_px", "sharpness", "correlation", "mean_residual", "blur", "crop_yxhw",
                 "pairs"]
FRAME_FIELDS = ["scene", "index", "file", "status", "reason", "dx", "dy", "rotation_deg",
                "correlation", "sharpness", "residual"]


def natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_scenes(bursts_dir: str | Path) -> list[Path]:
    """The scene sub-folders of `bursts_dir`, in natural order."""
    root = Path(bursts_dir)
    if not root.is_dir():
        what = "a file" if root.exists() else "which does not exist"
        raise UserError(f"expected a folder of burst sub-folders, received {root} {what}; "
                        "check the path")
    scenes = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                    key=natural_key)
    if not scenes:
        raise UserError(f"expected one sub-folder per scene in {root}, found none; put each "
                        "burst's frames in their own folder, e.g. BURSTS/scene1/frame_00.png")
    return scenes


def is_frame_path(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and (
        is_image_path(path) or path.suffix.lower() in RAW_SUFFIXES)


def list_frames(scene_dir: Path) -> list[Path]:
    return sorted((p for p in scene_dir.iterdir() if is_frame_path(p)), key=natural_key)


def read_frame(path: Path) -> np.ndarray:
    """One frame as H×W×3 uint8 or uint16 (DNG: uint16 through rawpy)."""
    if path.suffix.lower() in RAW_SUFFIXES:
        return _read_dng(path)
    return read_image(path)


def _read_dng(path: Path) -> np.ndarray:
    try:
        import rawpy
    except ImportError:
        raise UserError(f"expected rawpy to develop DNG frames, received {path.name} but rawpy "
                        "is not installed; pip install rawpy, or convert the frames to 16-bit "
                        "TIFF/PNG") from None
    try:
        with rawpy.imread(str(path)) as raw:
            return raw.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16)
    except (rawpy.LibRawError, OSError) as exc:
        raise UserError(f"could not decode the DNG {path}: {exc}; the file looks corrupt") from None


def prepare_output(out_dir: Path, overwrite: bool) -> None:
    """Refuse to mix a new build into an old one unless `overwrite`."""
    old = [out_dir / name for name in ("report.csv", "noisy", "clean") if (out_dir / name).exists()]
    if old and not overwrite:
        raise UserError(f"expected a new or empty output folder, received {out_dir} which holds "
                        f"{old[0].name}; pass --overwrite or choose another folder")
    for sub in ("noisy", "clean", "thumbs"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)


def remove_scene_outputs(out_dir: Path, scene: str) -> None:
    """Drop a scene's pairs from an earlier build, so a now-rejected scene leaves none behind."""
    pattern = re.compile(rf"^{re.escape(scene)}_\d+\.png$")
    for sub in ("noisy", "clean"):
        for path in (out_dir / sub).glob(f"{scene}_*.png"):
            if pattern.match(path.name):
                path.unlink()


def write_scene(out_dir: Path, result: SceneResult, overwrite: bool) -> list[str]:
    """The scene's pairs (replacing an earlier build's) and its thumbnail; the pair file names."""
    remove_scene_outputs(out_dir, result.scene)
    names = []
    for index, noisy in result.noisy.items():
        names.append(f"{result.scene}_{index}.png")
        write_image(out_dir / "noisy" / names[-1], noisy, overwrite=overwrite)
        write_image(out_dir / "clean" / names[-1], result.clean, overwrite=overwrite)
    if result.reference_image is None:
        return names
    reference = result.reference_image
    if result.crop is not None:
        top, left, height, width = result.crop
        reference = reference[top:top + height, left:left + width]
    panels = [reference] if result.clean is None else [reference, result.clean]
    write_thumbnail(out_dir, result.scene, panels)
    return names


def write_thumbnail(out_dir: Path, scene: str, panels: Sequence[np.ndarray]) -> Path:
    """Panels side by side, each scaled to THUMB_HEIGHT px high, as an 8-bit JPEG."""
    import cv2

    row = []
    for panel in panels:
        image = (panel >> 8).astype(np.uint8) if panel.dtype == np.uint16 else panel
        width = max(1, round(image.shape[1] * THUMB_HEIGHT / image.shape[0]))
        row.append(cv2.resize(image, (width, THUMB_HEIGHT), interpolation=cv2.INTER_AREA))
        row.append(np.full((THUMB_HEIGHT, 4, 3), 255, np.uint8))
    return write_image(out_dir / "thumbs" / f"{scene}.jpg", np.concatenate(row[:-1], axis=1),
                       overwrite=True, quality=85)


def write_reports(out_dir: Path, results: Sequence[SceneResult]) -> None:
    write_csv(out_dir / "report.csv", REPORT_FIELDS, [scene_row(r) for r in results])
    write_csv(out_dir / "frames.csv", FRAME_FIELDS,
              [frame_row(r.scene, f) for r in results for f in r.frames])


def _listed(frames: Sequence[FrameRecord], attribute: str, spec: str) -> str:
    """`index=value` for every frame where `attribute` was measured, `;`-separated."""
    return ";".join(f"{f.index}={getattr(f, attribute):{spec}}" for f in frames
                    if not math.isnan(getattr(f, attribute)))


def scene_row(result: SceneResult) -> dict:
    used = [f for f in result.frames if f.status == "used"]
    residuals = [f.residual for f in used if not math.isnan(f.residual)]
    return {
        "scene": result.scene, "status": result.status, "reason": result.reason,
        "reference": result.reference, "frames": len(result.frames),
        "used": ";".join(str(f.index) for f in used),
        "rejected": ";".join(f"{f.index}={f.reason}" for f in result.frames
                             if f.status == "rejected"),
        "shifts_px": ";".join(f"{f.index}={f.dx:+.2f},{f.dy:+.2f}" for f in result.frames
                              if not math.isnan(f.correlation)),
        "sharpness": _listed(result.frames, "sharpness", ".4g"),
        "correlation": _listed(result.frames, "correlation", ".4f"),
        "mean_residual": f"{np.mean(residuals):.3f}" if residuals else "",
        "blur": "" if math.isnan(result.blur) else f"{result.blur:.3f}",
        "crop_yxhw": ",".join(map(str, result.crop)) if result.crop else "",
        "pairs": ";".join(result.pairs),
    }


def frame_row(scene: str, f: FrameRecord) -> dict:
    def fmt(value: float, spec: str) -> str:
        return "" if math.isnan(value) else format(value, spec)

    return {"scene": scene, "index": f.index, "file": f.file, "status": f.status,
            "reason": f.reason, "dx": fmt(f.dx, ".3f"), "dy": fmt(f.dy, ".3f"),
            "rotation_deg": fmt(f.rotation_deg, ".3f"), "correlation": fmt(f.correlation, ".4f"),
            "sharpness": fmt(f.sharpness, ".4g"), "residual": fmt(f.residual, ".3f")}


def write_csv(path: Path, fields: list[str], rows: list[dict]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomically(path, buffer.getvalue())


def read_csv(path: str | Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
