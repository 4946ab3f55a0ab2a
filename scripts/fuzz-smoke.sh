#!/usr/bin/env bash
# Fuzz smoke test: builds the cargo-fuzz targets in fuzz/ on the stable
# toolchain, replays every saved crash input (fuzz/regressions/<target>/), then
# fuzzes each target for a short time. Exits non-zero if any target crashes.
#
# Environment (all optional):
#   FUZZ_SECONDS     seconds of fuzzing per target (default 20; 0 = build and
#                    replay the regressions only)
#   FUZZ_TARGETS     targets to run, space separated
#                    (default: wire_decode state_merge seal_open datagram_decode)
#   FUZZ_SANITIZER   none (default) or address. Stable rustc has no -Z flags;
#                    `none` needs none, `address` is built with
#                    RUSTC_BOOTSTRAP=1 (slower to build and to run).
#   FUZZ_MAX_LEN     largest input libFuzzer tries (default 4096)
#   FUZZ_CORPUS_DIR  where corpora grow (default fuzz/corpus, git-ignored)
#   CARGO_FUZZ_VERSION  cargo-fuzz to install when missing (default 0.13.2)
#
# Reproduce a crash:  cargo fuzz run -s none <target> <artifact file>
# Show it decoded:    cargo fuzz fmt -s none <target> <artifact file>
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${FUZZ_SECONDS:-20}
targets=${FUZZ_TARGETS:-"wire_decode state_merge seal_open datagram_decode"}
sanitizer=${FUZZ_SANITIZER:-none}
max_len=${FUZZ_MAX_LEN:-4096}
corpus_root=${FUZZ_CORPUS_DIR:-$root/fuzz/corpus}
cargo_fuzz_version=${CARGO_FUZZ_VERSION:-0.13.2}

log() { printf 'fuzz-smoke: %s\n' "$*"; }
die() { printf 'fuzz-smoke: error: %s\n' "$*" >&2; exit 2; }

case "$seconds" in '' | *[!0-9]*) die "FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" ;; esac
case "$sanitizer" in none | address) ;; *) die "FUZZ_SANITIZER must be none or address, not '$sanitizer'" ;; esac
command -v cargo >/dev/null || die "cargo not found"

# -- cargo-fuzz -----------------------------------------------------------------
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "cargo-fuzz missing: installing cargo-fuzz $cargo_fuzz_version with cargo install (about 1.5 min)"
    start=$(date +%s)
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked </dev/null ||
        die "could not install cargo-fuzz"
    log "installed cargo-fuzz in $(($(date +%s) - start)) s"
fi
log "$(cargo fuzz --version), $(rustc --version)"

# -- build --------------------------------------------------------------------------
# cargo-fuzz builds in release mode with debug assertions (and so overflow
# checks) on, with libFuzzer's coverage instrumentation: plain -C flags that
# stable rustc accepts. Only a sanitizer needs -Zsanitizer, i.e. nightly, or
# RUSTC_BOOTSTRAP=1 on stable.
host=$(rustc -vV | sed -n 's/^host: //p')
build_env=()
target_dir_args=()
if [ "$sanitizer" = address ]; then
    if ! rustc -vV | grep -q '^release:.*nightly'; then
        build_env=(RUSTC_BOOTSTRAP=1)
    fi
    # a separate target dir, so switching sanitizers does not rebuild the other
    target_dir_args=(--target-dir "$root/fuzz/target/asan")
    bin_dir=$root/fuzz/target/asan/$host/release
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:detect_leaks=0}
else
    bin_dir=$root/fuzz/target/$host/release
fi
log "building targets ($targets) with sanitizer '$sanitizer'"
start=$(date +%s)
for t in $targets; do
    env "${build_env[@]}" cargo fuzz build -s "$sanitizer" "${target_dir_args[@]}" "$t" </dev/null ||
        die "building fuzz target '$t' failed"
done
log "built in $(($(date +%s) - start)) s"

# -- run ----------------------------------------------------------------------------
passed=0
failed=0
summary=()
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for t in $targets; do
    bin=$bin_dir/$t
    [ -x "$bin" ] || die "no fuzz binary at $bin"
    regressions=$root/fuzz/regressions/$t
    artifacts=$root/fuzz/artifacts/$t
    corpus=$corpus_root/$t
    mkdir -p "$artifacts" "$corpus" "$regressions"
    ok=1

    # 1. every saved crash input must pass
    mapfile -t saved < <(find "$regressions" -type f | sort)
    n_regressions=${#saved[@]}
    if [ "$n_regressions" -gt 0 ]; then
        if "$bin" "${saved[@]}" >"$tmp/$t.replay.log" 2>&1 </dev/null; then
            log "$t: $n_regressions saved crash input(s) replayed, all pass"
        else
            ok=0
            log "$t: a saved crash input fails again:"
            grep -E -A12 "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer" "$tmp/$t.replay.log" | head -40 || tail -40 "$tmp/$t.replay.log"
        fi
    fi

    # 2. fuzz for a while, the saved crash inputs as extra seeds
    runs=0
    rate=0
    if [ "$ok" = 1 ] && [ "$seconds" -gt 0 ]; then
        log "$t: fuzzing for $seconds s"
        set +e
        timeout --kill-after=30 $((seconds + 120)) "$bin" "$corpus" "$regressions" \
            -max_total_time="$seconds" -max_len="$max_len" -timeout=20 -rss_limit_mb=2048 \
            -artifact_prefix="$artifacts/" -print_final_stats=1 \
            >"$tmp/$t.log" 2>&1 </dev/null
        status=$?
        set -e
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log" | tail -1)
        runs=${runs:-0}
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$tmp/$t.log" | tail -1)
        rate=${rate:-0}
        if [ "$status" -ne 0 ]; then
            ok=0
            log "$t: CRASH (exit $status) after $runs runs:"
            grep -E -A20 "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|==[0-9]+==ERROR" "$tmp/$t.log" | head -60 || tail -60 "$tmp/$t.log"
            artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$tmp/$t.log" | tail -1)
            if [ -n "$artifact" ]; then
                log "$t: crashing input saved as $artifact"
                log "$t: reproduce with: cargo fuzz run -s $sanitizer $t $artifact"
                log "$t: see it with:    cargo fuzz fmt -s $sanitizer $t $artifact"
            fi
        else
            log "$t: ok, $runs runs, $rate exec/s, corpus $(find "$corpus" -type f | wc -l) inputs"
        fi
    fi

    if [ "$ok" = 1 ]; then
        passed=$((passed + 1))
        summary+=("$(printf '%-12s ok      %10s runs %8s exec/s' "$t" "$runs" "$rate")")
    else
        failed=$((failed + 1))
        summary+=("$(printf '%-12s FAILED  %10s runs %8s exec/s' "$t" "$runs" "$rate")")
    fi
done

log "summary (sanitizer $sanitizer, $seconds s per target):"
for line in "${summary[@]}"; do
    printf '  %s\n' "$line"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
