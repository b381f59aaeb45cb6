# Two entry points (see README): `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast install wheel clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/mobiledenoise demo

test: install
	./scripts/install-browser.sh
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not browser"

# The installable package (what `pip install dist/*.whl` gets), built offline with the
# venv's setuptools; prints its size (README "Install").
wheel: install
	rm -rf build dist
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w dist .
	@$(BIN)/python -c "import pathlib; w = next(pathlib.Path('dist').glob('*.whl')); \
	print(f'wheel: {w} {w.stat().st_size:,} bytes ({w.stat().st_size / 2**20:.2f} MiB)')"

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
