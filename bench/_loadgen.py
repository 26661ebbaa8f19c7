"""Fallback load generator for bench/api.py when ``wrk`` is not installed.

A bounded closed-loop generator: a fixed number of keep-alive HTTP/1.1 connections over raw asyncio
streams, each sending one GET at a time (no pipelining). Paths are cycled from ``--paths-file`` (or one
``--path``). Prints the same ``BENCH-RESULT`` line as the wrk Lua script in bench/api.py:

    BENCH-RESULT requests duration_us p50_us p99_us mean_us connect read write status timeout

Run it pinned to its own core (``taskset -c 1 python bench/_loadgen.py ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time


async def _worker(
    host: str,
    port: int,
    head: bytes,
    paths: itertools.cycle[bytes],
    stop_at: float,
    lat: list[float],
    errors: dict[str, int],
) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        errors["connect"] += 1
        return
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            writer.write(b"GET " + next(paths) + head)
            status_line = await reader.readline()
            if not status_line:
                errors["read"] += 1
                return
            length = -1
            chunked = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length > 0:
                await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            code = status_line.split(b" ", 2)[1]
            if not code.startswith((b"2", b"3")):
                errors["status"] += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        errors["read"] += 1
    finally:
        writer.close()


async def run(url: str, paths: list[str], headers: list[str], connections: int, duration: float) -> str:
    rest = url.split("://", 1)[1]
    hostport = rest.split("/", 1)[0]
    host, _, port_s = hostport.partition(":")
    extra = "".join(h + "\r\n" for h in headers)
    head = f" HTTP/1.1\r\nHost: {hostport}\r\n{extra}\r\n".encode()
    cyc = itertools.cycle([p.encode() for p in paths])
    lat: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    start = time.perf_counter()
    await asyncio.gather(
        *(_worker(host, int(port_s or 80), head, cyc, start + duration, lat, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    lat.sort()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6 if lat else 0.0

    mean = sum(lat) / len(lat) * 1e6 if lat else 0.0
    e = errors
    return (
        f"BENCH-RESULT {len(lat)} {int(elapsed * 1e6)} {pct(0.50):.1f} {pct(0.99):.1f} {mean:.1f} "
        f"{e['connect']} {e['read']} {e['write']} {e['status']} {e['timeout']}"
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--path", default="/")
    p.add_argument("--paths-file", help="one request path per line, cycled")
    p.add_argument("-H", "--header", action="append", default=[])
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--duration", type=float, default=10.0)
    a = p.parse_args()
    if a.paths_file:
        with open(a.paths_file) as f:
            paths = [line.strip() for line in f if line.strip()]
    else:
        paths = [a.path]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(asyncio.run(run(a.url, paths, a.header, a.connections, a.duration)), flush=True)


if __name__ == "__main__":
    main()
