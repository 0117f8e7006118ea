#!/usr/bin/env bash
# Builds libshian_ffi and generates the Kotlin, Swift and Python bindings from it.
#
# Usage: scripts/gen-bindings.sh [PROFILE]      PROFILE: dev (default), release, mobile
#
# Output (under target/, or $CARGO_TARGET_DIR):
#   bindings/kotlin/cn/shian/core/shian.kt      package cn.shian.core (JNA)
#   bindings/swift/ShianCore.swift, ShianCoreFFI.h, ShianCoreFFI.modulemap
#   bindings/python/shian.py + libshian_ffi.so  (import shian)
#   bindings/lib/libshian_ffi.so                for -Djna.library.path on the JVM
# Names come from bindings/uniffi.toml.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PROFILE="${1:-dev}"
case "$PROFILE" in
    dev|test) PROFILE_DIR="debug" ;;
    *) PROFILE_DIR="$PROFILE" ;;
esac
case "$(uname -s)" in
    Darwin) LIB_FILE="libshian_ffi.dylib" ;;
    *) LIB_FILE="libshian_ffi.so" ;;
esac
STATIC_FILE="libshian_ffi.a"

cd "$ROOT"
t0="$(now)"
# Two invocations on purpose: built together, cargo would unify uniffi's "cli"
# feature into the library's dependency graph.
cargo build -p shian-ffi --profile "$PROFILE"
cargo build -p uniffi-bindgen
echo "[gen-bindings] cargo build ($PROFILE): $(elapsed "$t0") s"

LIB="$TARGET_DIR/$PROFILE_DIR/$LIB_FILE"
# The interface is read from the UNIFFI_META_* symbols. A profile with `strip = true`
# (mobile) removes them from the cdylib ("No UniFFI metadata found"), but cargo does
# not strip the staticlib, so generate from that: same metadata, same output.
META_LIB="$TARGET_DIR/$PROFILE_DIR/$STATIC_FILE"
BINDGEN="$TARGET_DIR/debug/uniffi-bindgen"
for f in "$LIB" "$META_LIB"; do
    [ -f "$f" ] || { echo "[gen-bindings] no library at $f" >&2; exit 1; }
done

mkdir -p "$BINDINGS_DIR"
for lang in kotlin swift python; do
    tmp="$BINDINGS_DIR/.$lang.tmp"
    rm -rf "$tmp"
    "$BINDGEN" generate --no-format --library "$META_LIB" --language "$lang" --out-dir "$tmp"
    rm -rf "${BINDINGS_DIR:?}/$lang"
    mv "$tmp" "$BINDINGS_DIR/$lang"
done
mkdir -p "$BINDINGS_DIR/lib"
cp "$LIB" "$BINDINGS_DIR/python/$LIB_FILE"
cp "$LIB" "$BINDINGS_DIR/lib/$LIB_FILE"
echo "[gen-bindings] bindings for $LIB_FILE ($PROFILE) in $BINDINGS_DIR: $(elapsed "$t0") s"
