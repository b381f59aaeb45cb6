"""`mobiledenoise check` refuses what the server refuses: alias bombs (bounded parse), the model
contract (two inputs, an int16 input, a 112 GiB tensor) and a model LiteRT cannot load. The
bombs and models are small flatbuffers built here (`tflite_bombs`), no TensorFlow needed."""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import pytest
import tflite_bombs as bombs
from tflite_bombs import INT8, INT16, RGB
from typer.testing import CliRunner

from mobiledenoise.cli import app
from mobiledenoise.deploy.tflite_graph import read_graph
from mobiledenoise.errors import UserError
from mobiledenoise.server.uploads import UploadRejected, check_model

BREACHES = {  # name -> (model, phrase of the one-line reason)
    "two inputs": (lambda: bombs.relu_chain([(RGB, 0), (RGB, 0), (RGB, 0)], inputs=(0, 1)),
                   "one input and one output"),
    "int16 input": (lambda: bombs.relu_chain([(RGB, INT16), (RGB, INT16)]), "received int16"),
    "112 GiB tensor": (lambda: bombs.relu_chain([(RGB, 0), ([1, 200_000, 50_000, 3], 0), (RGB, 0)]),
                       "111.8 GiB"),
    "unloadable int8 input": (lambda: bombs.relu_chain([(RGB, INT8), (RGB, 0)]), "fails to load"),
}
BOMBS = {  # name -> (file, phrase)
    "buffer alias": (lambda: bombs.buffer_alias_bomb(15_000, 1 << 20), "stores each vector once"),
    "subgraph alias": (lambda: bombs.subgraph_alias_bomb(50, 5_000), "stores each vector once"),
    "shape of 250k dims": (lambda: bombs.shape_alias_bomb(10_000, 250_000), "16 dimensions"),
    "200k tensors": (lambda: bombs.shape_alias_bomb(200_000, 4), "at most 20,000 tensors"),
    "12k distinct operators": (lambda: bombs.many_operators(12_000), "at most 10,000 operators"),
    "101 subgraphs": (lambda: bombs.subgraph_alias_bomb(101, 1), "at most 100 subgraphs"),
}


def _check(tmp_path, content: bytes):
    path = tmp_path / "m.tflite"
    path.write_bytes(content)
    return CliRunner().invoke(app, ["check", str(path)])


@pytest.mark.parametrize("case", sorted(BREACHES))
def test_check_refuses_what_the_server_refuses(tmp_path, case):
    build, phrase = BREACHES[case]
    result = _check(tmp_path, build())
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: expected") and phrase in last, result.output
    assert "GPU delegate:" in result.output  # the report is printed before the reason


def test_a_contract_keeping_model_passes_check(tmp_path):
    result = _check(tmp_path, bombs.relu_chain([(RGB, 0), (RGB, 0)]))
    assert result.exit_code == 0, result.output
    assert "GPU delegate: all 1 ops supported" in result.output


@pytest.mark.parametrize("case", sorted(BOMBS))
def test_alias_bombs_are_refused_quickly_in_bounded_memory(tmp_path, case):
    build, phrase = BOMBS[case]
    content = build()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(UserError, match=phrase):
        read_graph(content)
    with pytest.raises(UploadRejected) as rejected:
        check_model(content)
    assert rejected.value.status == 422 and phrase in rejected.value.message
    assert "\n" not in rejected.value.message
    assert time.monotonic() - started < 10
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100 + 3 * len(content) / 1024**2, grown_mb
    result = _check(tmp_path, content)
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error: expected") and phrase in result.output


def test_real_models_stay_well_inside_the_parse_bounds():
    """The shipped models use under 1x their size of the 2x alias budget."""
    from pathlib import Path

    from mobiledenoise.deploy import tflite_graph as tg
    from mobiledenoise.weights import __file__ as weights_init

    for path in Path(weights_init).parent.glob("*.tflite"):
        data = path.read_bytes()
        budget = tg._Budget(len(data))
        start = budget.left
        tg._parse(data, budget)
        assert start - budget.left <= 1.0 * len(data) + 4096, path.name


def test_check_does_not_import_tensorflow(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(bombs.relu_chain([(RGB, 0), (RGB, 0)]))
    code = ("import sys; from typer.testing import CliRunner; from mobiledenoise.cli import app; "
            f"r = CliRunner().invoke(app, ['check', {str(path)!r}]); assert r.exit_code == 0, r.output; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_most_operators_the_caps_allow_are_checked_in_seconds():
    """Just under the operator cap (10,000 distinct RELUs, no aliasing): accepted, and the
    whole upload check (parse + contract + audit) stays within seconds of CPU. CPU time, not
    wall time: the check must not fail because another process shares the machine."""
    started = time.process_time()
    summary = check_model(bombs.many_operators(9_999))
    assert summary["ops"] == ["RELU"]
    assert time.process_time() - started < 15
