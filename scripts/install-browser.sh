#!/usr/bin/env sh
# Installs Debian's headless-capable Chromium for the server's browser test (tests/test_server_browser.py).
# Idempotent: does nothing when /usr/bin/chromium is already there. The test drives it with the
# PyPI `playwright` package pointed at this binary; `playwright install` is never used.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium
