"""qemu_announce - what QEMU 7.2 itself sends for QMP `announce-self`.

announce_frames() starts `qemu-system-x86_64 -M q35 -accel tcg -nodefaults -S`
with one virtio-net-pci NIC on a UDP socket netdev, sends `announce-self`, and
returns the frames that arrive on the UDP port QEMU sends to, each with the
time it arrived in seconds since the command was sent.

While the VM is stopped (-S leaves it in "prelaunch") QEMU sends no frame at
all: qemu_net_queue_send() queues whatever a NIC sends while
qemu_can_send_packet() is false, which it is whenever the VM is not running,
and net_vm_change_state_handler() flushes the queue on `cont`. So by default
the VM is started with `cont` before the command, as on a host where a
migrated guest announces itself; the NIC has no option ROM (romfile=), so the
firmware never touches the NIC and only the announce frames are on the wire. All of it runs in a
network namespace of its own (unshare(CLONE_NEWNET) on the calling thread,
undone before returning), so the frames travel only on that namespace's
loopback and nothing outlives the call: QEMU is stopped and the namespace,
which has no name, goes with it, whatever happens.

Python 3 standard library only; needs root and qemu-system-x86.
"""
import contextlib
import ctypes
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from vnetd_harness import QmpClient  # noqa: E402  (QEMU's QMP is what vnetd mirrors)
from kernel_timestamps import SO_TIMESTAMPNS, arrival_ns, hold_arrival_timestamps  # noqa: E402

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
STARTUP_TIMEOUT = 10.0  # seconds for QEMU to create its QMP socket


class QemuMissing(AssertionError):
    """No qemu-system-x86_64, or not root: the capture cannot run."""


def find_qemu(path="qemu-system-x86_64"):
    found = shutil.which(path)
    if not found:
        raise QemuMissing(f"QEMU not found ({path}): install the Debian package qemu-system-x86 "
                          "(apt-get install qemu-system-x86, or scripts/install-deps)")
    if os.geteuid() != 0:
        raise QemuMissing("must run as root: QEMU runs in a network namespace of its own")
    return found


def announce_duration(params):
    """Seconds from the command to QEMU's last round, as qemu_announce_timer_step()
    spaces them: round 1 at once, then round k+1 after min(initial + (k-1)*step, max) ms."""
    rounds, total = params["rounds"], 0
    for k in range(1, rounds):
        delay = params["initial"] + (k - 1) * params["step"]
        total += params["max"] if delay < 0 or delay > params["max"] else delay
    return total / 1000.0


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    # QEMU must not outlive a test that ctest kills with SIGKILL.
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@contextlib.contextmanager
def private_netns():
    """Moves the calling thread into a new, unnamed network namespace with lo
    up, and back on exit. Processes started inside stay in it; once they are
    gone the namespace is freed by the kernel (there is no name to delete)."""
    libc = _libc()
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
            yield
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns back to the original network namespace: {os.strerror(err)}")
    finally:
        os.close(own)


@contextlib.contextmanager
def running_qemu(argv, workdir):
    """QEMU (argv, which may start with a wrapper that execs it, such as
    `unshare --net --`) with a QMP socket in workdir: yields a negotiated
    QmpClient; QEMU is stopped (SIGTERM, then SIGKILL) on exit."""
    sock = os.path.join(workdir, "qmp.sock")
    log_path = os.path.join(workdir, "qemu.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv + ["-qmp", f"unix:{sock},server=on,wait=off"], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, preexec_fn=die_with_parent)
    client = None
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(log_path, "rb") as log:
                    output = log.read().decode(errors="replace").strip()
                raise AssertionError(f"QEMU did not start ({' '.join(argv)}): {output or 'no output'}")
            time.sleep(0.02)
        # The socket file exists from bind(); a loaded machine may not have
        # reached listen() yet, and a monitor still starting up has been seen
        # to greet twice: connect again until the negotiation is clean.
        while True:
            try:
                client = QmpClient(sock)
                break
            except (ConnectionRefusedError, AssertionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield client
    finally:
        if client:
            client.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def announce_frames(mac, params, qemu="qemu-system-x86_64", port=47021, qemu_port=47022, wait=None,
                    running=True):
    """announce_frames() - the frames QEMU sends for one `announce-self`.

    @mac:       the NIC's MAC ("52:54:00:12:34:56")
    @params:    announce-self's arguments ({"initial": 0, "max": 100, "rounds": 3, "step": 50}, and
                optionally "interfaces", "id")
    @qemu:      the QEMU binary
    @port:      the UDP port frames are captured on (QEMU's `udp=`); QEMU binds @qemu_port
    @wait:      seconds to capture after the command (default: the last round's time + 0.5 s)
    @running:   send `cont` first; False leaves the VM stopped, and QEMU then holds the frames

    Returns: [(seconds since the command was sent, frame bytes), ...] in arrival order.
    Raises QemuMissing when QEMU or root is missing, AssertionError when QEMU
    fails to start or refuses the command.
    """
    binary = find_qemu(qemu)
    if wait is None:
        wait = announce_duration(params) + 0.5
    argv = [binary, "-M", "q35", "-accel", "tcg", "-nodefaults", "-S", "-display", "none",
            "-netdev", f"socket,id=s0,udp=127.0.0.1:{port},localaddr=127.0.0.1:{qemu_port}",
            "-device", f"virtio-net-pci,netdev=s0,mac={mac},romfile="]
    workdir = tempfile.mkdtemp(prefix="vnt-announce-")
    try:
        # Taken in this namespace, whose lo is up; the stamping it holds on is global.
        with hold_arrival_timestamps(), private_netns():
            # Bound before QEMU exists: nothing it sends is met by an ICMP unreachable.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as capture:
                capture.bind(("127.0.0.1", port))
                with running_qemu(argv, workdir) as client:
                    if running and client.execute("cont") != {"return": {}}:
                        raise AssertionError("QEMU refused cont")
                    while select.select([capture], [], [], 0)[0]:
                        capture.recv(65536)  # nothing is expected before the command; keep it out
                    # The kernel stamps each datagram as it arrives (CLOCK_REALTIME;
                    # hold_arrival_timestamps), so frames sent while we wait for the
                    # reply keep their time.
                    capture.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                    deadline = time.monotonic() + wait
                    sent = time.time_ns()
                    reply = client.execute("announce-self", params)
                    if reply != {"return": {}}:
                        raise AssertionError(f"QEMU answered announce-self {params} with {reply}")
                    frames = []
                    while True:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or not select.select([capture], [], [], remaining)[0]:
                            return frames
                        frame, ancillary, _, _ = capture.recvmsg(65536, socket.CMSG_SPACE(16))
                        frames.append(((arrival_ns(ancillary) - sent) / 1e9, frame))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
