"""benchmarks/table1.py: bad input, the recipe overrides, the results files, and (slow) a
whole run of two models on a tiny generated data folder."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_pair_folder

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import table1  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)
import table1_report  # noqa: E402


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / "table1.py"), *args],
                          capture_output=True, text=True, timeout=600)


def _data_root(root: Path, size=(160, 160)) -> Path:
    """The three folders the benchmark reads, as small generated pairs."""
    for name in table1.NEEDED:
        make_pair_folder(root / name, n_scenes=5, per_scene=1, size=size)
    return root


@pytest.mark.parametrize("args,says", [
    (["--models", "noahtcv", "resnet"], "received resnet"),
    (["--budget", "0"], "--budget as a positive number"),
    (["--budget", "-3"], "--budget as a positive number"),
    (["--budget", "soon"], "--budget as a positive number"),
    (["--budget", "inf"], "--budget as a positive number"),
    (["--budget-steps", "2.5"], "--budget-steps as a positive integer"),
    (["--budget-steps", "0"], "--budget-steps as a positive integer"),
    (["--data", "/nonexistent/shared-data"], "expected the shared data folder"),
    (["--lanes", "0"], "--lanes as a positive integer"),
    (["--lanes", "two"], "--lanes as a positive integer"),
    (["--lanes", "4096"], "--lanes at most this machine's"),
    (["--frobnicate"], "unrecognized arguments"),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, args, says):
    from mobiledenoise.errors import UserError

    with pytest.raises(UserError, match=says):
        table1.main([*args, "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")])
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_bad_input_prints_one_error_line_and_exits_2(tmp_path):
    result = _run("--budget", "soon", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and not (tmp_path / "out").exists()
    assert result.stderr.strip().splitlines() == [
        "Error: expected --budget as a positive number, received 'soon'; e.g. --budget 15 "
        "(minutes) or --budget-steps 20000"]


def test_a_distilled_model_without_its_teacher_is_refused(tmp_path):
    from mobiledenoise.errors import UserError

    with pytest.raises(UserError, match="add megvii to --models"):
        table1.main(["--models", "noahtcv", "--budget", "1", "--data",
                     str(_data_root(tmp_path / "d")), "--out", str(tmp_path / "out"), "--runs",
                     str(tmp_path / "runs")])
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_report_only_refuses_when_nothing_has_finished(tmp_path):
    from mobiledenoise.errors import UserError

    with pytest.raises(UserError, match="expected finished models"):
        table1.main(["--report-only", "--data", str(_data_root(tmp_path / "d")),
                     "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")])
    assert not (tmp_path / "out").exists()


def test_a_student_waits_while_a_live_process_trains_its_teacher(tmp_path):
    runs, teacher = tmp_path / "runs", tmp_path / "runs" / table1.TEACHER
    teacher.mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (teacher / "table1.lock").write_text(str(live.pid))
        assert table1._waits_for_teacher("noahtcv", runs)
        assert not table1._waits_for_teacher("enerzai", runs)  # no teacher in its recipe
        assert not table1._claim(teacher)  # the live holder keeps it
        (teacher / "table1.json").write_text('{"train": {"steps": 3}}')
        assert not table1._waits_for_teacher("noahtcv", runs)  # trained: the student may start
    finally:
        live.kill()
        live.wait()
    (teacher / "table1.json").unlink()
    assert not table1._waits_for_teacher("noahtcv", runs)  # its holder died: never wait forever
    assert table1._claim(teacher) and int((teacher / "table1.lock").read_text()) == os.getpid()


def test_every_model_gets_the_shipped_data_and_keeps_its_trick(tmp_path):
    from mobiledenoise.train.config import load_recipe, resolve

    args = table1.parse_args(["--data", str(_data_root(tmp_path / "d"))])
    shipped = load_recipe(table1.DATA_RECIPE)
    for model in table1.MODELS:
        config = resolve(table1.recipe_of(model), table1.overrides(model, args, tmp_path / "runs"))
        team = load_recipe(table1.recipe_of(model))
        assert config.data == [str(tmp_path / "d" / "polyu_cropped")]
        assert config.synthetic_from == [str(tmp_path / "d" / "polyu_full" / "clean")]
        assert config.exclude == shipped["exclude"] and config.seed == shipped["seed"]
        assert config.model == team["model"] and config.loss == team["loss"]
        assert config.synthetic_prob == max(team.get("synthetic_prob", 0), shipped["synthetic_prob"])
        assert config.teacher == (str(tmp_path / "runs" / "megvii") if team.get("teacher") else None)
        assert (config.mixup_prob, config.ofa_threshold_db) == (
            team.get("mixup_prob", 0.0), team.get("ofa_threshold_db"))
    assert table1.overrides("moma", args, tmp_path)["synthetic_prob"] == 0.5  # MOMA's trick
    assert args.models[0] == "megvii"  # the teacher trains before its students


def test_default_shares_the_fast_run_while_it_is_an_alias(monkeypatch):
    from mobiledenoise import weights

    assert table1.run_of("default") == weights.ALIASES.get("default", "default")
    monkeypatch.setattr(weights, "ALIASES", {})
    assert table1.run_of("default") == "default"


def _row(model: str, psnr: float, ms: float) -> dict:
    from mobiledenoise.evaluate.metrics import final_score

    export = {"tflite_bytes": 2048, "params": 10, "macs": 2e9, "gpu_delegate_compatible": True,
              "verification": {"psnr_drop_db": 0.01}, "path": "x.tflite"}
    return {"model": model, "run": model, "steps": 7, "wall_s": 60.0, "cpu_s": 90.0,
            "recipe_steps": 100, "psnr": psnr, "ssim": 0.9, "psnr_sidd": psnr - 6,
            "ssim_sidd": 0.8, "cpu_ms": ms, "cpu_ms_int8": ms / 2, "cpu_ms_min": ms * 0.9,
            "cpu_ms_int8_min": ms / 3, "score": final_score(psnr, ms),
            "exports": {"fp32": export, "int8": export}, "command": f"rebuild {model}"}


def test_results_files_rank_recompute_and_compare_with_the_report(tmp_path):
    from mobiledenoise.evaluate.metrics import final_score
    from mobiledenoise.models.zoo_reference import TABLE1

    # the finalists measured exactly as the report: both Spearman correlations are 1
    rows = [_row(m, TABLE1[m].psnr, TABLE1[m].mali_ms) for m in table1.FINALISTS]
    rows += [_row("default", 37.0, 10.0), _row("fast", 37.0, 10.0)]
    setup = {"budget": "1min", "host": "h", "input_psnr": 35.9, "input_psnr_sidd": 29.0,
             "polyu_pairs": 20, "sidd_pairs": 41, "timing_runs": 3}
    paths = table1_report.write_results(rows, setup, tmp_path / "table1-h")
    assert [p.name for p in paths] == ["table1-h.csv", "table1-h.md", "table1-h.png"]
    with paths[0].open() as f:
        flat = list(csv.DictReader(f))
    assert len(flat) == 9 and set(table1_report.COLUMNS) <= set(flat[0])
    for r in flat:
        assert math.isclose(float(r["score"]), final_score(float(r["psnr"]), float(r["cpu_ms"])),
                            rel_tol=1e-5)
    by_model = {r["model"]: r for r in flat}
    assert by_model["default"]["rank"] == by_model["fast"]["rank"]  # one model, one rank
    assert by_model["noahtcv"]["report_rank"] == "1" and by_model["default"]["report_psnr"] == ""
    score_order = sorted(flat, key=lambda r: -float(r["score"]))
    assert [int(r["rank"]) for r in score_order] == sorted(int(r["rank"]) for r in flat)
    md = paths[1].read_text()
    assert "PSNR 1.00, Final Score 1.00" in md and "rebuild gdalgo" in md
    assert "None: every finalist keeps its report rank." in md
    assert "our `default` has the best Final Score: yes." in md
    assert paths[2].stat().st_size > 10_000


def test_a_disagreement_gets_a_paragraph_with_its_reasons(tmp_path):
    from mobiledenoise.models.zoo_reference import TABLE1

    rows = [_row(m, TABLE1[m].psnr, TABLE1[m].mali_ms) for m in table1.FINALISTS]
    rows[1] = _row("megvii", 35.0, 400.0)  # under-trained and slow on this CPU
    flat = table1_report.table_rows(rows)
    text = " ".join(table1_report.disagreements(flat, rows, {"input_psnr": 35.9}))
    assert text.startswith("**megvii**") and "Budget: 7 steps" in text
    assert "barely off the identity" in text and "CPU vs Mali" in text
    assert table1_report.spearman(flat)["psnr"] < 1.0


@pytest.mark.slow
def test_two_models_train_export_and_score_end_to_end_and_resume(tmp_path):
    data = _data_root(tmp_path / "d")
    args = ["--models", "enerzai", "fast", "--budget-steps", "2", "--lanes", "2", "--data", str(data),
            "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--timing-runs",
            "1", "--quiet"]
    first = _run(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    with (tmp_path / "out" / f"table1-{table1.socket.gethostname().split('.')[0]}-enerzai-fast.csv").open() as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"enerzai", "fast"}
    assert all(r["steps"] == "2" and float(r["cpu_ms"]) > 0 and float(r["cpu_ms_int8"]) > 0
               for r in rows.values())
    assert rows["enerzai"]["report_psnr"] == "36.33" and rows["fast"]["report_psnr"] == ""
    for model in ("enerzai", "fast"):
        assert (tmp_path / "runs" / "steps2-2lanes" / model / "export" / "int8.tflite").is_file()
    assert {"lane 1 [", "lane 2 ["} <= {line[:8] for line in first.stdout.splitlines()}
    again = _run(*args)  # everything finished: nothing is trained or exported again
    assert again.returncode == 0 and "training" not in again.stdout and "exporting" not in again.stdout
