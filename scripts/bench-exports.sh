#!/usr/bin/env bash
# Benchmark (not a test) of the exports, issue 13: a market's whole ledger
# as CSV and as XLSX through `GET /v1/markets/{id}/export`, at about 10,000
# and about 1,000,000 rows, beside a peer in the same run: the sqlite3 CLI
# dumping the same rows (`-csv`, the same columns pulled out of the same
# entries and their batches' purchases with json_extract) from the same
# database file.
#
# For each size it starts `serve --demo --demo-days N` (the generator's
# frozen-food market, ~4,000 entries a day) on a temporary database, then
# per format: resets the server's peak RSS (/proc/PID/clear_refs, 5), times
# the download with curl, and reads the peak (VmHWM) back. The figure is the
# peak minus the idle server's RSS before the export (the server keeps the
# ledger graph in memory; that is not the export's). The peer's peak RSS is
# its whole process (/usr/bin/time).
#
# Needs a built server (default target/release/shian-server: `cargo build
# --release -p shian-server --bin shian-server`; any build through
# SHIAN_SERVER_BIN, say which in the figures), curl, the sqlite3 CLI and
# /usr/bin/time (Debian: curl sqlite3 time), python3.
#
# Usage: scripts/bench-exports.sh
# Env:   SMALL_DAYS (default 8), LARGE_DAYS (default 250; 0 skips a size),
#        SHIAN_SERVER_BIN.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BIN="${SHIAN_SERVER_BIN:-$TARGET_DIR/release/shian-server}"
SMALL_DAYS="${SMALL_DAYS:-8}"
LARGE_DAYS="${LARGE_DAYS:-250}"
log() { printf '[bench-exports] %s\n' "$*" >&2; }
[ -x "$BIN" ] || { log "no $BIN: cargo build --release -p shian-server --bin shian-server"; exit 1; }
for tool in curl sqlite3 /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { log "missing $tool (apt-get install curl sqlite3 time)"; exit 1; }
done

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$server_pid/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# The same rows as the export's, from the same file (voids and voided
# entries left out, a movement's product from its batch's purchase).
peer_sql() {
    cat <<SQL
SELECT e.at, e.kind, e.merchant_id, m.name, e.trace_code,
       json_extract(COALESCE(p.payload, e.payload), '\$.product.name'),
       json_extract(COALESCE(p.payload, e.payload), '\$.product.category'),
       json_extract(e.payload, '\$.quantity.value'), json_extract(e.payload, '\$.quantity.unit'),
       json_extract(COALESCE(p.payload, e.payload), '\$.expiry_date'), e.entry_id
FROM merchants m JOIN entries e ON e.merchant_id = m.id
LEFT JOIN entries p ON p.kind = 'ledger.purchase' AND p.trace_code = e.trace_code AND e.kind <> 'ledger.purchase'
WHERE m.market_id = '$1' AND e.kind <> 'ledger.void' AND e.voided_by IS NULL
ORDER BY m.id, e.rowid;
SQL
}

printf '| rows | format | shian time (s) | shian peak RSS over idle (MiB) | file (MiB) | sqlite3 -csv time (s) | sqlite3 peak RSS (MiB) |\n'
printf '|---|---|---|---|---|---|---|\n'
for days in "$SMALL_DAYS" "$LARGE_DAYS"; do
    [ "$days" -gt 0 ] || continue
    db="$work/d$days.db"
    t0="$(now)"
    RUST_LOG=warn "$BIN" serve --demo --demo-days "$days" --db "$db" --addr 127.0.0.1:0 \
        >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    base=""
    for _ in $(seq 1 36000); do
        base="$(sed -n 's|^shian-server listening on \(http://[0-9.:]*\)$|\1|p' "$work/server.out" | head -n1)"
        [ -n "$base" ] && break
        kill -0 "$server_pid" 2>/dev/null || { tail "$work/server.err" >&2; exit 1; }
        sleep 0.1
    done
    log "$days demo days loaded in $(elapsed "$t0") s"
    token="$(curl -s "$base/v1/auth/login" -H 'content-type: application/json' \
        -d '{"username":"analyst","password":"demo-analyst-pass"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["token"])')"
    # The demo's largest market by ledger entries.
    market="$(sqlite3 -readonly "$db" "SELECT m.market_id FROM entries e JOIN merchants m ON m.id = e.merchant_id WHERE m.market_id IS NOT NULL GROUP BY m.market_id ORDER BY COUNT(*) DESC LIMIT 1")"
    # The peer's run, once per size (it has one format).
    peer_sql "$market" >"$work/peer.sql"
    /usr/bin/time -f '%e %M' -o "$work/peer.time" sqlite3 -csv -readonly "$db" <"$work/peer.sql" >"$work/peer.csv"
    read -r peer_s peer_kib <"$work/peer.time"
    peer_rows="$(wc -l <"$work/peer.csv")"
    for format in csv xlsx; do
        idle="$(kib VmRSS)"
        echo 5 >"/proc/$server_pid/clear_refs"
        t="$(now)"
        curl -sf -o "$work/out.$format" "$base/v1/markets/$market/export?format=$format" -H "authorization: Bearer $token"
        secs="$(elapsed "$t")"
        peak="$(kib VmHWM)"
        size="$(stat -c %s "$work/out.$format")"
        if [ "$format" = csv ]; then
            rows=$(( $(wc -l <"$work/out.csv") - 1 ))
        fi
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$rows" "$format" "$secs" \
            "$(mib $(( peak > idle ? peak - idle : 0 )))" "$(mib $(( size / 1024 )))" "$peer_s" "$(mib "$peer_kib")"
    done
    [ "$rows" -eq "$peer_rows" ] || log "row counts differ: shian $rows, sqlite3 $peer_rows"
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
    server_pid=""
done
