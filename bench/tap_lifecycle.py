#!/usr/bin/env python3
"""tap_lifecycle - create+up+enslave and delete of N multiqueue taps through
vnetd, against the same work done by an `ip` shell loop and by `ip -batch`,
in one run, printing the times and the ratios (bench/README.md).

Run as root:  tap_lifecycle.py --vnetd build/bin/vnetd [-n 1000] [-q 4] [--quick]

Everything happens in a network namespace this program creates and always
deletes: it makes the namespace and its bridge br0, then runs itself again
inside it (`ip netns exec`, which also gives it that namespace's /sys), where
each side creates and deletes the same taps vb0..vbN-1 on br0 in turn.

Python 3 standard library only. Exit status: 0 when every side did its work
(targets missed are reported, not failed), 1 on an error, 77 when this machine
cannot run it (not root, no /dev/net/tun, no vnetd binary).
"""
import argparse
import ctypes
import json
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXIT_SKIP = 77  # ctest's SKIP_RETURN_CODE
NETNS_PREFIX = "vnetbench-"
BRIDGE = "br0"
TAP_PREFIX = "vb"
IFF_UP = 0x1
IFF_MULTI_QUEUE = 0x100  # <linux/if_tun.h>, as /sys/class/net/*/tun_flags shows it

# The targets: >= 30x the shell loop, 1,000 taps up in under 1 s
# (1 ms a tap, so --quick scales it), netdev_del answered in under 1 ms.
TARGET_SHELL_RATIO = 30.0
TARGET_UP_PER_TAP = 1e-3
TARGET_DEL_ANSWER = 1e-3

REPLY_TIMEOUT = 30.0  # only catches a hung daemon
# How long deleted taps may take to leave the kernel: each unregistered on its
# own waits ~20-25 ms for RCU here, so allow ten times that.
GONE_TIMEOUT_BASE = 60.0
GONE_TIMEOUT_PER_TAP = 0.25


class BenchError(Exception):
    pass


def die_with_parent():
    # PR_SET_PDEATHSIG: a child dies with us even if we are SIGKILLed.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        shown = " ".join(map(str, command))[:200]
        raise BenchError(f"{shown}: status {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


# -- the kernel's view, read from /sys/class/net of our namespace

def tap_names():
    return [name for name in os.listdir("/sys/class/net") if name.startswith(TAP_PREFIX)]


def read_sys(ifname, attribute):
    return Path(f"/sys/class/net/{ifname}/{attribute}").read_text().strip()


def check_created(n, queues):
    """Raises unless vb0..vbN-1 are exactly the taps there, each up, a port of
    br0 and multiqueue when queues > 1 (vnetd, as QEMU, makes a 1-queue tap
    without IFF_MULTI_QUEUE): what every side must have done."""
    expected = {f"{TAP_PREFIX}{i}" for i in range(n)}
    present = set(tap_names())
    if present != expected:
        raise BenchError(f"{len(expected - present)} taps missing, {len(present - expected)} unexpected "
                         f"(e.g. {sorted(expected ^ present)[:3]})")
    for name in sorted(expected):
        if bool(int(read_sys(name, "tun_flags"), 16) & IFF_MULTI_QUEUE) != (queues > 1):
            raise BenchError(f"{name} is {'not ' if queues > 1 else ''}a multiqueue tap")
        if not int(read_sys(name, "flags"), 16) & IFF_UP:
            raise BenchError(f"{name} is not up")
        if os.path.basename(os.readlink(f"/sys/class/net/{name}/master")) != BRIDGE:
            raise BenchError(f"{name} is not a port of {BRIDGE}")


def wait_gone(start, n):
    """Polls until no tap is left; returns seconds since start."""
    timeout = GONE_TIMEOUT_BASE + GONE_TIMEOUT_PER_TAP * n
    while tap_names():
        if time.perf_counter() - start > timeout:
            raise BenchError(f"{len(tap_names())} taps still there {timeout:.0f} s after deletion")
        time.sleep(0.0005)
    return time.perf_counter() - start


# -- the peers

def tuntap_mode(queues):
    return "mode tap multi_queue" if queues > 1 else "mode tap"


def shell_loop(n, queues):
    """One `ip` process per command, as an operator's script runs them."""
    create = (f"for i in $(seq 0 {n - 1}); do ip tuntap add dev {TAP_PREFIX}$i {tuntap_mode(queues)}; "
              f"ip link set {TAP_PREFIX}$i master {BRIDGE}; ip link set {TAP_PREFIX}$i up; done")
    delete = f"for i in $(seq 0 {n - 1}); do ip link del {TAP_PREFIX}$i; done"
    start = time.perf_counter()
    run(["bash", "-ec", create])
    created = time.perf_counter() - start
    check_created(n, queues)
    start = time.perf_counter()
    run(["bash", "-ec", delete])
    answered = time.perf_counter() - start
    return {"create": created, "answered": answered, "gone": wait_gone(start, n)}


def ip_batch(n, queues, workdir):
    """The same commands, one `ip -batch` process each way."""
    create = workdir / "create.batch"
    delete = workdir / "delete.batch"
    create.write_text("".join(f"tuntap add dev {TAP_PREFIX}{i} {tuntap_mode(queues)}\n"
                              f"link set {TAP_PREFIX}{i} master {BRIDGE}\n"
                              f"link set {TAP_PREFIX}{i} up\n" for i in range(n)))
    delete.write_text("".join(f"link del {TAP_PREFIX}{i}\n" for i in range(n)))
    start = time.perf_counter()
    run(["ip", "-batch", str(create)])
    created = time.perf_counter() - start
    check_created(n, queues)
    start = time.perf_counter()
    run(["ip", "-batch", str(delete)])
    answered = time.perf_counter() - start
    return {"create": created, "answered": answered, "gone": wait_gone(start, n)}


# -- vnetd

class Vnetd:
    """A vnetd in this namespace, on a socket in workdir, allowed onto br0."""

    def __init__(self, binary, workdir, prefix):
        self.socket_path = str(workdir / "qmp.sock")
        self.log_path = workdir / "vnetd.log"
        acl = workdir / "bridge.conf"
        acl.write_text(f"allow {BRIDGE}\n")
        command = prefix + [binary, "--socket", self.socket_path, "--state-dir", str(workdir / "state"),
                            "--bridge-acl", str(acl)]
        with open(self.log_path, "wb") as log:
            # Its own process group, so that stop() reaches vnetd under a wrapper too.
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=die_with_parent, process_group=0)
        # Under a --vnetd-prefix wrapper the pid is the wrapper's: no CPU figures.
        self.cpu_pid = None if prefix else self.proc.pid
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.proc.poll() is not None:
                raise BenchError(f"vnetd exited with status {self.proc.returncode} while starting: {self.log()}")
            if time.monotonic() > deadline:
                raise BenchError(f"vnetd did not start serving on {self.socket_path}: {self.log()}")
            time.sleep(0.01)

    def _answers(self):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.socket_path)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def log(self):
        return self.log_path.read_text(errors="replace")[-2000:]

    def cpu_seconds(self):
        """(user, system) CPU time of every vnetd thread so far, or None."""
        if self.cpu_pid is None:
            return None
        fields = Path(f"/proc/{self.cpu_pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def stop(self):
        """SIGTERM, which must end it with status 0."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise BenchError("vnetd did not exit within 30 s of SIGTERM")
        if self.proc.returncode != 0:
            raise BenchError(f"vnetd exited with status {self.proc.returncode}: {self.log()}")


class Qmp:
    """A QMP connection that can send requests back to back; events are skipped."""

    def __init__(self, socket_path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(socket_path)
        self.sock.settimeout(REPLY_TIMEOUT)
        self.buf = b""
        self._read_line()  # the greeting
        self.call("qmp_capabilities")

    def _read_line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(1 << 20)
            if not data:
                raise BenchError("vnetd closed the QMP connection")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def _reply(self):
        while True:
            message = json.loads(self._read_line())
            if "event" not in message:
                return message

    def call(self, command, arguments=None):
        """One request, then its reply; returns the seconds in between."""
        request = {"execute": command}
        if arguments is not None:
            request["arguments"] = arguments
        data = (json.dumps(request) + "\n").encode()
        start = time.perf_counter()
        self.sock.sendall(data)
        reply = self._reply()
        elapsed = time.perf_counter() - start
        if "return" not in reply:
            raise BenchError(f"{command} {arguments}: {reply}")
        return elapsed

    def pipeline(self, requests):
        """Sends every request without waiting, reading replies as they come.
        Returns (seconds to the first reply, seconds to the last)."""
        out = b"".join((json.dumps({**r, "id": i}) + "\n").encode() for i, r in enumerate(requests))
        pending = len(requests)
        first = None
        self.sock.setblocking(False)
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        start = time.perf_counter()
        try:
            while pending:
                ready = selector.select(REPLY_TIMEOUT)
                if not ready:
                    raise BenchError(f"no reply for {REPLY_TIMEOUT:.0f} s with {pending} requests unanswered")
                events = ready[0][1]
                if events & selectors.EVENT_WRITE:
                    out = out[self.sock.send(out):]
                    if not out:
                        selector.modify(self.sock, selectors.EVENT_READ)
                if events & selectors.EVENT_READ:
                    data = self.sock.recv(1 << 20)
                    if not data:
                        raise BenchError("vnetd closed the QMP connection")
                    self.buf += data
                    *lines, self.buf = self.buf.split(b"\n")
                    for line in lines:
                        message = json.loads(line)
                        if "event" in message:
                            continue
                        if "return" not in message:
                            raise BenchError(f"{requests[message.get('id', 0)]}: {message}")
                        pending -= 1
                        if first is None:
                            first = time.perf_counter() - start
            return first, time.perf_counter() - start
        finally:
            selector.close()
            self.sock.setblocking(True)
            self.sock.settimeout(REPLY_TIMEOUT)

    def close(self):
        self.sock.close()


def add_request(i, queues):
    return {"execute": "netdev_add", "arguments": {"type": "tap", "id": f"t{i}", "ifname": f"{TAP_PREFIX}{i}",
                                                    "queues": queues, "br": BRIDGE}}


def del_request(i):
    return {"execute": "netdev_del", "arguments": {"id": f"t{i}"}}


def cpu_delta(vnetd, before):
    after = vnetd.cpu_seconds()
    return None if after is None else (after[0] - before[0], after[1] - before[1])


def vnetd_one_at_a_time(qmp, vnetd, n, queues):
    """Each request waits for the previous reply: per-request latency."""
    result = {}
    cpu = vnetd.cpu_seconds()
    start = time.perf_counter()
    result["add_latency"] = [qmp.call("netdev_add", add_request(i, queues)["arguments"]) for i in range(n)]
    result["create"] = time.perf_counter() - start
    result["cpu_create"] = cpu_delta(vnetd, cpu)
    check_created(n, queues)
    cpu = vnetd.cpu_seconds()
    start = time.perf_counter()
    result["del_latency"] = [qmp.call("netdev_del", del_request(i)["arguments"]) for i in range(n)]
    result["answered"] = time.perf_counter() - start
    result["gone"] = wait_gone(start, n)
    result["cpu_delete"] = cpu_delta(vnetd, cpu)
    return result


def vnetd_pipelined(qmp, vnetd, n, queues):
    """Every request sent at once: throughput."""
    result = {}
    cpu = vnetd.cpu_seconds()
    result["first_add"], result["create"] = qmp.pipeline([add_request(i, queues) for i in range(n)])
    result["cpu_create"] = cpu_delta(vnetd, cpu)
    check_created(n, queues)
    cpu = vnetd.cpu_seconds()
    start = time.perf_counter()
    result["first_del"], result["answered"] = qmp.pipeline([del_request(i) for i in range(n)])
    result["gone"] = wait_gone(start, n)
    result["cpu_delete"] = cpu_delta(vnetd, cpu)
    return result


# -- one round of every side, and the report

def one_round(args, workdir):
    sides = {"shell loop": shell_loop(args.n, args.queues), "ip -batch": ip_batch(args.n, args.queues, workdir)}
    vnetd = Vnetd(args.vnetd, workdir, args.vnetd_prefix.split() if args.vnetd_prefix else [])
    try:
        qmp = Qmp(vnetd.socket_path)
        sides["vnetd one-at-a-time"] = vnetd_one_at_a_time(qmp, vnetd, args.n, args.queues)
        sides["vnetd pipelined"] = vnetd_pipelined(qmp, vnetd, args.n, args.queues)
        qmp.close()
    finally:
        vnetd.stop()
    for side in sides.values():
        side["total"] = side["create"] + side["gone"]
    return sides


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def merge_rounds(rounds):
    """The median of each figure over the rounds; latencies are pooled."""
    merged = {}
    for side in rounds[0]:
        merged[side] = {}
        for key, value in rounds[0][side].items():
            values = [r[side][key] for r in rounds]
            if key.endswith("_latency"):
                merged[side][key] = [v for per_round in values for v in per_round]
            elif value is None or isinstance(value, tuple):
                merged[side][key] = None if value is None else tuple(map(statistics.median, zip(*values)))
            else:
                merged[side][key] = statistics.median(values)
    return merged


def ms(seconds):
    return f"{seconds * 1e3:.3f} ms"


def report(args, sides, load):
    n, queues = args.n, args.queues
    print(f"\ntap_lifecycle: {n} taps x {queues} queues on {BRIDGE}, {args.rounds} round(s)"
          + (" (medians)" if args.rounds > 1 else "") + f", kernel {os.uname().release}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.1f} before, {load[1]:.1f} after")
    print(f"{'side':<21}{'create+up+enslave':>18}{'delete answered':>17}{'delete gone':>13}{'total':>10}"
          f"{'per tap':>11}")
    for name, side in sides.items():
        print(f"{name:<21}{side['create']:>16.3f} s{side['answered']:>15.3f} s{side['gone']:>11.3f} s"
              f"{side['total']:>8.3f} s{side['total'] / n * 1e3:>8.3f} ms")
    print("(total = create + delete until gone; `ip link del` returns once the device is gone)")

    seq, pipe = sides["vnetd one-at-a-time"], sides["vnetd pipelined"]
    for what, latencies in (("netdev_add", seq["add_latency"]), ("netdev_del", seq["del_latency"])):
        print(f"vnetd {what} one-at-a-time latency: p50 {ms(percentile(latencies, 50))}, "
              f"p99 {ms(percentile(latencies, 99))}, max {ms(max(latencies))}")
    print(f"vnetd pipelined: first netdev_add reply after {ms(pipe['first_add'])}, "
          f"first netdev_del reply after {ms(pipe['first_del'])}")
    for name in ("vnetd one-at-a-time", "vnetd pipelined"):
        side = sides[name]
        if side["cpu_create"] is not None:
            (cu, cs), (du, ds) = side["cpu_create"], side["cpu_delete"]
            print(f"{name} CPU (all threads): create user {cu:.2f} s sys {cs:.2f} s, "
                  f"delete user {du:.2f} s sys {ds:.2f} s")

    print("\nratios (peer time / vnetd pipelined time):")
    for peer in ("shell loop", "ip -batch"):
        p = sides[peer]
        print(f"  {peer + ' / vnetd':<19} create {p['create'] / pipe['create']:7.1f}x   "
              f"delete gone {p['gone'] / pipe['gone']:7.1f}x   total {p['total'] / pipe['total']:7.1f}x   "
              f"(delete answered {p['answered'] / pipe['answered']:.1f}x)")
    shell, batch = sides["shell loop"], sides["ip -batch"]
    print(f"  vnetd one-at-a-time: shell loop / vnetd total {shell['total'] / seq['total']:.1f}x, "
          f"ip -batch / vnetd total {batch['total'] / seq['total']:.1f}x")

    def verdict(met):
        return "MET" if met else "MISSED"

    ratio = shell["total"] / pipe["total"]
    up_limit = TARGET_UP_PER_TAP * n
    del_p99 = percentile(seq["del_latency"], 99)
    print("\ntargets:")
    print(f"  >= {TARGET_SHELL_RATIO:.0f}x faster than the shell loop (create + delete until gone, pipelined): "
          f"{ratio:.1f}x  {verdict(ratio >= TARGET_SHELL_RATIO)}")
    print(f"  {n} taps up in under {up_limit:.3g} s (pipelined): {pipe['create']:.3f} s  "
          f"{verdict(pipe['create'] < up_limit)}")
    print(f"  netdev_del answered in under {ms(TARGET_DEL_ANSWER)} (one-at-a-time p99): {ms(del_p99)}  "
          f"{verdict(del_p99 < TARGET_DEL_ANSWER)}")


def run_inside(args):
    """In the namespace: every side, args.rounds times, then the report."""
    workdir = Path(tempfile.mkdtemp(prefix="vnetbench-"))
    try:
        rounds = []
        load_before = os.getloadavg()[0]
        for number in range(args.rounds):
            print(f"round {number + 1}/{args.rounds}: shell loop, ip -batch, vnetd ...", flush=True)
            rounds.append(one_round(args, workdir))
        report(args, merge_rounds(rounds), (load_before, os.getloadavg()[0]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


# -- the namespace around it all

def netns_exists(name):
    return os.path.exists(f"/run/netns/{name}")


def remove_stale_namespaces():
    """Namespaces left by runs that were SIGKILLed (their pid is gone)."""
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        pid = name[len(NETNS_PREFIX):]
        if name.startswith(NETNS_PREFIX) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def cannot_run(args):
    """Why this machine cannot run the benchmark, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, taps, a bridge)"
    if not shutil.which("ip"):
        return "needs iproute2's ip"
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun"
    if not os.access(args.vnetd, os.X_OK):
        return f"no vnetd binary at {args.vnetd} (build it, or pass --vnetd PATH)"
    return None


def run_outside(args):
    if reason := cannot_run(args):
        print(f"tap_lifecycle: skipped: {reason}", file=sys.stderr)
        return EXIT_SKIP
    remove_stale_namespaces()
    netns = f"{NETNS_PREFIX}{os.getpid()}"
    # SIGTERM (ctest's timeout, a CI cancel) unwinds like SIGINT, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    run(["ip", "netns", "add", netns])
    try:
        run(["ip", "-n", netns, "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "-n", netns, "link", "set", BRIDGE, "up"])
        inner = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, os.path.abspath(__file__),
                                  "--inside", *sys.argv[1:]], preexec_fn=die_with_parent)
        try:
            return inner.wait()
        finally:
            if inner.poll() is None:
                inner.kill()
                inner.wait()
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        if netns_exists(netns):
            print(f"tap_lifecycle: could not delete network namespace {netns}", file=sys.stderr)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vnetd", default=os.environ.get("VNETD", str(REPO / "build" / "bin" / "vnetd")),
                        help="the vnetd binary (default: $VNETD, else build/bin/vnetd)")
    parser.add_argument("-n", "--taps", dest="n", type=int, default=None, help="taps per side (default 1000)")
    parser.add_argument("-q", "--queues", type=int, default=4, help="queues per tap (default 4)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 taps unless -n says otherwise")
    parser.add_argument("--rounds", type=int, default=1, help="run every side this many times; report medians")
    parser.add_argument("--vnetd-prefix", default="",
                        help="command run in front of vnetd, for profiling (e.g. 'strace -c -f -o FILE')")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.n is None:
        args.n = 100 if args.quick else 1000
    if args.n < 1 or args.queues < 1 or args.rounds < 1:
        parser.error("--taps, --queues and --rounds must be at least 1")
    args.vnetd = os.path.abspath(args.vnetd)
    return args


def main():
    args = parse_args()
    try:
        return run_inside(args) if args.inside else run_outside(args)
    except BenchError as e:
        print(f"tap_lifecycle: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
