"""Drives a running node as the scale bench does after a restart (tools/memory-probe.sh):
durable outcome writes from 16 HTTP clients, a checkpoint, then `top` and `search` queries.

    python3 tools/memory_drive.py ADDR TOKEN [WRITES]

PROBE_NO_CHECKPOINT=1 skips the checkpoint. Standard library only.
"""

import http.client
import json
import os
import random
import sys
import threading
import time

CLIENTS = 16
CONTEXTS = ["deploy", "ci", "local"]


def request(conn, token, method, path, body=None):
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def main():
    addr, token = sys.argv[1], sys.argv[2]
    writes = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    host, port = addr.rsplit(":", 1)
    connect = lambda: http.client.HTTPConnection(host, int(port), timeout=600)  # noqa: E731
    status, body = request(connect(), token, "GET", "/v1/spaces/default/top?n=100")
    assert status == 200, (status, body)
    ids = [p["id"] for p in json.loads(body)]

    def client(k):
        conn, rng = connect(), random.Random(k)
        for _ in range(writes // CLIENTS):
            outcome = {
                "success": rng.random() < 0.7,
                "duration_ms": 100,
                "contexts": [rng.choice(CONTEXTS)],
            }
            path = f"/v1/spaces/default/procedures/{rng.choice(ids)}/outcomes"
            status, body = request(conn, token, "POST", path, outcome)
            assert status == 200, (status, body)

    started = time.time()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"writes:  {writes // CLIENTS * CLIENTS} in {time.time() - started:.1f} s")
    if not os.environ.get("PROBE_NO_CHECKPOINT"):
        started = time.time()
        status, _ = request(connect(), token, "POST", "/v1/spaces/default/checkpoint", {})
        print(f"checkpoint: {status} in {time.time() - started:.1f} s")
    started = time.time()
    queries = [
        "/v1/spaces/default/top?n=10",
        "/v1/spaces/default/top?n=10&context=ci",
        "/v1/spaces/default/search?q=deploy+rollback&n=10",
    ]
    conn = connect()
    for i in range(300):
        status, _ = request(conn, token, "GET", queries[i % 3])
        assert status == 200
    print(f"queries: 300 in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
