"""Reading and writing images the way the rest of the toolkit expects them.

`read_image` returns an H×W×3 array, uint8 or uint16 (bit depth kept), with EXIF orientation
applied; grayscale and palette images are converted to RGB, RGBA is refused when the alpha
channel is not fully opaque (dropping real transparency would silently change the picture).
`write_image` writes atomically (temp file + rename), so an interrupted write never leaves a
half-written file behind.

Hostile or broken paths are refused with one line, never a decoder traceback: an image whose
header declares more than `MAX_PIXELS` (a 100000×100000 PNG is a few hundred bytes) is refused
from its header, before any decoder allocates; `check_output_folder` creates and probes an
output folder before any work, so a parent that is a file, a read-only place or a full disk is
found first; a failed write is a `UserError` (and leaves no file).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mobiledenoise.errors import UserError
from mobiledenoise.fileio import atomic_paths

MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS  # Pillow's own bomb limit: 179 MP, 15x a 12 MP photo
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}

_16BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | Path) -> np.ndarray:
    """Load `path` as H×W×3 uint8 (8-bit files) or uint16 (16-bit files)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"expected an image file, received {path} which is a folder; "
                        "pass one image (PNG, JPEG, TIFF)")
    if not path.is_file():
        raise UserError(f"expected an image file, received {path} which does not exist; check the path")
    if not os.access(path, os.R_OK):
        raise UserError(f"expected a readable image file, received {path} which cannot be read "
                        "(permission denied); fix its permissions or copy it")
    _check_declared_size(path)
    if path.suffix.lower() in {".png", ".tif", ".tiff"}:
        array = _read_16bit_color(path)
        if array is not None:
            return array
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return _to_rgb_array(image, path)
    except UnidentifiedImageError:
        raise UserError(
            f"expected a PNG, JPEG or TIFF image, received {path.name} which is not a readable "
            "image; check that the file is an image and not corrupt"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"expected a decodable image file, received {path.name} which does not "
                        f"decode ({exc}); the file looks truncated or corrupt: check or re-save "
                        "it") from None


def _check_declared_size(path: Path) -> None:
    """Refuse an image whose header declares more than MAX_PIXELS (read from the header only)."""
    refusal = (f"expected an image of at most {MAX_PIXELS // 10**6} megapixels, received "
               f"{path.name} which declares {{}}; downscale or crop it first")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        raise UserError(refusal.format("more in its header")) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return  # not an image Pillow knows: the readers below give the clear error
    if width * height > MAX_PIXELS:
        raise UserError(refusal.format(f"{width}x{height}"))


def check_output_folder(folder: Path) -> None:
    """Refuse, before any work, an output folder that cannot be created or written: probe the
    folder, or the nearest existing parent it would be created in (nothing is left behind)."""
    import tempfile

    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(existing)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"expected a writable output folder, received {folder} "
                        f"({_os_reason(exc, existing)}); choose another folder") from None


def _os_reason(exc: OSError, where: Path | None = None) -> str:
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        return f"{where} is a file" if where is not None else "a part of the path is a file"
    return f"{exc.strerror or type(exc).__name__}" + (f" in {where}" if where is not None else "")


def _read_16bit_color(path: Path) -> np.ndarray | None:
    """16-bit colour PNG/TIFF: Pillow would truncate them to 8 bits, so read with OpenCV.

    Returns None for anything else (Pillow handles it, with the clear errors)."""
    import cv2

    try:
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # e.g. a header declaring more pixels than OpenCV allows
        reason = str(exc).strip().splitlines()[-1][:160]
        raise UserError(f"expected a decodable image, received {path.name} which OpenCV refuses "
                        f"({reason}); check or re-save the file") from None
    if array is None or array.dtype != np.uint16 or array.ndim != 3 or array.shape[-1] not in (3, 4):
        return None
    if array.shape[-1] == 4:
        if array[..., 3].min() < 65535:
            raise UserError(f"expected an opaque image, received {path.name} with transparent "
                            "pixels; flatten it onto a background first")
        array = array[..., :3]
    array = array[..., ::-1]  # BGR -> RGB
    with Image.open(path) as image:
        orientation = image.getexif().get(0x0112, 1)
    return _apply_orientation(array, orientation)


def _apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.transpose(a, (1, 0, 2)),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 1)[::-1],
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops.get(orientation, lambda a: a)(array))


def _to_rgb_array(image: Image.Image, path: Path) -> np.ndarray:
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8).copy()
    if mode in {"L", "P", "LA", "PA", "1", "CMYK", "YCbCr"}:
        if mode in {"P", "LA", "PA"}:
            image = image.convert("RGBA")
            return _drop_opaque_alpha(np.asarray(image), path)
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    if mode == "RGBA":
        return _drop_opaque_alpha(np.asarray(image), path)
    if mode in _16BIT_MODES:
        gray = np.asarray(image).astype(np.uint16)
        return np.repeat(gray[..., None], 3, axis=-1)
    raise UserError(
        f"expected an 8/16-bit RGB or grayscale image, received mode {mode!r} in {path.name}; "
        "convert it to RGB PNG or JPEG first"
    )


def _drop_opaque_alpha(rgba: np.ndarray, path: Path) -> np.ndarray:
    if rgba[..., 3].min() < 255:
        raise UserError(
            f"expected an opaque image, received {path.name} with transparent pixels; "
            "flatten it onto a background (e.g. save as JPEG) first"
        )
    return np.ascontiguousarray(rgba[..., :3])


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8/uint16 -> float32 in [0, 1]; a float image is only cast to float32 (no copy when
    it already is one). The one float conversion of the package."""
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float32, copy=False)
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return image.astype(np.float32) / scale


def from_float(image: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """float in [0, 1] -> uint8/uint16, clipped and rounded (the challenge's convention)."""
    scale = 65535.0 if np.dtype(dtype) == np.uint16 else 255.0
    return np.clip(np.rint(np.asarray(image, np.float64) * scale), 0, scale).astype(dtype)


def from_float_in_rows(image: np.ndarray, dtype, rows: int = 256) -> np.ndarray:
    """`from_float` in blocks of rows: its float64 temporaries stay small for 12 MP photos."""
    out = np.empty(image.shape, dtype)
    for top in range(0, image.shape[0], rows):
        out[top:top + rows] = from_float(image[top:top + rows], dtype)
    return out


def write_image(path: str | Path, image: np.ndarray, *, overwrite: bool = False, quality: int = 95) -> Path:
    """Write uint8/uint16 H×W×3 to `path` atomically; refuse to replace a file unless asked."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"expected a new output path, received {path} which exists; pass --overwrite or choose another path")
    if image.dtype == np.uint16 and path.suffix.lower() in {".jpg", ".jpeg"}:
        raise UserError(f"expected PNG or TIFF for 16-bit output, received {path.name}; use .png or .tif")
    try:
        with atomic_paths([path]) as (tmp,):
            if image.dtype == np.uint16:
                import cv2

                if not cv2.imwrite(str(tmp), np.ascontiguousarray(image[..., ::-1])):
                    raise UserError(f"could not write a 16-bit image to {path}; use .png or .tif")
            elif path.suffix.lower() in {".jpg", ".jpeg"}:
                Image.fromarray(image).save(tmp, quality=quality)
            else:
                Image.fromarray(image).save(tmp)
    except OSError as exc:
        raise UserError(f"expected to write {path}, received an error ({_os_reason(exc)}); "
                        "free some space or choose another output folder") from None
    return path
