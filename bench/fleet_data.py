#!/usr/bin/env python3
"""The fleet-as-data benchmark (LANGUAGE.md §6, docs/performance.md "The fleet as data").

Writes OUT/site.fleet: K nodes (`n0001`…), each with a provision record and a class that
exports its monitoring entry and manages a few files, plus `mon01`, which also collects
every node's entry into one file and lists the web tier with `nodes(/^n/)`. Then, unless
`--no-run`, times `fleet compile --node mon01`, `fleet compile --node n0001` (no collect:
no other node is evaluated) and `fleet compile --all` with the release binary, best of
`--reps`.

    python3 bench/fleet_data.py --nodes 1000 --out /tmp/fleetdata
"""

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def manifest(nodes):
    out = [
        """class monitored($address: String, $role: String) {
  export("nagios_host", { address: $address, checks: ["ping", $role] })
  file "/etc/motd" { content = "${node}: ${role}\\n" }
  file "/etc/fleet-role" { content = "${role}\\n" }
  package "openssh-server" { ensure = present }
}
class nagios {
  let $hosts = collect("nagios_host")
  file "/etc/nagios/hosts.cfg" {
    content = join([for $h in $hosts: "host ${h.node} ${h.value.address} ${join($h.value.checks, ",")}\\n"], "")
  }
  let $names = [for $n in nodes(/^n/): $n.name]
  file "/etc/nagios/count" { content = "${length($names)}\\n" }
}
"""
    ]
    for i in range(1, nodes + 1):
        a, b = divmod(i, 250)
        ip = f"10.{a // 250}.{a % 250}.{b + 1}"
        mac = f"52:54:00:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"
        role = ["web", "db", "cache"][i % 3]
        out.append(
            f'node "n{i:04d}" {{\n'
            f'  provision {{ mac = "{mac}", ip = "{ip}/16" }}\n'
            f'  include monitored(address = "{ip}", role = "{role}")\n'
            f"}}\n"
        )
    out.append(
        'node "mon01" {\n'
        '  include monitored(address = "10.255.0.1", role = "mon")\n'
        "  include nagios\n"
        "}\n"
    )
    return "".join(out)


def best(cmd, reps, cwd):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr.decode()}")
    return min(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--out", default="/tmp/fleetdata")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--fleet", default=os.path.join(ROOT, "target/release/fleet"))
    p.add_argument("--no-run", action="store_true", help="only write the manifest")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "site.fleet"), "w") as f:
        f.write(manifest(args.nodes))
    if args.no_run:
        return
    fleet = args.fleet
    rows = [
        ("compile --node mon01 (collects)", [fleet, "compile", "--node", "mon01", "site.fleet"]),
        ("compile --node n0001 (no collect)", [fleet, "compile", "--node", "n0001", "site.fleet"]),
        ("compile --all", [fleet, "compile", "--all", "--out", "catalogs", "site.fleet"]),
        ("check", [fleet, "check", "site.fleet"]),
    ]
    print(f"{args.nodes + 1} nodes, {os.cpu_count()} cores, best of {args.reps}")
    for name, cmd in rows:
        print(f"{name:36} {best(cmd, args.reps, args.out):7.3f} s")


if __name__ == "__main__":
    main()
