"""W10's peer: Ray Serve with the benchmark endpoint's handler (GET /square?x=N -> {"square": N*N}). Prints
`ready PORT` once the endpoint answers, then serves until its standard input closes (bench/web drives it with wrk)."""
import socket
import sys
import urllib.request

import ray
from ray import serve

ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)

with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
serve.start(http_options={"host": "127.0.0.1", "port": port})


@serve.deployment(max_ongoing_requests=64)
class Square:
    async def __call__(self, request):
        x = int(request.query_params.get("x", 0))
        return {"square": x * x}


serve.run(Square.bind(), route_prefix="/square")
with urllib.request.urlopen(f"http://127.0.0.1:{port}/square?x=3", timeout=60) as reply:
    assert b"9" in reply.read()
print(f"ready {port}", flush=True)
sys.stdin.read()
serve.shutdown()
ray.shutdown()
