#!/usr/bin/env bash
# The web wallet's browser tests: headless Chromium (Debian's /usr/bin/chromium, never a
# Playwright browser download) driven by playwright-core (pinned in package-lock.json) against
# a real `purser serve` the tests start on a temporary data directory.
#
# Needs the purser binary cargo built (PURSER_BIN, default: $CARGO_TARGET_DIR or ../target,
# debug). Without Chromium, node or the npm packages the tests are SKIPPED — loudly — unless
# PURSER_TEST_REQUIRE_BROWSER=1 (CI), which makes that a failure.
set -euo pipefail
cd "$(dirname "$0")"

skip() {
  echo "== browser tests SKIPPED: $1"
  if [ "${PURSER_TEST_REQUIRE_BROWSER:-0}" = 1 ]; then
    echo "== PURSER_TEST_REQUIRE_BROWSER=1: a skipped browser test is a failure"
    exit 1
  fi
  exit 0
}

CHROMIUM="${PURSER_CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || skip "no Chromium at $CHROMIUM (apt-get install chromium chromium-driver)"
command -v node >/dev/null 2>&1 || skip "node is not installed (apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || skip "npm is not installed (apt-get install npm)"
if ! node -e 'require("playwright-core")' 2>/dev/null || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error || skip "npm ci failed: is the npm registry reachable?"
fi

target="${CARGO_TARGET_DIR:-../target}"
BIN="${PURSER_BIN:-$target/debug/purser}"
if [ ! -x "$BIN" ]; then
  echo "== no purser binary at $BIN: build it first (cargo build)"
  exit 1
fi
export PURSER_BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
export PURSER_CHROMIUM="$CHROMIUM"
export PURSER_SCREENSHOTS="${PURSER_SCREENSHOTS:-$(cd "$target" && pwd)/web-screenshots}"
echo "== browser tests: $("$CHROMIUM" --version 2>/dev/null || echo chromium), purser at $PURSER_BIN"
echo "== screenshots: $PURSER_SCREENSHOTS"
node --test --test-concurrency=1 tests/
