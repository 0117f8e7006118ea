#!/usr/bin/env bash
# Generates the bindings, builds the server, and runs the Python binding tests
# (tests/python/test_*.py, plain unittest) against the real library; the tests
# start target/debug/shian-server on a free loopback port with a temporary
# database (tests/python/harness.py). Ends with "N passed, N failed".
#
# Usage: scripts/test-python.sh [PROFILE] [unittest args...]   PROFILE default: dev
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PROFILE="${1:-dev}"
shift || true
"$ROOT/scripts/gen-bindings.sh" "$PROFILE"
# The server binary as the workspace's test build makes it: after
# `scripts/test-all.sh`'s Rust step this builds nothing (a `cargo build -p
# shian-server` unifies features differently and recompiled its dependencies).
(cd "$ROOT" && cargo test --workspace --no-run)
export SHIAN_SERVER_BIN="$TARGET_DIR/debug/shian-server"

# The export test opens the server's XLSX with openpyxl (PyPI), pinned in a
# venv under .tools/; everything else is the standard library.
OPENPYXL_VERSION="3.1.5"
VENV="$ROOT/.tools/python-tests-openpyxl-$OPENPYXL_VERSION"
if ! venv_with "$VENV" "openpyxl==$OPENPYXL_VERSION"; then
    echo "could not install openpyxl (is python3-venv installed? scripts/install-test-deps.sh)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
PY="$VENV/bin/python"

export PYTHONPATH="$BINDINGS_DIR/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
SHIAN_EXPECTED_VERSION="$(workspace_version)"
export SHIAN_EXPECTED_VERSION

cd "$ROOT/tests/python"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
if [ "$#" -gt 0 ]; then
    "$PY" -m unittest -v "$@" 2>&1 | tee "$log" || status=$?
else
    "$PY" -m unittest discover -v -s . -p 'test_*.py' 2>&1 | tee "$log" || status=$?
fi

# unittest prints "Ran N tests" and "OK" or "FAILED (failures=a, errors=b, skipped=c)".
ran="$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\}.*/\1/p' "$log" | tail -n1)"
summary="$(grep -E '^(OK|FAILED)' "$log" | tail -n1 || true)"
count() { printf '%s' "$summary" | sed -n "s/.*$1=\([0-9]*\).*/\1/p"; }
failures="$(count failures)"; errors="$(count errors)"; skipped="$(count skipped)"
ran="${ran:-0}"
failed=$(( ${failures:-0} + ${errors:-0} ))
passed=$(( ran - failed - ${skipped:-0} ))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # import error, crash
if [ "$ran" -eq 0 ] && [ "$status" -eq 0 ]; then echo "no Python tests ran" >&2; failed=1; fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
