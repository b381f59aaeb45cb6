"""Shared harness over every registered model (tiny presets), plus family-specific checks:
ACNet fusion (mier), super/sub weight sharing (enerzai), the NAS config string (noahtcv), the
default presets' sizes against Table 1 (slow) and `mobiledenoise zoo list`."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

import mobiledenoise.cli
from mobiledenoise.errors import UserError
from mobiledenoise.models import build_model, config_from_dict, list_models
from mobiledenoise.models.registry import check_input_size, deployable
from mobiledenoise.models.zoo_reference import TABLE1

MODELS = list_models()
FINALISTS = sorted(TABLE1)
# XNNPACK refuses ("failed to create XNNPACK runtime") some INT8 gdalgo graphs, depending on
# the calibrated scales of its channel-attention blocks (seen with random weights at most
# sizes); LiteRT's built-in kernels run them. Every other model must run on XNNPACK.
XNNPACK_INT8_REFUSES = {"gdalgo"}


def tiny(name: str, **kwargs) -> keras.Model:
    return build_model(name, preset="tiny", **kwargs)


def trained_like(model: keras.Model, seed: int = 0) -> keras.Model:
    """A fresh model is the identity (its residual head starts at zero): every weight moved a
    little, so a test sees a non-trivial function."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def images(height: int, width: int, count: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, height, width, 3), dtype=np.float32)


def predict(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False))


def run_litert(tflite: bytes, x: np.ndarray, xnnpack: bool = True) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_content=tflite, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_all_finalists_are_registered():
    assert set(FINALISTS) <= set(MODELS)
    assert "unet" in MODELS


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_finite_at_several_sizes(name):
    model = tiny(name)
    m = model.config.multiple
    for height, width in [(m, m), (3 * m, 5 * m), (4 * m, 2 * m)]:
        check_input_size(model.config, height, width)
        y = predict(model, images(height, width, count=2))
        assert y.shape == (2, height, width, 3)
        assert np.isfinite(y).all()


@pytest.mark.parametrize("name", MODELS)
def test_non_multiple_size_is_a_clear_error(name):
    model = tiny(name)
    m = model.config.multiple
    if m == 1:
        pytest.skip("any size is valid")
    with pytest.raises(UserError, match=f"divisible by {m}.*received {3 * m + 1}x{5 * m}"):
        check_input_size(model.config, 3 * m + 1, 5 * m)


@pytest.mark.parametrize("name", MODELS)
def test_config_round_trip_through_json(name):
    config = tiny(name).config
    values = json.loads(json.dumps(dataclasses.asdict(config)))  # tuples become lists
    assert config_from_dict(name, values) == config


@pytest.mark.parametrize("name", MODELS)
def test_weights_and_keras_file_round_trip(name, tmp_path):
    model = trained_like(tiny(name))
    x = images(2 * model.config.multiple, 3 * model.config.multiple)
    expected = predict(model, x)
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = trained_like(tiny(name), seed=1)
    assert not np.array_equal(predict(fresh, x), expected)  # new random weights
    fresh.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(predict(fresh, x), expected)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(predict(loaded, x), expected, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_tflite_fp32_matches_keras_and_passes_gpu_audit(name):
    convert = pytest.importorskip("mobiledenoise.deploy.convert")
    opaudit = pytest.importorskip("mobiledenoise.deploy.opaudit")
    # every weight moved: a fresh model is the identity, which any conversion reproduces
    model = trained_like(tiny(name))
    size = (2 * model.config.multiple, 3 * model.config.multiple)
    tflite = convert.to_tflite(deployable(model), precision="fp32", size=size)
    x = images(*size)
    assert np.abs(run_litert(tflite, x) - predict(model, x)).max() <= 1e-4
    report = opaudit.audit(tflite)
    assert report.compatible, report.render()


@pytest.mark.parametrize("name", MODELS)
def test_tflite_int8_export_runs_and_passes_gpu_audit(name):
    convert = pytest.importorskip("mobiledenoise.deploy.convert")
    opaudit = pytest.importorskip("mobiledenoise.deploy.opaudit")
    # moved weights: quantized op versions depend on them (a trained Mier's deconvs were v4)
    model = trained_like(tiny(name))
    size = (2 * model.config.multiple, 2 * model.config.multiple)
    calib = list(images(*size, count=4, seed=1))
    tflite = convert.to_tflite(deployable(model), precision="int8", size=size, calibration=calib)
    y = run_litert(tflite, images(*size), xnnpack=name not in XNNPACK_INT8_REFUSES)
    assert y.shape == (1, *size, 3) and np.isfinite(y).all()
    report = opaudit.audit(tflite)
    assert report.compatible, report.render()


# --- family-specific behaviour -------------------------------------------------------------


def _randomize_batchnorm(model, rng: np.random.Generator) -> None:
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),
                               rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)])


# Families whose learnt up-sampling is a choice: exported through their transposed form too.
TRANSPOSE_OVERRIDES = {"moma": {"up": "transpose"}, "megvii": {"up": "transpose"}}


@pytest.mark.parametrize("name", MODELS)
def test_deployed_form_has_no_transposed_conv_and_equals_the_model(name):
    # One deploy mechanism for every family: strided transposed convs become conv +
    # DEPTH_TO_SPACE (and mier's ACNet blocks one conv); in float the map is the same.
    model = tiny(name, **TRANSPOSE_OVERRIDES.get(name, {}))
    rng = np.random.default_rng(0)
    for weight in model.weights:  # non-zero everywhere (zero-initialised exits included)
        positive = "variance" in weight.path
        value = rng.uniform(0.5, 2.0, weight.shape) if positive else rng.normal(0.0, 0.1, weight.shape)
        weight.assign(value.astype(np.float32))
    deployed = deployable(model)
    assert deployed.family == model.family == name
    # every k×k stride-k transposed conv is rewritten (mier's overlapping 4×4 / 2 ones stay)
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose)
                   and layer.kernel_size == layer.strides for layer in deployed.layers)
    x = images(4 * model.multiple, 6 * model.multiple)
    np.testing.assert_allclose(predict(deployed, x), predict(model, x), atol=1e-5)
    assert deployable(deployed) is deployed


def test_mier_deconv_depth_to_space_form_is_exact():
    # mier's 4×4 stride-2 deconvs (overlapping taps) as a 3×3 conv + DEPTH_TO_SPACE: the same
    # map (not its default export: 2.25× those layers' MACs for no measured INT8 gain).
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.tflite_graph import read_graph
    from mobiledenoise.models.transforms import LEARNT_UP, rebuild

    model = deployable(tiny("mier"))
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.1, weight.shape).astype(np.float32))
    subpixel = rebuild(model, {"up": "depth_to_space"}, convert=LEARNT_UP)
    assert subpixel.get_layer("up1").kernel.shape[:2] == (3, 3)
    x = images(16, 24)
    np.testing.assert_allclose(predict(subpixel, x), predict(model, x), atol=1e-5)
    ops = {op.name for op in read_graph(to_tflite(subpixel, size=(16, 16))).operators}
    assert "DEPTH_TO_SPACE" in ops and "TRANSPOSE_CONV" not in ops


def test_denoiser_identity_round_trips_through_keras_config():
    from mobiledenoise.models.denoiser import Denoiser

    model = tiny("noahtcv", input_shape=(8, 12, 3), batch_size=1)
    assert isinstance(model, Denoiser) and isinstance(model, keras.Model)
    assert model.identity == {"model": "noahtcv", "config": dataclasses.asdict(model.config)}
    again = Denoiser.from_config(model.get_config())
    assert (again.family, again.config, again.input_shape) == ("noahtcv", model.config, (1, 8, 12, 3))
    again.set_weights(model.get_weights())
    x = images(8, 12)
    np.testing.assert_array_equal(predict(again, x), predict(model, x))


def test_mier_fused_equals_unfused():
    from mobiledenoise.models.mier import fuse

    model = tiny("mier", widths=(8, 16), res_blocks=2)
    _randomize_batchnorm(model, np.random.default_rng(0))
    fused = fuse(model)
    assert fused.config.fused and not model.config.fused
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in fused.layers)
    assert fused.count_params() < model.count_params()
    x = images(12, 20)
    np.testing.assert_allclose(predict(fused, x), predict(model, x), atol=1e-4)
    assert deployable(model).config.fused  # export fuses through the registry hook
    assert fuse(fused) is fused


def test_enerzai_super_and_sub_share_weights():
    from mobiledenoise.models.enerzai import EnerzaiConfig, build_super_and_sub

    config = EnerzaiConfig(widths=(4, 8), super_blocks=1, growth=4, dense_layers=2)
    super_net, sub_net = build_super_and_sub(config)
    assert super_net.family == sub_net.family == "enerzai"
    assert super_net.count_params() > sub_net.count_params()
    weighted = {layer.name for layer in super_net.layers if layer.weights}
    assert {layer.name for layer in sub_net.layers if layer.weights} <= weighted
    x = images(8, 12)
    head = sub_net.get_layer("residual_conv").kernel  # starts at zero: give it a say
    head.assign(np.full(head.shape, 0.1, np.float32))
    before = predict(sub_net, x)
    kernel = super_net.get_layer("enc0_conv0").kernel
    kernel.assign(kernel.numpy() + 0.5)  # through the super-net ...
    np.testing.assert_array_equal(sub_net.get_layer("enc0_conv0").kernel.numpy(), kernel.numpy())
    assert not np.allclose(predict(sub_net, x), before)  # ... the sub-net changes
    detached = deployable(super_net)  # the super-net's blocks are dropped for export
    assert not any(name.startswith("super_") for name in (layer.name for layer in detached.layers))
    np.testing.assert_allclose(predict(detached, x), predict(sub_net, x), atol=1e-6)
    registry_sub = build_model("enerzai", config)
    registry_sub.set_weights(sub_net.get_weights())  # same architecture as the registered one
    np.testing.assert_allclose(predict(registry_sub, x), predict(sub_net, x), atol=1e-6)


def test_noahtcv_search_space_string_and_validation():
    from mobiledenoise.models.noahtcv import decode, encode

    model = build_model("noahtcv", preset="tiny_concat")
    config = model.config
    assert decode(encode(config)) == config
    assert predict(model, images(8, 12)).shape == (1, 8, 12, 3)
    with pytest.raises(UserError, match="encoder_ops"):
        build_model("noahtcv", preset="tiny", encoder_ops=("conv3x3",))
    with pytest.raises(UserError, match="ops from"):
        build_model("noahtcv", preset="tiny", decoder_ops=("conv5x5",))
    with pytest.raises(UserError, match="candidate string"):
        decode("w16-x_e:zz")


def test_megvii_widths_must_be_multiples_of_eight():
    with pytest.raises(UserError, match="multiple of 8"):
        build_model("megvii", preset="tiny", widths=(8, 12))


@pytest.mark.parametrize("name", FINALISTS + ["unet"])
def test_fresh_residual_models_start_at_the_identity(name):
    # blocks.residual_output's conv (Mier: its tail's BN scales) starts at zero: a short run
    # starts from the noisy input's PSNR instead of cancelling a random residual (issue 17).
    model = tiny(name)
    x = images(4 * model.config.multiple, 4 * model.config.multiple)
    np.testing.assert_array_equal(predict(model, x), x)
    if name == "enerzai":  # the once-for-all super-net shares that head
        from mobiledenoise.models.enerzai import build_super_and_sub

        super_model, _ = build_super_and_sub(model.config)
        np.testing.assert_array_equal(predict(super_model, x), x)


def test_gdalgo_stage_outputs_give_every_stage():
    from mobiledenoise.models.gdalgo import stage_outputs

    model = trained_like(tiny("gdalgo"))
    staged = stage_outputs(model)
    x = images(8, 8)
    first, last = staged(x, training=False)
    np.testing.assert_allclose(np.asarray(last), predict(model, x), atol=1e-6)
    assert not np.allclose(np.asarray(first), np.asarray(last))


@pytest.mark.slow
@pytest.mark.parametrize("name", FINALISTS)
def test_default_preset_size_within_factor_two_of_table1(name):
    convert = pytest.importorskip("mobiledenoise.deploy.convert")
    model = deployable(build_model(name))
    size_kb = len(convert.to_tflite(model, precision="fp32", size=(64, 64))) / 1024
    assert TABLE1[name].size_kb / 2 <= size_kb <= TABLE1[name].size_kb * 2, size_kb


# --- CLI -------------------------------------------------------------------------------------


def test_zoo_list_json_gives_figures_beside_table1():
    pytest.importorskip("mobiledenoise.deploy.convert")
    args = ["zoo", "list", "--json", "--preset", "tiny", "--size", "16x16",
            "-m", "mier", "-m", "unet"]
    result = CliRunner().invoke(mobiledenoise.cli.app, args)
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"mier", "unet"}
    mier = rows["mier"]
    assert mier["ref_size_kb"] == 1528 and mier["ref_mali_ms"] == 314 and mier["ref_rank"] == 5
    assert mier["gpu_compatible"] and mier["tflite_kb"] > 4 * mier["params"] / 1024 * 0.9
    assert mier["gmacs"] > 0 and mier["cpu_ms"] is None
    assert rows["unet"]["ref_team"] is None


def test_zoo_list_table_renders():
    pytest.importorskip("mobiledenoise.deploy.convert")
    result = CliRunner().invoke(mobiledenoise.cli.app, ["zoo", "list", "--preset", "tiny",
                                                        "--size", "8x8", "-m", "enerzai"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "enerzai" in result.stdout and "36.33" in result.stdout  # Table 1 PSNR


@pytest.mark.parametrize("args, message", [
    (["--preset", "tiny", "--size", "30x40", "-m", "megvii"], "divisible by 4"),
    (["--size", "big"], "HEIGHTxWIDTH"),
    (["-m", "nosuchnet"], "registered model name"),
    (["--preset", "huge", "-m", "unet"], "preset of unet"),
])
def test_zoo_list_bad_input_is_one_line_error(args, message):
    result = CliRunner().invoke(mobiledenoise.cli.app, ["zoo", "list", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("entry, stride", [("stride2", 2), ("stride4", 4)])
def test_unet_strided_entry_starts_at_identity_and_needs_its_multiple(entry, stride):
    # The strided exit starts at zero, so an untrained net returns its input exactly: training
    # starts at the identity with a gradient into the exit instead of cancelling a random residual.
    model = build_model("unet", preset="tiny", entry=entry)
    assert model.config.multiple == 4 * stride  # depth 2 -> 4, times the entry stride
    x = images(8 * stride, 12 * stride)
    np.testing.assert_array_equal(predict(model, x), x)
    with pytest.raises(UserError, match=f"multiple of {4 * stride}"):
        check_input_size(model.config, 4 * stride + 2, 4 * stride)


def test_unet_fast_preset_runs_at_half_resolution():
    # Every conv of the shipped `fast` preset works at half resolution or below, so it costs
    # about a third of the full-resolution `mobile` preset's MACs at 720×480.
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.opaudit import audit
    from mobiledenoise.deploy.tflite_graph import count_macs, read_graph

    fast, mobile = (build_model("unet", preset=p, input_shape=(480, 720, 3)) for p in ("fast", "mobile"))
    full_res = [layer.name for layer in fast.layers
                if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.Conv2DTranspose)
                and layer.output.shape[1] == 480]
    assert full_res == []
    fast_tflite = to_tflite(fast)
    assert count_macs(read_graph(fast_tflite)) < 0.4 * count_macs(read_graph(to_tflite(mobile)))
    assert audit(fast_tflite).compatible


def test_unet_stem_adds_full_resolution_layers_around_a_strided_entry():
    # `stem`: a full-resolution conv before the strided entry and a 3×3 head after the exit;
    # everything between stays at the entry's resolution, and a fresh net is still the identity.
    model = build_model("unet", preset="tiny", entry="stride2", stem=4, input_shape=(32, 48, 3))
    full_res = sorted(layer.name for layer in model.layers
                      if isinstance(layer, keras.layers.Conv2D)
                      and not isinstance(layer, keras.layers.Conv2DTranspose)
                      and layer.output.shape[1] == 32)
    assert full_res == ["residual_conv", "stem"]
    x = images(32, 48)
    np.testing.assert_array_equal(predict(model, x), x)
    with pytest.raises(ValueError, match="strided entry"):
        build_model("unet", preset="tiny", stem=4)


@pytest.mark.parametrize("overrides", [{"entry": "stride2"}, {"entry": "stride4", "clip": True}, {},
                                       {"entry": "stride2", "stem": 4}])
def test_unet_deploys_transposed_convs_as_depth_to_space(overrides):
    # The exported graph writes each stride-s transposed conv as 1×1 conv + DEPTH_TO_SPACE
    # (int8 ranges of TRANSPOSE_CONV get stretched by TF's converter); in float it is the same map.
    from mobiledenoise.deploy.convert import to_tflite
    from mobiledenoise.deploy.tflite_graph import read_graph

    model = build_model("unet", preset="tiny", **overrides)
    rng = np.random.default_rng(0)
    for weight in model.weights:  # non-zero everywhere, the zero-initialised exit included
        weight.assign(rng.normal(0.0, 0.1, weight.shape).astype(np.float32))
    deployed = deployable(model)
    assert deployed.config.up == "depth_to_space"
    x = images(32, 48)
    np.testing.assert_allclose(predict(deployed, x), predict(model, x), atol=1e-5)
    ops = {op.name for op in read_graph(to_tflite(model, size=(32, 48))).operators}
    assert "DEPTH_TO_SPACE" in ops and "TRANSPOSE_CONV" not in ops


@pytest.mark.parametrize("family,first,deepest", [("megvii", "enc0_conv0", "enc4_conv1"),
                                                  ("moma", "stem", "enc4_sep1_pw")])
def test_deep_plain_relu_families_keep_their_signal_scale_and_start_at_the_identity(
        family, first, deepest):
    """Keras' Glorot init (and its depthwise fan-in, counted ×channels) shrank these nets' signal
    to 1-2 % (megvii) and 0.01 % (moma) at the bottleneck, which kept Table 1's 15-minute
    runs at the identity; their He init keeps it within an order of magnitude."""
    model = build_model(family, {}, input_shape=(64, 64, 3), batch_size=1)
    image = np.random.default_rng(0).uniform(0, 1, (1, 64, 64, 3)).astype(np.float32)
    probe = keras.Model(model.inputs, [model.get_layer(first).output,
                                       model.get_layer(deepest).output])
    scale_first, scale_deepest = (float(np.sqrt(np.mean(np.square(a)))) for a in probe(image))
    assert scale_deepest > 0.1 * scale_first
    np.testing.assert_array_equal(np.asarray(model(image)), image)  # zero head: the identity
