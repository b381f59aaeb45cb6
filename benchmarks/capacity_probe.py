"""Architecture or training mix? Phone-noise specialists of each candidate model (#14).

    python benchmarks/capacity_probe.py [--steps 1500] [--candidates fast quality full16]
    python benchmarks/capacity_probe.py --latency-only [--rounds 7] [--candidates ...]

The shipped model removes correlated noise but barely white noise (noise_response.py), and
training it from scratch with whiter synthetic noise in its mix (`camera_wide`) hardly changed
that. Each candidate here (a `unet` config) trains from scratch on nothing but phone-level
noise: 128² crops of `clean_photos` (kodak24 excluded) with synthetic camera noise at shot
2e-3…1.5e-2 (std ≈ 10-25 /255) whose variance is 50-100 % spatially white; L1, Adam 1e-3
cosine, batch 16, seed 0, the same patches for every candidate. Then, on sidd_mini's 11 SIDD
validation blocks (never trained on): the PSNR gain on white Gaussian noise of std 18 added to
the clean blocks (noise_response.py's protocol), the PSNR on the real noisy blocks beside
oracle NLM, and the exported FP32 file's ms at 720×480 on one thread (as a ratio to `fast`).
A specialist that cannot approach NLM on phone noise when it sees nothing else is limited by
its architecture; one that can says the shipped training mix is what limits.
Writes `benchmarks/results/capacity-probe-<host>.{md,json}`.

`--latency-only` trains nothing: it exports every candidate (FP32 and INT8, 720×480, untrained:
speed depends on the layout) and times them in interleaved rounds, one thread, against the
ladder's budgets (ladder.py: `fast` 15 ms FP32, `default` 60 ms FP32 and 25 ms INT8 on the
reference machine, scaled by the `fast` candidate's time here at the same precision: the `unet`
preset `fast`, ladder.py's yardstick). Writes `capacity-latency-<host>.{md,json}`.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from mobiledenoise.errors import ScriptParser, at_least_one  # noqa: E402

CANDIDATES = {  # unet configs
    "fast": {"width": 16, "depth": 3, "convs_per_level": 1, "entry": "stride2", "skip": "add",
             "clip": True, "up": "depth_to_space"},
    "quality": {"width": 32, "depth": 3, "convs_per_level": 1, "entry": "stride2",
                "skip": "add", "clip": True, "up": "depth_to_space"},
    "full16": {"width": 16, "depth": 3, "convs_per_level": 1, "entry": "full", "skip": "add",
               "clip": True, "up": "depth_to_space"},
    # Within `fast`'s 15 ms? A full-resolution first level of 8, or a full-resolution stem and
    # head (`stem`) around the half-resolution net, narrower below where needed.
    "full8": {"width": 8, "depth": 3, "convs_per_level": 1, "entry": "full", "skip": "add",
              "clip": True, "up": "depth_to_space"},
    "stem4": {"width": 16, "depth": 3, "convs_per_level": 1, "entry": "stride2", "skip": "add",
              "clip": True, "up": "depth_to_space", "stem": 4},
    "stem8_w12": {"width": 12, "depth": 3, "convs_per_level": 1, "entry": "stride2",
                  "skip": "add", "clip": True, "up": "depth_to_space", "stem": 8},
    # Within `default`'s 60 ms FP32 and 25 ms INT8? `default` itself is full16; wider stems.
    **{f"stem{stem}_w{width}": {"width": width, "depth": 3, "convs_per_level": 1,
                                "entry": "stride2", "skip": "add", "clip": True,
                                "up": "depth_to_space", "stem": stem}
       for stem, width in ((16, 24), (24, 24), (16, 32))},
}
PROBED = ("fast", "quality", "full16")  # the candidates trained by default
PATCH, BATCH = 128, 16
SIDD_NLM_ORACLE_DB = 32.65  # vs_classical-vm.md, sidd_val, h = 26


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", choices=list(CANDIDATES),
                        help="default: fast quality full16; with --latency-only, all")
    parser.add_argument("--latency-only", action="store_true",
                        help="time the exported candidates, train nothing")
    parser.add_argument("--rounds", type=at_least_one, default=7,
                        help="--latency-only: interleaved timing rounds")
    parser.add_argument("--steps", type=at_least_one, default=1500)
    parser.add_argument("--bank", type=at_least_one, default=3000,
                        help="noisy/clean patches drawn once")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    return parser.parse_args(argv)


def phone_patches(data: Path, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` (noisy, clean) 128² patches from clean_photos (not kodak24), phone-level noise."""
    from rich.progress import track

    from mobiledenoise.data.imageio import read_image, to_float
    from mobiledenoise.data.synthetic import NoiseLevels, SyntheticNoise
    from mobiledenoise.errors import UserError

    files = sorted(f for f in (data / "clean_photos").rglob("*.png") if "kodak24" not in f.parts)
    if not files:
        raise UserError(f"expected PNG photos under {data / 'clean_photos'}, received none; "
                        "pass --data with the shared data folder")
    rng = np.random.default_rng(seed)
    noise = SyntheticNoise(NoiseLevels(shot_range=(2e-3, 1.5e-2), white_share=(0.5, 1.0)))
    photos = [to_float(read_image(f)) for f in files]
    photos = [p for p in photos if min(p.shape[:2]) >= PATCH]
    noisy, clean = [], []
    for _ in track(range(count), description="phone-noise patches", transient=True):
        photo = photos[rng.integers(len(photos))]
        y, x = (rng.integers(s - PATCH + 1) for s in photo.shape[:2])
        pair = noise(photo[y:y + PATCH, x:x + PATCH], rng)
        noisy.append(pair[0])
        clean.append(pair[1])
    return np.stack(noisy), np.stack(clean)


def train(config: dict, noisy: np.ndarray, clean: np.ndarray, steps: int):
    import keras
    import tensorflow as tf

    from mobiledenoise.models.registry import build_model

    keras.utils.set_random_seed(0)
    model = build_model("unet", config)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps, alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mae")

    def augment(x, y):
        both = tf.concat([x, y], axis=-1)
        both = tf.image.rot90(tf.image.random_flip_left_right(both, seed=0),
                              tf.random.uniform([], 0, 4, tf.int32, seed=0))
        return both[..., :3], both[..., 3:]

    data = (tf.data.Dataset.from_tensor_slices((noisy, clean)).shuffle(len(noisy), seed=0)
            .repeat().map(augment).batch(BATCH).prefetch(2))
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=2)
    return model


def measure(model, blocks) -> dict:
    from noise_response import correlation_response

    from mobiledenoise.evaluate.metrics import psnr

    def denoise(image):
        return np.asarray(model(image[None], training=False)[0])

    white = [r for r in correlation_response(denoise, blocks) if r["std"] == 18.0]
    return {"white_gain_db": white[0]["gain_db"], "phone_like_gain_db": white[1]["gain_db"],
            "sidd_val_db": round(float(np.mean([psnr(denoise(n), c) for n, c in blocks])), 2)}


def fp32_ms(model, folder: Path) -> float:
    from mobiledenoise.deploy.bench import benchmark
    from mobiledenoise.deploy.export import export_model

    path = folder / "probe.tflite"
    export_model(model, path, overwrite=True)
    return round(benchmark(path, threads=1, runs=10).median_ms, 1)


def markdown(result: dict) -> str:
    fast_ms = result["rows"].get("fast", {}).get("fp32_ms")
    lines = [f"# Phone-noise specialists: architecture or training mix? (`{result['host']}`)", "",
             f"`benchmarks/capacity_probe.py --steps {result['steps']}`: each `unet` candidate "
             f"trained from scratch for {result['steps']} steps (batch {BATCH}, {PATCH}² patches "
             f"from {result['bank']} drawn once) on clean_photos with phone-level synthetic "
             "noise (shot 2e-3…1.5e-2, 50-100 % white), nothing else. Scored on sidd_mini's 11 "
             "SIDD validation blocks: gain on white Gaussian noise of std 18 and on blurred "
             "noise (lag-1 0.45), PSNR on the real blocks (noisy 23.12 dB; oracle NLM "
             f"{SIDD_NLM_ORACLE_DB}; shipped `fast` 28.36). FP32 ms: 720×480, one thread, "
             "median of 10, one run on a shared machine: read as ratios.", "",
             "| candidate | params | white std 18 gain | lag-1 0.45 gain | SIDD blocks | FP32 ms | "
             "× fast | train min |", "|---|---|---|---|---|---|---|---|"]
    for name, r in result["rows"].items():
        ratio = f"{r['fp32_ms'] / fast_ms:.1f}" if fast_ms else "–"
        lines.append(f"| {name} | {r['params']:,} | {r['white_gain_db']:+.2f} | "
                     f"{r['phone_like_gain_db']:+.2f} | {r['sidd_val_db']:.2f} | "
                     f"{r['fp32_ms']} | {ratio} | {r['train_s'] / 60:.1f} |")
    return "\n".join(lines) + "\n"


PRECISIONS = ("fp32", "int8")


def time_candidates(names: list[str], rounds: int) -> dict[str, dict]:
    """Per candidate and precision, the median over `rounds` interleaved rounds of its median ms."""
    import statistics
    import tempfile

    from ladder import export_layouts, time_rounds

    from mobiledenoise.models import build_model

    models = {name: build_model("unet", CANDIDATES[name]) for name in names}
    with tempfile.TemporaryDirectory() as folder:
        timed = time_rounds(export_layouts(models, Path(folder)), rounds, runs=10)
    rows = {name: {"params": int(model.count_params())} for name, model in models.items()}
    for (name, precision), values in timed.items():
        rows[name][f"{precision}_round_ms"] = [round(ms, 2) for ms in values]
        rows[name][f"{precision}_ms"] = round(statistics.median(values), 1)
    return rows


def rung(reference_ms: dict) -> str:
    """The cheapest ladder rung whose budgets (ladder.BUDGETS_MS) a layout meets, or `over`."""
    from ladder import BUDGETS_MS

    for name in ("fast", "default"):
        budgets = {p: ms for (model, p), ms in BUDGETS_MS.items() if model == name}
        if all(reference_ms[p] <= ms for p, ms in budgets.items()):
            return name
    return "over"


def latency_markdown(result: dict) -> str:
    from ladder import BUDGETS_MS, REFERENCE_FAST_MS

    fast = result["rows"]["fast"]
    budgets = ", ".join(f"`{m}` {p.upper()} {ms:g} ms" for (m, p), ms in BUDGETS_MS.items())
    lines = [f"# Layouts against the ladder's budgets (`{result['host']}`)", "",
             "`benchmarks/capacity_probe.py --latency-only`: each `unet` candidate exported "
             f"FP32 and INT8 at 720×480, untrained, timed on one thread in {result['rounds']} "
             "interleaved rounds (median of the rounds' medians of 10 runs). On the reference: "
             "the ratio to `fast` (the first `fast`'s layout) at the same precision times its "
             f"time there (FP32 {REFERENCE_FAST_MS['fp32']} ms, INT8 {REFERENCE_FAST_MS['int8']} "
             f"ms). Budgets: {budgets}. Rung: the cheapest rung whose budgets it meets.", "",
             "| candidate | config | params | FP32 ms here | × fast | INT8 ms here | × fast | "
             "on the reference FP32 / INT8 | rung |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in result["rows"].items():
        ratio = {p: row[f"{p}_ms"] / fast[f"{p}_ms"] for p in PRECISIONS}
        reference = {p: ratio[p] * REFERENCE_FAST_MS[p] for p in PRECISIONS}
        changes = {k: v for k, v in CANDIDATES[name].items() if CANDIDATES["fast"].get(k) != v}
        config = ", ".join(f"{k}={v}" for k, v in changes.items()) or "–"
        lines.append(f"| {name} | {config} | {row['params']:,} | {row['fp32_ms']} | "
                     f"{ratio['fp32']:.2f} | {row['int8_ms']} | {ratio['int8']:.2f} | "
                     f"{reference['fp32']:.1f} / {reference['int8']:.1f} ms | {rung(reference)} |")
    return "\n".join(lines) + "\n"


def latency_only(args) -> int:
    from mobiledenoise.fileio import write_json_atomically, write_text_atomically

    names = ["fast", *[n for n in args.candidates or CANDIDATES if n != "fast"]]
    result = {"host": socket.gethostname().split(".")[0], "rounds": args.rounds,
              "rows": time_candidates(names, args.rounds)}
    stem = args.out / f"capacity-latency-{result['host']}"
    write_json_atomically(stem.with_suffix(".json"), result, indent=1)
    write_text_atomically(stem.with_suffix(".md"), latency_markdown(result))
    print(latency_markdown(result))
    print(f"wrote {stem}.md")
    return 0


def main(argv=None) -> int:
    import tempfile

    from noise_response import sidd_blocks

    from mobiledenoise.fileio import write_json_atomically, write_text_atomically

    args = parse_args(argv)
    if args.latency_only:
        return latency_only(args)
    args.candidates = args.candidates or list(PROBED)
    blocks = sidd_blocks(args.data)
    noisy, clean = phone_patches(args.data, args.bank)
    result = {"host": socket.gethostname().split(".")[0], "steps": args.steps,
              "bank": args.bank, "rows": {}}
    stem = args.out / f"capacity-probe-{result['host']}"
    for name in args.candidates:
        began = time.time()
        model = train(CANDIDATES[name], noisy, clean, args.steps)
        row = {"params": int(model.count_params()), "train_s": round(time.time() - began)}
        row.update(measure(model, blocks))
        with tempfile.TemporaryDirectory() as folder:
            row["fp32_ms"] = fp32_ms(model, Path(folder))
        result["rows"][name] = row
        print(name, row, flush=True)
        write_json_atomically(stem.with_suffix(".json"), result, indent=1)
        write_text_atomically(stem.with_suffix(".md"), markdown(result))
    print(f"wrote {stem}.md")
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
