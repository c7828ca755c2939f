#!/usr/bin/env bash
# Messaging benchmark: Gatehouse's SQS API (durable, fsync on, SigV4) vs moto's
# server, measured alternately in one run with `gatehouse bench sqs`.
#
#   benches/messaging.sh                     # defaults below
#   ROUNDS=5 DURATION=15 HALF_RATE=10000 benches/messaging.sh
#   BEFORE=/path/to/old/gatehouse benches/messaging.sh   # also an earlier build, same config
#
# Scenarios, each on a fresh queue, batches of 10 for send, receive and delete:
#   standard   flat out: producers as fast as the cycle allows
#   half-load  standard queue at HALF_RATE msg/s for Gatehouse (half the 20k
#              target) and at half of moto's own flat-out rate for moto
#   fifo       FIFO queue flat out, GROUPS message groups
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
export AWS_ACCESS_KEY_ID=AKIDBENCHMARK AWS_SECRET_ACCESS_KEY=bench-secret-not-for-production

command -v moto_server >/dev/null || { echo "needs moto's server (pip install 'moto[server]')"; exit 1; }
[ -x target/release/gatehouse ] || cargo build --release
bin=target/release/gatehouse

work=$(mktemp -d)
cleanup() {
  [ -n "${GH_PID:-}" ] && kill "$GH_PID" 2>/dev/null || true
  [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null || true
  [ -n "${BEFORE_PID:-}" ] && kill "$BEFORE_PID" 2>/dev/null || true
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
moto_server -p $MOTO_PORT >"$work/moto.log" 2>&1 &
MOTO_PID=$!

wait_port() { for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; echo "port $1 not up"; exit 1; }
wait_port $GATEHOUSE_PORT; wait_port $MOTO_PORT
[ -n "$BEFORE" ] && wait_port $BEFORE_PORT

declare -A ENDPOINT=([gatehouse]=http://127.0.0.1:$GATEHOUSE_PORT [moto]=http://127.0.0.1:$MOTO_PORT [before]=http://127.0.0.1:$BEFORE_PORT)
results="$work/results.jsonl"
: > "$results"

bench() { # target scenario [extra args...] -> appends one JSON line
  local target=$1 scenario=$2; shift 2
  local out
  out=$($bin bench sqs --endpoint "${ENDPOINT[$target]}" --duration "${DURATION}s" \
    --producers "$PRODUCERS" --consumers "$CONSUMERS" --max-backlog "$MAX_BACKLOG" --json "$@")
  python3 - "$target" "$scenario" "$out" >> "$results" <<'PY'
import json, sys
r = json.loads(sys.argv[3]); r["target"], r["scenario"] = sys.argv[1], sys.argv[2]
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
# Half load needs each target's flat-out rate first.
moto_half=$(( $(median_rate moto standard) / 2 ))
[ "$moto_half" -ge 10 ] || moto_half=10
for r in $(seq 1 "$ROUNDS"); do
  echo "half-load round $r"
  bench gatehouse half-load --rate "$HALF_RATE"
  [ -n "$BEFORE" ] && bench before half-load --rate "$HALF_RATE"
  bench moto half-load --rate "$moto_half"
done

echo
echo "medians over $ROUNDS rounds, ${DURATION}s each, $PRODUCERS producers, $CONSUMERS consumers, batches of 10, backlog <= $MAX_BACKLOG, gatehouse threads=$GATEHOUSE_THREADS, fsync on"
python3 - "$results" "${targets[*]}" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
targets = sys.argv[2].split()
med = lambda xs: statistics.median(xs) if xs else 0.0
print("| scenario | server | offered | msg/s | e2e p50 | e2e p99 | msg/s vs moto | lost / dup / out of order / errors |")
print("|---|---|---:|---:|---:|---:|---:|---|")
for scenario in ["standard", "half-load", "fifo"]:
    by = {t: [r for r in rows if r["target"] == t and r["scenario"] == scenario] for t in targets}
    rate = {t: med([r["messages_per_second"] for r in rs]) for t, rs in by.items()}
    for t, rs in by.items():
        offered = f"{rs[0]['offered_rate']:,}/s" if rs and rs[0]["offered_rate"] else "flat out"
        bad = " / ".join(str(sum(r[k] for r in rs)) for k in ("lost", "duplicates", "out_of_order", "errors"))
        # At half load each server gets a different offered rate: no ratio.
        ratio = f"{rate[t] / rate['moto']:,.0f}x" if rate["moto"] and scenario != "half-load" else "-"
        print(f"| {scenario} | {t} | {offered} | {rate[t]:,.0f} | {med([r['end_to_end']['p50_ms'] for r in rs]):.2f} ms"
              f" | {med([r['end_to_end']['p99_ms'] for r in rs]):.2f} ms | {ratio} | {bad} |")
PY
