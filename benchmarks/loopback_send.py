"""What one small ``send`` over loopback TCP costs, reader on the same core or the other.

    python benchmarks/loopback_send.py [--sends 100000] [--size 140]

A process sends ``--sends`` messages of ``--size`` bytes (a quote's frame) one ``send`` at a
time to a reader process that drains them, both pinned: first to the same core (the
reference), then sender on CPU 0 and reader on CPU 1, as benchmarks/side_by_side.py places
the gateway and the load generator. Printed: the sender's CPU time (user + system) per
send, and the ratio. Where it is high across cores, waking the reader costs the sender:
each delivery written on its own pays it, and writing several messages at once saves it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import time

from machine import cpu_model, load_average
from report import markdown_table


def reader(port: int, core: int) -> None:
    os.sched_setaffinity(0, {core})
    with socket.create_connection(("127.0.0.1", port)) as connection:
        while connection.recv(1 << 20):
            pass


def measure(sends: int, size: int, sender_core: int, reader_core: int) -> float:
    """The sender's CPU seconds per send."""
    os.sched_setaffinity(0, {sender_core})
    with socket.create_server(("127.0.0.1", 0)) as server:
        process = multiprocessing.Process(
            target=reader, args=(server.getsockname()[1], reader_core)
        )
        process.start()
        connection, _ = server.accept()
    with connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        message = b"x" * size
        start = time.process_time()
        for _ in range(sends):
            connection.sendall(message)
        cpu = time.process_time() - start
    process.join()
    return cpu / sends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=140)
    args = parser.parse_args()
    print(f"Command:  python {' '.join(sys.argv)}")
    print(f"Machine:  {cpu_model()}, {os.cpu_count()} CPUs; load {load_average()}")
    same = measure(args.sends, args.size, 0, 0)
    other = measure(args.sends, args.size, 0, 1)
    rows = [
        ["reader on the same core (reference)", f"{same * 1e6:.1f}"],
        ["reader on the other core", f"{other * 1e6:.1f}"],
    ]
    print("\n".join(markdown_table(["placement", "sender CPU µs per send"], rows)))
    print(f"other core / same core: {other / same:.1f}")


if __name__ == "__main__":
    main()
