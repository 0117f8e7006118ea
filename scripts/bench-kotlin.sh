#!/usr/bin/env bash
# Device-side benchmark through the Kotlin binding (not a test): builds the
# library with the mobile profile (or the one given), compiles the generated
# Kotlin, mobile-shell/src and tests/kotlin/bench into a jar, and runs
# cn.shian.bench.OutboxBench, which prints a markdown table. The header gives
# the date, the machine and the library.
#
# Usage: scripts/bench-kotlin.sh [PROFILE] [bench args...]   PROFILE: mobile (default), release
#        bench args: --writes N (20000) --events N (100000) --traces N (10000) --opens N (20) --dir DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PROFILE="${1:-mobile}"
shift || true
for f in "$KOTLINC" "$JNA_JAR"; do
    [ -e "$f" ] || { echo "missing $f: run scripts/install-test-deps.sh" >&2; exit 1; }
done

"$ROOT/scripts/gen-bindings.sh" "$PROFILE"
LIB="$BINDINGS_DIR/lib/libshian_ffi.so"

OUT="$TARGET_DIR/kotlin-bench"
JAR="$OUT/bench.jar"
mkdir -p "$OUT"
mapfile -t SOURCES < <(
    find "$BINDINGS_DIR/kotlin" "$ROOT/mobile-shell/src" "$ROOT/tests/kotlin/bench" -name '*.kt' -type f | LC_ALL=C sort
)
stamp="$( { "$KOTLINC" -version 2>&1 || true; sha256sum "$JNA_JAR" "${SOURCES[@]}"; } | sha256sum | cut -d' ' -f1)"
if [ -f "$JAR" ] && [ "$(cat "$JAR.stamp" 2>/dev/null || true)" = "$stamp" ]; then
    echo "[bench-kotlin] $JAR is up to date"
else
    echo "[bench-kotlin] kotlinc: ${#SOURCES[@]} sources -> $JAR"
    rm -f "$JAR" "$JAR.stamp"
    "$KOTLINC" -jvm-target 17 -nowarn -cp "$JNA_JAR" -include-runtime -d "$JAR" "${SOURCES[@]}"
    echo "$stamp" > "$JAR.stamp"
fi

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)"
echo
echo "## Device benchmark (Kotlin binding over JNA)"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "- machine: ${cpu:-unknown CPU}, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
echo "- JVM: $(java -version 2>&1 | head -n1); JNA $(unzip -p "$JNA_JAR" META-INF/MANIFEST.MF 2>/dev/null | sed -n 's/^Implementation-Version: //p' | tr -d '\r' | head -n1)"
echo "- library: $PROFILE profile, $(stat -c %s "$LIB" | awk '{printf "%.2f MB", $1/1048576}') ($LIB)"
echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: tail latencies include other processes)"
echo "- store: SQLite WAL, synchronous=NORMAL (durable against an app kill, not a power cut), warm page cache"
java -Djna.library.path="$BINDINGS_DIR/lib" -cp "$JAR:$JNA_JAR" cn.shian.bench.OutboxBench "$@"
echo "- load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
