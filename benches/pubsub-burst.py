#!/usr/bin/env python3
# A subscriber that never reads: one raw socket SUBSCRIBEs to "burst" and reads nothing while
# 10,000 PUBLISHes of 8 KiB go out (redis-py pipelines of 100). Prints the server's RSS before,
# its peak growth (VmHWM) and RSS after. Usage: pubsub-burst.py PORT SERVER_PID
# (run it outside the repository: its redis/ directory shadows the redis-py package).
import socket, sys, time, redis
port = int(sys.argv[1]); pid = int(sys.argv[2])
def hwm():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmHWM:"): return int(l.split()[1])
    return 0
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nburst\r\n")
time.sleep(0.2); s.recv(100)
r = redis.Redis(port=port)
before_hwm, before_rss = hwm(), rss()
payload = b"x" * 8192
t = time.time(); last = None
p = r.pipeline(transaction=False)
for i in range(10000):
    p.publish("burst", payload)
    if i % 100 == 99:
        res = p.execute(); last = res[-1]
print(f"port {port}: last PUBLISH reached {last} subscribers; RSS before {before_rss//1024} MiB, peak growth {(hwm()-before_hwm)//1024} MiB, RSS after {rss()//1024} MiB; {time.time()-t:.2f}s")
print(r.info("stats").get("client_output_buffer_limit_disconnections"), [c for c in r.client_list() if c.get('sub') != '0'][:1])
