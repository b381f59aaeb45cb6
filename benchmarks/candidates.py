"""Candidate model files on every `vs_classical.py` set, models only: a 5-minute screen (#14).

    python benchmarks/candidates.py --model NAME=FILE [--model ...] [--sets a,b] [--name NAME]

The same sets, images and synthetic noise as `benchmarks/vs_classical.py` (its `load_set`),
without the classical rivals, timing or BM3D, so a training run's exported file can be compared
with the shipped one in minutes before the full benchmark is run for a shipping decision. Each
model is scored in one pass and as `denoise --passes auto` runs it (`NAME_auto`), with the
second-pass thresholds of `default` (`deploy/adaptive.py`); the shipped thresholds were measured
for the shipped file, so `_auto` of a candidate is indicative.
The sets are validation only: screen on all of them together, never choose on one.

Writes candidates-<name>-<host>.{md,json} to --out (default benchmarks/results).
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
from mobiledenoise.errors import ScriptParser, run_script


def parse_args(argv=None):
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=FILE",
                        required=True)
    parser.add_argument("--sets", default=None, help="comma-separated (default: all)")
    parser.add_argument("--name", default="screen", help="results file name")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    import vs_classical as vc

    from mobiledenoise.data.imageio import from_float
    from mobiledenoise.deploy.adaptive import THRESHOLDS, NoiseAdaptiveDenoiser
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.evaluate.metrics import psnr

    args = parse_args(argv)
    files = vc.parse_models(args.model)  # one-line errors for a bad NAME=FILE
    sets = vc.parse_sets(args.sets)
    vc.check_data(args.data_root, sets)
    denoisers = {}
    for name, path in files.items():
        once = TFLiteDenoiser(path, threads=2)
        denoisers[name] = once
        denoisers[f"{name}_auto"] = NoiseAdaptiveDenoiser(once, *THRESHOLDS["default"])
    table = {}
    for spec in sets:
        images = vc.load_set(spec, args.data_root, None)
        table[spec.name] = {name: float(np.mean([psnr(from_float(d.denoise(noisy, 512, 32)), c)
                                                 for _, noisy, c in images]))
                            for name, d in denoisers.items()}
        print(spec.name, " ".join(f"{k}={v:.2f}" for k, v in table[spec.name].items()),
              flush=True)
    stem = args.out / f"candidates-{args.name}-{socket.gethostname().split('.')[0]}"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(
        {"models": {k: str(v) for k, v in files.items()}, "psnr": table}, indent=1))
    names = list(denoisers)
    lines = ["# Candidates on the vs_classical sets, models only (`benchmarks/candidates.py`)",
             "", "PSNR (dB); `_auto`: with `default`'s second-pass thresholds. Files: "
             + ", ".join(f"{k} = `{v}`" for k, v in files.items()), "",
             "| set | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {s} | " + " | ".join(f"{row[n]:.2f}" for n in names) + " |"
              for s, row in table.items()]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md")
    return 0


if __name__ == "__main__":
    run_script(main)
