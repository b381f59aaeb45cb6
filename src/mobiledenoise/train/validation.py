"""Validation during training: PSNR/SSIM of the model on held-out pairs, scored exactly like
`mobiledenoise evaluate` (8-bit, see evaluate/metrics.py). Images are centre-cropped to at
most `crop` pixels a side, rounded down to the model's required multiple."""

from __future__ import annotations

import numpy as np
from keras import ops

from mobiledenoise.data.crops import centre_crop
from mobiledenoise.data.imageio import from_float, to_float
from mobiledenoise.data.pairs import Pair, load_pair
from mobiledenoise.evaluate.metrics import psnr, ssim


class ValidationSet:
    def __init__(self, pairs: list[Pair], crop: int, multiple: int):
        self.items = []
        for pair in pairs:
            noisy, clean = load_pair(pair)
            h, w = noisy.shape[:2]
            ch = (min(h, crop) // multiple) * multiple
            cw = (min(w, crop) // multiple) * multiple
            self.items.append((pair.name, centre_crop(noisy, ch, cw), centre_crop(clean, ch, cw)))

    def __len__(self) -> int:
        return len(self.items)

    def input_psnr(self) -> float:
        """The do-nothing baseline: noisy input against clean."""
        return float(np.mean([psnr(n, c) for _, n, c in self.items])) if self.items else float("nan")

    def evaluate(self, model, with_ssim: bool = False) -> dict:
        psnrs, ssims = [], []
        for _, noisy, clean in self.items:
            output = ops.convert_to_numpy(model(to_float(noisy)[None], training=False))
            restored = from_float(output[0], clean.dtype)
            psnrs.append(psnr(restored, clean))
            if with_ssim:
                ssims.append(ssim(restored, clean))
        result = {"val_psnr": float(np.mean(psnrs)) if psnrs else float("nan")}
        if with_ssim:
            result["val_ssim"] = float(np.mean(ssims)) if ssims else float("nan")
        return result
