#!/usr/bin/env python3
"""datapath_relay - frames/s and loss of a UDP frame relay, one run, same
machine, same load generator and sink (bench/relay_load), for:

  socket-udp -> hub -> socket-udp   by QEMU 7.2 and by vnetd
  l2tpv3     -> hub -> socket-udp   by QEMU 7.2 and by vnetd
  a plain recvmmsg/sendmmsg relay   (the limit: no hub, no netdev, no decap)

and prints the ratios (bench/README.md). Each relay is measured with 64-byte
and 1500-byte frames sent as fast as the generator can, and with 64-byte
frames offered at 300k frames/s (loss). Relays take turns, in rounds; the
median of the rounds is reported, since this machine is shared.

Run as root:  datapath_relay.py --vnetd build/bin/vnetd --load build/bin/relay_load [--rounds 3] [--quick]

Everything runs on loopback in a network namespace of its own. --quick (the
ctest smoke run) checks that every relay delivers frames, never timings.
Exit status: 0 when every relay did its work, 1 otherwise (a missing QEMU
or vnetd included, with the reason).
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
from qemu_announce import find_qemu, private_netns, running_qemu  # noqa: E402
from wire import qemu_option  # noqa: E402
import relay_cli  # noqa: E402

IN, BACK, OUT, SINK = 48001, 48002, 48003, 48004
RX_SESSION, TX_SESSION = 0x10, 0x20
LOCAL = "127.0.0.1"
PACED_FPS = 300_000

OUT_NETDEV = {"type": "socket", "id": "b", "udp": f"{LOCAL}:{SINK}", "localaddr": f"{LOCAL}:{OUT}"}
IN_NETDEVS = {
    "udp": {"type": "socket", "id": "a", "udp": f"{LOCAL}:{BACK}", "localaddr": f"{LOCAL}:{IN}"},
    "l2tpv3": {"type": "l2tpv3", "id": "a", "src": LOCAL, "dst": LOCAL, "srcport": str(IN), "dstport": str(BACK),
               "udp": True, "rxsession": RX_SESSION, "txsession": TX_SESSION},
}


@contextlib.contextmanager
def qemu_relay(qemu, kind, work):
    argv = [qemu, "-M", "none", "-nodefaults", "-display", "none",
            "-netdev", qemu_option(IN_NETDEVS[kind]), "-netdev", "hubport,id=ha,hubid=0,netdev=a",
            "-netdev", qemu_option(OUT_NETDEV), "-netdev", "hubport,id=hb,hubid=0,netdev=b"]
    workdir = tempfile.mkdtemp(dir=work)
    with running_qemu(argv, workdir):
        yield


@contextlib.contextmanager
def vnetd_relay(vnetd_binary, kind, work):
    with relay_cli.vnetd_daemon(vnetd_binary, work) as (client, _):
        for netdev in (IN_NETDEVS[kind], {"type": "hubport", "id": "ha", "hubid": 0, "netdev": "a"},
                       OUT_NETDEV, {"type": "hubport", "id": "hb", "hubid": 0, "netdev": "b"}):
            client.cmd("netdev_add", **netdev)
        yield


@contextlib.contextmanager
def plain_relay(load):
    proc = subprocess.Popen([load, "relay", "--in", str(IN), "--out", str(SINK)])
    time.sleep(0.1)
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def measure(load, kind, size, seconds, rate=0):
    argv = [load, "load", "--to", str(IN), "--sink", str(SINK), "--size", str(size), "--seconds", str(seconds)]
    if rate:
        argv += ["--rate", str(rate)]
    if kind == "l2tpv3":
        argv += ["--l2tpv3-session", str(RX_SESSION)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def run(args):
    qemu = find_qemu()
    work = tempfile.mkdtemp(prefix="vnt-relay-")
    seconds = 0.5 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    relays = [(who, kind) for kind in args.kinds.split(",") for who in ("plain", "qemu", "vnetd")]
    results = {relay: {"flood64": [], "flood1500": [], "paced64": []} for relay in relays}
    try:
        with private_netns():
            for round_number in range(rounds):
                for who, kind in relays:
                    if who == "plain":
                        relay = plain_relay(args.load)
                    elif who == "qemu":
                        relay = qemu_relay(qemu, kind, work)
                    else:
                        relay = vnetd_relay(args.vnetd, kind, work)
                    with relay:
                        time.sleep(0.2)
                        measure(args.load, kind, 64, 0.2)  # warm-up
                        results[(who, kind)]["flood64"].append(measure(args.load, kind, 64, seconds))
                        results[(who, kind)]["flood1500"].append(measure(args.load, kind, 1500, seconds))
                        results[(who, kind)]["paced64"].append(measure(args.load, kind, 64, seconds, PACED_FPS))
                print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def median(samples, key):
    return statistics.median(s[key] for s in samples)


def report(results, quick):
    print(f"{'relay':<16} {'64 B fps':>10} {'1500 B fps':>11} {'loss @300k (64 B)':>19}")
    table = {}
    failed = []
    for (who, kind), tests in results.items():
        row = {"flood64": median(tests["flood64"], "delivered_fps"),
               "flood1500": median(tests["flood1500"], "delivered_fps"),
               "paced_loss": median(tests["paced64"], "loss"),
               "paced_offered": median(tests["paced64"], "offered_fps")}
        table[(who, kind)] = row
        print(f"{who + ' ' + kind:<16} {row['flood64']:>10.0f} {row['flood1500']:>11.0f} "
              f"{row['paced_loss'] * 100:>17.3f} %  (offered {row['paced_offered']:.0f}/s)")
        if min(s["received"] for t in tests.values() for s in t) == 0:
            failed.append(f"{who} {kind} delivered nothing")
    if len(table) < 6:
        return 1 if failed else 0
    udp_vs_qemu = table[("vnetd", "udp")]["flood64"] / table[("qemu", "udp")]["flood64"]
    l2tp_vs_qemu = table[("vnetd", "l2tpv3")]["flood64"] / table[("qemu", "l2tpv3")]["flood64"]
    udp_vs_plain = table[("vnetd", "udp")]["flood64"] / table[("plain", "udp")]["flood64"]
    l2tp_vs_plain = table[("vnetd", "l2tpv3")]["flood64"] / table[("plain", "l2tpv3")]["flood64"]
    print()
    print(f"socket-udp, 64 B: vnetd / QEMU = {udp_vs_qemu:.2f}x (target >= 2x), "
          f"vnetd / plain relay = {udp_vs_plain:.2f}x (target >= 0.9x)")
    print(f"l2tpv3,     64 B: vnetd / QEMU = {l2tp_vs_qemu:.2f}x, vnetd / plain relay = {l2tp_vs_plain:.2f}x")
    print(f"socket-udp 1500 B: vnetd / QEMU = "
          f"{table[('vnetd', 'udp')]['flood1500'] / table[('qemu', 'udp')]['flood1500']:.2f}x")
    print(f"loss at 300k frames/s offered: vnetd udp {table[('vnetd', 'udp')]['paced_loss'] * 100:.3f} %, "
          f"vnetd l2tpv3 {table[('vnetd', 'l2tpv3')]['paced_loss'] * 100:.3f} % (target: none)")
    return relay_cli.finish(failed, quick)


def main():
    parser = relay_cli.parser(__doc__)
    parser.add_argument("--kinds", default="udp,l2tpv3", help="which input netdevs (udp, l2tpv3)")
    args = parser.parse_args()
    for path in (args.vnetd, args.load):
        if not os.access(path, os.X_OK):
            print(f"datapath_relay: {path} is not an executable: build first (cmake --build build)", file=sys.stderr)
            return 1
    return relay_cli.run_as_root("datapath_relay", args, run, report)

if __name__ == "__main__":
    sys.exit(main())
