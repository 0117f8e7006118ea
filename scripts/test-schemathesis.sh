#!/usr/bin/env bash
# Proves that the OpenAPI document tells the truth: runs schemathesis (all
# checks) against /openapi.json of the real server, once per demo role with
# that role's bearer token and once with no token.
#
# Starts the ALREADY BUILT target/debug/shian-server (the test command builds
# it with `cargo test --workspace`) with `serve --demo` on a temporary
# database and a free loopback port, waits for /healthz, logs in as admin,
# analyst, inspector1 and merchant1 (server/src/demo.rs), runs schemathesis
# with a fixed seed and 40 examples per operation, stops the server. The
# schemathesis settings that are not command-line flags (which statuses
# answer a request that is valid by the schema) are in
# scripts/schemathesis.toml, with why.
#
# Ends with "N passed, N failed", counted from each run's JUnit report: one
# test case per operation (and one for the stateful phase) and role, passed
# when no check failed on it and it raised no error; exits non-zero on any
# failure. Each run's output and report stay in target/schemathesis/.
#
# Usage: scripts/test-schemathesis.sh
# Env:   SCHEMATHESIS_SEED (default 20261201; no example database is kept,
#        so the seed alone decides the generated data), SCHEMATHESIS_RUN_SECS
#        (default 300: the bound on one role's run, against a hang; a role
#        takes ~110 s on 2 idle cores and more under load), SHIAN_SERVER_BIN.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ST_VERSION="4.32.5"
VENV="$ROOT/.tools/schemathesis-$ST_VERSION"
ST="$VENV/bin/schemathesis"
BIN="${SHIAN_SERVER_BIN:-$TARGET_DIR/debug/shian-server}"
SEED="${SCHEMATHESIS_SEED:-20261201}"
RUN_SECS="${SCHEMATHESIS_RUN_SECS:-300}"
CONFIG="$ROOT/scripts/schemathesis.toml"

log() { printf '[schemathesis] %s\n' "$*"; }
finish() { # finish <passed> <failed>
    echo "$1 passed, $2 failed"
    [ "$2" -eq 0 ]
    exit
}

# The pinned schemathesis in its own venv under .tools/ (gitignored).
log "schemathesis $ST_VERSION in ${VENV#"$ROOT/"}"
if ! venv_with "$VENV" "schemathesis==$ST_VERSION"; then
    log "could not install schemathesis (is python3-venv installed? scripts/install-test-deps.sh)"
    finish 0 1
fi

if [ ! -x "$BIN" ]; then
    log "no server binary at $BIN: build the workspace first (cargo test --workspace)"
    finish 0 1
fi

work="$(mktemp -d)"
# Each role's output and JUnit report stay here for a look after the run.
reports="$TARGET_DIR/schemathesis"
rm -rf "$reports" && mkdir -p "$reports"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

# python3 rather than curl and jq, which a fresh machine may lack.
http() { # http <url> [json body] → the response body; fails on a non-2xx status
    python3 -c '
import sys, urllib.request
body = sys.argv[2].encode() if len(sys.argv) > 2 else None
req = urllib.request.Request(sys.argv[1], data=body, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    sys.stdout.write(r.read().decode())
' "$@"
}

t0="$(now)"
if ! start_demo_server "$BIN" "$work" || ! http "$base/healthz" >/dev/null; then
    log "the server did not answer /healthz"
    finish 0 1
fi
log "demo server at $base after $(elapsed "$t0") s"

login() { # login <username> <password> → token on stdout
    http "$base/v1/auth/login" "{\"username\":\"$1\",\"password\":\"$2\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

passed=0
failed=0
# "role:username:password"; the anonymous run sends no Authorization header.
runs=(
    "anonymous::"
    "admin:admin:demo-admin-pass"
    "analyst:analyst:demo-analyst-pass"
    "inspector:inspector1:demo-inspector1-pass"
    "merchant:merchant1:demo-merchant1-pass"
)
# Every role logs in before any run: schemathesis's own login requests meet
# the per-address login limit (429), and a login after them would too.
declare -A tokens=()
for run in "${runs[@]}"; do
    IFS=: read -r role user pass <<<"$run"
    [ -n "$user" ] && tokens[$role]="$(login "$user" "$pass")"
done
for run in "${runs[@]}"; do
    IFS=: read -r role user pass <<<"$run"
    auth=()
    if [ -n "$user" ]; then
        token="${tokens[$role]:-}"
        if [ -z "$token" ] || [ "$token" = null ]; then
            log "$role: login as $user failed"
            failed=$((failed + 1))
            continue
        fi
        auth=(-H "Authorization: Bearer $token")
    fi
    junit="$reports/$role.xml"
    log "$role: schemathesis run (all checks, 40 examples per operation, seed $SEED)"
    t1="$(now)"
    # From the temporary directory: schemathesis leaves a .schemathesis/
    # folder in its working directory.
    (cd "$work" && timeout --kill-after=10 "$RUN_SECS" \
        "$ST" --config-file "$CONFIG" run "$base/openapi.json" \
        "${auth[@]}" \
        --checks all \
        --max-examples 40 \
        --seed "$SEED" \
        --generation-database none \
        --no-color \
        --report junit --report-junit-path "$junit" \
        >"$reports/$role.log" 2>&1)
    status=$?
    # One <testcase> per operation; a failed check or an error adds a child.
    read -r ops bad < <(python3 - "$junit" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    cases = list(ET.parse(sys.argv[1]).iter("testcase"))
except (OSError, ET.ParseError):
    cases = []
bad = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
print(len(cases), bad)
EOF
)
    if [ "$status" -ne 0 ] || [ "$bad" -gt 0 ]; then
        # Show what failed: the failure summary at the end of schemathesis's output.
        sed -n '/^=* *FAILURES\|^=* *ERRORS/,$p' "$reports/$role.log" | head -n 400
        [ "$status" -eq 124 ] && log "$role: stopped after ${RUN_SECS} s"
        [ "$bad" -eq 0 ] && bad=1
        [ "$ops" -lt "$bad" ] && ops=$bad
    fi
    log "$role: $((ops - bad)) of $ops operations passed in $(elapsed "$t1") s (exit $status)"
    passed=$((passed + ops - bad))
    failed=$((failed + bad))
done

log "finished in $(elapsed "$t0") s"
finish "$passed" "$failed"
