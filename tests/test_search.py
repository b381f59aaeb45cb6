"""Architecture search: spaces, latency cache and table, Pareto front, end-to-end run + resume."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from mobiledenoise.errors import UserError
from mobiledenoise.models.moma import decode as decode_moma
from mobiledenoise.search import evolution as search
from mobiledenoise.search import latency, report
from mobiledenoise.search.report import CandidateRecord
from mobiledenoise.search.space import get_space


@pytest.mark.parametrize("name", ["noahtcv", "moma"])
def test_encode_decode_round_trip(name):
    space, rng = get_space(name), random.Random(0)
    for text in [*space.seeds(), *(space.sample(rng) for _ in range(20))]:
        assert space.encode(space.decode(text)) == text
        assert space.model_config(text)["widths"] == list(space.decode(text).widths)


def test_bad_candidate_strings_are_user_errors():
    with pytest.raises(UserError, match="moma candidate string"):
        decode_moma("w8-16_q3")
    assert not get_space("noahtcv").is_valid("w8-16_e:c3.zz_d:c3")


@pytest.mark.parametrize("name", ["noahtcv", "moma"])
def test_mutation_changes_one_candidate_into_a_new_valid_one(name):
    space, rng = get_space(name), random.Random(1)
    text = space.seeds()[0]
    for _ in range(40):
        child = space.mutate(text, rng)
        assert child != text and space.is_valid(child)
        assert 2 <= len(space.decode(child).widths) <= space.max_levels
        text = child


@pytest.mark.parametrize("name", ["noahtcv", "moma"])
def test_mutated_candidates_export_gpu_compatible(name):
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.opaudit import audit
    from mobiledenoise.models import build_model

    space, rng = get_space(name, tiny=True), random.Random(2)
    text = space.seeds()[0]
    for _ in range(2):
        text = space.mutate(text, rng)
        model = build_model(space.model, space.decode(text))
        report = audit(to_tflite(model, size=(32, 32)))
        assert report.compatible, (text, [f.reason for f in report.failures])


def test_latency_table_recovers_a_linear_relation():
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(12):
        conv, elements = float(rng.uniform(0.1, 5)), float(rng.uniform(1, 50))
        samples.append(({"gmacs:CONV_2D": conv, "m_elements": elements},
                        2.0 + 3.0 * conv + 0.5 * elements))
    table = latency.LatencyTable.fit(samples)
    assert table.intercept == pytest.approx(2.0, rel=1e-6)
    costs = dict(zip(table.columns, table.costs))
    assert costs == pytest.approx({"gmacs:CONV_2D": 3.0, "m_elements": 0.5})
    assert max(latency.leave_one_out_errors(samples)) < 1e-6


def test_pareto_front_keeps_only_non_dominated_records():
    def rec(i, psnr, ms):
        return CandidateRecord(f"c{i}", i, "ok", psnr=psnr, runtime_ms=ms, score=0.0)

    records = [rec(0, 30, 10), rec(1, 31, 20), rec(2, 29, 30), rec(3, 31, 25), rec(4, 32, 40),
               CandidateRecord("c5", 5, "rejected")]
    assert [r.index for r in report.pareto_front(records)] == [0, 1, 4]


def _tiny_settings(data, **overrides) -> search.SearchSettings:
    values = dict(space="noahtcv", data=str(data), tiny=True, steps=4, patch_size=16, batch_size=2,
                  population=2, bench_runs=2, budget_minutes=10.0)
    return search.SearchSettings(**{**values, **overrides})


def test_latency_cache_hit_skips_measuring(pair_folder, tmp_path, monkeypatch):
    space = get_space("noahtcv", tiny=True)
    seed = space.seeds()[0]
    cache = latency.LatencyCache(tmp_path / "cache.json")
    cache.put(seed, {"compatible": True, "median_ms": 5.0, "features": {"ops": 3.0},
                     "params": 10, "gmacs": 0.1})
    monkeypatch.setattr(search, "_measure",
                        lambda *a, **k: pytest.fail("measured a cached candidate"))
    reloaded = latency.LatencyCache(tmp_path / "cache.json")
    record = search.evaluate(seed, 0, space, _tiny_settings(pair_folder), tmp_path, reloaded)
    assert record.status == "ok" and record.runtime_ms == 5.0
    assert (tmp_path / "candidates" / "000" / "model.json").is_file()
    slow = search.evaluate(seed, 1, space, _tiny_settings(pair_folder), tmp_path, reloaded,
                           best_ms=1.0)
    assert slow.status == "too_slow" and not (tmp_path / "candidates" / "001").exists()


def test_search_runs_end_to_end_and_resumes_without_rerunning(pair_folder, tmp_path, monkeypatch):
    out = tmp_path / "search"
    first = search.run_search(_tiny_settings(pair_folder, max_candidates=2), out, progress=False)
    done = [r.candidate for r in first["records"]]
    assert done[0] == get_space("noahtcv", tiny=True).seeds()[0]  # the preset is the baseline
    for name in ("front.md", "front.csv", "front.png", "candidates.csv", "latency.json",
                 "best.yaml"):
        assert (out / name).is_file(), name

    # Simulate a kill in the middle of a candidate: state says it was pending.
    state = json.loads((out / "state.json").read_text())
    interrupted = get_space("noahtcv", tiny=True).mutate(done[0], random.Random(5))
    state["pending"] = interrupted
    (out / "state.json").write_text(json.dumps(state))
    evaluated = []
    real_evaluate = search.evaluate
    monkeypatch.setattr(search, "evaluate",
                        lambda cand, *a: evaluated.append(cand) or real_evaluate(cand, *a))
    second = search.run_search(_tiny_settings(pair_folder, max_candidates=4), out, progress=False)
    assert evaluated[0] == interrupted and len(evaluated) == 2
    assert not set(evaluated) & set(done)
    assert second["records"][:2] == first["records"]
    assert second["elapsed_s"] >= first["elapsed_s"]

    from mobiledenoise.train.config import resolve

    best = search.best_record(second["records"])
    recipe = resolve(out / "best.yaml")
    assert recipe.model == "noahtcv" and recipe.steps == 4000
    assert recipe.model_config == get_space("noahtcv").model_config(best.candidate)


def test_resume_with_other_settings_is_refused(pair_folder, tmp_path):
    out = tmp_path / "search"
    (out).mkdir()
    (out / "state.json").write_text(json.dumps({
        "settings": search._jsonable(_tiny_settings(pair_folder)), "elapsed_s": 0.0,
        "pending": None, "records": []}))
    with pytest.raises(UserError, match="same steps"):
        search.load_state(out, _tiny_settings(pair_folder, steps=8))


@pytest.mark.parametrize("args, message", [
    (["--space", "resnet"], "expected --space one of noahtcv, moma"),
    (["--budget-minutes", "0"], "expected a positive budget"),
])
def test_cli_bad_input_exits_2_with_one_line(pair_folder, tmp_path, args, message):
    from mobiledenoise.cli import app

    result = CliRunner().invoke(app, ["search", "--data", str(pair_folder), "--out",
                                      str(tmp_path / "s"), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_cli_missing_data_exits_2(tmp_path):
    from mobiledenoise.cli import app

    result = CliRunner().invoke(app, ["search", "--data", str(tmp_path / "none"), "--out",
                                      str(tmp_path / "s")])
    assert result.exit_code == 2 and "expected --data to be a folder" in result.output
