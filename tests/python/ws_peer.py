"""A WebSocket server or client from Debian's python3-websockets, for connlab's fidelity
tests: it does what the test asks and prints its own account of it as one JSON line, which
connlab's reading of the capture must match.

    ws_peer.py server HOST PORT
        Echo server for one connection; prints what it counted once that connection ends.
    ws_peer.py client URL MESSAGES PINGS CLOSE
        Sends MESSAGES text messages (each echoed, WS_PEER_PAUSE_MS apart), PINGS ping frames
        (each awaited), then ends with CLOSE: "frame" (close frame, code 1000) or "abort"
        (the socket, no frame).
"""

import asyncio
import json
import os
import sys

import websockets


async def server(host, port):
    counts = {"messages_received": 0, "messages_sent": 0}
    done = asyncio.Event()

    async def handler(ws, path=None):
        try:
            async for message in ws:
                counts["messages_received"] += 1
                await ws.send(message)
                counts["messages_sent"] += 1
        except websockets.ConnectionClosed:
            pass
        counts["close_code"] = ws.close_code
        done.set()

    async with websockets.serve(handler, host, port, ping_interval=None):
        print("listening", flush=True)
        await done.wait()
        await asyncio.sleep(0.2)
    print(json.dumps(counts), flush=True)


async def client(url, messages, pings, close):
    counts = {"messages_sent": 0, "messages_received": 0, "pings_sent": 0, "pongs_received": 0}
    pause = int(os.environ.get("WS_PEER_PAUSE_MS", "0")) / 1000
    async with websockets.connect(url, ping_interval=None) as ws:
        for i in range(messages):
            if i > 0 and pause:
                await asyncio.sleep(pause)
            await ws.send(f"message {i}")
            counts["messages_sent"] += 1
            await ws.recv()
            counts["messages_received"] += 1
            if i < pings:
                waiter = await ws.ping(f"p{i}".encode())
                counts["pings_sent"] += 1
                await waiter
                counts["pongs_received"] += 1
        if close == "abort":
            ws.transport.abort()
            counts["close_code"] = None
        else:
            await ws.close(code=1000)
            counts["close_code"] = ws.close_code
    print(json.dumps(counts), flush=True)


def main():
    if sys.argv[1] == "server":
        asyncio.run(server(sys.argv[2], int(sys.argv[3])))
    else:
        url, messages, pings, close = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        asyncio.run(client(url, messages, pings, close))


if __name__ == "__main__":
    main()
