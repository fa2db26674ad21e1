#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (docs/security.md "Fuzzing") for SECONDS each:
#   scripts/fuzz.sh SECONDS [TARGET…]        (default: check fmt catalog unpack lsp)
# Corpora live in fuzz/corpus/<target> (seeded by fuzz/seeds.py when empty; not committed;
# fuzz/fleet.dict and fuzz/lsp.dict are libFuzzer dictionaries of tokens),
# crashes in fuzz/artifacts/<target>/. Prints per target the executions and the crashes
# (panics, OOMs, timeouts) and exits 1 if any target crashed.
#
# Environment:
#   FUZZ_KEEP_GOING=1   keep fuzzing after a crash (libFuzzer's fork mode with
#                       -ignore_crashes/-ignore_ooms/-ignore_timeouts): every crash is saved
#                       and counted, for a run on code with a known crash not yet fixed
#   FUZZ_SANITIZER=…    cargo fuzz's sanitizer (default none: fleet is safe Rust, and panics,
#                       OOMs and hangs are what is looked for; address for unsafe code)
#   FUZZ_TIMEOUT=10     seconds one input may take before it counts as a hang
#   FUZZ_RSS_MB=2048    memory one run may use before it counts as an OOM
#   FUZZ_ARGS="…"       more libFuzzer flags
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain, or stable with
# RUSTC_BOOTSTRAP=1 (used when no nightly is installed).
set -euo pipefail
cd "$(dirname "$0")/.."

all=(check fmt catalog unpack lsp)
if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh SECONDS [TARGET…]   (targets: ${all[*]})" >&2
  exit 2
fi
seconds=$1
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_targets/$t.rs" ] || { echo "fuzz.sh: no target $t (${all[*]})" >&2; exit 2; }
done
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: cargo install cargo-fuzz" >&2; exit 2; }

cargo=(cargo)
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  cargo=(cargo +nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
sanitizer=${FUZZ_SANITIZER:-none}

for t in "${targets[@]}"; do
  (cd fuzz && "${cargo[@]}" fuzz build -s "$sanitizer" "$t")
done

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
failed=0
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  if [ -z "$(ls -A "$corpus")" ]; then
    python3 fuzz/seeds.py "$t" "$corpus"
  fi
  flags=(-max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}"
    -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -print_final_stats=1)
  if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    flags+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  fi
  case $t in
    check | fmt) flags+=(-dict=fleet.dict) ;;
    lsp) flags+=(-dict=lsp.dict) ;;
  esac
  # shellcheck disable=SC2206 # FUZZ_ARGS is a list of flags
  flags+=(${FUZZ_ARGS:-})
  echo "== $t: ${seconds}s, corpus $(ls "$corpus" | wc -l) inputs" >&2
  status=0
  (cd fuzz && "${cargo[@]}" fuzz run -s "$sanitizer" "$t" "corpus/$t" -- "${flags[@]}") \
    >"$logs/$t" 2>&1 || status=$?
  # Executions: the final stats (plain mode) or the last status line (fork mode).
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$t" | tail -1 | grep -o '[0-9]*$' || true)
  if [ -z "$execs" ]; then
    execs=$(grep -oE '^#[0-9]+' "$logs/$t" | tail -1 | tr -d '#' || true)
  fi
  crashes=$(grep -oE 'oom/timeout/crash: [0-9]+/[0-9]+/[0-9]+' "$logs/$t" | tail -1 |
    grep -oE '[0-9]+/[0-9]+/[0-9]+' | awk -F/ '{print $1+$2+$3}' || true)
  if [ -z "$crashes" ]; then
    crashes=$([ "$status" = 0 ] && echo 0 || echo 1)
  fi
  if [ "$crashes" != 0 ] || [ "$status" != 0 ]; then
    failed=1
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written|^thread' "$logs/$t" | head -20 >&2 || true
    cp "$logs/$t" "fuzz/artifacts/$t/last-run.log"
  fi
  summary+=("$(printf '%-8s %6ss %12s executions %4s crashes  corpus %s' \
    "$t" "$seconds" "${execs:-?}" "$crashes" "$(ls "$corpus" | wc -l)")")
done
echo "fuzz.sh $(date -u +%Y-%m-%dT%H:%MZ) $(git rev-parse --short HEAD 2>/dev/null || true):"
printf '%s\n' "${summary[@]}"
exit "$failed"
