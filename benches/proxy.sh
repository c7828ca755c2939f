#!/usr/bin/env bash
# Reverse-proxy benchmark: nginx vs gatehouse in front of the same nginx
# static backend, measured alternately in one run with wrk.
#
#   benches/proxy.sh                    # defaults below
#   ROUNDS=5 DURATION=15 CONNECTIONS=64 GATEHOUSE_THREADS=1 benches/proxy.sh
#
# Needs nginx and wrk (Debian: apt-get install -y nginx wrk) and a release
# build (cargo build --release). Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
GATEHOUSE_THREADS=${GATEHOUSE_THREADS:-1}
ACCESS_LOG=${ACCESS_LOG:-off}
BACKEND_PORT=18081 NGINX_PORT=18082 GATEHOUSE_PORT=18083 ADMIN_PORT=18084

for tool in nginx wrk; do
  command -v $tool >/dev/null || { echo "needs $tool (apt-get install -y nginx wrk)"; exit 1; }
done
[ -x target/release/gatehouse ] || cargo build --release

work=$(mktemp -d)
cleanup() {
  [ -f "$work/backend.pid" ] && kill "$(cat "$work/backend.pid")" 2>/dev/null || true
  [ -f "$work/proxy.pid" ] && kill "$(cat "$work/proxy.pid")" 2>/dev/null || true
  [ -n "${GH_PID:-}" ] && kill "$GH_PID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/www" "$work/gh/routes"
chmod 755 "$work" "$work/www"  # nginx workers may run as another user
printf '{"status":"ok","service":"backend","items":[1,2,3,4,5,6,7,8]}\n' > "$work/www/index.json"

nginx_conf() { # name, server block
  cat > "$work/$1.conf" <<CONF
worker_processes 1;
pid $work/$1.pid;
error_log $work/$1.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  client_body_temp_path $work/$1.body;
  proxy_temp_path $work/$1.proxy;
  fastcgi_temp_path $work/$1.fastcgi;
  uwsgi_temp_path $work/$1.uwsgi;
  scgi_temp_path $work/$1.scgi;
$2
}
CONF
}

nginx_conf backend "
  server {
    listen 127.0.0.1:$BACKEND_PORT;
    root $work/www;
    location / { try_files /index.json =404; default_type application/json; }
  }"
nginx_conf proxy "
  upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
nginx -c "$work/backend.conf"
nginx -c "$work/proxy.conf"

cat > "$work/gh/gatehouse.yaml" <<YAML
listeners:
  - name: http
    address: 127.0.0.1:$GATEHOUSE_PORT
admin:
  address: 127.0.0.1:$ADMIN_PORT
server:
  threads: $GATEHOUSE_THREADS
access_log: $([ "$ACCESS_LOG" = on ] && echo "$work/access.log" || echo off)
upstreams:
  backend:
    targets:
      - address: 127.0.0.1:$BACKEND_PORT
YAML
cat > "$work/gh/routes/bench.yaml" <<YAML
routes:
  - path: /{proxy+}
    integration:
      http:
        upstream: backend
YAML
GATEHOUSE_LOG=warn target/release/gatehouse -C "$work/gh" serve 2>"$work/gh.err" &
GH_PID=$!

wait_port() { for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$1/x" && return 0; sleep 0.05; done; echo "port $1 not up"; exit 1; }
wait_port $BACKEND_PORT; wait_port $NGINX_PORT; wait_port $GATEHOUSE_PORT

run_wrk() { # port -> "rps p50_ms p99_ms"
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$1/bench" > "$work/wrk.out"
  local errors
  errors=$(grep -E "Non-2xx|Socket errors" "$work/wrk.out" || true)
  [ -n "$errors" ] && echo "  warning: $errors" >&2
  awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps=$2 }
    $1=="50%" { p50=ms($2) }
    $1=="99%" { p99=ms($2) }
    END { printf "%.0f %.3f %.3f\n", rps, p50, p99 }' "$work/wrk.out"
}

echo "warm-up"; run_wrk $NGINX_PORT >/dev/null; run_wrk $GATEHOUSE_PORT >/dev/null
printf "%-6s %-10s %10s %9s %9s\n" round proxy req/s p50_ms p99_ms
declare -a N_RPS G_RPS N_P99 G_P99 N_P50 G_P50
for r in $(seq 1 "$ROUNDS"); do
  read -r rps p50 p99 < <(run_wrk $NGINX_PORT)
  N_RPS+=("$rps"); N_P50+=("$p50"); N_P99+=("$p99")
  printf "%-6s %-10s %10s %9s %9s\n" "$r" nginx "$rps" "$p50" "$p99"
  read -r rps p50 p99 < <(run_wrk $GATEHOUSE_PORT)
  G_RPS+=("$rps"); G_P50+=("$p50"); G_P99+=("$p99")
  printf "%-6s %-10s %10s %9s %9s\n" "$r" gatehouse "$rps" "$p50" "$p99"
done

median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
nr=$(median "${N_RPS[@]}"); gr=$(median "${G_RPS[@]}")
n50=$(median "${N_P50[@]}"); g50=$(median "${G_P50[@]}")
n99=$(median "${N_P99[@]}"); g99=$(median "${G_P99[@]}")
echo
echo "medians over $ROUNDS rounds, ${DURATION}s each, $CONNECTIONS connections, gatehouse threads=$GATEHOUSE_THREADS, access log $ACCESS_LOG"
printf "nginx      %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms\n" "$nr" "$n50" "$n99"
printf "gatehouse  %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms\n" "$gr" "$g50" "$g99"
awk -v g="$gr" -v n="$nr" -v gp="$g99" -v np="$n99" 'BEGIN { printf "ratio gatehouse/nginx: req/s %.2f, p99 %.2f\n", g/n, gp/np }'
