"""`export MODEL.pt2`: a small torch.nn U-Net saved with torch.export goes through ONNX to a
.tflite verified against torch itself; a program with two inputs is refused in one line.
Skipped where PyTorch is not installed (`pip install 'mobiledenoise[torch]'`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from mobiledenoise.cli import app

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
nn = torch.nn


class TinyUNet(nn.Module):
    """Conv, stride-2 conv, PixelShuffle up, skip concat, residual, clamp: a denoiser's shape."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.enc = nn.Conv2d(3, width, 3, padding=1)
        self.down = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.up = nn.Sequential(nn.Conv2d(2 * width, 4 * width, 1), nn.PixelShuffle(2))
        self.dec = nn.Conv2d(2 * width, 3, 3, padding=1)

    def forward(self, x):
        e = torch.relu(self.enc(x))
        d = nn.functional.leaky_relu(self.down(e), 0.1)
        return torch.clamp(x + self.dec(torch.cat([self.up(d), e], dim=1)), 0.0, 1.0)


class TwoInputs(nn.Module):
    def forward(self, x, sigma):
        return x - sigma


@pytest.mark.slow
def test_export_pt2_is_verified_against_torch(tmp_path):
    torch.manual_seed(0)
    program = torch.export.export(TinyUNet().eval(), (torch.rand(1, 3, 32, 48),))
    torch.export.save(program, tmp_path / "unet.pt2")
    out = tmp_path / "m.tflite"
    result = CliRunner().invoke(app, ["export", str(tmp_path / "unet.pt2"), "--size", "32x48",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "note: litert-torch is not used: litert-torch 0.10.0 needs xdsl 0.28" in result.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["reference_runtime"] == "torch" and sidecar["source"].endswith("unet.pt2")
    assert sidecar["verification"]["max_abs_diff"] <= 1e-4 and sidecar["gpu_delegate_compatible"]
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    image = np.random.default_rng(2).random((32, 48, 3), dtype=np.float32)
    with torch.no_grad():
        expected = program.module()(torch.from_numpy(image.transpose(2, 0, 1)[None].copy()))
    got = TFLiteDenoiser(out).run_patch(image)
    np.testing.assert_allclose(got, expected.numpy()[0].transpose(1, 2, 0), atol=1e-4)


def test_pt2_with_two_inputs_is_refused(tmp_path):
    example = (torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    torch.export.save(torch.export.export(TwoInputs(), example), tmp_path / "two.pt2")
    out = tmp_path / "m.tflite"
    result = CliRunner().invoke(app, ["export", str(tmp_path / "two.pt2"), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == ("Error: expected a program with one image input, received 2 "
                                     "inputs (x, sigma); export the denoiser alone")
    assert not out.exists()
