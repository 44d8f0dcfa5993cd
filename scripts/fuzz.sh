#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes (fuzz/README.md lists the targets): builds all
# cargo-fuzz targets once, then runs each for FUZZ_SECONDS (default 30) over its seed corpus,
# FUZZ_JOBS at a time (default: one per core). Fails on any crash, panic, failed assertion,
# hang (-timeout) or out-of-memory (-rss_limit_mb) and prints the reproducer's path.
#
#   FUZZ_SECONDS=600 ./scripts/fuzz.sh                 # every target, ten minutes each
#   FUZZ_SECONDS=300 ./scripts/fuzz.sh money ap2_chain  # only these
#
# Exit status: 0 all clean; 1 a target failed; 3 cargo-fuzz is missing and could not be
# installed (scripts/test.sh reports that as SKIPPED unless PURSER_TEST_REQUIRE_FUZZ=1).
#
# Needs only stable Rust: cargo-fuzz's nightly flags are allowed with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION="0.13.2"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_JOBS="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"
FUZZ_TIMEOUT_SECS="${FUZZ_TIMEOUT_SECS:-10}"   # one input running longer is a hang
FUZZ_RSS_LIMIT_MB="${FUZZ_RSS_LIMIT_MB:-2048}" # beyond this is an out-of-memory
FUZZ_MAX_LEN="${FUZZ_MAX_LEN:-16384}"
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
export RUSTC_BOOTSTRAP=1

# ---- cargo-fuzz -----------------------------------------------------------------------------
have_cargo_fuzz() { cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; }
if ! have_cargo_fuzz; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
  if ! cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked; then
    echo "!! cargo-fuzz $CARGO_FUZZ_VERSION could not be installed"
    exit 3
  fi
fi

# ---- build ----------------------------------------------------------------------------------
# No sanitizer: the product crates forbid `unsafe` (what ASan would watch), and without it the
# build is half as long and every execution several times faster. Debug assertions are on,
# so integer overflow panics (money arithmetic above all) are findings.
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cd fuzz && cargo fuzz list); fi
host="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="$FUZZ_TARGET_DIR/$host/release"
echo "== building ${#targets[@]} fuzz targets (cargo fuzz build, release, debug assertions, no sanitizer)"
start=$SECONDS
build() { (cd fuzz && cargo fuzz build --sanitizer none --debug-assertions --target-dir "$FUZZ_TARGET_DIR" "$@"); }
if [ "$#" -gt 0 ]; then
  for t in "${targets[@]}"; do build "$t"; done
else
  build
fi
for t in "${targets[@]}"; do
  [ -x "$bin_dir/$t" ] || { echo "!! fuzz target $t did not build"; exit 1; }
done
echo "== built in $((SECONDS - start)) s"

# ---- run ------------------------------------------------------------------------------------
work="$FUZZ_TARGET_DIR/runs"
mkdir -p "$work" fuzz/artifacts
run_one() {
  local t="$1" log="$work/$1.log"
  mkdir -p "$work/$t/corpus" "fuzz/artifacts/$t"
  # New inputs go to the scratch corpus (first directory); the committed seeds are only read.
  "$bin_dir/$t" "$work/$t/corpus" "fuzz/corpus/$t" \
    -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT_SECS" \
    -rss_limit_mb="$FUZZ_RSS_LIMIT_MB" -max_len="$FUZZ_MAX_LEN" \
    -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1
}

echo "== running each target for ${FUZZ_SECONDS} s, ${FUZZ_JOBS} at a time"
start=$SECONDS
declare -A pid_of
failed=()
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do wait -n || true; done
  run_one "$t" &
  pid_of[$t]=$!
done
for t in "${targets[@]}"; do
  log="$work/$t.log"
  if wait "${pid_of[$t]}"; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)"
    echo "   ok  $t: ${runs:-?} inputs, ${cov:-cov: ?}"
  else
    failed+=("$t")
    echo "   FAIL $t"
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|==ERROR|timeout|out-of-memory' "$log" | head -n 8 | sed 's/^/        /'
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    if [ -n "$artifact" ]; then
      echo "        reproducer: $artifact"
      echo "        replay it:  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none --debug-assertions $t $artifact  (in fuzz/)"
    fi
    echo "        full log:   $log"
  fi
done
echo "== fuzzed in $((SECONDS - start)) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "!! fuzzing found failures in: ${failed[*]}"
  exit 1
fi
echo "== fuzzing: every target ran ${FUZZ_SECONDS} s without a crash, hang or out-of-memory"
