"""The benchmarks' "raw Python DNS client": the same queries as ours, parsed with dnspython, nothing more.

One asyncio DatagramProtocol socket, queries matched by message id, `--concurrency` in flight
(ours' resolver default), each reply parsed by dnspython's `dns.message.from_wire` down to its
answer section. No cache, no CNAME following, no retries: it is the ceiling a Python client can
reach on this machine, which ours' query rate is compared with (issue 22).

    python bench/rawdns.py QUERIES_FILE 127.0.0.2 [--port 53] [--concurrency 64]

QUERIES_FILE holds `name type` lines. Prints `queries answered seconds` (the query phase only).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import cast

import dns.message
import dns.rdatatype


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        future = self.pending.pop(int.from_bytes(data[:2], "big"), None)
        if future is not None and not future.done():
            future.set_result(data)


async def run(queries: list[tuple[str, str]], server: tuple[str, int], concurrency: int, timeout: float) -> int:
    """Send every query, `concurrency` at a time; the number answered."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Protocol, remote_addr=server)
    cursor = iter(queries)
    answered = 0

    async def worker() -> None:
        nonlocal answered
        for name, rtype in cursor:
            message = dns.message.make_query(name, dns.rdatatype.from_text(rtype))
            qid = random.randrange(1, 65536)
            while qid in protocol.pending:
                qid = random.randrange(1, 65536)
            message.id = qid
            future: asyncio.Future[bytes] = loop.create_future()
            protocol.pending[qid] = future
            transport.sendto(message.to_wire())
            try:
                wire = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                protocol.pending.pop(qid, None)
                continue
            reply = dns.message.from_wire(wire)
            _ = [list(rrset) for rrset in reply.answer]
            answered += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    transport.close()
    return answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("queries")
    parser.add_argument("address")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    with open(args.queries) as handle:
        queries = [(line.split()[0], line.split()[1]) for line in handle if line.strip()]
    start = time.perf_counter()
    answered = asyncio.run(run(queries, (args.address, args.port), args.concurrency, args.timeout))
    print(len(queries), answered, round(time.perf_counter() - start, 4))


if __name__ == "__main__":
    main()
