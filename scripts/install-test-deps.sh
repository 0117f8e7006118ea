#!/usr/bin/env bash
# Installs what the binding, schemathesis, browser and PostgreSQL tests need on a fresh
# Debian machine (schemathesis itself is pip-installed by its test script).
# Idempotent: every step is skipped when its result is already present.
# Run as root (apt-get). Usage: scripts/install-test-deps.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KOTLIN_VERSION="2.4.20"
JNA_JAR="/usr/share/java/jna.jar"
KOTLINC="$ROOT/.tools/node_modules/kotlin-compiler/bin/kotlinc"

log() { printf '[install-test-deps] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        log "not root and no sudo: run this script as root"; exit 1
    fi
fi

# Debian packages: each entry is "package:check", the check being a file or a command.
apt_wanted=()
need() { # need <package> <file-or-command>
    local pkg="$1" probe="$2"
    if [ -e "$probe" ] || command -v "$probe" >/dev/null 2>&1; then
        log "present: $pkg ($probe)"
    else
        apt_wanted+=("$pkg")
    fi
}
need openjdk-17-jre-headless java      # runs kotlinc and the Kotlin tests (Java 17)
need python3 python3                   # Python binding tests
# The venv of schemathesis (scripts/test-schemathesis.sh): Debian's python3
# lacks ensurepip without python3-venv, so `python3 -m venv` fails there.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt_wanted+=(python3-venv)
else
    log "present: python3-venv (or python3 not yet installed)"
fi
need npm npm                           # installs kotlin-compiler
need libjna-java "$JNA_JAR"            # JNA for the generated Kotlin
need chromium chromium                 # browser tests
need chromium-driver chromedriver      # browser tests
# A Chinese font, without which the browser tests' screenshots show boxes.
need fonts-wqy-microhei /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
# PostgreSQL 15 for the PostgreSQL backend's tests (scripts/pg-cluster.sh
# starts a throw-away cluster with these binaries).
need postgresql /usr/lib/postgresql/15/bin/initdb
need nginx /usr/sbin/nginx             # the load balancer of tests/tests/instances.rs

if [ "${#apt_wanted[@]}" -gt 0 ]; then
    log "apt-get install ${apt_wanted[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${apt_wanted[@]}"
fi

# Kotlin compiler (JVM) from npm into .tools/ (gitignored).
installed_kotlin=""
pkg_json="$ROOT/.tools/node_modules/kotlin-compiler/package.json"
if [ -f "$pkg_json" ]; then
    installed_kotlin="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg_json" | head -n1)"
fi
if [ -x "$KOTLINC" ] && [ "$installed_kotlin" = "$KOTLIN_VERSION" ]; then
    log "present: kotlin-compiler $installed_kotlin ($KOTLINC)"
else
    log "npm install kotlin-compiler@$KOTLIN_VERSION into .tools/"
    mkdir -p "$ROOT/.tools"
    npm install --prefix "$ROOT/.tools" --no-audit --no-fund "kotlin-compiler@$KOTLIN_VERSION"
    chmod +x "$ROOT/.tools/node_modules/kotlin-compiler/bin/"* 2>/dev/null || true
fi

# Final check: fail loudly when something is still missing.
missing=0
for f in "$JNA_JAR" "$KOTLINC" /usr/lib/postgresql/15/bin/initdb /usr/sbin/nginx; do
    [ -e "$f" ] || { log "MISSING: $f"; missing=1; }
done
for c in java python3 chromium chromedriver; do
    command -v "$c" >/dev/null 2>&1 || { log "MISSING command: $c"; missing=1; }
done
[ "$missing" -eq 0 ] || exit 1
log "all test dependencies present"
