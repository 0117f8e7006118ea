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

# venv_with <venv dir> <pip spec>…: a virtualenv under .tools/ holding exactly
# these pinned packages. It is made again when the specs change (they are
# kept in the venv's shian-specs file). Fails when pip cannot install them.
venv_with() {
    local venv="$1"
    shift
    if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/shian-specs" 2>/dev/null)" = "$*" ]; then
        return 0
    fi
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" && "$venv/bin/pip" install -q "$@" && echo "$*" >"$venv/shian-specs"
}

# start_demo_server <server binary> <work dir>: starts `serve --demo` on a
# database in the work dir and a free loopback port (port 0: the server picks
# it and prints it, so no other process can take a port chosen beforehand),
# and waits up to 120 s for the demo data set. Sets server_pid, base (the
# http://127.0.0.1:PORT the server printed) and trace (the demo's showcase
# batch, traced back to its origin). On failure prints the server's last
# lines and returns non-zero. The caller stops server_pid.
start_demo_server() {
    local bin="$1" work="$2"
    RUST_LOG="${RUST_LOG:-warn}" "$bin" serve --demo --db "$work/shian.db" --addr 127.0.0.1:0 \
        >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    base=""
    trace=""
    for _ in $(seq 1 1200); do
        base="$(sed -n 's|^shian-server listening on \(http://[0-9.:]*\)$|\1|p' "$work/server.out" | head -n1)"
        [ -n "$base" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    trace="$(sed -n 's|^反向追溯 Backward trace of \([0-9A-Z]*\) .*|\1|p' "$work/server.out" | head -n1)"
    if [ -z "$base" ] || [ -z "$trace" ]; then
        echo "the demo server did not start (or printed no showcase trace):" >&2
        tail -n 20 "$work/server.out" "$work/server.err" >&2
        return 1
    fi
}
