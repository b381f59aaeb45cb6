"""A training run's quality along the way, on every validation set at once (#14).

    mobiledenoise train RECIPE --out RUN --set keep_snapshots=true   # one file per checkpoint
    python benchmarks/snapshots.py RUN [RUN ...] [--kodak 8] [--name ablation] [--passes 2]

Scores each kept snapshot (`RUN/snapshots/step-N.weights.h5`) and the run's `init_from`
starting point (that run's final weights, which a fine-tune starts from) in Keras FP32,
images whole, on:
- `polyu_val`: the PolyU validation scenes (held out by every recipe, seed 0);
- `sidd_val`: sidd_mini's 11 SIDD validation blocks (`nafnetpd_val_*`, heavy phone noise);
- `sidd_other`: sidd_mini's other 30 crops;
- `kodak_clean`: the first N kodak24 photos as clean input, scored against themselves (do no
  harm).
`--passes 2` runs each model twice in a row on its own output (what `denoise --passes auto`
does to a heavily noisy photo; a run trained with `unrolled_passes: 2` is made for it).
sidd_mini and kodak24 are never trained on; this script only watches them. A run is judged
against its control on all four sets together, never on one.
Writes `benchmarks/results/snapshots-<name>-<host>.{md,json}` (name: the runs' folder names).
A rerun rewrites the tables and keeps the notes written under them in the `.md`.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from mobiledenoise.errors import ScriptParser, at_least_one  # noqa: E402

SETS = ("polyu_val", "sidd_val", "sidd_other", "kodak_clean")
NOTES_MARK = "<!-- notes below this line are kept when snapshots.py rewrites the tables -->"


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders with kept snapshots")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--kodak", type=int, default=8, help="kodak24 photos fed clean")
    parser.add_argument("--every", type=at_least_one, default=1,
                        help="score only snapshots whose step is a multiple of this")
    parser.add_argument("--passes", type=at_least_one, default=1,
                        help="run the model this many times in a row on its own output")
    parser.add_argument("--name", default=None, help="results file name (default: the runs')")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    return parser.parse_args(argv)


def eval_sets(data: Path, kodak: int) -> dict:
    from mobiledenoise.data.pairs import Pair, find_pairs
    from mobiledenoise.evaluate.runner import select_pairs

    sidd = find_pairs(data / "sidd_mini")
    photos = sorted((data / "clean_photos" / "kodak24").glob("*.png"))[:kodak]
    return {"polyu_val": select_pairs(data / "polyu_cropped", val_only=True),
            "sidd_val": [p for p in sidd if "nafnetpd_val" in p.name],
            "sidd_other": [p for p in sidd if "nafnetpd_val" not in p.name],
            "kodak_clean": [Pair(f"kodak/{f.stem}", f, f) for f in photos]}


def checkpoints(run: Path, every: int = 1) -> list[tuple[str, Path]]:
    """(label, weights file): the starting point, then every snapshot whose step is a multiple
    of `every`, in step order."""
    from mobiledenoise.errors import UserError
    from mobiledenoise.train.config import load_recipe
    from mobiledenoise.train.runs import RunFolder

    folder = RunFolder(run)
    steps = folder.snapshot_steps()
    if not steps:
        raise UserError(f"expected snapshots in {folder.snapshots}, received none; train with "
                        "--set keep_snapshots=true")
    found = []
    start = load_recipe(folder.config).get("init_from")
    if start and RunFolder(start).last_weights.is_file():  # a fine-tune starts from these
        found.append((f"start ({start})", RunFolder(start).last_weights))
    return found + [(f"step {s}", folder.snapshot(s)) for s in steps if s % every == 0]


def score_run(run: Path, sets: dict, every: int = 1, passes: int = 1) -> list[dict]:
    from mobiledenoise.deploy.keras_denoiser import KerasDenoiser
    from mobiledenoise.evaluate.runner import evaluate_pairs

    denoiser = KerasDenoiser(str(run))

    def denoise(image):
        for _ in range(passes):
            image = denoiser.denoise(image)
        return image

    rows = []
    for label, weights in checkpoints(run, every):
        denoiser.model.load_weights(weights)
        row = {"run": run.name, "weights": label + (f", {passes} passes" if passes > 1 else "")}
        row.update({name: round(evaluate_pairs(denoise, pairs, progress=False).psnr, 3)
                    for name, pairs in sets.items()})
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        rows.append(row)
    return rows


def markdown(rows: list[dict], setup: dict) -> str:
    lines = [f"# Run snapshots on `{setup['host']}`: PSNR (dB) on every validation set", "",
             "Keras FP32, images whole (`benchmarks/snapshots.py`). kodak_clean: the output "
             f"against the clean input ({setup['kodak']} photos). Noisy input: "
             + ", ".join(f"{k} {v:.2f}" for k, v in setup["input"].items() if v is not None) + ".",
             "", "| run | weights | " + " | ".join(SETS) + " |",
             "|---|---|" + "---|" * len(SETS)]
    lines += [f"| {r['run']} | {r['weights']} | " + " | ".join(f"{r[s]:.2f}" for s in SETS) + " |"
              for r in rows]
    return "\n".join(lines) + "\n"


def kept_notes(old: str) -> str:
    """What a person wrote under the tables of an earlier results file: everything after
    NOTES_MARK, or in a file written before the mark existed, everything after the first
    table."""
    if NOTES_MARK in old:
        return old.split(NOTES_MARK, 1)[1].lstrip("\n")
    lines = old.splitlines()
    first_row = next((i for i, line in enumerate(lines) if line.startswith("|")), len(lines))
    after = next((i for i in range(first_row, len(lines)) if not lines[i].startswith("|")),
                 len(lines))
    return "\n".join(lines[after:]).strip("\n")


def with_notes(tables: str, old: str | None) -> str:
    notes = kept_notes(old) if old else ""
    return tables + "\n" + NOTES_MARK + "\n" + (f"\n{notes.rstrip()}\n" if notes else "")


def main(argv=None) -> int:
    from mobiledenoise.errors import UserError
    from mobiledenoise.evaluate.runner import evaluate_pairs
    from mobiledenoise.fileio import write_json_atomically, write_text_atomically

    args = parse_args(argv)
    for run in args.runs:
        if not (run / "model.json").is_file():
            raise UserError(f"expected a run folder, received {run}; pass what `train --out` wrote")
    sets = eval_sets(args.data, args.kodak)
    setup = {"host": socket.gethostname().split(".")[0], "kodak": args.kodak,
             "input": {k: (None if k == "kodak_clean" else
                           round(evaluate_pairs(lambda x: x, v, progress=False).psnr, 3))
                       for k, v in sets.items()}}
    rows = [row for run in args.runs for row in score_run(run, sets, args.every, args.passes)]
    name = args.name or "-".join(run.name for run in args.runs)
    stem = args.out / f"snapshots-{name}-{setup['host']}"
    write_json_atomically(stem.with_suffix(".json"), {"setup": setup, "rows": rows}, indent=1)
    report = stem.with_suffix(".md")
    old = report.read_text() if report.is_file() else None
    write_text_atomically(report, with_notes(markdown(rows, setup), old))
    print(f"wrote {stem}.md")
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
