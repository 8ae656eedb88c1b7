"""A redis-py client (Debian's python3-redis) with its defaults, counting what it sends.

Usage: redis_peer.py HOST PORT IDLE_S

It publishes to its own subscriber, holds three pooled connections at once (a blocking pop
each, in three threads), sends plain commands, a pipeline and a command the server refuses,
then leaves its pool idle for IDLE_S seconds and sends one more command. Prints, as JSON, the
commands it sent by name and how many error replies it got: the truth that connlab's reading
of the capture is checked against.
"""

import json
import sys
import threading
import time

import redis

host, port, idle_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sent = {}
errors = 0


def count(name, n=1):
    sent[name] = sent.get(name, 0) + n


r = redis.Redis(host=host, port=port)

# A subscriber, and one message published to it.
sub = r.pubsub()
sub.subscribe("news")
count("SUBSCRIBE")
sub.get_message(timeout=1.0)  # the subscription's confirmation
r.publish("news", "hello")
count("PUBLISH")
message = sub.get_message(timeout=2.0)
assert message and message["data"] == b"hello", message
sub.unsubscribe("news")
count("UNSUBSCRIBE")
sub.get_message(timeout=1.0)
sub.close()

# Three callers at once: the pool holds three connections.
start = threading.Barrier(3)


def caller(i):
    start.wait()
    r.blpop(f"queue{i}", timeout=1)


threads = [threading.Thread(target=caller, args=(i,)) for i in range(3)]
[t.start() for t in threads]
[t.join() for t in threads]
count("BLPOP", 3)

for i in range(10):
    r.set(f"k{i}", i)
    count("SET")
for i in range(10):
    r.get(f"k{i}")
    count("GET")
for _ in range(5):
    r.incr("counter")
    count("INCRBY")  # redis-py's incr is INCRBY counter 1 on the wire

# One round trip for eight commands: the pipeline's depth is 8.
pipe = r.pipeline(transaction=False)
for i in range(8):
    pipe.get(f"k{i}")
pipe.execute()
count("GET", 8)

try:
    r.execute_command("CONNLAB-NO-SUCH-COMMAND")
except redis.ResponseError:
    errors += 1
count("CONNLAB-NO-SUCH-COMMAND")

# The pooled connections sit idle past the server's timeout; redis-py finds the one it takes
# closed, and dials again before it writes.
time.sleep(idle_s)
assert r.get("k0") == b"0"
count("GET")

print(json.dumps({"sent": sent, "errors": errors}))
