#!/usr/bin/env bash
# Flows benchmark (BENCHMARKS.md): a local synthetic SaaS source serves
# records of ten fields, 1,000 per page with a cursor; one flow run reads them
# all through filter + map + mask and writes JSON Lines or Parquet to the
# local lake. Each case is `gatehouse flow run` in its own process; wall time
# and peak RSS (getrusage of the child) come from a small Python wrapper.
#
#   benches/flows.sh [RECORDS] [BIG_RECORDS]     defaults: 1000000 10000000
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-1000000}
BIG=${2:-10000000}
cargo build --release --locked -q
BIN=$PWD/target/release/gatehouse
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

# Sources run in this shell (not in a command substitution), so the trap
# can stop them.
"$BIN" bench source --listen 127.0.0.1:0 --records "$RECORDS" 2>"$WORK/small.log" &
"$BIN" bench source --listen 127.0.0.1:0 --records "$BIG" 2>"$WORK/big.log" &
port_of() { # log file -> port
  for _ in $(seq 100); do
    port=$(grep -o '"source":"127.0.0.1:[0-9]*"' "$1" 2>/dev/null | grep -o '[0-9]*"$' | tr -d '"' || true)
    [ -n "$port" ] && { echo "$port"; return; }
    sleep 0.1
  done
  echo "source did not start" >&2; exit 1
}
SMALL_PORT=$(port_of "$WORK/small.log")
BIG_PORT=$(port_of "$WORK/big.log")

mkdir -p "$WORK/flows"
flow() { # name port format
  cat > "$WORK/flows/$1.yaml" <<YAML
allow_private_network: true
source:
  http:
    base_url: http://127.0.0.1:$2
    path: /records
    query: {limit: "1000"}
    records: data
    pagination: {kind: cursor, from: next, param: cursor}
    max_pages: 1000000
tasks:
  - filter: {field: status, not_equals: refunded}
  - map: {id: id, name: name, email: email, status: status, amount: amount,
          currency: currency, country: country, items: items, created_at: created_at}
  - mask: {field: email, keep_last: 11}
destination: {url: file://, format: $3}
YAML
}
flow jsonl "$SMALL_PORT" jsonl
flow parquet "$SMALL_PORT" parquet
flow big_jsonl "$BIG_PORT" jsonl
flow big_parquet "$BIG_PORT" parquet

measure() { # flow
  python3 - "$BIN" "$WORK" "$1" <<'PY'
import json, resource, subprocess, sys, time
binary, work, flow = sys.argv[1:]
start = time.monotonic()
out = subprocess.run([binary, "-C", work, "flow", "run", flow, "--json"], capture_output=True, text=True)
elapsed = time.monotonic() - start
rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
run = json.loads(out.stdout)
assert run["status"] == "Successful", run
print(f"| {flow} | {run['records_read']:,} | {run['records_written']:,} | {run['bytes_written']/2**20:,.0f} MiB "
      f"| {elapsed:.1f} s | {run['records_read']/elapsed:,.0f} | {rss_mib:.0f} MiB |")
PY
}

echo "| case | records read | written | output | wall | records/s | peak RSS |"
echo "|---|---|---|---|---|---|---|"
for f in jsonl parquet big_jsonl big_parquet; do
  measure "$f"
  rm -rf "$WORK/data/lake"
done
