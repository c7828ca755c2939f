#!/usr/bin/env bash
# Messaging benchmark: Gatehouse's SQS API (durable, fsync on, SigV4) vs moto's
# server, measured alternately in one run with `gatehouse bench sqs`.
#
#   benches/messaging.sh                     # defaults below
#   ROUNDS=5 DURATION=15 HALF_RATE=10000 benches/messaging.sh
#   BEFORE=/path/to/old/gatehouse benches/messaging.sh   # also an earlier build, same config
#   STORE=postgres benches/messaging.sh      # embedded vs one and two nodes on PostgreSQL
#   SSE=1 benches/messaging.sh               # also a node sealing messages at rest
#
# STORE=postgres (fleet mode) measures, in one run: the embedded store, one
# node on PostgreSQL (PG_URL, a schema of its own, dropped after), and two
# nodes on that same database with producers and consumers spread over both.
# It also reports commits and WAL flushes per message from PostgreSQL's own
# statistics (pg_stat_database, pg_stat_wal), and skips moto and half-load.
#
# Scenarios, each on a fresh queue, batches of 10 for send, receive and delete:
#   standard   flat out: producers as fast as the cycle allows
#   half-load  standard queue at HALF_RATE msg/s for Gatehouse (half the 20k
#              target) and at half of moto's own flat-out rate for moto
#   fifo       FIFO queue flat out, GROUPS message groups
#
# SSE=1 adds `sse`: the same config with a `messaging.encryption` key ring,
# so every queue (SqsManagedSseEnabled is on by default) is written sealed
# with AES-256-GCM; the summary gives its rate against `gatehouse`.
#
# Needs a release build (cargo build --release) and moto's server
# (pip install 'moto[server]'). Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
HALF_RATE=${HALF_RATE:-10000}
PRODUCERS=${PRODUCERS:-4}
CONSUMERS=${CONSUMERS:-4}
GROUPS=${GROUPS:-64}
MAX_BACKLOG=${MAX_BACKLOG:-1000}
GATEHOUSE_THREADS=${GATEHOUSE_THREADS:-2}
GATEHOUSE_PORT=18190 MOTO_PORT=18191 HTTP_PORT=18192 ADMIN_PORT=18193
BEFORE=${BEFORE:-}
BEFORE_PORT=18194 BEFORE_HTTP_PORT=18195 BEFORE_ADMIN_PORT=18196
SSE=${SSE:-}
SSE_PORT=18203 SSE_HTTP_PORT=18204 SSE_ADMIN_PORT=18205
STORE=${STORE:-embedded}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
PG_SCHEMA=bench_$$
PG1_PORT=18197 PG1_HTTP_PORT=18198 PG1_ADMIN_PORT=18199
PG2_PORT=18200 PG2_HTTP_PORT=18201 PG2_ADMIN_PORT=18202
export AWS_ACCESS_KEY_ID=AKIDBENCHMARK AWS_SECRET_ACCESS_KEY=bench-secret-not-for-production

if [ "$STORE" = embedded ]; then
  command -v moto_server >/dev/null || { echo "needs moto's server (pip install 'moto[server]')"; exit 1; }
else
  command -v psql >/dev/null || { echo "STORE=postgres needs psql and a PostgreSQL at PG_URL"; exit 1; }
fi
[ -x target/release/gatehouse ] || cargo build --release
bin=target/release/gatehouse

work=$(mktemp -d)
cleanup() {
  [ -n "${GH_PID:-}" ] && kill "$GH_PID" 2>/dev/null || true
  [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null || true
  [ -n "${BEFORE_PID:-}" ] && kill "$BEFORE_PID" 2>/dev/null || true
  [ -n "${SSE_PID:-}" ] && kill "$SSE_PID" 2>/dev/null || true
  [ -n "${PG1_PID:-}" ] && kill "$PG1_PID" 2>/dev/null || true
  [ -n "${PG2_PID:-}" ] && kill "$PG2_PID" 2>/dev/null || true
  if [ "$STORE" = postgres ]; then
    psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/gh"
cat > "$work/gh/gatehouse.yaml" <<YAML
listeners:
  - name: http
    address: 127.0.0.1:$HTTP_PORT
admin:
  address: 127.0.0.1:$ADMIN_PORT
data_dir: $work/data
server:
  threads: $GATEHOUSE_THREADS
messaging:
  address: 127.0.0.1:$GATEHOUSE_PORT
  fsync: true
  access_keys:
    - id: $AWS_ACCESS_KEY_ID
      secret: $AWS_SECRET_ACCESS_KEY
YAML
GATEHOUSE_LOG=warn $bin -C "$work/gh" serve 2>"$work/gh.err" &
GH_PID=$!
targets=(gatehouse moto)
if [ -n "$BEFORE" ]; then
  mkdir -p "$work/before"
  sed -e "s/127.0.0.1:$GATEHOUSE_PORT/127.0.0.1:$BEFORE_PORT/" -e "s/127.0.0.1:$HTTP_PORT/127.0.0.1:$BEFORE_HTTP_PORT/" \
    -e "s/127.0.0.1:$ADMIN_PORT/127.0.0.1:$BEFORE_ADMIN_PORT/" -e "s#$work/data#$work/before-data#" \
    "$work/gh/gatehouse.yaml" > "$work/before/gatehouse.yaml"
  GATEHOUSE_LOG=warn "$BEFORE" -C "$work/before" serve 2>"$work/before.err" &
  BEFORE_PID=$!
  targets=(gatehouse before moto)
fi
if [ -n "$SSE" ]; then
  mkdir -p "$work/sse"
  sed -e "s/127.0.0.1:$GATEHOUSE_PORT/127.0.0.1:$SSE_PORT/" -e "s/127.0.0.1:$HTTP_PORT/127.0.0.1:$SSE_HTTP_PORT/" \
    -e "s/127.0.0.1:$ADMIN_PORT/127.0.0.1:$SSE_ADMIN_PORT/" -e "s#$work/data#$work/sse-data#" \
    "$work/gh/gatehouse.yaml" > "$work/sse/gatehouse.yaml"
  key=$(head -c 32 /dev/urandom | base64)
  printf '  encryption:\n    current_key: bench\n    keys:\n      bench: %s\n' "$key" >> "$work/sse/gatehouse.yaml"
  GATEHOUSE_LOG=warn $bin -C "$work/sse" serve 2>"$work/sse.err" &
  SSE_PID=$!
  targets+=(sse)
fi
wait_port() { for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; echo "port $1 not up"; exit 1; }
# A node on the shared database: the embedded config with other ports and a
# `store:` section.
pg_node() { # name port http_port admin_port
  mkdir -p "$work/$1"
  sed -e "s/127.0.0.1:$GATEHOUSE_PORT/127.0.0.1:$2/" -e "s/127.0.0.1:$HTTP_PORT/127.0.0.1:$3/" \
    -e "s/127.0.0.1:$ADMIN_PORT/127.0.0.1:$4/" -e "s#$work/data#$work/$1-data#" \
    "$work/gh/gatehouse.yaml" > "$work/$1/gatehouse.yaml"
  printf 'store:\n  url: %s\n  schema: %s\n  max_connections: 16\n' "$PG_URL" "$PG_SCHEMA" >> "$work/$1/gatehouse.yaml"
  GATEHOUSE_LOG=warn $bin -C "$work/$1" serve 2>"$work/$1.err" &
}
if [ "$STORE" = postgres ]; then
  pg_node pg1 $PG1_PORT $PG1_HTTP_PORT $PG1_ADMIN_PORT; PG1_PID=$!
  pg_node pg2 $PG2_PORT $PG2_HTTP_PORT $PG2_ADMIN_PORT; PG2_PID=$!
  wait_port $PG1_PORT; wait_port $PG2_PORT
  targets=(gatehouse pg1 pg2)
  REFERENCE=gatehouse
else
  moto_server -p $MOTO_PORT >"$work/moto.log" 2>&1 &
  MOTO_PID=$!
  wait_port $MOTO_PORT
  REFERENCE=moto
fi
wait_port $GATEHOUSE_PORT
[ -n "$BEFORE" ] && wait_port $BEFORE_PORT
[ -n "$SSE" ] && wait_port $SSE_PORT

declare -A ENDPOINT=([gatehouse]=http://127.0.0.1:$GATEHOUSE_PORT [moto]=http://127.0.0.1:$MOTO_PORT [before]=http://127.0.0.1:$BEFORE_PORT
  [sse]=http://127.0.0.1:$SSE_PORT
  [pg1]=http://127.0.0.1:$PG1_PORT [pg2]=http://127.0.0.1:$PG1_PORT,http://127.0.0.1:$PG2_PORT)
results="$work/results.jsonl"
: > "$results"

# Commits and WAL flushes so far, on PostgreSQL's own counters.
pg_counters() {
  if [ "$STORE" = postgres ]; then
    psql "$PG_URL" -Atc "SELECT (SELECT sum(xact_commit) FROM pg_stat_database)::bigint, (SELECT wal_sync FROM pg_stat_wal)" | tr '|' ' '
  else
    echo "0 0"
  fi
}

bench() { # target scenario [extra args...] -> appends one JSON line
  local target=$1 scenario=$2; shift 2
  local out before after
  before=$(pg_counters)
  out=$($bin bench sqs --endpoint "${ENDPOINT[$target]}" --duration "${DURATION}s" \
    --producers "$PRODUCERS" --consumers "$CONSUMERS" --max-backlog "$MAX_BACKLOG" --json "$@")
  after=$(pg_counters)
  python3 - "$target" "$scenario" "$out" "$before" "$after" >> "$results" <<'PY'
import json, sys
r = json.loads(sys.argv[3]); r["target"], r["scenario"] = sys.argv[1], sys.argv[2]
b, a = [int(x) for x in sys.argv[4].split()], [int(x) for x in sys.argv[5].split()]
r["commits"], r["wal_syncs"] = a[0] - b[0], a[1] - b[1]
print(json.dumps(r))
PY
  python3 - "$out" "$target" "$scenario" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"  {sys.argv[2]:<10} {sys.argv[3]:<10} {r['messages_per_second']:>9.0f} msg/s  e2e p50 {r['end_to_end']['p50_ms']:8.2f} ms  p99 {r['end_to_end']['p99_ms']:8.2f} ms"
      f"  lost {r['lost']} dup {r['duplicates']} order {r['out_of_order']} errors {r['errors']}")
PY
}

median_rate() { # target scenario
  python3 - "$results" "$1" "$2" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(int(statistics.median(r["messages_per_second"] for r in rows if r["target"] == sys.argv[2] and r["scenario"] == sys.argv[3])))
PY
}

echo "warm-up"
for t in "${targets[@]}"; do DURATION=2 bench "$t" warmup > /dev/null; done
: > "$results"
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r"
  for t in "${targets[@]}"; do bench "$t" standard; done
  for t in "${targets[@]}"; do bench "$t" fifo --fifo --groups "$GROUPS"; done
done
# Half load needs each target's flat-out rate first (compared with moto only).
[ "$STORE" = embedded ] && moto_half=$(( $(median_rate moto standard) / 2 ))
[ "${moto_half:-0}" -ge 10 ] || moto_half=10
[ "$STORE" = embedded ] && for r in $(seq 1 "$ROUNDS"); do
  echo "half-load round $r"
  bench gatehouse half-load --rate "$HALF_RATE"
  [ -n "$BEFORE" ] && bench before half-load --rate "$HALF_RATE"
  bench moto half-load --rate "$moto_half"
done

echo
echo "medians over $ROUNDS rounds, ${DURATION}s each, $PRODUCERS producers, $CONSUMERS consumers, batches of 10, backlog <= $MAX_BACKLOG, gatehouse threads=$GATEHOUSE_THREADS, fsync on"
python3 - "$results" "${targets[*]}" "$REFERENCE" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
targets, ref = sys.argv[2].split(), sys.argv[3]
med = lambda xs: statistics.median(xs) if xs else 0.0
pg = ref != "moto"
extra = " commits / msg | WAL flushes / msg |" if pg else ""
print(f"| scenario | server | offered | msg/s | e2e p50 | e2e p99 | msg/s vs {ref} | lost / dup / out of order / errors |{extra}")
print("|---|---|---:|---:|---:|---:|---:|---|" + ("---:|---:|" if pg else ""))
for scenario in ["standard", "half-load", "fifo"]:
    by = {t: [r for r in rows if r["target"] == t and r["scenario"] == scenario] for t in targets}
    if not any(by.values()):
        continue
    rate = {t: med([r["messages_per_second"] for r in rs]) for t, rs in by.items()}
    for t, rs in by.items():
        if not rs:
            continue
        offered = f"{rs[0]['offered_rate']:,}/s" if rs and rs[0]["offered_rate"] else "flat out"
        bad = " / ".join(str(sum(r[k] for r in rs)) for k in ("lost", "duplicates", "out_of_order", "errors"))
        # At half load each server gets a different offered rate: no ratio.
        ratio = f"{rate[t] / rate[ref]:,.2f}x" if rate[ref] and scenario != "half-load" else "-"
        line = (f"| {scenario} | {t} | {offered} | {rate[t]:,.0f} | {med([r['end_to_end']['p50_ms'] for r in rs]):.2f} ms"
                f" | {med([r['end_to_end']['p99_ms'] for r in rs]):.2f} ms | {ratio} | {bad} |")
        if pg:
            msgs = sum(r["received"] for r in rs) or 1
            if t == ref:
                line += " - | - |"
            else:
                line += f" {sum(r['commits'] for r in rs) / msgs:.2f} | {sum(r['wal_syncs'] for r in rs) / msgs:.2f} |"
        print(line)
PY
if [ -n "$SSE" ]; then
  python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for scenario in ["standard", "fifo"]:
    rate = {t: statistics.median([r["messages_per_second"] for r in rows if r["target"] == t and r["scenario"] == scenario] or [0]) for t in ["gatehouse", "sse"]}
    if rate["gatehouse"]:
        print(f"{scenario}: sse {rate['sse']:,.0f} msg/s vs gatehouse {rate['gatehouse']:,.0f}: {rate['sse'] / rate['gatehouse']:.2f}x")
PY
fi
