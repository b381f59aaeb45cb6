"""Adding a model is one module: the toy family (tests/toy_family.py) registers itself and
then builds, trains, reloads from its run folder and exports through the generic code."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from mobiledenoise.errors import UserError
from mobiledenoise.models import build_model, list_models, registry
from mobiledenoise.models.registry import check_input_size, deployable, get_spec
from mobiledenoise.search import space as search_space


@pytest.fixture(scope="module", autouse=True)
def toy_registered():
    """"toy" is registered only while these tests run: other tests see the shipped families."""
    list_models(), search_space.list_spaces()  # load the package's own first
    models, spaces = dict(registry._REGISTRY), dict(search_space._SPACES)
    if "toy_family" in sys.modules:
        importlib.reload(sys.modules["toy_family"])
    else:
        importlib.import_module("toy_family")  # registers "toy" and its search space
    yield
    for table, saved in ((registry._REGISTRY, models), (search_space._SPACES, spaces)):
        table.clear()
        table.update(saved)


def test_toy_family_is_registered_with_its_presets():
    assert "toy" in list_models()
    assert get_spec("toy").summary.startswith("Toy:")
    model = build_model("toy", preset="tiny")
    assert (model.family, model.config.width, model.multiple) == ("toy", 4, 2)
    with pytest.raises(UserError, match="divisible by 2 for model toy"):
        check_input_size(model.config, 9, 8)


def test_toy_family_trains_reloads_and_exports(pair_folder, tmp_path):
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.runtime import TFLiteDenoiser
    from mobiledenoise.deploy.tflite_graph import read_graph
    from mobiledenoise.train.config import resolve
    from mobiledenoise.train.runs import load_model
    from mobiledenoise.train.trainer import train

    config = resolve(None, {"model": "toy", "preset": "tiny", "data": [str(pair_folder)],
                            "steps": 3, "patch_size": 16, "batch_size": 2, "val_every": 3,
                            "checkpoint_every": 3, "log_every": 1, "val_crop": 32})
    result = train(config, tmp_path / "run", progress=False)
    assert result.steps == 3
    model = load_model(tmp_path / "run")
    assert (model.family, model.config) == ("toy", build_model("toy", preset="tiny").config)

    deployed = deployable(model)
    assert deployed.config.up == "depth_to_space"
    x = np.random.default_rng(0).random((1, 16, 24, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(deployed(x)), np.asarray(model(x)), atol=1e-5)
    tflite = to_tflite(model, size=(16, 24))
    ops = {op.name for op in read_graph(tflite).operators}
    assert "DEPTH_TO_SPACE" in ops and "TRANSPOSE_CONV" not in ops
    np.testing.assert_allclose(TFLiteDenoiser(tflite).run_patch(x[0]), np.asarray(model(x))[0],
                               atol=1e-4)


def test_toy_search_space_samples_and_mutates_within_the_family():
    import random

    from mobiledenoise.search.space import get_space, list_spaces

    assert "toy" in list_spaces()
    space, rng = get_space("toy"), random.Random(0)
    assert space.seeds() == ["w8_up:transpose"]  # the family's default preset
    text = space.seeds()[0]
    for _ in range(10):
        child = space.mutate(text, rng)
        assert child != text and space.is_valid(child)
        assert build_model("toy", space.decode(child)).family == "toy"
        text = child
    assert space.is_valid(space.sample(rng))
