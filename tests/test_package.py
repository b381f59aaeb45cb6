"""Packaging habits: --version, python -m, shell completion, a light import, packaged files,
and (slow) the built wheel installed in a fresh venv, run from outside the checkout."""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mobiledenoise
from mobiledenoise.cli import app
from mobiledenoise.errors import UserError
from mobiledenoise.resources import package_folder, recipe_path, sample_pair

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(mobiledenoise.__file__).resolve().parent
# For the installed wheel: nothing may lead back to the checkout or its data.
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "MOBILEDENOISE_SHARED_DATA")}


def _python(*args: str, env: dict | None = None, cwd: Path | None = None,
            python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run([python, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


def test_version_flag_prints_the_package_version():
    done = CliRunner().invoke(app, ["--version"])
    assert done.exit_code == 0
    assert done.output == f"mobiledenoise {mobiledenoise.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", mobiledenoise.__version__)


def test_python_dash_m_runs_the_cli():
    version = _python("-m", "mobiledenoise", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"mobiledenoise {mobiledenoise.__version__}\n"
    score = _python("-m", "mobiledenoise", "score", "--psnr", "37.52", "--runtime-ms", "39")
    assert score.returncode == 0, score.stderr
    assert "53.99" in score.stdout
    bad = _python("-m", "mobiledenoise", "score", "--psnr", "x", "--runtime-ms", "39")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_completion_script_and_completions_for_bash():
    script = _python("-m", "mobiledenoise", "--show-completion", "bash")
    assert script.returncode == 0, script.stderr
    assert "_MOBILEDENOISE_COMPLETE=complete_bash" in script.stdout
    assert "complete -o default -F _mobiledenoise_completion mobiledenoise" in script.stdout
    # What the installed script asks the command for while the user types `mobiledenoise de<TAB>`
    # and `mobiledenoise denoise --str<TAB>`.
    env = {**os.environ, "_MOBILEDENOISE_COMPLETE": "complete_bash"}
    commands = _python("-m", "mobiledenoise", env={**env, "COMP_WORDS": "mobiledenoise de",
                                                   "COMP_CWORD": "1"})
    assert commands.stdout.split() == ["denoise", "demo"]
    options = _python("-m", "mobiledenoise", env={
        **env, "COMP_WORDS": "mobiledenoise denoise --str", "COMP_CWORD": "2"})
    assert options.stdout.split() == ["--strength"]


def test_import_loads_nothing_heavy():
    done = _python("-c", "import sys, mobiledenoise; print(mobiledenoise.__version__); "
                   "print(sorted(m for m in ('numpy', 'tensorflow', 'keras', 'ai_edge_litert', "
                   "'typer', 'PIL') if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[1] == "[]"


def test_packaged_files_are_found_in_the_package():
    noisy, clean = sample_pair()
    assert noisy.is_file() and clean.is_file()
    assert noisy.resolve().is_relative_to(PACKAGE)
    assert (noisy.parent / "LICENSE-PolyU.txt").is_file()
    assert recipe_path("noahtcv").is_file() and recipe_path("moma").is_file()
    with pytest.raises(UserError, match="expected the packaged folder nope/"):
        package_folder("nope")


def test_checkout_paths_link_to_the_packaged_folders():
    """`recipes/default.yaml` and `examples/` keep working in a checkout (docs use them)."""
    assert (REPO / "recipes").resolve() == package_folder("recipes").resolve()
    assert (REPO / "examples").resolve() == package_folder("samples").resolve()


def _build_wheel(out: Path) -> Path:
    """Build from a copy of the sources: setuptools' build/ folder can keep stale files."""
    source = out / "source"
    shutil.copytree(REPO / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    built = _python("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out / "dist"), str(source))
    assert built.returncode == 0, built.stderr
    (wheel,) = (out / "dist").glob("mobiledenoise-*.whl")
    return wheel


def _venv_with_wheel(root: Path, wheel: Path) -> Path:
    """A fresh venv holding only the wheel; the dependencies come from this interpreter's
    site-packages through a .pth path line (which adds the folder but runs none of its .pth
    files, so the checkout's editable install stays out of sight)."""
    venv = root / "venv"
    made = _python("-m", "venv", "--without-pip", str(venv))
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = _python("-m", "pip", "--python", str(python), "install", "--no-deps",
                        "--no-index", "-q", str(wheel), env=CLEAN_ENV)
    assert installed.returncode == 0, installed.stderr
    purelib = _python("-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                      python=str(python), env=CLEAN_ENV).stdout.strip()
    assert (Path(purelib) / "mobiledenoise" / "__init__.py").is_file()
    (Path(purelib) / "mobiledenoise_test_deps.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n")
    return venv


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("samples/polyu_sample_noisy.png", "samples/polyu_sample_clean.png",
                 "samples/LICENSE-PolyU.txt", "samples/README.md", "recipes/noahtcv.yaml",
                 "recipes/moma.yaml", "recipes/default.yaml", "weights/fast_fp32.tflite",
                 "weights/default_fp32.tflite", "weights/default_int8.tflite",
                 "weights/fast_int8.tflite", "weights/fast_fp32.json",
                 "server/templates/index.html", "__main__.py", "api.py", "resources.py"):
        assert f"mobiledenoise/{name}" in names, name
    assert f"-{mobiledenoise.__version__}-" in wheel.name
    assert wheel.stat().st_size < 4 * 2**20  # no data sets or runs slipped in (~1 MB)

    venv = _venv_with_wheel(tmp_path, wheel)
    work = tmp_path / "work"  # outside the checkout; no ../shared/data from here
    work.mkdir()
    command = str(venv / "bin" / "mobiledenoise")

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([command, *args], capture_output=True, text=True, env=CLEAN_ENV,
                              cwd=work, timeout=300)
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        return done

    where = _python("-c", "import mobiledenoise, mobiledenoise.resources as r; "
                    "print(mobiledenoise.__file__); print(r.recipe_path('noahtcv'))",
                    python=str(venv / "bin" / "python"), env=CLEAN_ENV, cwd=work)
    module, recipe = where.stdout.split()
    assert Path(module).is_relative_to(venv) and Path(recipe).is_relative_to(venv)
    assert run("--version").stdout == f"mobiledenoise {mobiledenoise.__version__}\n"

    demo = run("demo", "-o", "demo_out", "--threads", "1")
    noisy_db, denoised_db = map(float, re.search(r"noisy ([\d.]+) dB .* denoised ([\d.]+) dB",
                                                 demo.stdout).groups())
    assert denoised_db > noisy_db + 1.0
    assert (work / "demo_out" / "before_after.png").is_file()

    shutil.copy(sample_pair()[0], work / "photo.png")
    run("denoise", "photo.png", "-o", "out")
    assert (work / "out" / "photo.png").is_file()
    model = Path(module).parent / "weights" / "fast_int8.tflite"
    assert "GPU delegate: all" in run("check", str(model)).stdout
    bench = run("bench", str(model), "--runs", "3", "--warmup", "1")
    assert "720x480 patch, 3 runs" in bench.stdout
