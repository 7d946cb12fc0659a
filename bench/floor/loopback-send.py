#!/usr/bin/env python3
"""What one loopback TCP send costs the sender's CPU: the floor of a
websocket fan-out on one machine (BENCHMARKS.md section 9).

Opens N connected loopback TCP pairs (TCP_NODELAY, as websockets use) and,
ROUNDS times, writes one SIZE-byte message to each (the size of a few
coalesced run events); a second thread drains the other ends. Prints the
sending thread's system and user CPU per send (getrusage RUSAGE_THREAD) and
the wall time. On loopback the sender's system time includes delivering the
segment to the receiving socket and waking its reader, so it is what each
subscriber costs a server per write, whatever the server is written in.

    python3 bench/floor/loopback-send.py [N=100] [ROUNDS=2000] [SIZE=600]

Standard library only; asserts nothing.
"""

import resource
import selectors
import socket
import sys
import threading
import time


def main() -> None:
    n, rounds, size = (int(a) for a in (sys.argv[1:] + ["100", "2000", "600"][len(sys.argv) - 1 :]))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(n)
    pairs = []
    for _ in range(n):
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pairs.append((server, client))
    total = n * rounds * size

    def drain() -> None:
        sel = selectors.DefaultSelector()
        for _, client in pairs:
            sel.register(client, selectors.EVENT_READ)
        got = 0
        while got < total:
            for key, _ in sel.select():
                got += len(key.fileobj.recv(65536))

    reader = threading.Thread(target=drain)
    reader.start()
    message = b"x" * size
    before, start = resource.getrusage(resource.RUSAGE_THREAD), time.perf_counter()
    for _ in range(rounds):
        for server, _ in pairs:
            server.sendall(message)
    after, end = resource.getrusage(resource.RUSAGE_THREAD), time.perf_counter()
    reader.join()
    sends = n * rounds
    per = lambda a, b: 1e6 * (a - b) / sends  # noqa: E731
    print(
        f"{sends} sends of {size} B to {n} sockets: sender system CPU "
        f"{per(after.ru_stime, before.ru_stime):.2f} us/send, user "
        f"{per(after.ru_utime, before.ru_utime):.2f} us/send, wall {per(end, start):.2f} us/send"
    )


if __name__ == "__main__":
    main()
