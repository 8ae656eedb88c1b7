#!/usr/bin/env bash
# Makes a tcpdump capture of nginx answering `ab` over 60,000 short connections (no keep-alive)
# between two namespaces joined by a veth pair: a real server's capture of about 600,000
# packets, to time `connlab inspect` against tshark on (bench/inspect-vs-tshark.sh does).
#   sudo bench/nginx-ab-capture.sh OUT.pcap [connections] [body bytes]  (needs nginx, ab, tcpdump)
# A 3,000-byte body (three segments and their ACKs) gives about 800,000 packets.
set -euo pipefail
out=$1
conns=${2:-60000}
body=$(head -c "${3:-2}" /dev/zero | tr '\0' x)
a=connlab-bench-$$-client
b=connlab-bench-$$-server
dir=$(mktemp -d)
cleanup() {
  for ns in "$a" "$b"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$a"
ip netns add "$b"
ip -n "$a" link add eth0 type veth peer name eth0 netns "$b"
ip -n "$a" addr add 198.18.0.1/24 dev eth0
ip -n "$b" addr add 198.18.0.2/24 dev eth0
for ns in "$a" "$b"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip netns exec "$ns" ethtool -K eth0 tx off sg off tso off gso off gro off >/dev/null 2>&1 || true
done
# 60,000 connections from one address: the whole port range, and TIME_WAIT reuse.
ip netns exec "$a" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 198.18.0.2:80 backlog=4096; location / { return 200 "$body\n"; } }
}
CONF
ip netns exec "$b" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
disown
for _ in $(seq 50); do
  ip netns exec "$b" ss -ltn | grep -q 198.18.0.2:80 && break
  sleep 0.1
done
ip netns exec "$a" tcpdump -i eth0 -s 256 -B 262144 -w "$out" -U 'tcp port 80' 2>"$dir/tcpdump.log" &
dump=$!
sleep 1
ip netns exec "$a" ab -q -n "$conns" -c 32 http://198.18.0.2/ | grep -E "Complete requests|Failed requests|Requests per second"
sleep 1
kill -INT "$dump"
wait "$dump" || true
grep -E "captured|dropped" "$dir/tcpdump.log" || true
