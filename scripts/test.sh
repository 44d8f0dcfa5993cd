#!/usr/bin/env bash
# Purser's whole test suite: formatting, lints on product code, and every unit, property and
# integration test — on SQLite always, and on PostgreSQL when one is reachable at
# 127.0.0.1:5432 (CI always has one; this script starts a local cluster that is stopped).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_up() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; }

if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  echo "== starting the local PostgreSQL cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  for _ in $(seq 1 20); do pg_up && break; sleep 0.5; done
fi
if pg_up; then
  export PURSER_TEST_REQUIRE_POSTGRES="${PURSER_TEST_REQUIRE_POSTGRES:-1}"
  echo "== PostgreSQL is reachable at 127.0.0.1:5432: the PostgreSQL tests run too"
else
  echo "== PostgreSQL is not reachable at 127.0.0.1:5432: PostgreSQL tests are SKIPPED; SQLite tests still run"
fi

# The interop tests check Purser's request signatures against an independent implementation
# (PyPI http-message-signatures), the MCP server against the official MCP SDK (PyPI mcp), and
# ACP delegate payment against its spec file (PyPI schemathesis), in a virtualenv of their own.
if command -v python3 >/dev/null 2>&1; then
  if [ ! -x .venv-interop/bin/python ] || ! .venv-interop/bin/python -c "import http_message_signatures, mcp, schemathesis" 2>/dev/null; then
    echo "== installing the Python interop tools (interop/requirements.txt) into .venv-interop"
    python3 -m venv .venv-interop && .venv-interop/bin/pip install -q -r interop/requirements.txt || true
  fi
  if .venv-interop/bin/python -c "import http_message_signatures, mcp, schemathesis" 2>/dev/null; then
    export PURSER_INTEROP_PYTHON="$PWD/.venv-interop/bin/python"
    export PURSER_TEST_REQUIRE_INTEROP="${PURSER_TEST_REQUIRE_INTEROP:-1}"
    echo "== Python interop (http-message-signatures, mcp, schemathesis) is installed: the interop tests run"
  else
    echo "== Python interop tools could not be installed: interop tests are SKIPPED"
  fi
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (product code: no unwrap/expect/panic)"
cargo clippy --workspace --lib --bins --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked

# The web wallet in a real browser (web-tests/run.sh): Debian's Chromium, installed here when
# missing and this script runs as root with apt-get; skipped loudly otherwise, unless
# PURSER_TEST_REQUIRE_BROWSER=1.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing Chromium for the browser tests (apt-get install chromium chromium-driver)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null) || true
fi
echo "== browser tests (web-tests/)"
cargo build --locked -p purser
./web-tests/run.sh

# Every parser of untrusted bytes under libFuzzer for a bounded time (fuzz/README.md).
echo "== fuzzing (scripts/fuzz.sh: every target ${FUZZ_SECONDS:-30} s)"
fuzz_rc=0
./scripts/fuzz.sh || fuzz_rc=$?
if [ "$fuzz_rc" -eq 3 ]; then
  if [ "${PURSER_TEST_REQUIRE_FUZZ:-0}" = "1" ]; then
    echo "!! cargo-fuzz could not be installed and PURSER_TEST_REQUIRE_FUZZ=1: failing"
    exit 1
  fi
  echo "!! ================================================================================"
  echo "!! FUZZING SKIPPED: cargo-fuzz could not be installed (no crates.io?)."
  echo "!! Nothing was fuzzed. Set PURSER_TEST_REQUIRE_FUZZ=1 to make this an error."
  echo "!! ================================================================================"
elif [ "$fuzz_rc" -ne 0 ]; then
  exit "$fuzz_rc"
fi
echo "== all tests passed"
