#!/usr/bin/env bash
# Flows benchmark (BENCHMARKS.md): a local synthetic SaaS source serves
# records of ten fields, 1,000 per page with a cursor; one flow run reads them
# all through filter + map + mask and writes JSON Lines or Parquet to the
# local lake. Each case is `gatehouse flow run` in its own process; wall time
# and peak RSS (getrusage of the child) come from a small Python wrapper.
# Two more cases: `drift` reads records whose shape drifts across pages
# (`bench source ... &drift=1`: null-only columns, a late nested field,
# empty objects, integers turning into decimals) without a map, so the
# writer's schema must widen; `id` is the 10M JSONL case with `id: id`, each
# record written once per run by its id (memory grows 16 bytes a record).
#
#   benches/flows.sh [RECORDS] [BIG_RECORDS]     defaults: 1000000 10000000
#   BASE_BIN=/path/to/older/gatehouse benches/flows.sh
#     measures that binary too, case by case in the same run, for ratios
#     (cases it cannot configure are skipped).
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

TASKS='  - filter: {field: status, not_equals: refunded}
  - map: {id: id, name: name, email: email, status: status, amount: amount,
          currency: currency, country: country, items: items, created_at: created_at}
  - mask: {field: email, keep_last: 11}'
# Each flow in a config folder of its own, so a binary that cannot load one
# case still runs the others.
flow() { # name port format [query] [tasks] [extra source lines]
  mkdir -p "$WORK/$1/flows"
  cat > "$WORK/$1/flows/$1.yaml" <<YAML
allow_private_network: true
source:
  http:
    base_url: http://127.0.0.1:$2
    path: /records
    query: {limit: "1000"${4:-}}
    records: data
    pagination: {kind: cursor, from: next, param: cursor}
    max_pages: 1000000
${6:-}
tasks:
${5:-$TASKS}
destination: {url: file://, format: $3}
YAML
}
flow jsonl "$SMALL_PORT" jsonl
flow parquet "$SMALL_PORT" parquet
flow big_jsonl "$BIG_PORT" jsonl
flow big_parquet "$BIG_PORT" parquet
flow drift_parquet "$SMALL_PORT" parquet ', drift: "1"' '  - filter: {field: status, not_equals: refunded}'
flow drift_csv "$SMALL_PORT" csv ', drift: "1"' '  - filter: {field: status, not_equals: refunded}'
flow big_jsonl_id "$BIG_PORT" jsonl '' '' '    id: id'

measure() { # binary label flow
  python3 - "$1" "$WORK" "$3" "$2" <<'PY'
import json, resource, subprocess, sys, time
binary, work, flow, label = sys.argv[1:]
start = time.monotonic()
out = subprocess.run([binary, "-C", f"{work}/{flow}", "flow", "run", flow, "--json"], capture_output=True, text=True)
elapsed = time.monotonic() - start
# ru_maxrss of children is the largest child so far: each case runs in a
# fresh wrapper, so this is this flow run's peak.
rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
try:
    run = json.loads(out.stdout)
except ValueError:
    print(f"| {flow} | {label} | (cannot run: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else 'no output'}) |||||||")
    sys.exit(0)
assert run["status"] == "Successful", run
files = len(run["files"])
print(f"| {flow} | {label} | {run['records_read']:,} | {run['records_written']:,} | {run['records_invalid']:,} | {files} "
      f"| {run['bytes_written']/2**20:,.0f} MiB | {elapsed:.1f} s | {run['records_read']/elapsed:,.0f} | {rss_mib:.0f} MiB |")
PY
}

echo "| case | binary | records read | written | invalid | files | output | wall | records/s | peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for f in jsonl parquet big_jsonl big_parquet drift_parquet drift_csv big_jsonl_id; do
  measure "$BIN" this "$f"
  rm -rf "$WORK/$f/data"
  if [ -n "${BASE_BIN:-}" ]; then
    measure "$BASE_BIN" base "$f"
    rm -rf "$WORK/$f/data"
  fi
done
