#!/usr/bin/env bash
# What observability costs on the call path: W1 and W3 of the embedded control plane, alternating in one run,
#   off         no metrics backend, no tracer (the embedded default);
#   metrics     recording into a Prometheus registry (ALOFT_BENCH_METRICS=prometheus, as `aloft server` does);
#   traced      that, and a tracer exporting every call's spans over OTLP/HTTP (ALOFT_BENCH_TRACING=otlp, as
#               `aloft server --otlp-endpoint` does) to a collector stand-in on this machine that answers 200.
# Usage: bench/observability-ab.sh [rounds] (default 4).
# The traced side also runs `w1traced`: W1's calls recorded and sampled out, interleaved in bursts in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}
swift build -c release --product aloft-bench >&2
sink=$(mktemp)
/usr/bin/python3 -c '
import http.server
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *arguments): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()' >"$sink" &
sink_pid=$!
trap 'kill $sink_pid 2>/dev/null; rm -f "$sink"' EXIT
while [ ! -s "$sink" ]; do sleep 0.1; done
export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(head -1 "$sink")"
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores"
for round in $(seq "$rounds"); do
  # The order turns each round: a machine that drifts during the run does not always favour the first.
  case $((round % 3)) in
    1) order="off metrics traced" ;;
    2) order="metrics traced off" ;;
    0) order="traced off metrics" ;;
  esac
  for side in $order; do
    case $side in
      off) metrics=off tracing=off ;;
      metrics) metrics=prometheus tracing=off ;;
      traced) metrics=prometheus tracing=otlp ;;
    esac
    ALOFT_BENCH_METRICS=$metrics ALOFT_BENCH_TRACING=$tracing .build/release/aloft-bench -- w1 w3 \
      | grep -E "^W1|^W3" | sed "s/^/$side /"
    # Traced: also W1 with recorded and sampled-out calls interleaved in one process (their p50s differ by what
    # recording and exporting cost, free of the drift between processes); small batches, so that the exports run
    # inside the recorded bursts.
    if [ "$side" = traced ]; then
      ALOFT_BENCH_METRICS=$metrics ALOFT_BENCH_TRACING=$tracing OTEL_BSP_MAX_EXPORT_BATCH_SIZE=150 \
        .build/release/aloft-bench -- w1traced | grep -E "^W1" | sed "s/^/$side /"
    fi
  done
done
