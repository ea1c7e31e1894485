#!/usr/bin/env python3
"""teardown_hogs - tap netdev_add / netdev_del latency while two CPU hogs run,
against `ip tuntap add/del` under the same hogs (bench/README.md).

vnetd deletes taps in background batches. Its workers used to run at
SCHED_IDLE: on a busy host a starved worker held the kernel's rtnl_lock while
the QMP thread's own rtnetlink calls waited behind it, and a re-add of the same
name waits for the teardown before it (issue 17, defect 1: p99 5 s with two
hogs). Each cycle here adds and deletes a tap of one name. Target: p99 < 20 ms.

Run as root:  teardown_hogs.py [--vnetd build/bin/vnetd] [--cycles 300] [--hogs 2]

vnetd runs in a network namespace of its own; `ip` runs in another. The hogs are
busy loops bounded by the run's own time. Python 3 standard library only. Exit
status 0 when the work was done (a missed target is reported, not failed), 1 on
an error.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from vnetd_harness import QmpClient, Vnetd  # noqa: E402

TARGET_P99 = 0.020


def start_hogs(count, seconds):
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summary(name, samples):
    return (f"{name}: p50 {statistics.median(samples) * 1e3:.2f} ms, p99 {percentile(samples, 0.99) * 1e3:.2f} ms, "
            f"max {max(samples) * 1e3:.2f} ms ({len(samples)} requests)")


def vnetd_cycles(client, cycles, same_name):
    adds, dels = [], []
    for n in range(cycles):
        # One name, as a VM restarted in place gets: each add waits until the
        # kernel has freed the name of the tap before it (NameWaits). Or a new
        # name each cycle, as the reliability probe's cycles had.
        ifname = "th0" if same_name else f"th{n}"
        for kind, arguments, out in (("netdev_add", {"type": "tap", "id": f"t{n}", "ifname": ifname}, adds),
                                     ("netdev_del", {"id": f"t{n}"}, dels)):
            started = time.perf_counter()
            reply = client.execute(kind, arguments, timeout=60)
            out.append(time.perf_counter() - started)
            if reply != {"return": {}}:
                raise SystemExit(f"teardown_hogs: {kind} {arguments} answered {reply}")
    return adds, dels


def ip_cycles(netns, cycles):
    adds, dels = [], []
    for n in range(cycles):
        for command, out in ((["ip", "tuntap", "add", "dev", f"ih{n}", "mode", "tap"], adds),
                             (["ip", "link", "del", f"ih{n}"], dels)):
            started = time.perf_counter()
            subprocess.run(["ip", "netns", "exec", netns] + command, check=True)
            out.append(time.perf_counter() - started)
    return adds, dels


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vnetd", default=os.environ.get("VNETD") or str(REPO / "build" / "bin" / "vnetd"))
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--hogs", type=int, default=2)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("teardown_hogs: must run as root (taps, network namespaces)")
    os.environ["VNETD"] = args.vnetd
    work = tempfile.mkdtemp(prefix="vnt-hogs-")
    netns = f"vnt-hogs-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    daemon = Vnetd(work)
    daemon.start()
    hogs = []
    try:
        client = QmpClient(daemon.socket_path)
        quiet = vnetd_cycles(client, args.cycles // 3, same_name=True)
        print(summary("vnetd tap add, one name, no load", quiet[0]))
        print(summary("vnetd tap del, one name, no load", quiet[1]))
        hogs = start_hogs(args.hogs, 600)
        time.sleep(0.5)
        worst = {}
        for same_name, label in ((True, "one name"), (False, "a new name each cycle")):
            loaded = vnetd_cycles(client, args.cycles, same_name)
            print(summary(f"vnetd tap add, {label}, {args.hogs} CPU hogs", loaded[0]))
            print(summary(f"vnetd tap del, {label}, {args.hogs} CPU hogs", loaded[1]))
            worst[label] = (max(percentile(loaded[0], 0.99), percentile(loaded[1], 0.99)), loaded)
        peer = ip_cycles(netns, args.cycles)
        print(summary(f"ip tuntap add, new names, {args.hogs} CPU hogs", peer[0]))
        print(summary(f"ip link del, {args.hogs} CPU hogs", peer[1]))
        loaded = worst["a new name each cycle"][1]
        print(f"vnetd / ip, p50 under load, new names: add {statistics.median(loaded[0]) / statistics.median(peer[0]):.2f}x, "
              f"del {statistics.median(loaded[1]) / statistics.median(peer[1]):.2f}x")
        for label, (p99, _) in worst.items():
            print(f"  {'MET   ' if p99 < TARGET_P99 else 'MISSED'} p99 < {TARGET_P99 * 1e3:.0f} ms under "
                  f"{args.hogs} CPU hogs, {label}: {p99 * 1e3:.2f} ms")
        client.close()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        daemon.stop()
        subprocess.run(["ip", "netns", "del", netns], check=False)


if __name__ == "__main__":
    main()
