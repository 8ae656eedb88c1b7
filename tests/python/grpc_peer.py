#!/usr/bin/env python3
"""A gRPC peer from Debian's python3-grpcio, for connlab's real-capture tests: a server with a
generic unary method (no generated code), or a client calling it. Both take gRPC channel
options as NAME=VALUE arguments, and the client prints what it did as one JSON line:
{"calls": n, "ok": n, "codes": {"OK": n, ...}}.

  grpc_peer.py server ADDR DELAY_S [OPTION=VALUE ...]     (each call answered after DELAY_S)
  grpc_peer.py client ADDR CALLS GAP_S LINGER_S [OPTION=VALUE ...]
"""
import json
import sys
import time
from concurrent import futures

import grpc

METHOD = "/connlab.Echo/Say"


def options(args):
    out = []
    for arg in args:
        name, value = arg.split("=", 1)
        out.append((name, int(value) if value.lstrip("-").isdigit() else value))
    return out


def serve(addr, delay, opts):
    def say(request, context):
        time.sleep(delay)
        return b"ok"

    handler = grpc.method_handlers_generic_handler(
        "connlab.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options(opts))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(addr)
    server.start()
    print("listening", flush=True)
    server.wait_for_termination()


def client(addr, calls, gap, linger, opts):
    codes = {}
    with grpc.insecure_channel(addr, options=options(opts)) as channel:
        say = channel.unary_unary(METHOD)
        for _ in range(calls):
            try:
                say(b"hi", timeout=5)
                code = "OK"
            except grpc.RpcError as e:
                code = e.code().name
            codes[code] = codes.get(code, 0) + 1
            time.sleep(gap)
        time.sleep(linger)
    print(json.dumps({"calls": calls, "ok": codes.get("OK", 0), "codes": codes}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
    else:
        client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6:])
