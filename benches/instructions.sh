#!/usr/bin/env bash
# CPU instructions per proxied request, counted by valgrind's callgrind: the
# same number for the same binary and input whatever else the machine does,
# so small per-request costs show up where wrk's req/s is too noisy.
#
#   benches/instructions.sh                               # this tree's release build
#   BEFORE=/path/to/old/gatehouse benches/instructions.sh # and an earlier build
#   N=3000 POLICIES=1 benches/instructions.sh             # the route with every policy
#
# Each binary runs twice under callgrind, serving 200 and then 200+N
# keep-alive requests on one connection (GET through a route to an nginx
# static backend); instructions/request = (second total - first total) / N,
# which takes start-up out. Needs nginx, valgrind, python3, a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-3000}
POLICIES=${POLICIES:-0}
BACKEND_PORT=18191 PORT=18192
JWT_SECRET=bench-secret-bench-secret-bench-secret-0001
API_KEY=gh_bench_key_0123456789abcdef
for tool in nginx valgrind callgrind_annotate python3; do
  command -v $tool >/dev/null || { echo "needs $tool"; exit 1; }
done
[ -x target/release/gatehouse ] || cargo build --release
binaries=("target/release/gatehouse"); names=("gatehouse")
if [ -n "${BEFORE:-}" ]; then binaries=("$BEFORE" "${binaries[@]}"); names=("before" "${names[@]}"); fi

work=$(mktemp -d)
trap '[ -f "$work/backend.pid" ] && kill "$(cat "$work/backend.pid")" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/www" "$work/gh/routes"
chmod 755 "$work" "$work/www"
printf '{"status":"ok"}\n' > "$work/www/index.json"
cat > "$work/backend.conf" <<CONF
worker_processes 1;
pid $work/backend.pid;
error_log $work/backend.err warn;
events { worker_connections 1024; }
http {
  access_log off; keepalive_requests 1000000;
  client_body_temp_path $work/t1; proxy_temp_path $work/t2; fastcgi_temp_path $work/t3;
  uwsgi_temp_path $work/t4; scgi_temp_path $work/t5;
  server { listen 127.0.0.1:$BACKEND_PORT; root $work/www;
    location / { try_files /index.json =404; default_type application/json; } }
}
CONF
nginx -c "$work/backend.conf"

cat > "$work/gh/gatehouse.yaml" <<YAML
listeners:
  - name: http
    address: 127.0.0.1:$PORT
admin:
  enabled: false
messaging:
  enabled: false
server:
  threads: 1
access_log: off
upstreams:
  backend:
    targets:
      - address: 127.0.0.1:$BACKEND_PORT
usage_plans:
  bench: {}
api_keys:
  - name: bench
    key: $API_KEY
    plan: bench
waf_rule_sets:
  bench:
    managed: [sqli, xss, path_traversal, command_injection, known_bad_inputs]
YAML
cat > "$work/gh/routes/bench.yaml" <<YAML
routes:
  - path: /{proxy+}
    integration:
      http:
        upstream: backend
  - path: /guarded/{proxy+}
    policies:
      waf: {rule_set: bench}
      api_key: {}
      jwt: {algorithms: [HS256], secret: $JWT_SECRET}
      rate_limit: {rate: 1000000/s, key: client_ip}
    integration:
      http:
        upstream: backend
        path: /{proxy}
YAML
JWT=$(python3 - "$JWT_SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "bench", "exp": int(time.time()) + 86400}).encode())
sig = hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b64(sig)}")
PY
)
if [ "$POLICIES" = 1 ]; then
  target="/guarded/bench?q=hello&page=2"
else
  target="/bench?q=hello&page=2"
fi
cat > "$work/client.py" <<PY
import socket, sys, time
n, port = int(sys.argv[1]), int(sys.argv[2])
for _ in range(600):
    try:
        s = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        time.sleep(0.1)
req = b"GET $target HTTP/1.1\r\nhost: bench\r\nx-api-key: $API_KEY\r\nauthorization: Bearer $JWT\r\n\r\n"
for _ in range(n):
    s.sendall(req)
    got = b""
    while b'"ok"}' not in got and not got.startswith((b"HTTP/1.1 4", b"HTTP/1.1 5")):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        got += chunk
    if not got.startswith(b"HTTP/1.1 200"):
        sys.exit("not a 200: %r" % got[:300])
PY

total() { # binary, requests -> instructions
  rm -rf "$work/gh/data"
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$1" -C "$work/gh" serve >/dev/null 2>"$work/gh.err" &
  local pid=$!
  python3 "$work/client.py" "$2" "$PORT"
  kill -INT $pid; wait $pid 2>/dev/null || true
  callgrind_annotate "$work/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}

printf "%-10s %-8s %16s\n" binary route instructions/request
for i in "${!binaries[@]}"; do
  base=$(total "${binaries[$i]}" 200)
  full=$(total "${binaries[$i]}" $((200 + N)))
  printf "%-10s %-8s %16d\n" "${names[$i]}" "$([ "$POLICIES" = 1 ] && echo policies || echo plain)" $(( (full - base) / N ))
done
