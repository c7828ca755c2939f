# Sourced by the gateway benchmarks: the config they all measure, and a JWT
# for it. Expects JWT_SECRET and API_KEY to be set.
#
#   write_gateway_config DIR PORT ADMIN BACKEND_PORT THREADS ACCESS_LOG
#     ADMIN: an address for the admin listener, or `off`
#     ACCESS_LOG: a file path, or `off`
#   JWT=$(bench_jwt)          an HS256 token for JWT_SECRET, valid for a day
#   WITH_WAF=1: also the WAF alone on its own routes: /waf-managed/ (the native
#     groups), /waf-crs1/ and /waf-crs2/ (Debian's CRS at paranoia 1 and 2)

write_gateway_config() {
  local dir=$1 port=$2 admin=$3 backend=$4 threads=$5 access_log=$6
  mkdir -p "$dir/routes"
  local admin_yaml="  address: $admin"
  [ "$admin" = off ] && admin_yaml="  enabled: false"
  cat > "$dir/gatehouse.yaml" <<YAML
listeners:
  - name: http
    address: 127.0.0.1:$port
admin:
$admin_yaml
server:
  threads: $threads
access_log: $access_log
messaging:
  enabled: false
upstreams:
  backend:
    targets:
      - address: 127.0.0.1:$backend
usage_plans:
  bench: {}
api_keys:
  - name: bench
    key: $API_KEY
    plan: bench
waf_rule_sets:
  bench:
    managed: [sqli, xss, path_traversal, command_injection, known_bad_inputs]
$(if [ "${WITH_WAF:-0}" = 1 ]; then cat <<WAF
  crs1:
    crs: {path: /usr/share/modsecurity-crs, paranoia_level: 1}
  crs2:
    crs: {path: /usr/share/modsecurity-crs, paranoia_level: 2}
WAF
fi)
YAML
  cat > "$dir/routes/bench.yaml" <<YAML
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
  if [ "${WITH_WAF:-0}" = 1 ]; then
    local name set
    for name in managed:bench crs1:crs1 crs2:crs2; do
      set=${name#*:}; name=${name%%:*}
      cat >> "$dir/routes/bench.yaml" <<YAML
  - path: /waf-$name/{proxy+}
    policies:
      waf: {rule_set: $set}
    integration:
      http:
        upstream: backend
        path: /{proxy}
YAML
    done
  fi
}

# Made with Python's standard library only.
bench_jwt() {
  python3 - "$JWT_SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "bench", "exp": int(time.time()) + 86400}).encode())
sig = hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b64(sig)}")
PY
}
