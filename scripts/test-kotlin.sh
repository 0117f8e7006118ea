#!/usr/bin/env bash
# Generates the bindings, builds the server, compiles the generated Kotlin +
# mobile-shell/src + tests/kotlin into one jar with kotlinc, and runs the tests on
# the JVM with JNA against the real library; tests that need a server start
# target/debug/shian-server on a free loopback port (tests/kotlin/Harness.kt).
# The runner prints each result and ends with "N passed, N failed".
#
# Usage: scripts/test-kotlin.sh [PROFILE] [test-name-filter...]   PROFILE default: dev
# Needs scripts/install-test-deps.sh (kotlinc under .tools/, /usr/share/java/jna.jar).
# The compile is skipped when no input changed (SHIAN_KOTLIN_REBUILD=1 forces it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PROFILE="${1:-dev}"
shift || true
MAIN_CLASS="cn.shian.tests.TestMain"

for f in "$KOTLINC" "$JNA_JAR"; do
    [ -e "$f" ] || { echo "missing $f: run scripts/install-test-deps.sh" >&2; exit 1; }
done

"$ROOT/scripts/gen-bindings.sh" "$PROFILE"
# The server binary as the workspace's test build makes it: after
# `scripts/test-all.sh`'s Rust step this builds nothing (a `cargo build -p
# shian-server` unifies features differently and recompiled its dependencies).
(cd "$ROOT" && cargo test --workspace --no-run)
export SHIAN_SERVER_BIN="$TARGET_DIR/debug/shian-server"

OUT="$TARGET_DIR/kotlin"
APP_JAR="$OUT/app.jar"
mkdir -p "$OUT"
mapfile -t SOURCES < <(
    find "$BINDINGS_DIR/kotlin" "$ROOT/mobile-shell/src" "$ROOT/tests/kotlin" \
        -name '*.kt' -type f | LC_ALL=C sort
)

# Fingerprint of everything that goes into the jar.
stamp="$( { "$KOTLINC" -version 2>&1 || true; sha256sum "$JNA_JAR" "${SOURCES[@]}"; } | sha256sum | cut -d' ' -f1)"
if [ -f "$APP_JAR" ] && [ "$(cat "$APP_JAR.stamp" 2>/dev/null || true)" = "$stamp" ] \
    && [ "${SHIAN_KOTLIN_REBUILD:-0}" != "1" ]; then
    echo "[test-kotlin] $APP_JAR is up to date (${#SOURCES[@]} sources)"
else
    echo "[test-kotlin] kotlinc: ${#SOURCES[@]} sources -> $APP_JAR"
    t0="$(now)"
    rm -f "$APP_JAR" "$APP_JAR.stamp"
    "$KOTLINC" -jvm-target 17 -nowarn -cp "$JNA_JAR" -include-runtime -d "$APP_JAR" "${SOURCES[@]}"
    echo "$stamp" > "$APP_JAR.stamp"
    echo "[test-kotlin] kotlinc took $(elapsed "$t0") s"
fi

SHIAN_EXPECTED_VERSION="$(workspace_version)"
export SHIAN_EXPECTED_VERSION
t0="$(now)"
status=0
java -Djna.library.path="$BINDINGS_DIR/lib" -cp "$APP_JAR:$JNA_JAR" "$MAIN_CLASS" "$@" || status=$?
echo "[test-kotlin] run took $(elapsed "$t0") s"
exit "$status"
