#!/usr/bin/env bash
# Queue workers: messages per second through a worker to an HTTP endpoint
# that answers at once (nginx, `return 200`) and to `/bin/true` as a
# command, with batch sizes 1 and 10. For each case: fill the queue with N
# messages (boto3, batches of 10), then add the worker (a file in workers/
# and SIGHUP) and time from its first processed batch until it has
# processed them all (the admin API's count). Embedded store with its defaults; the worker's concurrency fixed
# at CONCURRENCY pollers so the rate is not a ramp.
#
#   benches/workers.sh
#   N=50000 COMMAND_N=5000 CONCURRENCY=8 benches/workers.sh
#
# Needs nginx, python3 with boto3 (.ci/setup) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/answering_nginx.sh

N=${N:-40000}
COMMAND_N=${COMMAND_N:-5000}
CONCURRENCY=${CONCURRENCY:-4}
BACKEND_PORT=18101 GATEHOUSE_PORT=18103 ADMIN_PORT=18104 SQS_PORT=18105
GH=${GATEHOUSE:-target/release/gatehouse}
command -v nginx >/dev/null || { echo "needs nginx (apt-get install -y nginx)"; exit 1; }
[ -x "$GH" ] || cargo build --release

work=$(mktemp -d)
cleanup() {
  [ -f "$work/backend.pid" ] && kill "$(cat "$work/backend.pid")" 2>/dev/null || true
  [ -n "${GH_PID:-}" ] && kill "$GH_PID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"
start_answering_nginx "$work" "$BACKEND_PORT" '{}'

mkdir -p "$work/gh/workers"
cat > "$work/gh/gatehouse.yaml" <<YAML
listeners:
  - name: http
    address: 127.0.0.1:$GATEHOUSE_PORT
admin:
  address: 127.0.0.1:$ADMIN_PORT
server:
  threads: 1
access_log: off
upstreams:
  backend:
    targets:
      - address: 127.0.0.1:$BACKEND_PORT
messaging:
  address: 127.0.0.1:$SQS_PORT
  queues:
    http-1: {}
    http-10: {}
    command-1: {}
    command-10: {}
YAML
GATEHOUSE_LOG=warn $GH -C "$work/gh" serve 2>"$work/gh.err" &
GH_PID=$!
for _ in $(seq 1 200); do
  curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/healthz" && break
  sleep 0.05
done

cat > "$work/fill.py" <<'PY'
import boto3, sys, concurrent.futures as cf
port, queue, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def client():
    return boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")
url = f"http://127.0.0.1:{port}/000000000000/{queue}"
def send(start):
    c = client()
    for i in range(start, min(start + 1000, n), 10):
        c.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(j), "MessageBody": f'{{"n":{i + j}}}'} for j in range(min(10, n - i))])
with cf.ThreadPoolExecutor(8) as pool:
    list(pool.map(send, range(0, n, 1000)))
PY

processed() {
  curl -s "http://127.0.0.1:$ADMIN_PORT/workers" | python3 -c "
import json, sys
w = [x for x in json.load(sys.stdin)['workers'] if x['id'] == '$1']
print(w[0]['processed'] if w else 0)"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores; gatehouse threads 1; $CONCURRENCY pollers"
printf "%-10s %6s %8s %9s %12s\n" target batch messages seconds msgs_per_s
for target in http command; do
  for batch in 1 10; do
    name="$target-$batch"
    n=$N
    [ "$target" = command ] && n=$COMMAND_N
    python3 "$work/fill.py" "$SQS_PORT" "$name" "$n"
    if [ "$target" = http ]; then
      body="http: {upstream: backend, path: /}"
    else
      body="command: {program: /bin/true}"
    fi
    cat > "$work/gh/workers/$name.yaml" <<YAML
queue: $name
batch_size: $batch
concurrency: {min: $CONCURRENCY, max: $CONCURRENCY}
$body
YAML
    kill -HUP $GH_PID
    # Timed from the first processed batch (the reload's pick-up is not
    # the worker's speed) to the last.
    first=0
    while [ "$first" -eq 0 ]; do first=$(processed "$name"); sleep 0.01; done
    start=$(date +%s.%N)
    while [ "$(processed "$name")" -lt "$n" ]; do sleep 0.02; done
    end=$(date +%s.%N)
    python3 -c "
s = $end - $start
m = $n - $first
if m < $n // 2:
    print(f'{\"$target\":<10} {$batch:>6}  done before it could be timed: raise N / COMMAND_N')
else:
    print(f'{\"$target\":<10} {$batch:>6} {m:>8} {s:>9.2f} {m / s:>12.0f}')"
    rm "$work/gh/workers/$name.yaml"
    kill -HUP $GH_PID
  done
done
