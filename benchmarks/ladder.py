"""The shipped model ladder against its speed budgets: 720×480, one thread, every file (#14).

    python benchmarks/ladder.py [--rounds 5] [--runs 20] [--out benchmarks/results]

Times every shipped `weights/<name>_<precision>.tflite` (`mobiledenoise bench`'s
`deploy.bench.benchmark`: LiteRT + XNNPACK, one thread, a 480×720 patch) in `--rounds`
interleaved rounds, each timing every file once, and reports the median of the rounds'
medians: on a shared machine a slow spell then hits every file alike.

The budgets (issue 14) are milliseconds on the reference machine: `fast` ≤ 15 ms FP32,
`default` ≤ 60 ms FP32 and ≤ 25 ms INT8. A machine of another speed class meets them as
ratios against a yardstick timed in the same rounds: the `unet` preset `fast` layout (the first
shipped `fast`, which `REFERENCE_FAST_MS` was measured on with `bench`), exported here from an
untrained build (speed depends on the layout, not the weights). Each budget is scaled by this
machine's time for the yardstick OF THE SAME PRECISION over the reference machine's. Per precision,
because int8 and float kernels scale differently across CPUs: on a CPU without AVX2 (this VM)
XNNPACK's int8 convs are slower than its float ones, where the reference runs INT8 1.5× faster.
Writes `benchmarks/results/ladder-<host>.{md,json}`.
"""

from __future__ import annotations

import socket
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from mobiledenoise.errors import ScriptParser, at_least_one  # noqa: E402

BUDGETS_MS = {("fast", "fp32"): 15.0, ("default", "fp32"): 60.0, ("default", "int8"): 25.0}
REFERENCE_FAST_MS = {"fp32": 10.7, "int8": 7.1}  # the yardstick on the reference (model card)
YARDSTICK = "fast layout"  # the `unet` preset `fast`: the first shipped `fast`


def parse_args(argv=None):
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=at_least_one, default=5)
    parser.add_argument("--runs", type=at_least_one, default=20, help="timed runs per round")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    return parser.parse_args(argv)


def shipped_files() -> dict[tuple[str, str], Path]:
    from mobiledenoise.weights import ALIASES, SHIPPED, shipped_model_path

    return {(name, precision): shipped_model_path(name, precision)
            for name in SHIPPED if name not in ALIASES for precision in ("fp32", "int8")}


def export_layouts(models: dict, folder: Path) -> dict[tuple[str, str], Path]:
    """Each (untrained) model exported FP32 and INT8 into `folder`, keyed (name, precision):
    speed depends on the layout, not the weights, so random images calibrate the INT8 file."""
    import numpy as np

    from mobiledenoise.deploy.export import export_model

    calibration = [np.random.default_rng(i).random((480, 720, 3), dtype=np.float32)
                   for i in range(2)]
    files = {}
    for name, model in models.items():
        for precision in ("fp32", "int8"):
            files[name, precision] = folder / f"{name}_{precision}.tflite"
            export_model(model, files[name, precision],
                         calibration if precision == "int8" else None, precision)
    return files


def yardstick_files(folder: Path) -> dict[tuple[str, str], Path]:
    """The yardstick layout exported FP32 and INT8 into `folder` (untrained weights)."""
    from mobiledenoise.models import build_model

    return export_layouts({YARDSTICK: build_model("unet", preset="fast")}, folder)


def time_rounds(files: dict, rounds: int, runs: int) -> dict[tuple[str, str], list[float]]:
    """Each file's median ms in every round; every round times every file once."""
    from rich.progress import track

    from mobiledenoise.deploy.bench import benchmark
    from mobiledenoise.deploy.runtime import TFLiteDenoiser

    runners = {key: TFLiteDenoiser(path, threads=1) for key, path in files.items()}
    medians = {key: [] for key in files}
    for _ in track(range(rounds), description="timing rounds"):
        for key, runner in runners.items():
            medians[key].append(benchmark(runner, runs=runs, warmup=3).median_ms)
    return medians


def time_files(files: dict, rounds: int, runs: int) -> dict:
    """Median over rounds of each file's median ms (`time_rounds`)."""
    return {key: statistics.median(values)
            for key, values in time_rounds(files, rounds, runs).items()}


def rows(ms: dict) -> list[dict]:
    """One row per file: its time, its ratio to the yardstick at the same precision, and that
    ratio applied to the reference machine (`reference_ms`), against the budget there."""
    out = []
    for (name, precision), value in ms.items():
        ratio = value / ms[(YARDSTICK, precision)]
        reference = ratio * REFERENCE_FAST_MS[precision]
        budget = BUDGETS_MS.get((name, precision))
        out.append({"model": name, "precision": precision, "ms": round(value, 2),
                    "x_yardstick": round(ratio, 2), "reference_ms": round(reference, 1),
                    "budget_ms": budget,
                    "within": None if budget is None else reference <= budget})
    return out


def markdown(table: list[dict], host: str, rounds: int, runs: int) -> str:
    reference = ", ".join(f"{p.upper()} {ms:g} ms" for p, ms in REFERENCE_FAST_MS.items())
    lines = [f"# The shipped ladder against its budgets on `{host}`", "",
             f"`benchmarks/ladder.py`: 720×480, one thread, LiteRT + XNNPACK; median of {rounds} "
             f"interleaved rounds of {runs} timed runs each. \"On the reference\" is the ratio to "
             f"the yardstick ({YARDSTICK}: the `unet` preset `fast`, the first shipped `fast`, "
             f"untrained) at the same precision times its time there ({reference}).",
             "", "| model | precision | ms here | × yardstick | on the reference | budget "
             "| within |", "|---|---|---|---|---|---|---|"]
    for r in table:
        budget = "–" if r["budget_ms"] is None else f"{r['budget_ms']:g} ms"
        within = "–" if r["within"] is None else ("yes" if r["within"] else "**no**")
        lines.append(f"| {r['model']} | {r['precision']} | {r['ms']:.1f} | {r['x_yardstick']:.2f} "
                     f"| {r['reference_ms']:.1f} ms | {budget} | {within} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import tempfile

    from mobiledenoise.fileio import write_json_atomically, write_text_atomically

    args = parse_args(argv)
    host = socket.gethostname().split(".")[0]
    with tempfile.TemporaryDirectory() as folder:
        files = {**yardstick_files(Path(folder)), **shipped_files()}
        table = rows(time_files(files, args.rounds, args.runs))
    text = markdown(table, host, args.rounds, args.runs)
    stem = args.out / f"ladder-{host}"
    write_json_atomically(stem.with_suffix(".json"), {"host": host, "rounds": args.rounds,
                                                      "runs": args.runs, "rows": table}, indent=1)
    write_text_atomically(stem.with_suffix(".md"), text)
    print(text)
    print(f"wrote {stem}.md")
    return 0 if all(r["within"] is not False for r in table) else 1


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
