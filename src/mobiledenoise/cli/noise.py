"""`mobiledenoise noise IMAGE [--json]`: how noisy a photo is (`data.noise_level`).

Prints the per-channel noise std in 8-bit units, their mean (sigma) and the noise level
function (std per intensity bin). `--json` prints `{"std": [r, g, b], "sigma": s,
"correlation": [...], "nlf": {"edges": [...], "std": [[...] x 3], "counts": [...]}}`, with
null where a bin has too few flat samples. Reads only; writes nothing. A non-image, an
unreadable file or an image under 32×32 is refused with one line and exit code 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer


def render(name: str, estimate) -> str:
    """Human-readable report: std per channel, then the NLF as a small table."""
    r, g, b = estimate.std
    lines = [f"{name}: noise std R {r:.2f}  G {g:.2f}  B {b:.2f}  "
             f"(sigma {estimate.sigma:.2f}, 8-bit units)",
             "lag-1 noise correlation R {:.2f}  G {:.2f}  B {:.2f}".format(*estimate.correlation)]
    if estimate.sigma < 1.0:
        lines.append("nearly clean: noise below 1 level of 255")
    edges, stds = estimate.nlf.edges, estimate.nlf.std
    rows = [k for k in range(len(edges) - 1) if any(not math.isnan(ch[k]) for ch in stds)]
    if rows:
        lines += ["noise level function (std by intensity; - = too few flat areas):",
                  "  intensity      R      G      B"]
        for k in rows:
            cells = ["     -" if math.isnan(ch[k]) else f"{ch[k]:6.2f}" for ch in stds]
            lines.append(f"  {edges[k]:5.0f}-{edges[k + 1] - 1:<4.0f}" + " ".join(cells))
    else:
        lines.append("noise level function: too few flat areas for one")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("noise")
    def noise_command(
        image: Path = typer.Argument(..., help="An sRGB photo (PNG, JPEG, TIFF; 8 or 16 bit)."),
        as_json: bool = typer.Option(False, "--json", help="Print the estimate as JSON."),
    ) -> None:
        """Estimate a photo's noise: per-channel std (8-bit units) and noise level function."""
        from mobiledenoise.data.noise_level import estimate_noise

        from mobiledenoise.data.imageio import read_image

        estimate = estimate_noise(read_image(image))  # bad files: read_image's one-line errors
        if as_json:
            typer.echo(json.dumps(estimate.to_dict()))
        else:
            typer.echo(render(image.name, estimate))
