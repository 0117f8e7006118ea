#!/usr/bin/env bash
# Every test of Shian, on a fresh machine: installs what the tests need
# (Debian packages, the Kotlin compiler from npm), checks rustfmt and clippy,
# then runs the Rust tests (core, server, end-to-end and fault tests),
# schemathesis against the server's OpenAPI document, the browser tests of the
# public pages (headless Chromium), the Python and Kotlin
# binding tests and the mobile-shell tests. Ends with one line "total: N passed, N failed".
#
# Usage: scripts/test-all.sh
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

log() { printf '\n[test-all] %s\n' "$*"; }
t0="$(now)"
passed=0
failed=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); }

log "installing test dependencies"
bash scripts/install-test-deps.sh || { echo "total: 0 passed, 1 failed"; exit 1; }

out="$(mktemp)"
trap 'rm -f "$out"' EXIT

# Sets p and f from the "test result" lines of cargo's output in $out; a
# failed run with no failed test is a build error, counted as one.
rust_totals() {
    p=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$out" | awk '{s+=$1} END {print s+0}')
    if [ "$rust_status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
}

# Style and lints first: each counts as one test, so a failure shows in the
# total line, and the rest still runs.
log "rustfmt (cargo fmt --all --check)"
if cargo fmt --all --check; then add 1 0; else add 0 1; fi

log "clippy (cargo clippy --workspace --all-targets -- -D warnings)"
if cargo clippy --workspace --all-targets -- -D warnings; then add 1 0; else add 0 1; fi

log "Rust tests (cargo test --workspace)"
cargo test --workspace --no-fail-fast 2>&1 | tee "$out"
rust_status=${PIPESTATUS[0]}
rust_totals
add "$p" "$f"

# The same suites again on PostgreSQL (a throw-away PostgreSQL 15 cluster
# per test binary, a fresh database per server): the binaries built above,
# run with SHIAN_TEST_DB=postgres: the end-to-end, fault and security
# suites, three instances over one database behind nginx, and the server's
# suites, which look beneath the API through server/tests/common's
# backend-neutral SQL (count, rows, execute, stored_bytes) and give the CLI
# the database URL (cli's create-user too; its other tests make SQLite files
# of their own). Not here: keys, shared_file and writers are about the
# SQLite file and key files themselves (PostgreSQL's side is in
# instances and the vault's unit tests); citus_ready and layers choose no
# backend.
PG_SUITES=(${SHIAN_PG_SUITES:-e2e_sync faults security instances snapshot_start snapshots auth cli registry bad_input demo import login_race metrics alerts entry_checks exports price_window qr_and_signs recalls reports self_checks staff start_pass console market_operator field_inspection field_samples field_analysis feedback holds pages signed_codes reports_anonymity page_cache_follow trace_wait})
log "Rust suites on PostgreSQL (SHIAN_TEST_DB=postgres: ${PG_SUITES[*]})"
# The test binaries the step above built, found by the same cargo flags (so
# nothing is rebuilt: a `--test` selection unifies dependency features
# differently and recompiled shian-server, 1.5 min) and run as cargo runs
# them, from their package's folder.
pg_bins="$(cargo test --workspace --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
want = set(sys.argv[1:])
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    t = m.get("target", {})
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and t.get("kind") == ["test"] and t.get("name") in want:
        print(t["name"], m["executable"], os.path.dirname(m["manifest_path"]))
' "${PG_SUITES[@]}")"
: > "$out"
rust_status=0
for t in "${PG_SUITES[@]}"; do
    line="$(printf '%s\n' "$pg_bins" | awk -v t="$t" '$1 == t' | head -n1)"
    if [ -z "$line" ]; then
        echo "no test binary for suite $t" | tee -a "$out"; add 0 1; continue
    fi
    read -r _ exe pkg <<<"$line"
    echo "     Running $t on PostgreSQL ($exe)" | tee -a "$out"
    (cd "$pkg" && SHIAN_TEST_DB=postgres "$exe") 2>&1 | tee -a "$out"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rust_status=1
done
rust_totals
add "$p" "$f"

# schemathesis runs the server binary that `cargo test --workspace` built.
for suite in schemathesis browser python kotlin; do
    log "$suite tests"
    bash "scripts/test-$suite.sh" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    line="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n1)"
    p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    p=${p:-0}; f=${f:-0}
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    add "$p" "$f"
done

log "finished in $(elapsed "$t0") s"
echo "total: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
