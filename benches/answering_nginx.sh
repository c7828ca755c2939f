# Sourced by benchmarks: an nginx that answers every request at once with
# `200` and a fixed JSON body, as the backend a benchmark's target calls.
#
#   start_answering_nginx WORK_DIR PORT BODY    # pid in WORK_DIR/backend.pid

start_answering_nginx() {
  local work=$1 port=$2 body=$3
  cat > "$work/backend.conf" <<CONF
worker_processes 1;
pid $work/backend.pid;
error_log $work/backend.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  client_body_temp_path $work/body;
  server {
    listen 127.0.0.1:$port;
    location / { default_type application/json; return 200 '$body'; }
  }
}
CONF
  nginx -c "$work/backend.conf"
}
