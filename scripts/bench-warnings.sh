#!/usr/bin/env bash
# Benchmark (not a test) of the warnings' quality, issue 13 item 2: each
# alert kind's precision and recall against the ground truth the demo
# generator planted (`demo-truth.json`: the planted cases and the near
# misses that must stay quiet).
#
# Starts the built server with `serve --demo` on a temporary data directory
# (the first start plants the cases and writes the truth beside the
# database), then runs the bench-warnings binary: it logs in as the demo
# analyst, calls POST /v1/alerts/scan, pages through GET /v1/alerts and
# prints a markdown table (TP, FP, FN, precision, recall per kind; a near
# miss alerted is a FP) and a JSON summary. Exits non-zero when the alerts
# API is not there (404) or the run fails.
#
# Needs: `cargo build -p shian-server --bin shian-server` (or set
# SHIAN_SERVER_BIN, e.g. to target/release/shian-server); builds the bench
# binary itself.
#
# Usage: scripts/bench-warnings.sh
# Env:   SHIAN_SERVER_BIN, JSON_OUT (also write the JSON summary there).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BIN="${SHIAN_SERVER_BIN:-$TARGET_DIR/debug/shian-server}"
log() { printf '[bench-warnings] %s\n' "$*" >&2; }

[ -x "$BIN" ] || { log "no $BIN: cargo build -p shian-server --bin shian-server"; exit 1; }
log "cargo build -p shian-tests --bin bench-warnings"
(cd "$ROOT" && cargo build -q -p shian-tests --bin bench-warnings)
BENCH="$TARGET_DIR/debug/bench-warnings"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

started="$(now)"
start_demo_server "$BIN" "$work"
log "demo server $base ready in $(elapsed "$started") s"
[ -f "$work/demo-truth.json" ] || { log "the demo wrote no demo-truth.json"; exit 1; }

args=(--base "$base" --truth "$work/demo-truth.json")
[ -n "${JSON_OUT:-}" ] && args+=(--json-out "$JSON_OUT")
"$BENCH" "${args[@]}"
