#!/usr/bin/env bash
# What a consumer sees in a real browser (issue 12 item 6): headless Debian
# Chromium, driven by selenium through /usr/bin/chromedriver at a 390x844
# phone viewport, opens the landing page of the demo server, types a shop
# code into its form, lands on the shop page, opens the product page of the
# demo's showcase trace, and tries a mistyped and an unknown code
# (tests/browser/test_public_pages.py), and every other
# tests/browser/test_*.py module (tests/browser/harness.py is their shared
# driver and checks).
#
# Starts the ALREADY BUILT target/debug/shian-server with `serve --demo` on a
# temporary database and a free loopback port (as test-schemathesis.sh
# does), reads the backward-traced batch the demo prints, runs the test,
# stops the server. Screenshots of every page stay in
# target/browser-screenshots/. Ends with "N passed, N failed"; exits
# non-zero on any failure.
#
# Needs Debian's chromium and chromium-driver (scripts/install-test-deps.sh)
# and python3-venv; selenium is pinned and installed into .tools/.
#
# Usage: scripts/test-browser.sh
# Env:   SHIAN_SERVER_BIN.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# 4.52.0 needs a certifi newer than the package index here offers.
SELENIUM_VERSION="4.51.0"
VENV="$ROOT/.tools/selenium-$SELENIUM_VERSION"
PY="$VENV/bin/python"
BIN="${SHIAN_SERVER_BIN:-$TARGET_DIR/debug/shian-server}"
SHOTS="$TARGET_DIR/browser-screenshots"

log() { printf '[browser] %s\n' "$*"; }
finish() { # finish <passed> <failed>
    echo "$1 passed, $2 failed"
    [ "$2" -eq 0 ]
    exit
}

# The stall-sign test decodes the sign's PNG QR code as a phone's scanner
# does: zxing-cpp (prebuilt wheels), reading the PNG through Pillow.
ZXING_VERSION="3.1.1"
PILLOW_VERSION="13.0.0"
log "selenium $SELENIUM_VERSION, zxing-cpp $ZXING_VERSION, pillow $PILLOW_VERSION in ${VENV#"$ROOT/"}"
if ! venv_with "$VENV" "selenium==$SELENIUM_VERSION" "zxing-cpp==$ZXING_VERSION" "pillow==$PILLOW_VERSION"; then
    log "could not install the browser test's packages (is python3-venv installed? scripts/install-test-deps.sh)"
    finish 0 1
fi
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
    if [ ! -x "$tool" ]; then
        log "no $tool: install chromium and chromium-driver (scripts/install-test-deps.sh)"
        finish 0 1
    fi
done
if [ ! -x "$BIN" ]; then
    log "no server binary at $BIN: build the workspace first (cargo test --workspace)"
    finish 0 1
fi

work="$(mktemp -d)"
rm -rf "$SHOTS" && mkdir -p "$SHOTS"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

t0="$(now)"
start_demo_server "$BIN" "$work" || finish 0 1
log "demo server at $base after $(elapsed "$t0") s; showcase batch $trace"

# Every browser test module against the one demo server; each ends with
# "checks: N passed, N failed", and the sums are this script's count.
passed=0
failed=0
for test in "$ROOT"/tests/browser/test_*.py; do
    name="$(basename "$test" .py)"
    log "$name"
    "$PY" "$test" "$base" "$trace" "$SHOTS" >"$work/$name.result" 2>&1
    status=$?
    # Everything but the module's own count line, which the sums repeat.
    grep -v '^checks: ' "$work/$name.result"
    last="$(sed -n 's/^checks: //p' "$work/$name.result" | tail -n1)"
    read -r p _ f _ <<<"$last"
    case "$p$f" in
        *[!0-9]* | "") p=0 f=1 ;;
    esac
    [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    passed=$((passed + p))
    failed=$((failed + f))
done
log "screenshots in ${SHOTS#"$ROOT/"}; finished in $(elapsed "$t0") s"
finish "$passed" "$failed"
