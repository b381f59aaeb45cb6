"""Table 1 of the MAI 2021 Real Image Denoising report, as data.

One row per registered finalist model: team, model size (KB, the submitted TFLite file),
PSNR / SSIM on the hidden test set, runtime on the Exynos 2100's Mali-G78 GPU at 720×480
(ms), the Final Score, and the official rank. `enerzai_dense` is ENERZAi's second model, which
did not take part in the official test phase (rank None; its figures are for information).
`unet` is this project's baseline and has no row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReferenceRow:
    team: str
    size_kb: float
    psnr: float
    ssim: float
    mali_ms: float
    score: float
    rank: int | None  # official final ranking; None = not in the official test phase


TABLE1: dict[str, ReferenceRow] = {
    "noahtcv": ReferenceRow("NOAHTCV", 209, 37.52, 0.9150, 39, 53.99, 1),
    "megvii": ReferenceRow("Megvii", 14276, 37.83, 0.9072, 84, 38.52, 2),
    "enerzai": ReferenceRow("ENERZAi Research", 81, 36.33, 0.8930, 11, 36.77, 3),
    "moma": ReferenceRow("MOMA-Denoise", 1404, 37.37, 0.9087, 54, 31.67, 4),
    "enerzai_dense": ReferenceRow("ENERZAi Research *", 118, 36.22, 0.9023, 23, 15.1, None),
    "mier": ReferenceRow("Mier", 1528, 36.34, 0.9066, 314, 1.31, 5),
    "gdalgo": ReferenceRow("GdAlgo", 18288, 37.84, 0.9157, 5019, 0.65, 6),
}


def reference(name: str) -> ReferenceRow | None:
    """Table 1 row of a registered model, or None for models not in the challenge."""
    return TABLE1.get(name)
