"""What the wire-level interop tests share: test frames, and UDP sockets of
the test's own (closed by the test's cleanups)."""
import socket

LOCAL = "127.0.0.1"


def frame(size, tag):
    """An Ethernet frame of `size` bytes (ethertype 0x88b5, local experimental)
    whose payload starts with `tag` and goes on in a pattern of its own."""
    head = bytes.fromhex("020000000001" "020000000002") + b"\x88\xb5" + tag.encode()
    return head + bytes((i * 7 + len(tag)) % 256 for i in range(size - len(head)))


def udp_socket(test, port, family=socket.AF_INET, host=LOCAL):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, port))
    s.settimeout(3)
    test.addCleanup(s.close)
    return s
