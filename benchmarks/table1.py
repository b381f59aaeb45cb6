"""The challenge's Table 1 re-run here: every finalist trained on the same data and budget (#17).

    python benchmarks/table1.py                      # 15 wall-clock minutes of training each
    python benchmarks/table1.py --budget 3 --models enerzai fast
    python benchmarks/table1.py --budget-steps 20000 # equal steps (the GPU mode)

Each model trains with its team's recipe (`recipes/<team>.yaml`: loss, optimiser, schedule,
patches and its trick: distillation, once-for-all detach, ACNet fusion, synthetic noise,
mixup, multi-stage) on the shipped `fast` model's data: the data keys of `recipes/fast.yaml`
replace the team's (PolyU training scenes, the training scenes' full frames, their clean
frames with synthetic camera noise; a team asking for more synthetic noise keeps its share).
`default` and `fast` are our models, each from its own recipe on that same data; while
`weights.ALIASES` makes `default` the `fast` files, they are one run, reported on two rows.
Distillation teachers are this benchmark's own `megvii` run (trained first, same budget).

Budget: `--budget B` minutes of training per model (wall clock: on a shared machine that is
unequal compute, so the process CPU seconds and the steps reached are recorded too). The
first 20 % of B measures the step rate, which sets the schedule's length (cosine decays end
at B); the trainer stops at B (`train(time_limit_s=...)`). `--budget-steps N`: N steps each.

Per model, in order and resumable (a finished stage is never redone; training continues from
its checkpoint, charged the time up to it): train -> export FP32 and INT8 at 480×720 (the
best validated weights: validation runs where the probe and the run stop, and every 25 steps
for ENERZAi's once-for-all detach; verified against Keras and audited by
`deploy.convert.export`; INT8 calibrated on the training scenes, 99.99th-percentile ranges, as
shipped) -> PSNR/SSIM (Keras FP32, images whole) on
the PolyU validation scenes and on sidd_mini. Then every file's LiteRT ms at 720×480, 1 thread
(median of rounds that time every file once: fair on a busy machine) -> Final Score from PSNR
and FP32 CPU ms. Run folders: `runs/table1/<budget>/<model>/`.
Writes `benchmarks/results/table1-<host>.{md,csv,png}` (see `table1_report.py`).
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

import table1_stages as stages  # noqa: E402
from mobiledenoise.errors import ScriptParser, UserError  # noqa: E402

FINALISTS = ("noahtcv", "megvii", "enerzai", "enerzai_dense", "moma", "mier", "gdalgo")
OURS = ("default", "fast")
MODELS = FINALISTS + OURS
# The teacher first, then the cheapest to train and score: a run cut short still has most rows.
TRAIN_ORDER = ("megvii", "fast", "default", "enerzai", "noahtcv", "enerzai_dense", "moma", "mier",
               "gdalgo")
TEACHER = "megvii"  # recipes/noahtcv.yaml and enerzai_dense.yaml distil from a megvii run
DATA_KEYS = ("data", "val_data", "val_fraction", "train_only", "exclude", "synthetic_from",
             "synthetic_levels", "synthetic_jpeg", "synthetic_zoom", "clean_only_share", "seed")
SHARED = "../shared/data"  # how recipes name the data root
DEFAULT_DATA = REPO.parent / "shared" / "data"
NEEDED = ("polyu_cropped", "polyu_full", "sidd_mini")
RESULTS = REPO / "benchmarks" / "results"
DATA_RECIPE = REPO / "recipes" / "fast.yaml"  # whose data keys every model trains on


def parse_args(argv=None) -> argparse.Namespace:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), metavar="M",
                        help=f"subset of {' '.join(MODELS)}")
    parser.add_argument("--budget", default="15", help="training minutes per model (wall clock)")
    parser.add_argument("--budget-steps", default=None, help="equal steps instead of minutes")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="the shared data folder")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "table1")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--timing-runs", type=int, default=10, help="LiteRT runs per median")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--report-only", action="store_true", help="train nothing: write the "
                        "results of the models already finished, listing the others")
    parser.add_argument("--lanes", default="1", help="train this many models at once, each "
                        "pinned to its own share of the cores; timing runs after, on all of them")
    parser.add_argument("--train-only", action="store_true", help=argparse.SUPPRESS)  # a lane
    args = parser.parse_args(argv)
    check_args(args)
    return args


def check_args(args) -> None:
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        raise UserError(f"expected models among {', '.join(MODELS)}, received "
                        f"{', '.join(unknown)}; fix the name or leave --models out for all nine")
    args.models = sorted(set(args.models), key=TRAIN_ORDER.index)
    if args.budget_steps is not None:
        args.budget_steps = _number(args.budget_steps, "--budget-steps", int)
        args.budget = None
    else:
        args.budget = _number(args.budget, "--budget", float)
    missing = [n for n in NEEDED if not (args.data / n / "noisy").is_dir()]
    if missing:
        raise UserError(f"expected the shared data folder with {', '.join(NEEDED)}, received "
                        f"{args.data} without {', '.join(missing)}; pass --data DIR")
    if args.timing_runs < 1:
        raise UserError(f"expected --timing-runs >= 1, received {args.timing_runs}")
    args.lanes = _number(args.lanes, "--lanes", int, "--lanes 2 (one model per core)")
    cores = len(os.sched_getaffinity(0))
    if args.lanes > cores and not (args.train_only or args.report_only):  # only names the runs
        raise UserError(f"expected --lanes at most this machine's {cores} cores, received "
                        f"{args.lanes}; each lane needs a core of its own")


def _number(text: str, option: str, kind, example: str = "--budget 15 (minutes) or --budget-steps 20000"):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise UserError(f"expected {option} as a positive {'integer' if kind is int else 'number'}"
                        f", received {text!r}; e.g. {example}")
    return value


def budget_name(args) -> str:
    """The runs folder's name: the budget, and the lanes when a model had only part of the cores."""
    budget = f"steps{args.budget_steps}" if args.budget is None else f"{args.budget:g}min"
    return budget if args.lanes == 1 else f"{budget}-{args.lanes}lanes"


def budget_text(args) -> str:
    budget = f"{args.budget_steps} steps" if args.budget is None else f"{args.budget:g} min"
    if args.lanes == 1:
        return budget
    return f"{budget} ({args.lanes} models at a time, each on 1/{args.lanes} of the cores)"


def run_of(model: str) -> str:
    """The run a row comes from: `default` is `fast`'s run while it names the same files."""
    from mobiledenoise.weights import ALIASES

    return ALIASES.get(model, model)


def recipe_of(model: str) -> Path:
    return REPO / "recipes" / f"{run_of(model)}.yaml"


def overrides(model: str, args, runs: Path) -> dict:
    """The team recipe's keys that this benchmark replaces: data (the shipped model's) and the
    teacher (this benchmark's megvii run); bookkeeping so a budget, not a step count, ends it."""
    from mobiledenoise.train.config import load_recipe

    shipped, team = load_recipe(DATA_RECIPE), load_recipe(recipe_of(model))
    values = {k: _rooted(shipped[k], args.data) for k in DATA_KEYS if k in shipped}
    values["synthetic_prob"] = max(team.get("synthetic_prob", 0.0), shipped["synthetic_prob"])
    if team.get("teacher"):
        values["teacher"] = str(runs / TEACHER)
    once_for_all = team.get("ofa_threshold_db") is not None  # detaching needs validations
    values.update(val_every=25 if once_for_all else 10**9, val_crop=256, checkpoint_every=25)
    return values


def _rooted(value, root: Path):
    if isinstance(value, list):
        return [_rooted(v, root) for v in value]
    if isinstance(value, str) and value.startswith(SHARED):
        return str(root) + value[len(SHARED):]
    return value


def check_teacher(args, runs: Path) -> None:
    from mobiledenoise.train.config import load_recipe

    needs = [m for m in args.models if load_recipe(recipe_of(m)).get("teacher")]
    if needs and TEACHER not in args.models and not _load(runs / TEACHER).get("train"):
        raise UserError(f"expected {TEACHER} in --models or already trained in {runs / TEACHER} "
                        f"(the distillation teacher of {', '.join(needs)}), received neither; "
                        f"add {TEACHER} to --models")


def _load(run: Path) -> dict:
    import json

    path = run / "table1.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _save(run: Path, state: dict) -> None:
    from mobiledenoise.fileio import write_json_atomically

    run.mkdir(parents=True, exist_ok=True)
    write_json_atomically(run / "table1.json", state, indent=1)


def train_model(model: str, run: Path, state: dict, args, runs: Path) -> dict:
    """Train within the budget (resuming); the run's steps, wall and CPU seconds."""
    from mobiledenoise.train import config as train_config
    from mobiledenoise.train.budget import probe_steps
    from mobiledenoise.train.trainer import train

    values = overrides(model, args, runs)

    def config(**extra):
        return train_config.resolve(recipe_of(model), {**values, **extra})

    progress = not args.quiet
    if args.budget is None:
        result = train(config(steps=args.budget_steps), run, progress=progress)
    else:
        budget_s = args.budget * 60
        if "plan" not in state:  # the recipe's length until the rate is known
            state["plan"] = probe_steps(config(), run, budget_s, progress=progress)
            _save(run, state)
        result = train(config(steps=state["plan"]), run, progress=progress, time_limit_s=budget_s)
    return {"steps": result.steps, "wall_s": round(result.train_seconds, 1),
            "cpu_s": round(result.cpu_seconds, 1), "recipe_steps": config().steps,
            "val_psnr": result.best_val_psnr, "plan": state.get("plan")}


def _finished(run: Path) -> bool:
    return {"train", "export", "metrics"} <= set(_load(run))


def _claim(run: Path) -> bool:
    """Several runs of this script (or lanes) may share a runs folder, one model each at a time:
    a model another live process holds is left to it. The lock is created atomically."""
    lock = run / "table1.lock"
    run.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if _holder_alive(lock):
                return False
            lock.unlink(missing_ok=True)  # a dead process's lock
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def _holder_alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text())
    except (ValueError, FileNotFoundError):
        return False  # being written right now, or just released: look again
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _waits_for_teacher(model: str, runs: Path) -> bool:
    """A student whose teacher another lane is still training is put back, not started."""
    from mobiledenoise.train.config import load_recipe

    return (bool(load_recipe(recipe_of(model)).get("teacher")) and "train" not in _load(runs / TEACHER)
            and _holder_alive(runs / TEACHER / "table1.lock"))


def run_all(models: list[str], args, runs: Path, sets: dict) -> list[dict]:
    """Every model in train order; a student waits (polling) while its teacher is in training."""
    pending, rows = list(models), []
    while pending:
        ready = [m for m in pending if m == TEACHER or not _waits_for_teacher(m, runs)]
        if not ready:
            time.sleep(10)
            continue
        pending.remove(ready[0])
        row = run_model(ready[0], args, runs, sets)
        if row is not None:
            rows.append(row)
    return rows


def run_lanes(args, argv: list[str], runs: Path) -> None:
    """`--lanes N`: N copies of this script, each pinned to its own cores, share out the models
    through the run folders' locks. Their output goes to `runs/lane-K.log`; the models' own
    progress lines are echoed here."""
    import subprocess

    cores = sorted(os.sched_getaffinity(0))
    shares = [cores[k::args.lanes] for k in range(args.lanes)]
    runs.mkdir(parents=True, exist_ok=True)
    lanes = []
    for k, share in enumerate(shares):
        log = runs / f"lane-{k + 1}.log"
        print(f"lane {k + 1}: cores {share}, log {log}", flush=True)
        process = subprocess.Popen(
            [sys.executable, __file__, *argv, "--train-only"], stdout=log.open("w"),
            stderr=subprocess.STDOUT, preexec_fn=lambda share=share: os.sched_setaffinity(0, share))
        lanes.append((process, log, log.open(errors="replace"), [""]))
    while any(p.poll() is None for p, *_ in lanes):
        time.sleep(5)
        _echo(lanes)
    _echo(lanes)
    failed = [str(log) for p, log, *_ in lanes if p.returncode != 0]
    if failed:
        raise UserError(f"expected every lane to finish, received failures in {', '.join(failed)}; "
                        "read the log, then run the same command again to resume")


def _echo(lanes) -> None:
    """Print the models' progress lines written since the last call: each log is read once,
    through its open reader, and an unfinished last line waits in `partial`."""
    for k, (_, _, reader, partial) in enumerate(lanes):
        *complete, partial[0] = (partial[0] + reader.read()).split("\n")
        for line in complete:
            if line.startswith("["):
                print(f"lane {k + 1} {line}", flush=True)


def run_model(model: str, args, runs: Path, sets: dict) -> dict | None:
    run = runs / run_of(model)
    if not _finished(run) and not _claim(run):
        print(f"[{model}] another process is on it: skipped", flush=True)
        return None
    state = _load(run)
    began = time.time()
    if "train" not in state:
        print(f"[{model}] training ({budget_name(args)}) in {run}", flush=True)
        state["train"] = train_model(model, run, state, args, runs)
        _save(run, state)
    if "export" not in state:
        print(f"[{model}] exporting FP32 and INT8", flush=True)
        state["export"] = {p: _export_summary(stages.export_model(run, p, args.data, not args.quiet))
                           for p in ("fp32", "int8")}
        _save(run, state)
    if "metrics" not in state:
        print(f"[{model}] measuring PolyU validation and sidd_mini", flush=True)
        state["metrics"] = stages.measure(run, sets, not args.quiet)
        _save(run, state)
    row = {"model": model, "run": run_of(model), **state["train"], **state["metrics"],
           "exports": state["export"], "command": rebuild_command(model, args)}
    print(f"[{model}] {row['steps']} steps ({row['wall_s']:.0f} s, {row['cpu_s']:.0f} CPU s), PSNR "
          f"{row['psnr']:.2f} / sidd {row['psnr_sidd']:.2f} dB ({time.time() - began:.0f} s)", flush=True)
    return row


def _export_summary(sidecar: dict) -> dict:
    keys = ("path", "tflite_bytes", "params", "macs", "gpu_delegate_compatible")
    return {**{k: sidecar[k] for k in keys}, "verification": sidecar["verification"]}


def rebuild_command(model: str, args) -> str:
    """The command that rebuilds `model`'s run folder (and its teacher's, which it needs)."""
    from mobiledenoise.train.config import load_recipe

    chosen = f"--budget-steps {args.budget_steps}" if args.budget is None else f"--budget {args.budget:g}"
    chosen += "" if args.lanes == 1 else f" --lanes {args.lanes}"
    teacher = f"{TEACHER} " if load_recipe(recipe_of(model)).get("teacher") else ""
    data = "" if args.data == DEFAULT_DATA else f" --data {args.data}"
    return f"python benchmarks/table1.py --models {teacher}{model} {chosen}{data}"


def results_stem(args, host: str) -> Path:
    """`table1-<host>` for all nine models; a subset adds its names, so it never replaces it."""
    chosen = [m for m in MODELS if m in args.models]
    subset = "" if chosen == list(MODELS) else "-" + "-".join(chosen)
    return args.out / f"table1-{host}{subset}"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    runs = args.runs / budget_name(args)
    check_teacher(args, runs)
    if args.lanes > 1 and not (args.report_only or args.train_only):
        run_lanes(args, argv, runs)
        args.report_only = True  # the lanes trained; time and report on the now idle cores
    done = [m for m in args.models if not args.report_only or _finished(runs / run_of(m))]
    if not done:
        raise UserError(f"expected finished models in {runs} for --report-only, received none; "
                        "run without --report-only first")
    sets = stages.eval_sets(args.data)
    noisy = _load(runs).get("input") or stages.input_psnr(sets)
    _save(runs, {**_load(runs), "input": noisy})
    rows = run_all(done, args, runs, sets)
    done = [row["model"] for row in rows]
    if args.train_only:
        return 0
    if not rows:
        print("no model finished here: the others are still running")
        return 0
    rows.sort(key=lambda row: MODELS.index(row["model"]))
    timing = _load(runs).get("timing", {})
    for rounds in stages.time_exports(rows, args.timing_runs, timing):  # resumable by rounds
        _save(runs, {**_load(runs), "timing": rounds})
    stages.add_timing(rows, timing)
    from table1_report import write_results

    host = socket.gethostname().split(".")[0]
    setup = {"budget": budget_text(args), "host": host, "data": str(args.data),
             "input_psnr": noisy["polyu"], "input_psnr_sidd": noisy["sidd"],
             "polyu_pairs": len(sets["polyu"]), "sidd_pairs": len(sets["sidd"]),
             "timing_runs": args.timing_runs,
             "unfinished": [(m, rebuild_command(m, args)) for m in args.models if m not in done]}
    for path in write_results(rows, setup, results_stem(args, host)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    from mobiledenoise.errors import run_script

    run_script(main)
