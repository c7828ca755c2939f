#!/usr/bin/env bash
# Memory per idle client connection: RSS of a gatehouse process before and
# after N connections are opened and left idle, in two kinds:
#   silent     connected, not a byte sent (what a slowloris or port scan holds)
#   keepalive  one request answered, then idle between requests
#
#   benches/idle_connections.sh                       # this tree's release build
#   N=5000 BEFORE=/path/to/old/gatehouse benches/idle_connections.sh   # side by side
#
# Needs a release build (cargo build --release) and python3. 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-5000}
PORT=${PORT:-18183}
[ -x target/release/gatehouse ] || cargo build --release
binaries=("target/release/gatehouse")
names=("gatehouse")
if [ -n "${BEFORE:-}" ]; then
  binaries=("$BEFORE" "${binaries[@]}")
  names=("before" "${names[@]}")
fi

work=$(mktemp -d)
trap 'kill ${GH_PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/gh/routes"
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
YAML
cat > "$work/gh/routes/idle.yaml" <<'YAML'
routes:
  - path: /ping
    integration:
      mock:
        body: '{"ok":true}'
YAML

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# Opens N connections (sending one request on each when asked), reports when
# they are all open, and holds them until stdin closes.
cat > "$work/hold.py" <<'PY'
import socket, sys
port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
req = b"GET /ping HTTP/1.1\r\nhost: bench\r\n\r\n"
held = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if mode == "keepalive":
        s.sendall(req)
    held.append(s)
if mode == "keepalive":
    for s in held:
        got = b""
        while b'{"ok":true}' not in got:
            got += s.recv(4096)
print("held", flush=True)
sys.stdin.read()
PY

printf "%-10s %-10s %8s %12s %12s %14s\n" binary kind N rss_before rss_after bytes_per_conn
for i in "${!binaries[@]}"; do
  for mode in silent keepalive; do
    GATEHOUSE_LOG=warn "${binaries[$i]}" -C "$work/gh" serve 2>"$work/gh.err" &
    GH_PID=$!
    for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/ping" && break; sleep 0.05; done
    sleep 0.5
    before=$(rss_kib $GH_PID)
    coproc HOLD { python3 "$work/hold.py" "$PORT" "$N" "$mode"; }
    read -r _ <&"${HOLD[0]}"
    sleep 1
    after=$(rss_kib $GH_PID)
    printf "%-10s %-10s %8d %9d KiB %9d KiB %14d\n" "${names[$i]}" "$mode" "$N" "$before" "$after" \
      $(( (after - before) * 1024 / N ))
    exec {HOLD[1]}>&-
    wait "$HOLD_PID" 2>/dev/null || true
    kill $GH_PID; wait $GH_PID 2>/dev/null || true
  done
done
