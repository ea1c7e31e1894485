#!/usr/bin/env python3
"""guest_to_l2tpv3 - frames/s from a guest's tap through an l2tpv3 netdev on
the same hub to the tunnel's far end, one run, same machine (issue 18;
bench/README.md):

  vnetd, kernel l2tpv3     tap_pair_load writes nic n0's tap fd (netdev-get-fds) -> tc: hub_forward ->
                           out of l2tpethN -> the kernel's L2TPv3 -> UDP, counted at the far end's socket
                           (only where the kernel has L2TP: not on this project's CI hosts; the kernel lab
                           shows this path working, docs/kernel-lab.md)
  vnetd, userspace l2tpv3  the same with offload=off: nic n0's tap -> vnetd's host side -hub- l2tpv3 -> UDP
  QEMU 7.2                 a frame sent out of tap qa (QEMU holds it) -> QEMU's hub -> QEMU's l2tpv3 -> UDP

UDP encapsulation with 64-bit cookies and the counter; 64- and 1500-byte
frames, as fast as the generator goes, the paths taking turns in rounds;
medians. --quick (ctest) checks that every path delivers, never timings.
Exit 1 when a path delivered nothing.

Run as root:  guest_to_l2tpv3.py --vnetd build/bin/vnetd --load build/bin/tap_pair_load
              [--rounds 3] [--seconds 2] [--quick]
"""
import contextlib
import os
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
KERNEL, USERSPACE, QEMU = "vnetd, kernel l2tpv3", "vnetd, userspace l2tpv3", "QEMU 7.2"
LOCAL, TUNNEL_PORT, FAR_END = "127.0.0.1", 47601, 47602
DST_MAC = "52:54:00:00:02:02"
TUNNEL = {"src": LOCAL, "dst": LOCAL, "udp": True, "srcport": str(TUNNEL_PORT), "dstport": str(FAR_END),
          "txsession": 100, "rxsession": 200, "cookie64": True, "txcookie": 0x0102030405060708,
          "rxcookie": 0x1112131415161718, "counter": True}


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


def drive(load, source, size, seconds, pass_fds=()):
    return relay_cli.run_load([load, "--from", source, "--to", f"udp:{FAR_END}", "--size", str(size), "--seconds",
                               str(seconds), "--dst-mac", DST_MAC], pass_fds)


@contextlib.contextmanager
def vnetd_guest_and_tunnel(vnetd_binary, work, offload):
    """A nic with its own tap and an l2tpv3 netdev on hub 0; yields the tap's fd
    and the l2tpv3 netdev's path."""
    with relay_cli.vnetd_daemon(vnetd_binary, work) as (client, _):
        fds = []
        try:
            client.cmd("netdev_add", type="l2tpv3", id="l0", offload=offload, **TUNNEL)
            client.cmd("netdev_add", type="hubport", id="h0", hubid=0, netdev="l0")
            client.cmd("netdev_add", type="hubport", id="h1", hubid=0)
            client.cmd("netdev_add", type="nic", id="n0", netdev="h1", macaddr="52:54:00:00:02:01")
            client.cmd("netdev-get-fds", id="n0")
            fds = client.take_received_fds()
            path = {n["id"]: n["details"] for n in client.cmd("query-netdevs")}["l0"]["path"]
            yield fds[0], path, client.cmd("query-hubs")[0]["forwarding"]
        finally:
            for fd in fds:
                os.close(fd)


def kernel_has_l2tp():
    release = os.uname().release
    return os.path.exists("/sys/module/l2tp_eth") or any(
        Path(f"/lib/modules/{release}").glob("**/l2tp_eth.ko*"))


def run_vnetd(args, work, size, seconds, offload):
    with vnetd_guest_and_tunnel(args.vnetd, work, offload) as (fd, path, forwarding):
        expected = ("kernel", "kernel") if offload else ("userspace", "userspace")
        if (path, forwarding) != expected:
            raise RuntimeError(f"l2tpv3 path {path}, hub forwarding {forwarding}: expected {expected}")
        time.sleep(0.1)
        return drive(args.load, f"fd:{fd}", size, seconds, pass_fds=(fd,))


def run_qemu(args, qemu, work, size, seconds):
    l2tp = ",".join(f"{key}={'on' if value is True else value}" for key, value in TUNNEL.items())
    argv = [qemu, "-M", "none", "-nodefaults", "-display", "none",
            "-netdev", "tap,id=t0,ifname=qa,script=no,downscript=no,vhost=off",
            "-netdev", "hubport,id=p0,hubid=0,netdev=t0",
            "-netdev", f"l2tpv3,id=l0,{l2tp}", "-netdev", "hubport,id=p1,hubid=0,netdev=l0"]
    with running_qemu(argv, tempfile.mkdtemp(dir=work)):
        sh("ip", "link", "set", "qa", "up")
        return drive(args.load, "packet:qa", size, seconds)


def run(args):
    qemu = find_qemu()
    paths = ([KERNEL] if kernel_has_l2tp() else []) + [USERSPACE, QEMU]
    results = {(path, size): [] for path in paths for size in SIZES}

    def one_round(work, seconds):
        for size in SIZES:
            if KERNEL in paths:
                results[(KERNEL, size)].append(run_vnetd(args, work, size, seconds, True))
            results[(USERSPACE, size)].append(run_vnetd(args, work, size, seconds, False))
            results[(QEMU, size)].append(run_qemu(args, qemu, work, size, seconds))
    relay_cli.rounds_in_netns(args, "vnt-g2l-", one_round)
    return results


def report(results, quick):
    fps, kept = relay_cli.medians(results)
    paths = sorted({path for path, _ in results}, key=[KERNEL, USERSPACE, QEMU].index)
    print(f"{'path':<25} {'64 B fps':>10} {'(arrived)':>9} {'1500 B fps':>11} {'(arrived)':>9}")
    for path in paths:
        print(f"{path:<25} {fps[(path, 64)]:>10.0f} {kept[(path, 64)]:>9.0%} "
              f"{fps[(path, 1500)]:>11.0f} {kept[(path, 1500)]:>9.0%}")
    print()
    if KERNEL not in paths:
        print("vnetd, kernel l2tpv3: not on this kernel (no l2tp_eth); the kernel lab runs that path (lab_l2tp)")
    for size in SIZES:
        for path in paths:
            if path != QEMU:
                print(f"{size} B: {path} / QEMU 7.2 = {fps[(path, size)] / max(fps[(QEMU, size)], 1):.2f}x")
        if KERNEL in paths:
            print(f"{size} B: kernel / userspace = {fps[(KERNEL, size)] / max(fps[(USERSPACE, size)], 1):.2f}x")
    failed = [f"{path}, {size} B delivered nothing" for (path, size), samples in results.items()
              if min(s["received"] for s in samples) == 0]
    return relay_cli.finish(failed, quick)


def main():
    args = relay_cli.parser(__doc__).parse_args()
    return relay_cli.run_as_root("guest_to_l2tpv3", args, run, report)


if __name__ == "__main__":
    sys.exit(main())
