#!/usr/bin/env python3
"""A local SMTP sink for tests: accepts every message, delivers nowhere.

Each received message is written to DIR/<counter>.eml as the raw bytes
received, preceded by one line `X-Envelope-To: <rcpt>, <rcpt>` with the
envelope recipients. Files appear atomically (written then renamed), so a
poller never reads half a message. Prints "listening" on stdout once the
port accepts connections; stops on SIGTERM or SIGINT.

Needs the `aiosmtpd` package (pip install aiosmtpd).

    python3 smtp-sink.py --host 127.0.0.1 --port 2525 --dir /tmp/sink
"""

import argparse
import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from aiosmtpd.smtp import SMTP

MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class Sink:
    def __init__(self, directory: Path):
        self.directory = directory
        existing = [
            int(m.group(1))
            for p in directory.iterdir()
            if (m := re.fullmatch(r"(\d+)\.eml", p.name))
        ]
        self.counter = max(existing, default=0)

    async def handle_DATA(self, server, session, envelope):
        self.counter += 1
        rcpts = ", ".join(envelope.rcpt_tos)
        content = envelope.original_content or b""
        data = b"X-Envelope-To: " + rcpts.encode("utf-8", "replace") + b"\r\n" + content
        final = self.directory / f"{self.counter}.eml"
        partial = self.directory / f".{self.counter}.eml.part"
        partial.write_bytes(data)
        os.replace(partial, final)
        print(
            f"smtp-sink: {final.name} from {envelope.mail_from} to {rcpts}",
            file=sys.stderr,
            flush=True,
        )
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, directory: Path) -> None:
    handler = Sink(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="smtp-sink.localhost",
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
        ),
        host=host,
        port=port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()
    print(
        f"smtp-sink: listening on {bound[0]}:{bound[1]}, writing to {directory}",
        file=sys.stderr,
        flush=True,
    )
    print("listening", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="folder for .eml files")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
