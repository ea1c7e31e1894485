#!/usr/bin/env python3
"""soak - 10,000 netdev_add/netdev_del cycles of every netdev type that needs
no VM, from 100 concurrent QMP clients while two CPU hogs run; does vnetd stay
flat? QEMU 7.2 does the same cycles of the types it has in the same run, with
as many clients, each on a monitor of its own (a QEMU monitor serves one
client), for the ratio (issue
17, "Keep it fixed" 4; bench/README.md).

Types, one after another per client (client k starts at type k mod 10):
hubport, socket udp, socket listen (TCP), socket mcast, l2tpv3 over UDP,
user (libslirp), vde (libvdeplug's null:// plugin: vde_switch itself fails
to reopen ports under this churn, for QEMU 7.2 as for vnetd; see
docs/robustness.md), tap, tap with 4 queues, bridge (a tap on br0). Every client has its own ports and names.

Phases, each cycle an add then a delete on one connection:
  warm-up   the first 10% of the cycles;
  "start"   all clients idle, teardowns finished: vnetd's fd count and VmRSS;
  run       the other 90%; per-request latency (send to reply) of its first and
            last 1,000 cycles;
  "end"     idle again, teardowns finished: fds and VmRSS.
Flat: fds and RSS at the end within 5% of the start. Targets (issue 17): flat,
and max < 100 ms per request; reported MET/MISSED, never failed on. Wrong
work fails the run (exit 1): an error reply, a device left behind, vnetd
gone.

The clients are bench/qmp_load (build target qmp_load), one epoll thread in
C++, so that the load generator costs little CPU next to the server it
measures; CPU seconds of both are reported. A reply other than {"return": {}},
or none within 60 s, is wrong work.

Run as root:  soak.py [--vnetd PATH] [--load PATH (default build/bin/qmp_load, or $QMP_LOAD)]
                      [--cycles 10000] [--clients 100]
                      [--hogs 2] [--state-fs disk|tmpfs] [--qemu-cycles 1000]
                      [--quick]   (--quick: 600 cycles, 20 clients, 200 for QEMU)
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TYPES = ["hubport", "socket-udp", "socket-listen", "socket-mcast", "l2tpv3", "user", "vde", "tap", "tap-mq",
         "bridge"]
QEMU_TYPES = ["hubport", "socket-udp", "socket-listen", "socket-mcast", "l2tpv3", "user", "vde", "tap", "tap-mq"]
TARGET_MAX = 0.100
FLAT = 0.05


class WrongWork(Exception):
    """The daemon did not do what it was asked: fails the run."""


def netdev_arguments(kind, client, cycle):
    """netdev_add's arguments for client `client`'s cycle of type `kind`."""
    base = 20000 + client * 8
    netdev_id = f"c{client}n{cycle}"
    arguments = {
        "hubport": {"type": "hubport", "hubid": client % 10},
        "socket-udp": {"type": "socket", "udp": f"127.0.0.1:{base}", "localaddr": f"127.0.0.1:{base + 1}"},
        "socket-listen": {"type": "socket", "listen": f"127.0.0.1:{base + 2}"},
        "socket-mcast": {"type": "socket", "mcast": f"239.7.7.7:{base + 3}", "localaddr": "127.0.0.1"},
        "l2tpv3": {"type": "l2tpv3", "src": "127.0.0.1", "dst": "127.0.0.1", "udp": True,
                   "srcport": str(base + 4), "dstport": str(base + 5), "txsession": client + 1,
                   "rxsession": client + 1},
        "user": {"type": "user", "hostname": f"soak{client}"},
        "vde": {"type": "vde", "sock": "null://"},
        "tap": {"type": "tap", "ifname": f"st{client}", "script": "no", "downscript": "no"},
        "tap-mq": {"type": "tap", "ifname": f"sq{client}", "queues": 4, "script": "no", "downscript": "no"},
        "bridge": {"type": "bridge", "br": "br0"},
    }[kind]
    return {"id": netdev_id, **arguments}


class Load:
    """The QMP clients: bench/qmp_load, one epoll thread in C++, so that the
    load generator costs little CPU next to the server it measures. Client k
    connects to paths[k] and keeps its connection over every run; it cycles
    through `types` starting at type k mod len(types), ids c{k}n{cycle}."""

    def __init__(self, program, paths, types):
        self.types = types
        self.samples = []  # (global cycle index, kind, command, seconds)
        self.proc = subprocess.Popen([program], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        arguments = [[{key: value for key, value in netdev_arguments(kind, k, 0).items() if key != "id"}
                      for kind in types] for k in range(len(paths))]
        self.send(json.dumps({"sockets": paths, "types": types, "arguments": arguments}))
        self.read_until("ready")

    def send(self, line):
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise WrongWork(f"qmp_load exited with status {self.proc.wait()}")

    def read_until(self, last):
        """Reads the driver's lines up to `last`, keeping the samples."""
        commands = {"a": "netdev_add", "d": "netdev_del"}
        for line in self.proc.stdout:
            if line == last + "\n":
                return
            if line.startswith("error "):
                raise WrongWork(json.loads(line[6:]))
            cycle, type_index, command, nanoseconds = line.split()
            self.samples.append((int(cycle), self.types[int(type_index)], commands[command], int(nanoseconds) / 1e9))
        raise WrongWork(f"qmp_load exited with status {self.proc.wait()}")

    def run(self, cycles):
        """`cycles` more add/del cycles, spread over the clients; returns when all are idle."""
        self.send(f"run {cycles}")
        self.read_until("done")

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_seconds(pid):
    """User + system CPU seconds process `pid` has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def latency_row(label, seconds):
    if not seconds:
        return f"  {label:<34} (none)"
    return (f"  {label:<34} p50 {statistics.median(seconds) * 1e3:8.2f} ms  p99 {percentile(seconds, 0.99) * 1e3:8.2f} ms"
            f"  max {max(seconds) * 1e3:8.2f} ms  ({len(seconds)} requests)")


def process_figures(pid):
    """(open fds, VmRSS KiB) once the fd count has held still for 0.5 s: a
    deleted tap's fds close just after its link is gone."""
    def fds():
        return len(os.listdir(f"/proc/{pid}/fd"))
    count, steady_since, deadline = fds(), time.monotonic(), time.monotonic() + 10
    while time.monotonic() - steady_since < 0.5 and time.monotonic() < deadline:
        time.sleep(0.05)
        if (now := fds()) != count:
            count, steady_since = now, time.monotonic()
    if os.environ.get("SOAK_DEBUG"):
        print(sorted(os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")))
        with open(f"/proc/{pid}/status") as f:
            print([line.strip() for line in f if line.startswith(("Rss", "VmData"))])
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return count, rss


def links(netns, prefixes):
    out = subprocess.run(["ip", "-n", netns, "-o", "link", "show"], capture_output=True, text=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    return [name for name in names if name.startswith(prefixes)]


def wait_no_links(netns, prefixes, what):
    """Teardowns run in the background: wait for the devices to go (30 s)."""
    deadline = time.monotonic() + 30
    while (left := links(netns, prefixes)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        raise WrongWork(f"{what}: devices left behind: {left[:10]}")


def start_hogs(count):
    code = "import time\nend = time.monotonic() + 3600\nwhile time.monotonic() < end: pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def flat(start, end):
    return abs(end - start) <= FLAT * start


class Namespace:
    """A network namespace with lo up, a multicast route and bridge br0."""

    def __init__(self, name):
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True)
        for command in (["ip", "link", "set", "lo", "up"],
                        ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"],
                        ["ip", "link", "add", "br0", "type", "bridge"],
                        ["ip", "link", "set", "br0", "up"]):
            subprocess.run(["ip", "-n", name] + command[1:], check=True)

    def exec_prefix(self):
        return ["ip", "netns", "exec", self.name]

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def wait_for_socket(path, proc, what):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise WrongWork(f"{what} exited with status {proc.returncode} while starting")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
            return
        except OSError:
            time.sleep(0.02)
        finally:
            probe.close()
    raise WrongWork(f"{what} did not start serving on {path}")


def soak_side(name, namespace, server_command, load_program, socket_paths, types, cycles, prefixes):
    """Runs one side, client k on socket_paths[k]; returns its figures."""
    proc = subprocess.Popen(namespace.exec_prefix() + server_command, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    soak = None
    try:
        for path in set(socket_paths):
            wait_for_socket(path, proc, name)
        pid = proc.pid  # ip netns exec execs the server in place
        clients = len(socket_paths)
        soak = Load(load_program, socket_paths, types)
        baseline = process_figures(pid)
        warmup = max(clients, cycles // 10)
        soak.run(warmup)
        wait_no_links(namespace.name, prefixes, name)
        start = process_figures(pid)
        begun = time.monotonic()
        soak.run(cycles - warmup)
        seconds = time.monotonic() - begun
        wait_no_links(namespace.name, prefixes, name)
        end = process_figures(pid)
        cpu = {"load": cpu_seconds(soak.proc.pid), "server": cpu_seconds(pid)}
        soak.close()
        if proc.poll() is not None:
            raise WrongWork(f"{name} died: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        window = min(1000, (cycles - warmup) // 2)
        measured = [s for s in soak.samples if s[0] >= warmup]
        first = [s for s in measured if s[0] < warmup + window]
        last = [s for s in measured if s[0] >= cycles - window]
        return {"baseline": baseline, "start": start, "end": end, "seconds": seconds,
                "requests": 2 * (cycles - warmup), "first": first, "last": last, "all": measured,
                "cpu": cpu}
    finally:
        if soak:
            soak.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def report(name, figures, types):
    print(f"{name}: {figures['requests']} requests in {figures['seconds']:.1f} s "
          f"({figures['requests'] / figures['seconds']:.0f}/s)")
    for label, key in (("idle at its start", "baseline"), ("start (after warm-up)", "start"), ("end", "end")):
        fds, rss = figures[key]
        print(f"  {label:<24} fds {fds:6d}   VmRSS {rss / 1024:8.1f} MiB")
    for window in ("first", "last"):
        samples = figures[window]
        print(latency_row(f"{window} 1,000 cycles, all requests", [s[3] for s in samples]))
    for kind in types:
        for command in ("netdev_add", "netdev_del"):
            print(latency_row(f"{kind} {command[7:]} (whole run)",
                              [s[3] for s in figures["all"] if s[1] == kind and s[2] == command]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vnetd", default=os.environ.get("VNETD") or str(REPO / "build" / "bin" / "vnetd"))
    parser.add_argument("--qemu", default="qemu-system-x86_64")
    parser.add_argument("--load", default=os.environ.get("QMP_LOAD") or str(REPO / "build" / "bin" / "qmp_load"),
                        help="the load generator, bench/qmp_load.cpp's build (target qmp_load)")
    parser.add_argument("--cycles", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--qemu-cycles", type=int, default=1000)
    parser.add_argument("--state-fs", choices=("disk", "tmpfs"), default="disk")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 600 cycles, 20 clients, 200 for QEMU")
    args = parser.parse_args()
    if args.quick:
        args.cycles, args.clients, args.qemu_cycles = 600, 20, 200
    if os.geteuid() != 0:
        raise SystemExit("soak: must run as root (taps, bridges, network namespaces)")
    for tool in ("ip", args.qemu):
        if not shutil.which(tool):
            raise SystemExit(f"soak: {tool} not found (scripts/install-deps installs it)")
    if not Path(args.vnetd).exists():
        raise SystemExit(f"soak: no vnetd at {args.vnetd} (build it, or pass --vnetd)")
    if not os.access(args.load, os.X_OK):
        raise SystemExit(f"soak: no load generator at {args.load} (build it: cmake --build build --target qmp_load; "
                         f"or pass --load or set QMP_LOAD)")

    work = Path(tempfile.mkdtemp(prefix="vnt-soak-"))
    namespace = Namespace(f"vnt-soak-{os.getpid()}")
    hogs = None
    mounted = False
    try:
        state_dir = work / "state"
        state_dir.mkdir()
        if args.state_fs == "tmpfs":
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "soak", str(state_dir)], check=True)
            mounted = True
        (work / "bridge.conf").write_text("allow br0\n")
        hogs = start_hogs(args.hogs)
        print(f"soak: {args.cycles} cycles from {args.clients} clients, {args.hogs} CPU hogs, "
              f"state dir on {args.state_fs}; QEMU: {args.qemu_cycles} cycles, the same clients")
        prefixes = tuple(f"s{c}" for c in "tqb") + ("tap",)
        vnetd_socket = str(work / "vnetd.sock")
        vnetd = soak_side("vnetd", namespace,
                          [args.vnetd, "--socket", vnetd_socket, "--state-dir", str(state_dir),
                           "--bridge-acl", str(work / "bridge.conf")], args.load,
                          [vnetd_socket] * args.clients, TYPES, args.cycles, prefixes)
        # QEMU serves one client per monitor: as many monitors as clients.
        qemu_sockets = [str(work / f"qemu{k}.sock") for k in range(args.clients)]
        qemu_monitors = [arg for path in qemu_sockets for arg in ("-qmp", f"unix:{path},server=on,wait=off")]
        qemu = soak_side("QEMU", namespace,
                         [args.qemu, "-M", "none", "-nodefaults", "-display", "none", *qemu_monitors], args.load,
                         qemu_sockets, QEMU_TYPES, args.qemu_cycles, prefixes)
        print()
        report("vnetd", vnetd, TYPES)
        print()
        report(f"QEMU 7.2 ({args.clients} clients, a monitor each)", qemu, QEMU_TYPES)
        print()
        (fds0, rss0), (fds1, rss1) = vnetd["start"], vnetd["end"]
        worst = max(s[3] for s in vnetd["all"])
        first_p99 = percentile([s[3] for s in vnetd["first"]], 0.99)
        last_p99 = percentile([s[3] for s in vnetd["last"]], 0.99)
        (qfds0, qrss0), (qfds1, qrss1) = qemu["start"], qemu["end"]
        print(f"vnetd: fds {fds0} -> {fds1}, VmRSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB "
              f"({(rss1 - rss0) / rss0 * 100:+.1f}%); QEMU: fds {qfds0} -> {qfds1}, VmRSS {qrss0 / 1024:.1f} -> "
              f"{qrss1 / 1024:.1f} MiB ({(qrss1 - qrss0) / qrss0 * 100:+.1f}%) over {args.qemu_cycles} cycles")
        print(f"vnetd p99 first/last 1,000 cycles: {first_p99 * 1e3:.2f} / {last_p99 * 1e3:.2f} ms "
              f"({last_p99 / first_p99:.2f}x)")
        vnetd_p50 = statistics.median(s[3] for s in vnetd["all"] if s[1] in QEMU_TYPES)
        qemu_p50 = statistics.median(s[3] for s in qemu["all"])
        vnetd_max = max(s[3] for s in vnetd["all"] if s[1] in QEMU_TYPES)
        qemu_max = max(s[3] for s in qemu["all"])
        print(f"per request, the types both have, {args.clients} clients: p50 vnetd {vnetd_p50 * 1e3:.2f} ms, "
              f"QEMU {qemu_p50 * 1e3:.2f} ms ({vnetd_p50 / qemu_p50:.2f}x); max vnetd {vnetd_max * 1e3:.2f} ms, "
              f"QEMU {qemu_max * 1e3:.2f} ms ({vnetd_max / qemu_max:.2f}x); throughput "
              f"{vnetd['requests'] / vnetd['seconds'] / (qemu['requests'] / qemu['seconds']):.2f}x QEMU's")
        print(f"CPU seconds, warm-up and run: load generator {vnetd['cpu']['load']:.2f} (vnetd side) + "
              f"{qemu['cpu']['load']:.2f} (QEMU side), vnetd {vnetd['cpu']['server']:.2f}, "
              f"QEMU {qemu['cpu']['server']:.2f}")
        for met, text in ((flat(fds0, fds1), f"fds flat within {FLAT:.0%}"),
                          (flat(rss0, rss1), f"VmRSS flat within {FLAT:.0%}"),
                          (worst < TARGET_MAX, f"max per request < {TARGET_MAX * 1e3:.0f} ms: "
                                               f"{worst * 1e3:.2f} ms")):
            print(f"  {'MET   ' if met else 'MISSED'} {text}")
        return 0
    except WrongWork as wrong:
        print(f"soak: FAILED: {wrong}")
        return 1
    finally:
        for hog in hogs or []:
            hog.kill()
            hog.wait()
        if mounted:
            subprocess.run(["umount", str(state_dir)], check=False)
        namespace.delete()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
