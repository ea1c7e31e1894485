"""A VM-free vhost-user front end for virtio-net, as QEMU drives a back end
(docs/interop/vhost-user.rst, virtio 1.2 split rings): guest memory in a
memfd, the driver side of every ring in Python, kick and call eventfds. Tests
use it to move frames through a back end (vnetd's vhost-user netdev, or DPDK's
testpmd to check this harness itself) on every queue pair, with no VM.

Guest-physical addresses start at GPA_BASE and the "front end's virtual
addresses" the back end is told (SET_VRING_ADDR, the memory table's
userspace_addr) at USER_BASE: neither is the mapping's own address, so a back
end that confuses the three faults or fails instead of passing."""
import mmap
import os
import select
import socket
import struct

# Requests (front end -> back end).
GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_LOG_BASE, SET_LOG_FD, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 6, 7, 8, 9, 10
GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 11, 12, 13, 14
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
SEND_RARP, NET_SET_MTU = 19, 20

VERSION, REPLY, NEED_REPLY = 0x1, 0x4, 0x8
VRING_NOFD = 0x100

# Virtio feature bits.
F_NET_CSUM, F_NET_HOST_TSO4, F_NET_HOST_TSO6, F_NET_HOST_ECN = 0, 11, 12, 13
F_NET_MRG_RXBUF, F_NET_MQ = 15, 22
HDR_F_NEEDS_CSUM, GSO_TCPV4 = 1, 1  # virtio_net_hdr flags and gso_type
F_LOG_ALL = 26  # VHOST_F_LOG_ALL: dirty-page logging, for live migration
F_PROTOCOL_FEATURES = 30  # VHOST_USER_F_PROTOCOL_FEATURES
F_VERSION_1 = 32
# Protocol feature bits.
PF_MQ, PF_LOG_SHMFD, PF_RARP, PF_REPLY_ACK, PF_MTU = 0, 1, 2, 3, 4

DESC_F_NEXT, DESC_F_WRITE = 1, 2
NET_HDR_LEN = 12  # virtio_net_hdr_v1 (VERSION_1): with num_buffers

GPA_BASE = 0x40000000
USER_BASE = 0x7F0012340000


class VhostUserError(Exception):
    pass


class GuestMemory:
    """One memfd region; a bump allocator of guest-physical ranges."""

    def __init__(self, size=4 << 20):
        self.size = size
        self.fd = os.memfd_create("vhost-user-guest", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, size)
        self.map = mmap.mmap(self.fd, size)
        # The ring indices the device reads while we write them (and we read
        # while it writes) go through a view of 16-bit items: one load or
        # store each. struct.pack_into zero-fills before it writes, so a
        # device polling the avail index sees it drop to 0 and runs away.
        self.words = memoryview(self.map).cast("H")
        self.next = 0

    def allocate(self, length, align=64):
        self.next = (self.next + align - 1) // align * align
        if self.next + length > self.size:
            raise VhostUserError("guest memory exhausted")
        gpa = GPA_BASE + self.next
        self.next += length
        return gpa

    def offset(self, gpa):
        return gpa - GPA_BASE

    def user_addr(self, gpa):
        return USER_BASE + (gpa - GPA_BASE)

    def write(self, gpa, data):
        off = self.offset(gpa)
        self.map[off:off + len(data)] = data

    def read(self, gpa, length):
        off = self.offset(gpa)
        return bytes(self.map[off:off + length])

    def load_u16(self, gpa):
        return self.words[self.offset(gpa) // 2]

    def store_u16(self, gpa, value):
        self.words[self.offset(gpa) // 2] = value

    def close(self):
        self.words.release()
        self.map.close()
        os.close(self.fd)


class SplitRing:
    """The driver's side of one split virtqueue: single-descriptor buffers, and
    chained ones for the device to read (offer_parts)."""

    def __init__(self, memory, index, size=256):
        self.memory, self.index, self.size = memory, index, size
        self.desc = memory.allocate(16 * size, 16)
        self.avail = memory.allocate(6 + 2 * size, 2)
        self.used = memory.allocate(6 + 8 * size, 4)
        self.avail_idx = 0
        self.last_used = 0
        self.free = list(range(size))
        self.buffers = {}  # descriptor id -> (gpa, capacity)
        self.chained = {}  # head id -> the ids chained after it
        self.kick = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self.call = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)

    def _mem(self):
        return self.memory.map

    def offer(self, data=b"", capacity=0, device_writes=False):
        """Puts one buffer on the available ring (not kicked): data for the
        device to read, or capacity bytes for it to write."""
        if not self.free:
            raise VhostUserError(f"ring {self.index} is full")
        desc_id = self.free.pop(0)
        length = capacity if device_writes else len(data)
        # Each descriptor keeps its buffer; a larger one is carved when needed.
        if desc_id not in self.buffers or self.buffers[desc_id][1] < length:
            self.buffers[desc_id] = (self.memory.allocate(max(length, 2048), 64), max(length, 2048))
        gpa = self.buffers[desc_id][0]
        if not device_writes:
            self.memory.write(gpa, data)
        flags = DESC_F_WRITE if device_writes else 0
        struct.pack_into("<QIHH", self._mem(), self.memory.offset(self.desc) + 16 * desc_id, gpa, length, flags, 0)
        slot = self.avail_idx % self.size
        struct.pack_into("<H", self._mem(), self.memory.offset(self.avail) + 4 + 2 * slot, desc_id)
        self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self.memory.store_u16(self.avail + 2, self.avail_idx)
        return desc_id

    def offer_parts(self, parts):
        """Puts one buffer for the device to read on the available ring (not
        kicked), made of one descriptor per part, chained with NEXT."""
        if len(self.free) < len(parts):
            raise VhostUserError(f"ring {self.index} is full")
        ids = [self.free.pop(0) for _ in parts]
        for i, (desc_id, data) in enumerate(zip(ids, parts)):
            if desc_id not in self.buffers or self.buffers[desc_id][1] < len(data):
                self.buffers[desc_id] = (self.memory.allocate(max(len(data), 2048), 64), max(len(data), 2048))
            gpa = self.buffers[desc_id][0]
            self.memory.write(gpa, data)
            last = i == len(parts) - 1
            struct.pack_into("<QIHH", self._mem(), self.memory.offset(self.desc) + 16 * desc_id, gpa, len(data),
                             0 if last else DESC_F_NEXT, 0 if last else ids[i + 1])
        self.chained[ids[0]] = ids[1:]
        slot = self.avail_idx % self.size
        struct.pack_into("<H", self._mem(), self.memory.offset(self.avail) + 4 + 2 * slot, ids[0])
        self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self.memory.store_u16(self.avail + 2, self.avail_idx)
        return ids[0]

    def notify(self):
        os.eventfd_write(self.kick, 1)

    def take_used(self):
        """(descriptor id, bytes written, data) of every buffer the device has
        used since the last call."""
        out = []
        used_idx = self.memory.load_u16(self.used + 2)
        while self.last_used != used_idx:
            slot = self.last_used % self.size
            desc_id, written = struct.unpack_from("<II", self._mem(), self.memory.offset(self.used) + 4 + 8 * slot)
            if desc_id >= self.size or desc_id in self.free:
                raise VhostUserError(f"ring {self.index}: the device used descriptor {desc_id}, not in flight")
            gpa, _ = self.buffers[desc_id]
            capacity = struct.unpack_from("<I", self._mem(), self.memory.offset(self.desc) + 16 * desc_id + 8)[0]
            if written > capacity:
                raise VhostUserError(f"ring {self.index}: the device wrote {written} bytes into {capacity}")
            out.append((desc_id, written, self.memory.read(gpa, written)))
            self.free.append(desc_id)
            self.free.extend(self.chained.pop(desc_id, []))
            self.last_used = (self.last_used + 1) & 0xFFFF
        return out

    def wait_call(self, timeout):
        if not select.select([self.call], [], [], timeout)[0]:
            return False
        try:
            os.eventfd_read(self.call)
        except BlockingIOError:
            pass
        return True

    def close(self):
        os.close(self.kick)
        os.close(self.call)


class Frontend:
    """One connection to a vhost-user net back end."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.memory = None
        self.rings = []
        self.features = 0
        self.protocol_features = 0

    # -- messages

    def send(self, request, payload=b"", fds=(), need_reply=False):
        flags = VERSION | (NEED_REPLY if need_reply else 0)
        header = struct.pack("<III", request, flags, len(payload))
        if fds:
            socket.send_fds(self.sock, [header + payload], list(fds))
        else:
            self.sock.sendall(header + payload)
        if need_reply:
            status = self.reply(request, 8)
            if struct.unpack("<Q", status)[0] != 0:
                raise VhostUserError(f"request {request} failed: status {struct.unpack('<Q', status)[0]}")

    def _recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise VhostUserError("the back end closed the connection")
            data += chunk
        return data

    def reply(self, request, size):
        request_back, flags, length = struct.unpack("<III", self._recv_exact(12))
        payload = self._recv_exact(length)
        if request_back != request or not flags & REPLY or length != size:
            raise VhostUserError(f"bad reply to {request}: request {request_back} flags {flags:#x} size {length}")
        return payload

    def get_u64(self, request):
        self.send(request)
        return struct.unpack("<Q", self.reply(request, 8))[0]

    def ack(self):
        """NEED_REPLY where REPLY_ACK was negotiated: each message is confirmed."""
        return bool(self.protocol_features & (1 << PF_REPLY_ACK))

    # -- the handshake QEMU's vhost-net does, then the rings

    def negotiate(self, want=(1 << F_VERSION_1), protocol_want=(1 << PF_MQ) | (1 << PF_REPLY_ACK)):
        offered = self.get_u64(GET_FEATURES)
        self.offered_features = offered
        if offered & (1 << F_PROTOCOL_FEATURES):
            pf = self.get_u64(GET_PROTOCOL_FEATURES)
            self.offered_protocol_features = pf
            self.protocol_features = pf & protocol_want
            self.send(SET_PROTOCOL_FEATURES, struct.pack("<Q", self.protocol_features))
            want |= 1 << F_PROTOCOL_FEATURES
        self.send(SET_OWNER, need_reply=self.ack())
        self.features = offered & want
        self.send(SET_FEATURES, struct.pack("<Q", self.features), need_reply=self.ack())
        return self.features

    def queue_num(self):
        if not self.protocol_features & (1 << PF_MQ):
            return 1
        return self.get_u64(GET_QUEUE_NUM)

    def set_mem_table(self, memory):
        self.memory = memory
        region = struct.pack("<QQQQ", GPA_BASE, memory.size, USER_BASE, 0)
        self.send(SET_MEM_TABLE, struct.pack("<II", 1, 0) + region, fds=[memory.fd], need_reply=self.ack())

    def start_ring(self, index, size=256):
        ring = SplitRing(self.memory, index, size)
        self.send(SET_VRING_NUM, struct.pack("<II", index, size), need_reply=self.ack())
        self.send(SET_VRING_BASE, struct.pack("<II", index, 0), need_reply=self.ack())
        m = self.memory
        self.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", index, 0, m.user_addr(ring.desc), m.user_addr(ring.used),
                                              m.user_addr(ring.avail), 0), need_reply=self.ack())
        self.send(SET_VRING_KICK, struct.pack("<Q", index), fds=[ring.kick], need_reply=self.ack())
        self.send(SET_VRING_CALL, struct.pack("<Q", index), fds=[ring.call], need_reply=self.ack())
        while len(self.rings) <= index:
            self.rings.append(None)
        self.rings[index] = ring
        return ring

    def start(self, queue_pairs=1, memory_size=4 << 20, ring_size=256, want=(1 << F_VERSION_1)):
        """Negotiates, shares guest memory and starts every ring (RX 2k, TX 2k+1)."""
        self.negotiate(want)
        if queue_pairs > 1 and self.queue_num() < queue_pairs:
            raise VhostUserError(f"the back end has fewer than {queue_pairs} queue pairs")
        self.set_mem_table(GuestMemory(memory_size))
        for index in range(2 * queue_pairs):
            self.start_ring(index, ring_size)
        # Rings start disabled when protocol features were negotiated; as
        # QEMU does, every ring is set up before any is enabled.
        for index in range(2 * queue_pairs):
            self.enable_ring(index)

    def enable_ring(self, index, enable=True):
        if self.features & (1 << F_PROTOCOL_FEATURES):
            self.send(SET_VRING_ENABLE, struct.pack("<II", index, int(enable)), need_reply=self.ack())

    def get_vring_base(self, index):
        self.send(GET_VRING_BASE, struct.pack("<II", index, 0))
        return struct.unpack("<II", self.reply(GET_VRING_BASE, 8))[1]

    # -- frames

    def post_rx_buffers(self, pair=0, count=64, capacity=2048):
        ring = self.rings[2 * pair]
        for _ in range(count):
            ring.offer(capacity=capacity, device_writes=True)
        ring.notify()

    def send_frames(self, frames, pair=0, headers=None, split_at=()):
        """Frames out of the guest on TX queue `pair`, each behind its virtio-net
        header (all zeros unless `headers` gives them, NET_HDR_LEN bytes each),
        in one descriptor, or in several cut at the `split_at` offsets of
        header + frame; waits until the back end has used them all."""
        ring = self.rings[2 * pair + 1]
        pending = 0
        for i, frame in enumerate(frames):
            data = (headers[i] if headers else bytes(NET_HDR_LEN)) + frame
            if split_at:
                cuts = [0, *split_at, len(data)]
                ring.offer_parts([data[a:b] for a, b in zip(cuts, cuts[1:])])
            else:
                ring.offer(data)
            pending += 1
        ring.notify()
        done = 0
        while done < pending:
            done += len(ring.take_used())
            if done < pending and not ring.wait_call(5.0):
                raise VhostUserError(f"TX queue {ring.index}: {pending - done} frames not used in 5 s")

    def receive_frames(self, count, pair=0, timeout=5.0, capacity=2048):
        """Frames the back end put into the guest's RX queue, header removed
        (with MRG_RXBUF, joined from the header's num_buffers buffers); used
        buffers are offered again with `capacity` bytes."""
        ring = self.rings[2 * pair]
        mergeable = bool(self.features & (1 << F_NET_MRG_RXBUF))
        frames, parts, wanted = [], [], 0
        while len(frames) < count:
            used = ring.take_used()
            for _, written, data in used:
                ring.offer(capacity=capacity, device_writes=True)
                if not parts:
                    if written < NET_HDR_LEN:
                        raise VhostUserError(f"RX queue {ring.index}: {written} bytes, less than a header")
                    wanted = struct.unpack_from("<H", data, 10)[0] if mergeable else 1
                    if wanted < 1:
                        raise VhostUserError(f"RX queue {ring.index}: num_buffers 0")
                    parts.append(data[NET_HDR_LEN:])
                else:
                    parts.append(data)
                if len(parts) == wanted:
                    frames.append(b"".join(parts))
                    parts = []
            if used:
                ring.notify()
            elif not ring.wait_call(timeout):
                break
        if parts:
            raise VhostUserError(f"RX queue {ring.index}: a frame cut short: {len(parts)} of {wanted} buffers")
        return frames

    def close(self):
        """Idempotent: a test may close early and its cleanup again."""
        self.sock.close()
        for ring in self.rings:
            if ring:
                ring.close()
        self.rings = []
        if self.memory:
            self.memory.close()
            self.memory = None
