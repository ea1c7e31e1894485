#!/usr/bin/env python3
"""socket netdev fd=: sockets the client passes with getfd. A stream socket
carries frames behind 4-byte big-endian lengths, a datagram socket one frame
per datagram, sent to the socket's connected peer (where QEMU 7.2 sends to a
zeroed address and fails). Two such netdevs on one hub move frames between
the test's ends of two socketpairs, both ways; netdev_del gives the fds back
(the count of vnetd's open fds returns to where it was)."""
import socket
import struct

from vnetd_harness import VnetdTestCase, main


def frame(size, tag):
    head = bytes.fromhex("020000000001" "020000000002") + b"\x88\xb5" + tag.encode()
    return head + bytes((i * 3 + len(tag)) % 256 for i in range(size - len(head)))


class SocketFdTest(VnetdTestCase):

    def pair(self, kind):
        ours, theirs = socket.socketpair(socket.AF_UNIX, kind)
        ours.settimeout(3)
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        return ours, theirs

    def read_stream_frame(self, sock):
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
            chunk = sock.recv(70000)
            self.assertTrue(chunk, "stream closed")
            data += chunk
        length = struct.unpack(">I", data[:4])[0]
        self.assertEqual(len(data), 4 + length, "more than one frame arrived")
        return data[4:]

    def test_stream_and_datagram_fds_on_a_hub(self):
        client = self.connect()
        baseline = self.daemon.fd_count()
        stream, stream_theirs = self.pair(socket.SOCK_STREAM)
        dgram, dgram_theirs = self.pair(socket.SOCK_DGRAM)
        client.execute("getfd", {"fdname": "st"}, fds=[stream_theirs.fileno()])
        client.execute("getfd", {"fdname": "dg"}, fds=[dgram_theirs.fileno()])
        stream_theirs.close()
        dgram_theirs.close()
        for netdev in ({"type": "socket", "id": "fs", "fd": "st"},
                       {"type": "hubport", "id": "h0", "hubid": 0, "netdev": "fs"},
                       {"type": "socket", "id": "fd", "fd": "dg"},
                       {"type": "hubport", "id": "h1", "hubid": 0, "netdev": "fd"}):
            client.cmd("netdev_add", **netdev)
        for size in (60, 1514, 65000):
            out = frame(size, f"stream->dgram {size}")
            stream.sendall(struct.pack(">I", len(out)) + out)
            self.assertEqual(dgram.recv(70000), out)
            back = frame(size, f"dgram->stream {size}")
            dgram.send(back)
            self.assertEqual(self.read_stream_frame(stream), back)
        details = {n["id"]: n["details"] for n in client.cmd("query-netdevs")}
        self.assertEqual((details["fs"]["mode"], details["fs"]["connected"]), ("fd", True))
        self.assertEqual((details["fd"]["mode"], details["fd"]["socket-type"]), ("fd", "datagram"))
        self.assertEqual((details["fs"]["frames-in"], details["fs"]["frames-out"]), (3, 3))
        self.assertEqual((details["fd"]["frames-in"], details["fd"]["frames-out"]), (3, 3))
        for netdev in ("h0", "h1", "fs", "fd"):
            client.cmd("netdev_del", id=netdev)
        self.assertEqual(stream.recv(10), b"", "vnetd still holds the stream socket")
        self.assertEqual(self.daemon.wait_fd_count(baseline), baseline)

    def test_a_stream_fd_the_peer_closes(self):
        client = self.connect()
        stream, theirs = self.pair(socket.SOCK_STREAM)
        client.execute("getfd", {"fdname": "st"}, fds=[theirs.fileno()])
        theirs.close()
        client.cmd("netdev_add", type="socket", id="fs", fd="st")
        stream.close()
        # fd= does not reconnect: the netdev stays, down, and vnetd answers.
        for _ in range(100):
            details = {n["id"]: n["details"] for n in client.cmd("query-netdevs")}["fs"]
            if not details["connected"]:
                break
        self.assertFalse(details["connected"])
        client.cmd("netdev_del", id="fs")


if __name__ == "__main__":
    main()
