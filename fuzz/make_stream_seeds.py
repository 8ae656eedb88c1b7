#!/usr/bin/env python3
"""Writes seed inputs for the `streams` fuzz target into fuzz/seeds/streams: a mode byte, then
segments of (side byte, length byte, bytes). Run once; the seeds are kept in the repository."""
import os
import struct

OUT = os.path.join(os.path.dirname(__file__), "seeds", "streams")


def segs(mode, *parts):
    out = bytes([mode])
    for side, data in parts:
        while data:
            chunk, data = data[:255], data[255:]
            out += bytes([side, len(chunk)]) + chunk
    return out


def ws(opcode, payload, masked):
    head = bytes([0x80 | opcode, (0x80 if masked else 0) | len(payload)])
    return head + (b"\0\0\0\0" if masked else b"") + payload


def h2(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


SEEDS = {
    "http1": segs(0, (0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
                  (1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
                  (0, b"GET /2 HTTP/1.1\r\nConnection: close\r\n\r\n")),
    "websocket": segs(1, (0, ws(1, b"hello", True)), (1, ws(1, b"hello", False)),
                      (0, ws(9, b"p", True)), (1, ws(10, b"p", False)),
                      (0, ws(8, b"\x03\xe8bye", True)), (1, ws(8, b"\x03\xe8", False))),
    "http2": segs(2, (0, h2(4, 0, 0, b"\x00\x03\x00\x00\x00\x64")), (1, h2(4, 0, 0, b"")),
                  (0, h2(1, 5, 1, b"\x82\x86\x84\x41\x8a\xa0\xe4\x1d\x13\x9d\x09\xb8\xf0\x1e\x07")),
                  (1, h2(1, 4, 1, b"\x88")), (1, h2(0, 1, 1, b"ok")),
                  (0, h2(6, 0, 0, b"12345678")), (1, h2(6, 1, 0, b"12345678")),
                  (1, h2(7, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x0btoo_many_pings"))),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
