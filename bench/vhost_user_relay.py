#!/usr/bin/env python3
"""vhost_user_relay - frames/s from a guest's transmit ring to a UDP peer,
one run, same machine (issue 15; bench/README.md):

  vhost-user  bench/vhost_user_load's C++ front end -> vnetd vhost-user -hub- socket udp -> sink
  tap path    vhost_user_load writes a VMM's tap -> br0 -> vnetd's tap netdev -hub- socket udp -> sink
              (today's way to a userspace netdev: a second tap and a bridge)
  QEMU 7.2    relay_load's datagrams -> QEMU's socket udp -hub- socket udp -> sink
              (QEMU's own socket netdev, as bench/datapath_relay.py runs it)
  nic tap     vhost_user_load writes the tap fd of a nic on a hub (issue 18) -> vnetd's
              host side (packet socket) -hub- socket udp -> sink

64- and 1500-byte frames, sent as fast as each generator can for --seconds;
the paths take turns, in rounds; medians are reported with the ratios and
the targets (vhost-user >= 3x the tap path, >= 5x QEMU; nic tap >= 1.5x the
tap path). Everything runs on
loopback in a network namespace of its own. --quick (ctest) checks that
every path delivers, never timings. Exit 1 when a path delivered nothing.

Run as root:  vhost_user_relay.py --vnetd build/bin/vnetd --vu-load build/bin/vhost_user_load
              --load build/bin/relay_load [--rounds 3] [--seconds 2] [--quick]
"""
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "interop"))
sys.path.insert(0, str(REPO / "bench"))
from qemu_announce import find_qemu, private_netns  # noqa: E402
import datapath_relay  # noqa: E402  (QEMU's relay and its generator)
import relay_cli  # noqa: E402

LOCAL = "127.0.0.1"
SINK = datapath_relay.SINK
OUT_VU, OUT_TAP, OUT_NIC = 48011, 48012, 48013
VMM_TAP = "vmtap0"
TARGET_TAP, TARGET_QEMU, TARGET_NIC_TAP = 3.0, 5.0, 1.5


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


@contextlib.contextmanager
def vnetd_paths(vnetd_binary, work):
    """One vnetd: hub 0 joins vhost-user vu0 to a socket to the sink, hub 1 a
    tap on br0 to another socket to the sink."""
    with relay_cli.vnetd_daemon(vnetd_binary, work, bridge_acl="allow br0\n") as (client, workdir):
        socket_path = os.path.join(workdir, "vu0.sock")
        for netdev in ({"type": "socket", "id": "o0", "udp": f"{LOCAL}:{SINK}", "localaddr": f"{LOCAL}:{OUT_VU}"},
                       {"type": "hubport", "id": "h0", "hubid": 0, "netdev": "o0"},
                       {"type": "vhost-user", "id": "vu0", "chardev": socket_path},
                       {"type": "hubport", "id": "h1", "hubid": 0, "netdev": "vu0"},
                       {"type": "socket", "id": "o1", "udp": f"{LOCAL}:{SINK}", "localaddr": f"{LOCAL}:{OUT_TAP}"},
                       {"type": "hubport", "id": "h2", "hubid": 1, "netdev": "o1"},
                       {"type": "tap", "id": "t0", "br": "br0", "vnet_hdr": False},
                       {"type": "hubport", "id": "h3", "hubid": 1, "netdev": "t0"},
                       {"type": "socket", "id": "o2", "udp": f"{LOCAL}:{SINK}", "localaddr": f"{LOCAL}:{OUT_NIC}"},
                       {"type": "hubport", "id": "h4", "hubid": 2, "netdev": "o2"},
                       {"type": "hubport", "id": "h5", "hubid": 2},
                       {"type": "nic", "id": "n0", "netdev": "h5", "vnet_hdr": True}):
            client.cmd("netdev_add", **netdev)
        client.cmd("netdev-get-fds", id="n0")
        (nic_fd,) = client.take_received_fds()
        try:
            yield socket_path, nic_fd
        finally:
            os.close(nic_fd)


def run_vhost_user(vu_load, socket_path, size, seconds):
    argv = [vu_load, "vhost-user", "--socket", socket_path, "--sink", str(SINK), "--size", str(size),
            "--seconds", str(seconds)]
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def run_tap(vu_load, size, seconds, nic_fd=None):
    """The tap path (a VMM's tap on br0), or with nic_fd the nic tap path."""
    where = ["--fd", str(nic_fd)] if nic_fd is not None else ["--ifname", VMM_TAP]
    enslave = None if nic_fd is not None else lambda: sh("ip", "link", "set", VMM_TAP, "master", "br0", "up")
    return relay_cli.run_load([vu_load, "tap", *where, "--sink", str(SINK), "--size", str(size), "--seconds",
                               str(seconds)], [nic_fd] if nic_fd is not None else (), enslave)


def run(args):
    qemu = find_qemu()
    work = tempfile.mkdtemp(prefix="vnt-vurelay-")
    seconds = 0.5 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    results = {path: {64: [], 1500: []} for path in ("vhost-user", "tap", "qemu", "nic tap")}
    try:
        with private_netns():
            sh("ip", "link", "add", "br0", "type", "bridge")
            sh("ip", "link", "set", "br0", "up")
            for round_number in range(rounds):
                with vnetd_paths(args.vnetd, work) as (socket_path, nic_fd):
                    time.sleep(0.2)
                    for size in (64, 1500):
                        results["vhost-user"][size].append(run_vhost_user(args.vu_load, socket_path, size, seconds))
                        results["tap"][size].append(run_tap(args.vu_load, size, seconds))
                        results["nic tap"][size].append(run_tap(args.vu_load, size, seconds, nic_fd))
                with datapath_relay.qemu_relay(qemu, "udp", work):
                    time.sleep(0.2)
                    datapath_relay.measure(args.load, "udp", 64, 0.2)  # warm-up
                    for size in (64, 1500):
                        results["qemu"][size].append(datapath_relay.measure(args.load, "udp", size, seconds))
                print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def report(results, quick):
    table = {path: {size: statistics.median(s["delivered_fps"] for s in samples)
                    for size, samples in sizes.items()} for path, sizes in results.items()}
    print(f"{'path':<12} {'64 B fps':>10} {'1500 B fps':>11}")
    for path, row in table.items():
        print(f"{path:<12} {row[64]:>10.0f} {row[1500]:>11.0f}")
    failed = [f"{path} delivered nothing" for path, sizes in results.items()
              if min(s["received"] for samples in sizes.values() for s in samples) == 0]
    print()
    for size in (64, 1500):
        vs_tap = table["vhost-user"][size] / max(table["tap"][size], 1)
        vs_qemu = table["vhost-user"][size] / max(table["qemu"][size], 1)
        print(f"{size} B: vhost-user / tap path = {vs_tap:.2f}x (target >= {TARGET_TAP:.0f}x) "
              f"{'MET' if vs_tap >= TARGET_TAP else 'MISSED'}; vhost-user / QEMU = {vs_qemu:.2f}x "
              f"(target >= {TARGET_QEMU:.0f}x) {'MET' if vs_qemu >= TARGET_QEMU else 'MISSED'}")
        nic_vs_tap = table["nic tap"][size] / max(table["tap"][size], 1)
        print(f"{size} B: nic tap / tap path = {nic_vs_tap:.2f}x (target >= {TARGET_NIC_TAP}x) "
              f"{'MET' if nic_vs_tap >= TARGET_NIC_TAP else 'MISSED'}")
    return relay_cli.finish(failed, quick)


def main():
    args = relay_cli.parser(__doc__, "--vu-load").parse_args()
    return relay_cli.run_as_root("vhost_user_relay", args, run, report)

if __name__ == "__main__":
    sys.exit(main())
