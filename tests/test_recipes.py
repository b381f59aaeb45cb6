"""Issue #5: every team recipe runs (smoke length), and each training trick does what it claims:
distillation pulls the student towards the teacher, once-for-all training detaches the
super-net at the threshold and exports the sub-net only, ACNet blocks are fused on export."""

from pathlib import Path

import numpy as np
import pytest

from mobiledenoise.train import config as train_config

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
SMOKE = {"preset": "tiny", "steps": 2, "patch_size": 32, "batch_size": 2, "val_every": 2,
         "checkpoint_every": 2, "log_every": 1, "val_crop": 32, "train_only": [], "exclude": []}


def test_every_zoo_model_has_a_recipe():
    from mobiledenoise.models import list_models

    names = {train_config.load_recipe(r)["model"] for r in RECIPES}
    assert set(list_models()) <= names


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """A run folder holding an untrained tiny megvii: its output (input + a random residual) is
    far from the clean targets, so a student that moves towards it is visibly distilled."""
    import json

    import keras

    from conftest import make_pair_folder
    from mobiledenoise.models import build_model
    from mobiledenoise.models.registry import describe

    root = tmp_path_factory.mktemp("teacher")
    data = make_pair_folder(root / "data", size=(64, 64))
    keras.utils.set_random_seed(7)
    teacher = build_model("megvii", preset="tiny")
    (root / "run").mkdir()
    teacher.save_weights(root / "run" / "best.weights.h5")
    (root / "run" / "model.json").write_text(json.dumps(describe(teacher)))
    return root / "run", data


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_runs_at_smoke_length(recipe, teacher_run, tmp_path):
    from mobiledenoise.train.trainer import train

    teacher, data = teacher_run
    values = train_config.load_recipe(recipe)
    overrides = {**SMOKE, "data": [str(data)]}
    if values.get("teacher"):
        overrides["teacher"] = str(teacher)
    if values.get("model") == "unet" and values.get("preset") in ("mobile", "fast"):
        overrides["preset"] = values["preset"]  # the shipped architectures themselves
    if values.get("init_from"):  # fine-tuning recipes start from a run that a clone lacks
        overrides["init_from"] = str(_untrained_run(tmp_path / "init", values["model"],
                                                    overrides["preset"],
                                                    values.get("model_config", {})))
    if values.get("ofa_threshold_db") is not None:
        overrides["ofa_threshold_db"] = 0.0
    result = train(train_config.resolve(recipe, overrides), tmp_path / "run", progress=False)
    assert result.steps == 2 and np.isfinite(result.best_val_psnr)


def _untrained_run(folder, model: str, preset: str, model_config: dict | None = None):
    """A run folder holding a freshly initialised model (final weights = initial ones)."""
    import json

    from mobiledenoise.models import build_model
    from mobiledenoise.models.registry import describe, resolve_config

    built = build_model(model, resolve_config(model, preset, **(model_config or {})))
    (folder / "checkpoint").mkdir(parents=True)
    built.save_weights(folder / "checkpoint" / "model.weights.h5")
    (folder / "model.json").write_text(json.dumps(describe(built)))
    return folder


def _student_teacher_gap(run, teacher, images) -> float:
    from mobiledenoise.train.runs import load_model

    student = load_model(run, weights="last")
    return float(np.mean(np.abs(student(images).numpy() - teacher(images).numpy())))


def test_distillation_pulls_the_student_towards_the_teacher(teacher_run, tmp_path):
    from mobiledenoise.train.runs import load_model
    from mobiledenoise.train.trainer import train

    teacher_dir, data = teacher_run
    teacher = load_model(teacher_dir)
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    base = {**SMOKE, "model": "unet", "data": [str(data)], "steps": 40, "lr": 3e-3,
            "val_every": 40, "checkpoint_every": 40}
    train(train_config.resolve(None, base), tmp_path / "plain", progress=False)
    distilled = {**base, "teacher": str(teacher_dir), "distill_alpha": 1.0}
    train(train_config.resolve(None, distilled), tmp_path / "kd", progress=False)
    assert _student_teacher_gap(tmp_path / "kd", teacher, images) < \
        0.7 * _student_teacher_gap(tmp_path / "plain", teacher, images)


def _read_log(run):
    import csv

    with open(Path(run) / "log.csv") as f:
        return list(csv.DictReader(f))


def test_once_for_all_detaches_at_the_threshold_and_exports_the_sub_net(pair_folder, tmp_path):
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.opaudit import audit
    from mobiledenoise.models import build_model
    from mobiledenoise.models.registry import deployable
    from mobiledenoise.train.runs import load_model
    from mobiledenoise.train.trainer import train

    base = {**SMOKE, "model": "enerzai", "data": [str(pair_folder)], "steps": 8,
            "val_every": 4, "checkpoint_every": 4, "val_crop": 32}
    never = train_config.resolve(None, {**base, "ofa_threshold_db": 99.0})
    train(never, tmp_path / "never", progress=False)
    assert not any(row.get("detached") for row in _read_log(tmp_path / "never"))
    assert all(row.get("val_psnr_super") for row in _read_log(tmp_path / "never") if row["val_psnr"])

    # The bar is the super-net's validation PSNR; 0 dB is passed at the first validation (step 4).
    at_once = train_config.resolve(None, {**base, "ofa_threshold_db": 0.0})
    train(at_once, tmp_path / "ofa", progress=False)
    rows = _read_log(tmp_path / "ofa")
    detached = [int(r["step"]) for r in rows if r.get("detached") == "1"]
    assert detached == [4]
    after = [r for r in rows if int(r["step"]) > 4]
    assert after and all(not r.get("l_super") for r in after)  # the sub-net trains alone

    model = load_model(tmp_path / "ofa")
    assert not [layer.name for layer in model.layers if layer.name.startswith("super_")]
    sub_params = deployable(build_model("enerzai", preset="tiny")).count_params()  # exported form
    report = audit(to_tflite(model, size=(32, 32)))
    assert report.params == sub_params and report.compatible


def test_acnet_model_is_fused_on_export_and_matches_the_trained_model(pair_folder, tmp_path):
    import dataclasses

    from mobiledenoise.models import build_model
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.train.runs import load_model
    from mobiledenoise.train.trainer import train

    config = train_config.resolve(None, {**SMOKE, "model": "mier", "data": [str(pair_folder)],
                                         "steps": 6})
    train(config, tmp_path / "mier", progress=False)
    trained = load_model(tmp_path / "mier")
    import keras

    assert not trained.config.fused  # trained with ACNet branches (BatchNorm inside)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in trained.layers)
    tflite = to_tflite(trained, size=(32, 32))
    x = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    exported = TFLiteDenoiser(tflite).run_patch(x)
    np.testing.assert_allclose(exported, trained(x[None]).numpy()[0], atol=1e-4)
    from mobiledenoise.deploy.opaudit import audit

    # fused: one CONV_2D per ACNet block, no separate branch convs or batch-norm arithmetic
    fused_params = build_model("mier", dataclasses.replace(trained.config, fused=True)).count_params()
    report = audit(tflite)
    assert report.params == fused_params < trained.count_params()
    assert report.compatible, report.render()  # trained deconvs: biased, activation not fused


@pytest.mark.parametrize("name", ["default", "fast"])
def test_each_shipped_model_is_the_architecture_its_two_recipes_train(name):
    """`recipes/<name>.yaml` and `<name>_finetune.yaml` build the network in `weights/<name>_*`."""
    import json

    from mobiledenoise.models import build_model, config_from_dict
    from mobiledenoise.models.registry import deployable, resolve_config

    sidecar = json.loads((REPO / "src" / "mobiledenoise" / "weights" / f"{name}_fp32.json").read_text())
    # As the runtime reads it: a field added to the family since the export takes its default.
    shipped = config_from_dict(sidecar["model"], sidecar["config"])
    for recipe in (f"{name}.yaml", f"{name}_finetune.yaml"):
        values = train_config.load_recipe(REPO / "recipes" / recipe)
        model = build_model(values["model"], resolve_config(values["model"], values["preset"],
                                                            **values.get("model_config", {})))
        exported = deployable(model)  # the exported form of what the recipe trains
        assert (exported.family, exported.config) == (sidecar["model"], shipped), recipe
