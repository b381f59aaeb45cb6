"""Browser test: headless Debian Chromium, driven by Playwright (PyPI package, pointed at
/usr/bin/chromium — `playwright install` is never used), uploads a model through the page of
a real uvicorn server, the worker scores it, and the leaderboard page shows it.

Skipped locally when Chromium or Playwright is missing; under CI=true that is a failure
(scripts/install-browser.sh installs Chromium)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from server_helpers import live_server, make_phases, tflite_models

from conftest import make_pair_folder
from mobiledenoise.server.app import create_app
from mobiledenoise.server.worker import Worker

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _require_browser():
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} not found; run scripts/install-browser.sh"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (pip install playwright)"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(problem)
        pytest.skip(problem)


def test_upload_through_the_page_then_see_it_on_the_leaderboard(tmp_path):
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    hidden = make_pair_folder(tmp_path / "hidden" / "validation").parent
    app = create_app(tmp_path / "state", hidden, make_phases())
    token = app.state.store.add_team("browser-team")
    model = tmp_path / "my_unet.tflite"
    shutil.copyfile(tflite_models()["good"], model)

    with live_server(app) as url, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS)
        try:
            page = context.new_page()
            blocked = []  # the pages' CSP must let their own (nonce-bearing) script and style run
            page.on("console", lambda msg: blocked.append(msg.text)
                    if "Content Security Policy" in msg.text else None)
            page.goto(url + "/")
            page.fill("#token", token)
            page.set_input_files("#file", str(model))
            page.click("#submit")
            expect(page.locator("#message")).to_have_text("Submission 1 is queued.", timeout=30_000)
            expect(page.locator("#submission-1")).to_contain_text("my_unet.tflite")

            Worker(app.state.store, hidden, app.state.phases).run(max_idle_polls=1)
            expect(page.locator("#submission-1")).to_contain_text("scored", timeout=30_000)

            page.goto(url + "/leaderboard")
            row = page.locator("#leaderboard tbody tr").first
            expect(row).to_contain_text("browser-team")
            expect(row).to_contain_text("my_unet.tflite")
            plot_width = page.eval_on_selector("img", "img => img.complete && img.naturalWidth")
            assert plot_width == 640

            page.goto(url + "/")  # a bad upload shows the error, and the page keeps working
            page.set_input_files("#file", {"name": "bad.tflite", "mimeType": "application/octet-stream",
                                           "buffer": b"not a model at all"})
            page.click("#submit")
            expect(page.locator("#message")).to_contain_text("Error: expected a TFLite model")
            assert blocked == [], blocked
            injected = page.evaluate("""() => { const s = document.createElement('script');
                s.textContent = 'window.injected = 1'; document.body.appendChild(s);
                return window.injected === 1; }""")
            assert injected is False  # an inline script without the nonce does not run
        finally:
            context.close()
