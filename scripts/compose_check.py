"""Checks a running compose.yaml stack from the host (see README, "Compose"):

1. the service answers GraphQL on the one published port;
2. requests are served by more than one worker (each keep-alive HTTP or WebSocket connection
   is matched to the worker process holding it, read from /proc inside the api container);
3. a mutation's live event reaches subscribers held by every worker, so also those on a
   worker other than the one that ran the mutation (fan-out through PostgreSQL LISTEN);
4. with --replica: the write is readable on the streaming replica, which is in recovery, and
   the api reads from it (DATABASE_READ_URL).

    .venv/bin/python scripts/compose_check.py [--engine podman] [--replica tcgraph_db-replica_1]

It creates an API key with `tcgraph apikey create` in the api container."""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import websockets

# In the api container: for each process, the remote ports of its established connections
# to port 8000 (socket inodes of its fds matched with /proc/net/tcp{,6}).
SOCKETS_BY_PID = r"""
import json, os, re
inodes = {}
for name in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(name).read().splitlines()[1:]:
        f = line.split()
        if f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == 8000:
            inodes[f[9]] = int(f[2].rsplit(":", 1)[1], 16)
found = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
            if m and m.group(1) in inodes:
                found.setdefault(pid, []).append(inodes[m.group(1)])
    except OSError:
        pass
print(json.dumps(found))
"""

CREATE = """mutation($t: String!) { createNeed(input: {state: "KEN", title: $t, description: "compose check",
  themes: ["JUSTICE"], visibility: PUBLIC}) { need { id } userErrors { message } } }"""
EVENTS = """subscription($after: Int) { events(after: $after, filter: {kinds: [NEED_CREATED]}) {
  sequence entity { ... on Need { title } } } }"""


def engine_exec(args: argparse.Namespace, container: str, *command: str) -> str:
    return subprocess.run([args.engine, "exec", container, *command], check=True, capture_output=True, text=True).stdout


def psql(args: argparse.Namespace, container: str, sql: str) -> str:
    return engine_exec(args, container, "psql", "-U", "tcgraph", "-d", "tcgraph", "-Atc", sql).strip()


def worker_of_ports(args: argparse.Namespace) -> dict[int, int]:
    """Client port → pid of the worker holding that connection."""
    found = json.loads(engine_exec(args, args.api, "python", "-c", SOCKETS_BY_PID))
    return {port: int(pid) for pid, ports in found.items() for port in ports}


class KeptAlive:
    """One HTTP/1.1 keep-alive connection, so that its requests stay with one worker."""

    def __init__(self, port: int, token: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.connection.connect()
        self.token = token
        self.port = self.connection.sock.getsockname()[1]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        self.connection.request("POST", "/graphql", body, headers)
        return json.loads(self.connection.getresponse().read())


async def subscribe(url: str, token: str, after: int) -> tuple[Any, int]:
    ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"], open_timeout=30)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "connection_ack"
    message = {"id": "1", "type": "subscribe", "payload": {"query": EVENTS, "variables": {"after": after}}}
    await ws.send(json.dumps(message))
    return ws, ws.transport.get_extra_info("sockname")[1]


async def next_title(ws: Any) -> str:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message["type"] == "next":
            return message["payload"]["data"]["events"]["entity"]["title"]
        assert message["type"] not in ("error", "complete"), message


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="podman", help="podman or docker")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api", default="tcgraph_api_1", help="the api container's name")
    parser.add_argument("--replica", default=None, help="the replica container's name, to check replication")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    key = ["tcgraph", "apikey", "create", "--role", "state-focal-point", "--state", "KEN", "--label", "compose check"]
    token = engine_exec(args, args.api, *key).strip()

    clients = [KeptAlive(args.port, token) for _ in range(args.connections)]
    answers = [c.graphql("{ changes(since: 0) { lastSequence } }") for c in clients]
    head = answers[0]["data"]["changes"]["lastSequence"]
    print(f"1. GraphQL on port {args.port}: {answers[0]}")

    url = f"ws://127.0.0.1:{args.port}/graphql"
    subscriptions = [await subscribe(url, token, head) for _ in range(args.connections)]
    workers = worker_of_ports(args)
    http_workers = Counter(workers.get(c.port) for c in clients)
    ws_workers = Counter(workers.get(port) for _, port in subscriptions)
    print(f"2. HTTP connections per worker pid: {dict(http_workers)}; subscriptions per worker pid: {dict(ws_workers)}")

    title = f"Compose check {time.time():.0f}"
    created = clients[0].graphql(CREATE, {"t": title})
    assert created["data"]["createNeed"]["userErrors"] == [], created
    writer = workers.get(clients[0].port)
    received = await asyncio.gather(*(next_title(ws) for ws, _ in subscriptions))
    elsewhere = sum(1 for _, port in subscriptions if workers.get(port) != writer)
    print(
        f"3. mutation on worker {writer}; {received.count(title)}/{len(received)} subscribers got {title!r}, "
        f"{elsewhere} of them on another worker"
    )
    for ws, _ in subscriptions:
        await ws.close()

    # The kernel hands each new connection to whichever worker accepts first: a few in a row may
    # all land on one, so HTTP and WebSocket connections count together.
    serving = set(http_workers) | set(ws_workers)
    ok = len(serving) > 1 and None not in serving and received == [title] * len(received) and elsewhere > 0
    if args.replica:
        sql = f"select pg_is_in_recovery(), count(*) from assistance_need where title = '{title}'"
        for _ in range(100):  # streamed: visible on the replica within moments
            row = psql(args, args.replica, sql)
            if row == "t|1":
                break
            await asyncio.sleep(0.1)
        readers = "select count(*) from pg_stat_activity where application_name = 'tcgraph' and client_addr is not null"
        api_connections = int(psql(args, args.replica, readers))
        print(
            f"4. on the replica (in recovery | rows with that title): {row}; api connections to it: {api_connections}"
        )
        ok = ok and row == "t|1" and api_connections > 0
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
