"""kernel_timestamps - receive timestamps the kernel takes on arrival.

SO_TIMESTAMPNS asks for each datagram's arrival time, but the first socket to
ask only schedules the kernel's global timestamping (net_enable_timestamp()
flips a static key from a work queue). Until that work has run, datagrams
arrive unstamped and recvmsg() stamps them when they are read: a frame read
late then seems to have arrived late. Seen in CI: QEMU's second announce round
stamped 2 ms late, so the gap after it looked 2 ms short.

hold_arrival_timestamps() waits until the kernel really stamps on arrival and
returns a socket that keeps it so while it is open (the key is global: every
namespace's sockets get stamps).

Python 3 standard library only.
"""
import socket
import struct
import time

SO_TIMESTAMPNS = 35  # asm-generic/socket.h (Python's socket module lacks it); SCM_TIMESTAMPNS is the same
PROBE_DELAY = 0.02   # seconds between sending a probe and reading it
STAMPED_ON_ARRIVAL = 0.01  # a stamp this close to the send was taken on arrival, not on reading


def arrival_ns(ancillary):
    """The SCM_TIMESTAMPNS a datagram came with (struct timespec), in ns."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return seconds * 1_000_000_000 + nanoseconds
    raise AssertionError("a datagram came without SCM_TIMESTAMPNS")


def hold_arrival_timestamps(timeout=5.0):
    """A UDP socket on 127.0.0.1 (of the caller's namespace, whose lo must be up)
    with SO_TIMESTAMPNS, returned once a probe sent to itself is stamped on
    arrival; keep it open while stamps matter, then close it. Raises
    AssertionError when the kernel does not stamp on arrival within timeout."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", 0))
        probe.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        deadline = time.monotonic() + timeout
        late = None
        while time.monotonic() < deadline:
            sent = time.time_ns()
            probe.sendto(b"probe", probe.getsockname())
            time.sleep(PROBE_DELAY)
            _, ancillary, _, _ = probe.recvmsg(64, socket.CMSG_SPACE(16))
            late = (arrival_ns(ancillary) - sent) / 1e9
            if late < STAMPED_ON_ARRIVAL:
                return probe
        raise AssertionError(f"the kernel still stamps datagrams when they are read, not when they arrive, "
                             f"after {timeout} s (last probe stamped {late * 1000:.1f} ms after it was sent)")
    except BaseException:
        probe.close()
        raise
