"""Receives sd_notify datagrams for the tests: binds NOTIFY_SOCKET's address
(a path, or @name for an abstract socket), prints "LISTENING", then one JSON
line per datagram: the assignments, the sender's pid (SCM_CREDENTIALS), and
how many bytes the daemon's log file held when the datagram arrived. The
daemon writes its log synchronously, so every line it wrote before sending
the datagram lies within those bytes. Runs until its stdin closes."""
import json
import os
import select
import socket
import struct
import sys
import time

name, log_path = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind("\0" + name[1:] if name.startswith("@") else name)
print("LISTENING", flush=True)

while True:
    ready, _, _ = select.select([sock, sys.stdin], [], [])
    if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
        break
    if sock not in ready:
        continue
    data, anc, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(struct.calcsize("iII")))
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[: struct.calcsize("iII")])[0]
    try:
        log_bytes = os.stat(log_path).st_size
    except FileNotFoundError:
        log_bytes = 0
    lines = [l for l in data.decode("utf-8", "replace").split("\n") if l]
    print(json.dumps({"assignments": lines, "pid": pid, "logBytes": log_bytes, "t": time.monotonic()}), flush=True)
