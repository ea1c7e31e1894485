#!/usr/bin/env python3
"""The vhost-user netdev (issue 15): vnetd is the back end on a UNIX socket;
VM-free front ends (tests/vhost_user/vhost_user_frontend.py, checked against
DPDK's testpmd by the interop tier) drive it as QEMU does.

    front end A <-> vhost-user a0 -hub 0- a1 vhost-user <-> front end B

Frames cross the hub both ways byte for byte; buffers smaller than a frame
are merged with MRG_RXBUF; a front end that goes is replaced by the next; a
second front end is turned away; a front end that breaks the protocol is cut
off with a reason, and vnetd goes on serving everyone else."""
import os
import socket
import struct
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "vhost_user"))
from vnetd_harness import VnetdTestCase, in_netns_of, main  # noqa: E402
import vhost_user_frontend as vu  # noqa: E402


def udp_socket_in_netns_of(pid):
    """A UDP socket on 127.0.0.1 in process pid's network namespace (its
    loopback brought up), for a peer of vnetd's own."""
    with in_netns_of(pid):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sink.bind(("127.0.0.1", 0))
    return sink


def sink_wait(sink, timeout=5.0):
    sink.settimeout(timeout)
    return sink.recv(4096)


def frame(tag, index, size):
    return bytes.fromhex("ffffffffffff5254001200") + bytes([tag]) + b"\x08\x00" + bytes([index % 251]) * (size - 14)


class VhostUserNetdev(VnetdTestCase):
    def setUp(self):
        super().setUp()
        self.client = self.connect()
        self.paths = {}
        for name in ("a0", "a1"):
            path = os.path.join(self.workdir, f"{name}.sock")
            self.client.cmd("netdev_add", type="vhost-user", id=name, chardev=path)
            self.client.cmd("netdev_add", type="hubport", id=f"h{name}", hubid=0, netdev=name)
            self.paths[name] = path

    def front_end(self, name):
        front = vu.Frontend(self.paths[name])
        self.addCleanup(front.close)
        front.start()
        front.post_rx_buffers(0, 128)
        return front

    def details(self, netdev_id):
        return [n for n in self.client.cmd("query-netdevs") if n["id"] == netdev_id][0]["details"]

    def wait_running(self, name, rings):
        deadline = time.monotonic() + 5
        while self.details(name).get("rings-running") != rings:
            if time.monotonic() > deadline:
                self.fail(f"{name}: rings running {self.details(name).get('rings-running')}, not {rings}")
            time.sleep(0.02)

    def test_frames_cross_the_hub_both_ways(self):
        a, b = self.front_end("a0"), self.front_end("a1")
        self.wait_running("a0", [0, 1])
        self.wait_running("a1", [0, 1])
        for size in (60, 1514):
            sent = [frame(1, i, size) for i in range(40)]
            a.send_frames(sent)
            self.assertEqual(b.receive_frames(len(sent)), sent, f"A to B, {size} bytes")
            back = [frame(2, i, size) for i in range(40)]
            b.send_frames(back)
            self.assertEqual(a.receive_frames(len(back)), back, f"B to A, {size} bytes")
        a0, a1 = self.details("a0"), self.details("a1")
        self.assertTrue(a0["connected"])
        self.assertEqual(a0["frames-in"], 80)
        self.assertEqual(a0["frames-out"], 80)
        self.assertEqual(a1["frames-in"], 80)
        self.assertEqual(a0["drops-no-rx-buffer"], 0)
        self.assertEqual(a0["features"] & (1 << vu.F_VERSION_1), 1 << vu.F_VERSION_1)
        # Each frame lay in one descriptor: handed to the hub in place.
        self.assertEqual(a0["frames-in-place"], 80)

    def test_a_frame_split_over_descriptors_is_copied_whole(self):
        a, b = self.front_end("a0"), self.front_end("a1")
        self.wait_running("a0", [0, 1])
        self.wait_running("a1", [0, 1])
        header = vu.NET_HDR_LEN
        for split_at in ((header,), (header + 20,), (5, header + 100, header + 101), (header, header + 14)):
            with self.subTest(split_at=split_at):
                before = self.details("a0")["frames-in-place"]
                sent = [frame(11, i, 600) for i in range(8)]
                a.send_frames(sent, split_at=split_at)
                self.assertEqual(b.receive_frames(len(sent)), sent)
                # A frame in one descriptor after its header goes in place, whatever the header's.
                in_place = len(sent) if split_at == (header,) else 0
                self.assertEqual(self.details("a0")["frames-in-place"] - before, in_place)

    def test_a_front_end_that_goes_with_frames_in_flight_leaves_vnetd_serving(self):
        """Frames kicked and the connection closed at once: vnetd may take them
        and see the hang-up in one batch, while a `socket` peer still holds
        them, in place, for its sendmmsg at the batch's end. The guest's memory
        is unmapped only after that send: no send fails (an unmapped frame is
        EFAULT), and every datagram is a whole frame."""
        sink = udp_socket_in_netns_of(self.daemon.pid)
        self.addCleanup(sink.close)
        port = sink.getsockname()[1]
        self.client.cmd("netdev_add", type="socket", id="s0", udp=f"127.0.0.1:{port}", localaddr="127.0.0.1:0")
        self.client.cmd("netdev_add", type="hubport", id="hs0", hubid=0, netdev="s0")
        sent = {frame(12, i, 1514) for i in range(40)}  # under one release (64): held to the batch end
        for round_ in range(20):
            front = vu.Frontend(self.paths["a0"])
            front.start()
            self.wait_running("a0", [0, 1])
            ring = front.rings[1]
            for data in sorted(sent):
                ring.offer(bytes(vu.NET_HDR_LEN) + data)
            ring.notify()
            front.close()
            deadline = time.monotonic() + 5
            while self.details("a0")["connected"]:
                self.assertLess(time.monotonic(), deadline, f"round {round_}: the hang-up was not seen")
                time.sleep(0.01)
        s0 = self.details("s0")
        self.assertEqual(s0["drops-send-error"], 0, s0)
        received = 0
        sink.setblocking(False)
        while True:
            try:
                datagram = sink.recv(4096)
            except BlockingIOError:
                break
            self.assertIn(datagram, sent)
            received += 1
        self.assertEqual(received, s0["frames-out"])
        a = self.front_end("a0")
        self.wait_running("a0", [0, 1])
        a.send_frames([frame(13, 0, 60)])
        self.assertEqual(sink_wait(sink), frame(13, 0, 60))

    def test_mergeable_buffers_carry_a_frame_larger_than_one(self):
        a = self.front_end("a0")
        b = vu.Frontend(self.paths["a1"])
        self.addCleanup(b.close)
        b.start(want=(1 << vu.F_VERSION_1) | (1 << vu.F_NET_MRG_RXBUF))
        b.post_rx_buffers(0, 128, capacity=256)
        self.wait_running("a1", [0, 1])
        sent = [frame(3, i, 1514) for i in range(10)]
        a.send_frames(sent)
        self.assertEqual(b.receive_frames(len(sent), capacity=256), sent)

    def test_a_first_buffer_smaller_than_the_header_is_refused(self):
        a = self.front_end("a0")
        b = vu.Frontend(self.paths["a1"])
        self.addCleanup(b.close)
        b.start(want=(1 << vu.F_VERSION_1) | (1 << vu.F_NET_MRG_RXBUF))
        b.post_rx_buffers(0, 64, capacity=8)  # room for the frame, none for its 12-byte header
        self.wait_running("a1", [0, 1])
        a.send_frames([frame(10, 0, 60)])
        self.assertEqual(self.details("a1")["drops-oversize"], 1)
        self.assertEqual(b.rings[0].take_used(), [], "nothing half written reaches the guest")

    def test_no_rx_buffers_drops_and_counts(self):
        a = self.front_end("a0")
        b = vu.Frontend(self.paths["a1"])
        self.addCleanup(b.close)
        b.start()  # no buffers posted
        self.wait_running("a1", [0, 1])
        a.send_frames([frame(4, i, 60) for i in range(5)])
        self.assertEqual(self.details("a1")["drops-no-rx-buffer"], 5)
        b.post_rx_buffers(0, 8)
        a.send_frames([frame(5, 0, 60)])
        self.assertEqual(b.receive_frames(1), [frame(5, 0, 60)])

    def test_a_memory_table_sent_again_while_logging_keeps_the_dirty_log(self):
        a = self.front_end("a0")
        b = vu.Frontend(self.paths["a1"])
        self.addCleanup(b.close)
        b.negotiate(want=(1 << vu.F_VERSION_1) | (1 << vu.F_LOG_ALL),
                    protocol_want=(1 << vu.PF_MQ) | (1 << vu.PF_REPLY_ACK) | (1 << vu.PF_LOG_SHMFD))
        self.assertTrue(b.features & (1 << vu.F_LOG_ALL), "VHOST_F_LOG_ALL not offered")
        memory = vu.GuestMemory()
        b.set_mem_table(memory)
        for index in (0, 1):
            b.start_ring(index)
        for index in (0, 1):
            b.enable_ring(index)
        # One bit per 4 KiB guest-physical page, from address 0.
        log_size = (vu.GPA_BASE + memory.size) // 4096 // 8
        log = os.memfd_create("dirty-log", os.MFD_CLOEXEC)
        self.addCleanup(os.close, log)
        os.ftruncate(log, log_size)
        b.send(vu.SET_LOG_BASE, struct.pack("<QQ", log_size, 0), fds=[log])
        self.assertEqual(b.reply(vu.SET_LOG_BASE, 8), bytes(8))
        # QEMU sends the table again while migrating when the guest's memory
        # layout changes; the log is not part of it and must stay.
        b.set_mem_table(memory)
        b.post_rx_buffers(0, 16)
        sent = [frame(11, i, 1514) for i in range(8)]
        a.send_frames(sent)
        self.assertEqual(b.receive_frames(len(sent)), sent)
        bitmap = os.pread(log, log_size, 0)
        first, last = vu.GPA_BASE // 4096, (vu.GPA_BASE + memory.size) // 4096
        marked = [page for page in range(first, last) if bitmap[page // 8] >> (page % 8) & 1]
        self.assertTrue(marked, f"no page of the guest's memory marked in the log: {self.details('a1')}")
        self.assertGreaterEqual(self.details("a1")["dirty-pages-logged"], len(sent))

    def test_rx_spreads_flows_over_the_running_queue_pairs_each_in_order(self):
        path = os.path.join(self.workdir, "m0.sock")
        self.client.cmd("netdev_add", type="vhost-user", id="m0", chardev=path, queues=2)
        self.client.cmd("netdev_add", type="hubport", id="hm0", hubid=0, netdev="m0")
        a = self.front_end("a0")
        m = vu.Frontend(path)
        self.addCleanup(m.close)
        m.start(queue_pairs=2, want=(1 << vu.F_VERSION_1) | (1 << vu.F_NET_MQ))
        for pair in (0, 1):
            m.post_rx_buffers(pair, 64)
        self.wait_running("m0", [0, 1, 2, 3])

        def udp_frame(flow, seq):
            ip = bytes([0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
            udp = struct.pack(">HHHH", 5000 + flow, 53, 12, 0) + struct.pack(">I", seq)
            return bytes.fromhex("ffffffffffff525400120001") + b"\x08\x00" + ip + udp + bytes(10)

        flows, per_flow = 16, 4
        a.send_frames([udp_frame(flow, seq) for seq in range(per_flow) for flow in range(flows)])
        by_ring = {0: [], 2: []}
        deadline = time.monotonic() + 5
        while sum(map(len, by_ring.values())) < flows * per_flow and time.monotonic() < deadline:
            for index, got in by_ring.items():
                got.extend(data[vu.NET_HDR_LEN:] for _, _, data in m.rings[index].take_used())
            time.sleep(0.01)
        self.assertEqual(sum(map(len, by_ring.values())), flows * per_flow, self.details("m0"))
        self.assertTrue(by_ring[0] and by_ring[2], f"every frame on one RX ring: {[len(v) for v in by_ring.values()]}")
        for index, got in by_ring.items():
            seen = {}
            for f in got:
                flow, seq = struct.unpack(">H", f[34:36])[0] - 5000, struct.unpack(">I", f[42:46])[0]
                seen.setdefault(flow, []).append(seq)
            for flow, seqs in seen.items():
                self.assertEqual(seqs, list(range(per_flow)), f"flow {flow} on ring {index}: split or out of order")
        self.assertFalse({f[34:36] for f in by_ring[0]} & {f[34:36] for f in by_ring[2]}, "a flow on both rings")

    def test_transmit_offloads_reach_a_plain_peer_as_whole_frames(self):
        # A offers nothing back: B is a guest without offloads, so what A's
        # guest leaves to the device must be resolved before B sees it.
        a = vu.Frontend(self.paths["a0"])
        self.addCleanup(a.close)
        offloads = (1 << vu.F_NET_CSUM) | (1 << vu.F_NET_HOST_TSO4)
        a.start(want=(1 << vu.F_VERSION_1) | offloads)
        self.assertEqual(a.features & offloads, offloads, "CSUM and HOST_TSO4 not offered")
        b = self.front_end("a1")
        self.wait_running("a0", [0, 1])
        self.wait_running("a1", [0, 1])

        def ones(data):
            total = sum(int.from_bytes(data[i:i + 2].ljust(2, b"\0"), "big") for i in range(0, len(data), 2))
            while total >> 16:
                total = (total & 0xffff) + (total >> 16)
            return total

        src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
        payload = bytes(range(256)) * 16  # 4096 bytes
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 7, 0x4000, 64, 6, 0, src, dst)
        pseudo = ones(src + dst + struct.pack(">HH", 6, 0))  # Linux's TSO pseudo-sum leaves the length out
        tcp = struct.pack(">HHIIBBHHH", 40000, 80, 1000, 1, 0x50, 0x18, 65535, pseudo, 0)
        tso = bytes.fromhex("525400120001525400120000") + b"\x08\x00" + ip + tcp + payload
        header = struct.pack("<BBHHHHH", vu.HDR_F_NEEDS_CSUM, vu.GSO_TCPV4, 54, 1448, 34, 16, 0)
        a.send_frames([tso], headers=[header])
        segments = b.receive_frames(3)
        self.assertEqual([len(s) for s in segments], [54 + 1448, 54 + 1448, 54 + 1200])
        self.assertEqual(b"".join(s[54:] for s in segments), payload)
        for i, s in enumerate(segments):
            self.assertEqual(ones(s[14:34]), 0xffff, f"segment {i}: IPv4 header checksum")
            tcp_length = len(s) - 34
            self.assertEqual(ones(s[26:34] + struct.pack(">HH", 6, tcp_length) + s[34:]), 0xffff,
                             f"segment {i}: TCP checksum")
            self.assertEqual(struct.unpack(">I", s[38:42])[0], 1000 + 1448 * i, f"segment {i}: sequence")
        details = self.details("a0")
        self.assertEqual((details["frames-segmented"], details["drops-bad-offload"]), (1, 0), details)
        # A header that points past its frame is dropped, counted and named.
        a.send_frames([frame(12, 0, 60)], headers=[struct.pack("<BBHHHHH", vu.HDR_F_NEEDS_CSUM, 0, 0, 0, 58, 16, 0)])
        details = self.details("a0")
        self.assertEqual(details["drops-bad-offload"], 1, details)
        self.assertIn("past the frame", details["last-offload-error"])
        self.assertEqual(b.receive_frames(1, timeout=0.3), [])

    def test_a_front_end_that_goes_is_replaced_by_the_next(self):
        a = self.front_end("a0")
        self.wait_running("a0", [0, 1])
        a.close()
        deadline = time.monotonic() + 5
        while self.details("a0")["connected"]:
            self.assertLess(time.monotonic(), deadline, "still connected after the front end closed")
            time.sleep(0.02)
        self.assertNotIn("rings-running", self.details("a0"))
        again, b = self.front_end("a0"), self.front_end("a1")
        self.wait_running("a0", [0, 1])
        again.send_frames([frame(6, 0, 60)])
        self.assertEqual(b.receive_frames(1), [frame(6, 0, 60)])
        self.assertEqual(self.details("a0")["connections"], 2)

    def test_a_second_front_end_is_turned_away(self):
        a, b = self.front_end("a0"), self.front_end("a1")
        intruder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(intruder.close)
        intruder.connect(self.paths["a0"])
        intruder.settimeout(5)
        self.assertEqual(intruder.recv(1), b"", "closed by vnetd")
        a.send_frames([frame(7, 0, 60)])
        self.assertEqual(b.receive_frames(1), [frame(7, 0, 60)])

    def test_protocol_breaches_cut_the_front_end_off_and_nothing_else(self):
        cases = {
            "a ring size not a power of two": lambda f: f.send(vu.SET_VRING_NUM, struct.pack("<II", 0, 3)),
            "a ring past the queue count": lambda f: f.send(vu.SET_VRING_NUM, struct.pack("<II", 9, 256)),
            "a payload of the wrong size": lambda f: f.send(vu.SET_FEATURES, b"\0" * 4),
            "a memory table without its fd": lambda f: f.send(
                vu.SET_MEM_TABLE, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", vu.GPA_BASE, 4096, vu.USER_BASE, 0)),
            "a request nobody knows": lambda f: f.send(999),
            "regions that overlap": lambda f: overlapping_regions(f),
            "a region whose fd does not map": lambda f: unmappable_region(f),
        }

        def overlapping_regions(front):
            memory = vu.GuestMemory(1 << 20)
            self.addCleanup(memory.close)
            regions = struct.pack("<QQQQ", vu.GPA_BASE, 1 << 20, vu.USER_BASE, 0) + \
                struct.pack("<QQQQ", vu.GPA_BASE + 4096, 1 << 20, vu.USER_BASE + (2 << 20), 0)
            front.send(vu.SET_MEM_TABLE, struct.pack("<II", 2, 0) + regions, fds=[memory.fd, memory.fd])

        def unmappable_region(front):
            reader, writer = os.pipe()
            self.addCleanup(os.close, reader)
            self.addCleanup(os.close, writer)
            region = struct.pack("<QQQQ", vu.GPA_BASE, 1 << 20, vu.USER_BASE, 0)
            front.send(vu.SET_MEM_TABLE, struct.pack("<II", 1, 0) + region, fds=[reader])
        b = self.front_end("a1")
        for why, breach in cases.items():
            with self.subTest(why):
                front = vu.Frontend(self.paths["a0"])
                self.addCleanup(front.close)
                front.negotiate()
                breach(front)
                front.sock.settimeout(5)
                self.assertEqual(front.sock.recv(1), b"", f"{why}: connection closed")
                deadline = time.monotonic() + 5
                while self.details("a0")["connected"]:
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.02)
                self.assertIn("last-error", self.details("a0"))
        # Still serving: a well-behaved front end gets through.
        a = self.front_end("a0")
        self.wait_running("a0", [0, 1])
        a.send_frames([frame(8, 0, 60)])
        self.assertEqual(b.receive_frames(1), [frame(8, 0, 60)])

    def test_a_ring_outside_guest_memory_is_refused(self):
        front = vu.Frontend(self.paths["a0"])
        self.addCleanup(front.close)
        front.negotiate()
        front.set_mem_table(vu.GuestMemory(1 << 20))
        front.send(vu.SET_VRING_NUM, struct.pack("<II", 1, 256))
        front.send(vu.SET_VRING_ADDR, struct.pack("<IIQQQQ", 1, 0, vu.USER_BASE + (2 << 20), vu.USER_BASE,
                                                  vu.USER_BASE + 8192, 0))
        kick = os.eventfd(0)
        self.addCleanup(os.close, kick)
        front.send(vu.SET_VRING_KICK, struct.pack("<Q", 1), fds=[kick])
        front.sock.settimeout(5)
        self.assertEqual(front.sock.recv(1), b"")
        self.assertIn("not inside one memory region", self.details("a0")["last-error"])

    def test_hostile_rings_cut_the_front_end_off_and_nothing_else(self):
        """What a guest driver can write into its own rings: each breaks the
        virtio rules, vnetd closes that front end with the reason, and the
        other front end's traffic goes on."""

        def descriptor(front, desc_id, gpa, length, flags=0, next_id=0):
            ring = front.rings[1]
            struct.pack_into("<QIHH", front.memory.map, front.memory.offset(ring.desc) + 16 * desc_id,
                             gpa, length, flags, next_id)

        def make_available(front, desc_id, count=1):
            ring = front.rings[1]
            slot = ring.avail_idx % ring.size
            struct.pack_into("<H", front.memory.map, front.memory.offset(ring.avail) + 4 + 2 * slot, desc_id)
            ring.avail_idx = (ring.avail_idx + count) & 0xFFFF
            front.memory.store_u16(ring.avail + 2, ring.avail_idx)
            ring.notify()

        def buffer(front):
            return front.memory.allocate(256)

        cases = {
            "a head past the ring": ("outside the queue", lambda f: make_available(f, 300)),
            "a next past the ring": ("outside the queue", lambda f: (
                descriptor(f, 0, buffer(f), 64, flags=vu.DESC_F_NEXT, next_id=999), make_available(f, 0))),
            "a chain that loops": ("a loop", lambda f: (
                descriptor(f, 0, buffer(f), 64, flags=vu.DESC_F_NEXT, next_id=1),
                descriptor(f, 1, buffer(f), 64, flags=vu.DESC_F_NEXT, next_id=0), make_available(f, 0))),
            "indices that jump": ("avail idx jumped", lambda f: (descriptor(f, 0, buffer(f), 64), make_available(f, 0, count=300))),
            "a buffer outside guest memory": ("not mapped", lambda f: (
                descriptor(f, 0, vu.GPA_BASE + (64 << 20), 64), make_available(f, 0))),
        }
        b = self.front_end("a1")
        for why, (words, hostile) in cases.items():
            with self.subTest(why):
                front = vu.Frontend(self.paths["a0"])
                self.addCleanup(front.close)
                front.start()
                self.wait_running("a0", [0, 1])
                hostile(front)
                front.sock.settimeout(5)
                self.assertEqual(front.sock.recv(1), b"", f"{why}: connection closed")
                error = self.details("a0")["last-error"]
                self.assertIn("TX ring 1", error)
                self.assertIn(words, error)
                front.close()
        a = self.front_end("a0")
        self.wait_running("a0", [0, 1])
        a.send_frames([frame(9, 0, 60)])
        self.assertEqual(b.receive_frames(1), [frame(9, 0, 60)])

    def test_deleting_the_netdev_removes_its_socket(self):
        self.assertTrue(os.path.exists(self.paths["a0"]))
        self.client.cmd("netdev_del", id="ha0")
        self.client.cmd("netdev_del", id="a0")
        self.assertFalse(os.path.exists(self.paths["a0"]))

    def test_bad_options_are_refused(self):
        for arguments, words in (({"chardev": "relative.sock"}, "absolute path"),
                                 ({"chardev": "/tmp/x.sock", "queues": 0}, "must be in range [1, 1024]"),
                                 ({"chardev": "/tmp/x.sock", "queues": 1025}, "must be in range [1, 1024]")):
            reply = self.client.execute("netdev_add", dict(type="vhost-user", id="bad", **arguments))
            self.assertIn(words, reply["error"]["desc"], reply)
        path = os.path.join(self.workdir, "file")
        open(path, "w").close()
        reply = self.client.execute("netdev_add", {"type": "vhost-user", "id": "bad", "chardev": path})
        self.assertIn("not a socket", reply["error"]["desc"])
        self.assertTrue(os.path.exists(path), "another kind of file is never replaced")
        self.assertNotIn("bad", [n["id"] for n in self.client.cmd("query-netdevs")])


if __name__ == "__main__":
    main()
