#!/usr/bin/env bash
# Managed WebSocket APIs: messages per second through a `mock` route and
# through an `http` route (each message POSTed to an nginx backend that
# answers at once, its answer sent back: `respond: true`), measured with
# `gatehouse bench websocket` in one run; then memory per idle WebSocket
# connection (RSS before and after N upgraded, silent connections).
#
#   benches/websocket.sh
#   CONNECTIONS=64 WINDOW=16 DURATION=15 N=5000 benches/websocket.sh
#   GATEHOUSE=/tmp/gatehouse-before benches/websocket.sh   # another build, same load
#
# Needs nginx (apt-get install -y nginx), python3 and a release build
# (cargo build --release). Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/answering_nginx.sh

CONNECTIONS=${CONNECTIONS:-32}
WINDOW=${WINDOW:-8}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
N=${N:-2000}
GATEHOUSE_THREADS=${GATEHOUSE_THREADS:-1}
BACKEND_PORT=18091 GATEHOUSE_PORT=18093

command -v nginx >/dev/null || { echo "needs nginx (apt-get install -y nginx)"; exit 1; }
GH=${GATEHOUSE:-target/release/gatehouse}   # GATEHOUSE=/path/to/another/build to compare
[ -x "$GH" ] || cargo build --release

work=$(mktemp -d)
cleanup() {
  [ -f "$work/backend.pid" ] && kill "$(cat "$work/backend.pid")" 2>/dev/null || true
  [ -n "${GH_PID:-}" ] && kill "$GH_PID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"

start_answering_nginx "$work" "$BACKEND_PORT" '{"ok":true}'

mkdir -p "$work/gh/routes"
cat > "$work/gh/gatehouse.yaml" <<YAML
listeners:
  - name: http
    address: 127.0.0.1:$GATEHOUSE_PORT
admin:
  enabled: false
messaging:
  enabled: false
server:
  threads: $GATEHOUSE_THREADS
access_log: off
upstreams:
  backend:
    targets:
      - address: 127.0.0.1:$BACKEND_PORT
YAML
cat > "$work/gh/routes/ws.yaml" <<'YAML'
base_path: /ws
routes:
  - path: /mock
    method: GET
    integration:
      websocket:
        routes:
          echo:
            mock: {body: '{"route":"echo"}'}
  - path: /http
    method: GET
    integration:
      websocket:
        routes:
          $default:
            http: {upstream: backend, path: /message, respond: true}
YAML

GATEHOUSE_LOG=warn $GH -C "$work/gh" serve 2>"$work/gh.err" &
GH_PID=$!
for _ in $(seq 1 200); do
  curl -s -o /dev/null "http://127.0.0.1:$GATEHOUSE_PORT/ws/mock" && break
  sleep 0.05
done

echo "# $(date -u +%FT%TZ) $(nproc) cores; gatehouse threads $GATEHOUSE_THREADS; $CONNECTIONS connections x $WINDOW in flight, $DURATION per run"
printf "%-6s %-5s %12s %9s %9s %7s\n" round route msgs_per_s p50_ms p99_ms errors
for round in $(seq 1 "$ROUNDS"); do
  for route in mock http; do
    out=$($GH bench websocket --url "ws://127.0.0.1:$GATEHOUSE_PORT/ws/$route" \
      --body '{"action":"echo"}' --connections "$CONNECTIONS" --window "$WINDOW" \
      --duration "$DURATION" --threads 1)
    python3 - "$round" "$route" "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[3])
print(f"{sys.argv[1]:<6} {sys.argv[2]:<5} {r['messages_per_second']:12.0f} "
      f"{r['latency']['p50_ms']:9.2f} {r['latency']['p99_ms']:9.2f} {r['errors']:7d}")
PY
  done
done

# Memory per idle connection: N upgrades held open, nothing sent after.
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cat > "$work/hold.py" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
upgrade = (b"GET /ws/mock HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")
held = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(upgrade)
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    assert got.startswith(b"HTTP/1.1 101"), got
    held.append(s)
print("held", flush=True)
sys.stdin.read()
PY
sleep 1
before=$(rss_kib $GH_PID)
coproc HOLD { python3 "$work/hold.py" "$GATEHOUSE_PORT" "$N"; }
read -r _ <&"${HOLD[0]}"
sleep 1
after=$(rss_kib $GH_PID)
printf "idle WebSocket connections: %d; RSS %d KiB -> %d KiB; %d bytes each\n" \
  "$N" "$before" "$after" $(( (after - before) * 1024 / N ))
exec {HOLD[1]}>&-
wait "$HOLD_PID" 2>/dev/null || true
