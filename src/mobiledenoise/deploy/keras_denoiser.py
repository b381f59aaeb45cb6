"""`KerasDenoiser`: a trained Keras model (a run folder or a registered model name) behind the
`denoise(image, tile, overlap)` interface of `runtime.TFLiteDenoiser`, so `evaluate` and
`denoise` treat a run like an exported file. The image is reflect-padded to the model's
`multiple`, run, and cropped; with `tile` it goes through the same tiled runner."""

from __future__ import annotations

import numpy as np

from mobiledenoise.data.imageio import to_float
from mobiledenoise.deploy.tiling import denoise_tiled, round_up_tile, run_padded


class KerasDenoiser:
    """A Keras denoiser with the `denoise(image, tile, overlap)` interface of TFLiteDenoiser."""

    def __init__(self, source: str):
        from mobiledenoise.train.runs import load_model

        self.model = load_model(source, input_shape=(None, None, 3), batch_size=1)
        self.multiple = self.model.multiple
        self.name = str(source)

    def _run(self, image: np.ndarray) -> np.ndarray:
        import keras

        output = self.model(image[None].astype(np.float32), training=False)
        return np.asarray(keras.ops.convert_to_numpy(output))[0]

    def run_padded(self, image: np.ndarray) -> np.ndarray:
        return run_padded(self._run, image, self.multiple)

    def denoise(self, image: np.ndarray, tile: int | tuple[int, int] | None = None,
                overlap: int = 32, *, on_tile=None) -> np.ndarray:
        if tile is None:
            return self.run_padded(to_float(image))
        return denoise_tiled(self.run_padded, image, round_up_tile(tile, self.multiple), overlap,
                             on_tile=on_tile)
