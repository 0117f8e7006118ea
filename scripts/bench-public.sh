#!/usr/bin/env bash
# Benchmark (not a test) of the consumer pages, issue 12: `/s/{shop_code}`
# and `/t/{trace_code}` of the release server on loopback under wrk, beside
# nginx (Debian) serving the very same page bytes as static files in the
# same run. The ratio shian / nginx is the figure: both share the machine's
# two cores with wrk, so the absolute numbers move with the machine and the
# ratio moves less.
#
# Starts target/release/shian-server with `serve --demo` on a temporary
# database, reads the demo's showcase batch, takes the shop of its first
# holder, saves both pages' bytes for nginx, then runs wrk (one thread,
# CONNECTIONS connections, DURATION each) against the four URLs, and
# prints one table row per URL: requests/s, p50 and p99 latency.
#
# Needs: `cargo build --release -p shian-server --bin shian-server`, and
# Debian's wrk and nginx (`apt-get install wrk nginx-light`; installed here
# if missing and running as root).
#
# Usage: scripts/bench-public.sh
# Env:   DURATION (default 10s), CONNECTIONS (default 32), SHIAN_SERVER_BIN.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
BIN="${SHIAN_SERVER_BIN:-$TARGET_DIR/release/shian-server}"
log() { printf '[bench-public] %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null || ! [ -x /usr/sbin/nginx ]; then
    log "apt-get install wrk nginx-light"
    apt-get install -y --no-install-recommends wrk nginx-light >/dev/null
fi
[ -x "$BIN" ] || { log "no $BIN: cargo build --release -p shian-server --bin shian-server"; exit 1; }

work="$(mktemp -d)"
server_pid=""
nginx_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

start_demo_server "$BIN" "$work"
shop="$(curl -fsS "$base/v1/public/trace/$trace" | python3 -c 'import json,sys; print(json.load(sys.stdin)["chain"][0]["shop_code"])')"
log "server $base, shop $shop, batch $trace"

mkdir -p "$work/www/s" "$work/www/t" "$work/nginx"
# nginx workers run as www-data: they must be able to read the pages.
chmod 755 "$work"
curl -fsS "$base/s/$shop" -o "$work/www/s/$shop"
curl -fsS "$base/t/$trace" -o "$work/www/t/$trace"
shop_bytes="$(stat -c %s "$work/www/s/$shop")"
trace_bytes="$(stat -c %s "$work/www/t/$trace")"

nginx_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    default_type "text/html; charset=utf-8";
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    server {
        listen 127.0.0.1:$nginx_port;
        root $work/www;
    }
}
EOF
/usr/sbin/nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/s/$shop" 2>/dev/null && break; sleep 0.1; done
chmod -R a+rX "$work/www"
cmp <(curl -fsS "http://127.0.0.1:$nginx_port/s/$shop") "$work/www/s/$shop"

# Latency in wrk's units (us, ms, s) to milliseconds.
ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }
run() { # run <label> <url>
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$2" >"$work/wrk.out"
    rps="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$work/wrk.out")"
    p50="$(awk '$1 == "50%" { print $2 }' "$work/wrk.out")"
    p99="$(awk '$1 == "99%" { print $2 }' "$work/wrk.out")"
    non2xx="$(awk '/Non-2xx/ { print $NF }' "$work/wrk.out")"
    printf '| %s | %s | %s | %s |%s\n' "$1" "$rps" "$(ms "$p50")" "$(ms "$p99")" "${non2xx:+ non-2xx: $non2xx}"
    RPS="$rps"
}

date -u '+run at %F %H:%M UTC'
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); wrk -t1 -c$CONNECTIONS -d$DURATION"
echo "page bytes: shop $shop_bytes, trace $trace_bytes"
echo "| URL | requests/s | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|"
run "shian /s/{shop_code}" "$base/s/$shop"; s_shian="$RPS"
run "nginx, same bytes" "http://127.0.0.1:$nginx_port/s/$shop"; s_nginx="$RPS"
run "shian /t/{trace_code}" "$base/t/$trace"; t_shian="$RPS"
run "nginx, same bytes" "http://127.0.0.1:$nginx_port/t/$trace"; t_nginx="$RPS"
awk -v a="$s_shian" -v b="$s_nginx" -v c="$t_shian" -v d="$t_nginx" \
    'BEGIN { printf "ratio shian/nginx: shop page %.2f, trace page %.2f\n", a / b, c / d }'
