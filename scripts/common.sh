# Shared helpers for the scripts in this folder; sourced, not run.
# Sets ROOT (the repository root, found from this file's location) and TARGET_DIR.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
BINDINGS_DIR="$TARGET_DIR/bindings"
JNA_JAR="${JNA_JAR:-/usr/share/java/jna.jar}"
KOTLINC="${KOTLINC:-$ROOT/.tools/node_modules/kotlin-compiler/bin/kotlinc}"

# The version in [workspace.package] of the root Cargo.toml.
workspace_version() {
    awk '
        /^\[/ { in_pkg = ($0 == "[workspace.package]") ; next }
        in_pkg && /^[[:space:]]*version[[:space:]]*=/ {
            sub(/^[^"]*"/, ""); sub(/".*$/, ""); print; exit
        }' "$ROOT/Cargo.toml"
}

# Seconds since the epoch with a fraction, for timings.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
