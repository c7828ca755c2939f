#!/usr/bin/env bash
# Reverse-proxy benchmark: nginx vs gatehouse in front of the same nginx
# static backend, measured alternately in one run with wrk.
#
#   benches/proxy.sh                    # defaults below
#   ROUNDS=5 DURATION=15 CONNECTIONS=64 GATEHOUSE_THREADS=1 benches/proxy.sh
#   BASELINE=1 benches/proxy.sh         # also measure a bare pingora proxy
#   POLICIES=1 benches/proxy.sh         # gatehouse without policies vs with API key,
#                                       # JWT, rate limit (not exceeded) and WAF managed groups;
#                                       # and the WAF alone: the native groups, the OWASP CRS at
#                                       # paranoia 1 and 2, beside nginx with and without
#                                       # ModSecurity + the same CRS at paranoia 1 (when Debian's
#                                       # modsecurity-crs and libnginx-mod-http-modsecurity are in)
#   BEFORE=/path/to/gatehouse benches/proxy.sh   # also measure another gatehouse build
#                                       # (an earlier commit) with the same config
#
# Needs nginx and wrk (Debian: apt-get install -y nginx wrk) and a release
# build (cargo build --release). Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/gateway_config.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
GATEHOUSE_THREADS=${GATEHOUSE_THREADS:-1}
ACCESS_LOG=${ACCESS_LOG:-off}
BASELINE=${BASELINE:-0}
POLICIES=${POLICIES:-0}
JWT_SECRET=bench-secret-bench-secret-bench-secret-0001
API_KEY=gh_bench_key_0123456789abcdef
BEFORE=${BEFORE:-}
BACKEND_PORT=18081 NGINX_PORT=18082 GATEHOUSE_PORT=18083 ADMIN_PORT=18084 BASELINE_PORT=18085
BEFORE_PORT=18086 BEFORE_ADMIN_PORT=18087 MODSEC_PORT=18088
CRS=/usr/share/modsecurity-crs
MODSEC_MODULE=/usr/share/nginx/modules/ngx_http_modsecurity_module.so
WITH_WAF=0
[ "$POLICIES" = 1 ] && [ -d "$CRS/rules" ] && WITH_WAF=1
MODSEC=0
[ "$WITH_WAF" = 1 ] && [ -f "$MODSEC_MODULE" ] && MODSEC=1
export WITH_WAF

for tool in nginx wrk; do
  command -v $tool >/dev/null || { echo "needs $tool (apt-get install -y nginx wrk)"; exit 1; }
done
[ -x target/release/gatehouse ] || cargo build --release

work=$(mktemp -d)
cleanup() {
  [ -f "$work/backend.pid" ] && kill "$(cat "$work/backend.pid")" 2>/dev/null || true
  [ -f "$work/proxy.pid" ] && kill "$(cat "$work/proxy.pid")" 2>/dev/null || true
  [ -f "$work/modsec.pid" ] && kill "$(cat "$work/modsec.pid")" 2>/dev/null || true
  [ -n "${GH_PID:-}" ] && kill "$GH_PID" 2>/dev/null || true
  [ -n "${BASE_PID:-}" ] && kill "$BASE_PID" 2>/dev/null || true
  [ -n "${BEFORE_PID:-}" ] && kill "$BEFORE_PID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/www" "$work/gh/routes"
chmod 755 "$work" "$work/www"  # nginx workers may run as another user
printf '{"status":"ok","service":"backend","items":[1,2,3,4,5,6,7,8]}\n' > "$work/www/index.json"

nginx_conf() { # name, server block[, lines before everything]
  cat > "$work/$1.conf" <<CONF
${3:-}
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
if [ "$MODSEC" = 1 ]; then
  # The reference WAF: ModSecurity v3 with the same CRS at paranoia 1, its
  # recommended JSON/XML body processors, in front of the same backend.
  cat > "$work/modsec-rules.conf" <<RULES
SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecAuditEngine Off
Include /etc/modsecurity/crs/crs-setup.conf
SecAction "id:9000001,phase:1,pass,nolog,t:none,setvar:tx.paranoia_level=1"
Include $CRS/rules/*.conf
RULES
  nginx_conf modsec "
  upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$MODSEC_PORT;
    modsecurity on;
    modsecurity_rules_file $work/modsec-rules.conf;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }" "load_module $MODSEC_MODULE;"
  nginx -c "$work/modsec.conf"
fi

write_gateway_config "$work/gh" $GATEHOUSE_PORT 127.0.0.1:$ADMIN_PORT $BACKEND_PORT $GATEHOUSE_THREADS \
  "$([ "$ACCESS_LOG" = on ] && echo "$work/access.log" || echo off)"
JWT=$(bench_jwt)
GATEHOUSE_LOG=warn target/release/gatehouse -C "$work/gh" serve 2>"$work/gh.err" &
GH_PID=$!

# What is measured: a name, a URL and the headers wrk sends.
names=(nginx gatehouse)
urls=("http://127.0.0.1:$NGINX_PORT/bench" "http://127.0.0.1:$GATEHOUSE_PORT/bench")
headers=("" "")
if [ "$POLICIES" = 1 ]; then
  names=(gatehouse policies)
  # Same query and headers both ways: only the policies differ.
  urls=("http://127.0.0.1:$GATEHOUSE_PORT/bench?q=hello&page=2" "http://127.0.0.1:$GATEHOUSE_PORT/guarded/bench?q=hello&page=2")
  # A browser-like request: CRS scores a missing User-Agent or Accept, and
  # a numeric Host, as anomalies (enough to block at paranoia 2).
  same="x-api-key: $API_KEY|authorization: Bearer $JWT|Host: api.example.com"
  same+="|user-agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
  same+="|accept: application/json,text/plain;q=0.9,*/*;q=0.8|accept-language: en-US,en;q=0.5"
  headers=("$same" "$same")
  names+=(waf-managed); urls+=("http://127.0.0.1:$GATEHOUSE_PORT/waf-managed/bench?q=hello&page=2"); headers+=("$same")
  if [ "$WITH_WAF" = 1 ]; then
    names+=(crs-pl1 crs-pl2)
    urls+=("http://127.0.0.1:$GATEHOUSE_PORT/waf-crs1/bench?q=hello&page=2" "http://127.0.0.1:$GATEHOUSE_PORT/waf-crs2/bench?q=hello&page=2")
    headers+=("$same" "$same")
  else
    echo "CRS not installed ($CRS): the CRS rows are left out (.ci/setup installs modsecurity-crs)" >&2
  fi
  names+=(nginx); urls+=("http://127.0.0.1:$NGINX_PORT/bench?q=hello&page=2"); headers+=("$same")
  if [ "$MODSEC" = 1 ]; then
    names+=(nginx-modsec); urls+=("http://127.0.0.1:$MODSEC_PORT/bench?q=hello&page=2"); headers+=("$same")
  else
    echo "ModSecurity for nginx not installed: its row is left out (.ci/setup installs it)" >&2
  fi
fi
if [ -n "$BEFORE" ]; then
  mkdir -p "$work/before/routes"
  sed -e "s/127.0.0.1:$GATEHOUSE_PORT/127.0.0.1:$BEFORE_PORT/" -e "s/127.0.0.1:$ADMIN_PORT/127.0.0.1:$BEFORE_ADMIN_PORT/" \
    "$work/gh/gatehouse.yaml" > "$work/before/gatehouse.yaml"
  cp "$work/gh/routes/bench.yaml" "$work/before/routes/"
  GATEHOUSE_LOG=warn "$BEFORE" -C "$work/before" serve 2>"$work/before.err" &
  BEFORE_PID=$!
  names+=(before); urls+=("${urls[1]/$GATEHOUSE_PORT/$BEFORE_PORT}"); headers+=("${headers[1]}")
fi
if [ "$BASELINE" = 1 ]; then
  (cd benches/pingora-baseline && CARGO_TARGET_DIR=../../target cargo build --release -q)
  target/release/pingora-baseline "127.0.0.1:$BASELINE_PORT" "127.0.0.1:$BACKEND_PORT" "$GATEHOUSE_THREADS" >/dev/null 2>&1 &
  BASE_PID=$!
  names+=(pingora); urls+=("http://127.0.0.1:$BASELINE_PORT/bench"); headers+=("")
fi

wait_port() { for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$1/x" && return 0; sleep 0.05; done; echo "port $1 not up"; cat "$work"/*.err; exit 1; }
wait_port $BACKEND_PORT; wait_port $NGINX_PORT; wait_port $GATEHOUSE_PORT
[ "$MODSEC" = 1 ] && wait_port $MODSEC_PORT
[ "$BASELINE" = 1 ] && wait_port $BASELINE_PORT
[ -n "$BEFORE" ] && wait_port $BEFORE_PORT

run_wrk() { # index -> "rps p50_ms p99_ms"
  local args=() h
  IFS='|' read -ra hs <<< "${headers[$1]}"
  for h in "${hs[@]}"; do [ -n "$h" ] && args+=(-H "$h"); done
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${args[@]}" "${urls[$1]}" > "$work/wrk.out"
  local errors
  errors=$(grep -E "Non-2xx|Socket errors" "$work/wrk.out" || true)
  [ -n "$errors" ] && echo "  warning (${names[$1]}): $errors" >&2
  awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ { rps=$2 }
    $1=="50%" { p50=ms($2) }
    $1=="99%" { p99=ms($2) }
    END { printf "%.0f %.3f %.3f\n", rps, p50, p99 }' "$work/wrk.out"
}

# Every measured URL must answer 200 before we time it.
for i in "${!names[@]}"; do
  args=(); IFS='|' read -ra hs <<< "${headers[$i]}"
  for h in "${hs[@]}"; do [ -n "$h" ] && args+=(-H "$h"); done
  code=$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "${urls[$i]}")
  [ "$code" = 200 ] || { echo "${names[$i]}: ${urls[$i]} answered $code"; cat "$work/gh.err"; exit 1; }
done

echo "warm-up"
for i in "${!names[@]}"; do run_wrk "$i" >/dev/null; done
printf "%-6s %-10s %10s %9s %9s\n" round proxy req/s p50_ms p99_ms
declare -A RPS P50 P99
for r in $(seq 1 "$ROUNDS"); do
  for i in "${!names[@]}"; do
    read -r rps p50 p99 < <(run_wrk "$i")
    RPS[${names[$i]}]+="$rps "; P50[${names[$i]}]+="$p50 "; P99[${names[$i]}]+="$p99 "
    printf "%-6s %-10s %10s %9s %9s\n" "$r" "${names[$i]}" "$rps" "$p50" "$p99"
  done
done

median() { printf "%s\n" $1 | sort -g | awk '{a[NR]=$1} END {print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo
echo "medians over $ROUNDS rounds, ${DURATION}s each, $CONNECTIONS connections, wrk threads $WRK_THREADS, gatehouse threads=$GATEHOUSE_THREADS, access log $ACCESS_LOG"
for name in "${names[@]}"; do
  printf "%-10s %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms\n" "$name" \
    "$(median "${RPS[$name]}")" "$(median "${P50[$name]}")" "$(median "${P99[$name]}")"
done
first=${names[0]}
nr=$(median "${RPS[$first]}"); n99=$(median "${P99[$first]}")
for name in "${names[@]:1}"; do
  awk -v who="$name" -v base="$first" -v g="$(median "${RPS[$name]}")" -v n="$nr" -v gp="$(median "${P99[$name]}")" -v np="$n99" \
    'BEGIN { printf "ratio %s/%s: req/s %.2f, p99 %.2f\n", who, base, g/n, gp/np }'
done
if [ -n "${RPS[nginx-modsec]:-}" ]; then
  awk -v g="$(median "${RPS[nginx-modsec]}")" -v n="$(median "${RPS[nginx]}")" -v gp="$(median "${P99[nginx-modsec]}")" -v np="$(median "${P99[nginx]}")" \
    'BEGIN { printf "ratio nginx-modsec/nginx: req/s %.2f, p99 %.2f\n", g/n, gp/np }'
fi
