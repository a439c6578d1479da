#!/usr/bin/env bash
# Install Debian's Chromium for the Playwright browser tests (tests/app/test_browser.py).
# Idempotent: does nothing when /usr/bin/chromium exists. Never runs `playwright install`
# (its browser downloads are not available here); Playwright drives this system Chromium.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
