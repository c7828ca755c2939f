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
. benches/gateway_config.sh

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

write_gateway_config "$work/gh" $PORT off $BACKEND_PORT 1 off
JWT=$(bench_jwt)
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
