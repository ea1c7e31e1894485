#!/usr/bin/env python3
"""guest_to_guest - frames/s from one guest's tap to another's on the same hub,
one run, same machine (issue 18; bench/README.md):

  kernel hub     tap_pair_load writes nic a's tap fd (netdev-get-fds) -> tc: hub_forward's
                 bpf_clone_redirect -> nic b's tap, read from its fd (vnetd's kernel forwarding)
  userspace hub  the same hub with kernel-forwarding=false: nic a's tap -> vnetd's host side
                 -hub- host side -> read from nic b's tap fd
  Linux bridge   tap_pair_load writes tap ga -> bridge -> read from tap gb (what an operator would use);
                 the idle guests' taps have a queue held, as their VMMs would
  QEMU 7.2       a frame sent out of tap qa (QEMU holds it) -> QEMU's hub -> tap qb, read on its host side
                 (QEMU with two or more taps on a hub, -M none)

Each path has 2 or 8 ports; the frames are unicast to the reading guest's MAC,
so every other port gets its flooded copy (and, behind a vnetd nic, drops it
in its rx filter). 64- and 1500-byte frames, as fast as the generator goes,
the paths taking turns in rounds; medians. Targets (issue 18): the kernel hub
>= the bridge, >= 2x the userspace hub, >= 5x QEMU. --quick (ctest) checks
that every path delivers, never timings. Exit 1 when a path delivered nothing
(or a vnetd hub forwarded on the other path).

Run as root:  guest_to_guest.py --vnetd build/bin/vnetd --load build/bin/tap_pair_load
              [--rounds 3] [--seconds 2] [--writers 1] [--quick]
"""
import contextlib
import fcntl
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "interop"))
sys.path.insert(0, str(REPO / "bench"))
from qemu_announce import find_qemu, running_qemu  # noqa: E402
import relay_cli  # noqa: E402

SIZES = (64, 1500)
PORTS = (2, 8)
PATHS = ("kernel hub", "userspace hub", "Linux bridge", "QEMU 7.2")


def mac(port):
    return f"52:54:00:00:01:{port:02x}"


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


def drive(args, source, target, destination, size, seconds, pass_fds=(), after_ready=None):
    """One tap_pair_load run; after_ready() finishes the setup (bridge ports) first."""
    return relay_cli.run_load([args.load, "--from", source, "--to", target, "--size", str(size), "--seconds",
                               str(seconds), "--dst-mac", destination, "--writers", str(args.writers)],
                              pass_fds, after_ready)


@contextlib.contextmanager
def vnetd_hub(vnetd_binary, work, ports, kernel):
    """A hub of `ports` nics, each with its own tap, forwarded by the kernel or
    by vnetd; yields the first two taps' fds."""
    with relay_cli.vnetd_daemon(vnetd_binary, work) as (client, _):
        fds = []
        try:
            for port in range(ports):
                client.cmd("netdev_add", type="hubport", id=f"h{port}", hubid=0, **{"kernel-forwarding": kernel})
                client.cmd("netdev_add", type="nic", id=f"n{port}", netdev=f"h{port}", macaddr=mac(port))
                # The guest's driver takes its own MAC only (and broadcasts), as Linux's virtio-net does.
                client.cmd("set-rx-filter", name=f"n{port}", **{
                    "promiscuous": False, "unicast": "normal", "multicast": "normal", "vlan": "normal",
                    "broadcast-allowed": True, "unicast-overflow": False, "multicast-overflow": False,
                    "main-mac": mac(port), "unicast-table": [], "multicast-table": [], "vlan-table": []})
            for port in range(2):
                client.cmd("netdev-get-fds", id=f"n{port}")
                fds.append(client.take_received_fds()[0])
            forwarding = client.cmd("query-hubs")[0]["forwarding"]
            if forwarding != ("kernel" if kernel else "userspace"):
                raise RuntimeError(f"the hub forwards in {forwarding}: {client.cmd('query-hubs')}")
            yield fds
        finally:
            for fd in fds:
                os.close(fd)


def run_vnetd(args, work, ports, size, seconds, kernel):
    with vnetd_hub(args.vnetd, work, ports, kernel) as (a, b):
        time.sleep(0.1)
        return drive(args, f"fd:{a}", f"fd:{b}", mac(1), size, seconds, pass_fds=(a, b))


TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000


def attach_queue(name):
    """A queue on tap `name`, as an idle guest's VMM holds one: the tap has
    carrier, so the bridge sends it its copies (which fill the queue and drop,
    where a guest would drop them in its driver)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def run_bridge(args, ports, size, seconds):
    sh("ip", "link", "add", "gbr0", "type", "bridge")
    idle, queues = [], []
    try:
        for port in range(2, ports):  # the other guests' taps, held but not read
            name = f"gi{port}"
            sh("ip", "tuntap", "add", "dev", name, "mode", "tap")
            queues.append(attach_queue(name))
            sh("ip", "link", "set", name, "master", "gbr0", "up")
            idle.append(name)
        sh("ip", "link", "set", "gbr0", "up")

        def enslave():
            for name in ("ga", "gb"):
                sh("ip", "link", "set", name, "master", "gbr0", "up")
        return drive(args, "tap:ga", "tap:gb", mac(1), size, seconds, after_ready=enslave)
    finally:
        for fd in queues:
            os.close(fd)
        for name in idle:
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", "gbr0"], capture_output=True)


def run_qemu(args, qemu, work, ports, size, seconds):
    argv = [qemu, "-M", "none", "-nodefaults", "-display", "none"]
    for port in range(ports):
        argv += ["-netdev", f"tap,id=t{port},ifname=q{port},script=no,downscript=no,vhost=off",
                 "-netdev", f"hubport,id=p{port},hubid=0,netdev=t{port}"]
    # QMP answers once every netdev is made: the taps are there.
    with running_qemu(argv, tempfile.mkdtemp(dir=work)):
        for port in range(ports):
            sh("ip", "link", "set", f"q{port}", "up")
        return drive(args, "packet:q0", "packet:q1", mac(1), size, seconds)


def run(args):
    qemu = find_qemu()
    results = {(path, ports, size): [] for path in PATHS for ports in PORTS for size in SIZES}

    def one_round(work, seconds):
        for ports in PORTS:
            for size in SIZES:
                results[("kernel hub", ports, size)].append(run_vnetd(args, work, ports, size, seconds, True))
                results[("userspace hub", ports, size)].append(run_vnetd(args, work, ports, size, seconds, False))
                results[("Linux bridge", ports, size)].append(run_bridge(args, ports, size, seconds))
                results[("QEMU 7.2", ports, size)].append(run_qemu(args, qemu, work, ports, size, seconds))
    relay_cli.rounds_in_netns(args, "vnt-g2g-", one_round)
    return results


def report(results, quick):
    fps, kept = relay_cli.medians(results)
    print(f"{'path':<15} {'ports':>5} {'64 B fps':>10} {'(arrived)':>9} {'1500 B fps':>11} {'(arrived)':>9}")
    for path in PATHS:
        for ports in PORTS:
            print(f"{path:<15} {ports:>5} {fps[(path, ports, 64)]:>10.0f} {kept[(path, ports, 64)]:>9.0%} "
                  f"{fps[(path, ports, 1500)]:>11.0f} {kept[(path, ports, 1500)]:>9.0%}")
    print()
    for ports in PORTS:
        for size in SIZES:
            kernel = fps[("kernel hub", ports, size)]
            ratios = ", ".join(f"/ {path} = {kernel / max(fps[(path, ports, size)], 1):.2f}x (target {target})"
                               for path, target in (("Linux bridge", ">= 1"), ("userspace hub", ">= 2"),
                                                    ("QEMU 7.2", ">= 5")))
            print(f"{ports} ports, {size} B: kernel hub {ratios}")
    failed = [f"{path}, {ports} ports, {size} B delivered nothing" for (path, ports, size), samples in results.items()
              if min(s["received"] for s in samples) == 0]
    return relay_cli.finish(failed, quick)

def main():
    parser = relay_cli.parser(__doc__)
    parser.add_argument("--writers", type=int, default=1,
                        help="threads writing into the first guest's tap (one writer cannot fill a 2-port kernel hub)")
    args = parser.parse_args()
    return relay_cli.run_as_root("guest_to_guest", args, run, report)

if __name__ == "__main__":
    sys.exit(main())
