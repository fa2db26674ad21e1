#!/usr/bin/env python3
"""`fleet run` and `fleet push` on 100 loopback "hosts", beside Ansible's ad-hoc mode.

One Debian sshd on a free port of 127.0.0.1 (a generated host key, an AuthorizedKeysFile of
its own, MaxStartups and MaxSessions raised so 100 logins at once are not refused), and one
ssh config with --hosts `Host` entries (host001 … host100, HostName 127.0.0.1). Both tools
use that config, the same key and known-hosts file, and the system's OpenSSH client.

Timed, alternating the tools, --reps times each (median and min of wall seconds):
  fleet run --parallel N -- uptime        vs  ansible all -m command -a uptime -f N
      for N = 10 and 100. Ansible runs with its default ControlPersist, its control sockets
      in a fresh directory for every run, so neither tool starts with a warm connection.
  fleet push --parallel N (a 20-file catalog per host, each host applying under its own
      root and keeping its own push directory): the first push, which copies the fleet
      binary (stripped release build) to every host, and the next, which changes nothing.

    python3 bench/push.py                  # installs ansible when missing
    python3 bench/push.py --hosts 50 --reps 5

Python 3 standard library only (and cargo, strip). Not part of the test suite.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(work, hosts):
    for name in ("host_key", "id"):
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{work}/{name}"])
    shutil.copy(f"{work}/id.pub", f"{work}/authorized_keys")
    port = free_port()
    host_pub = open(f"{work}/host_key.pub").read().strip()
    with open(f"{work}/known_hosts", "w") as f:
        f.write(f"[127.0.0.1]:{port} {host_pub}\n")
    with open(f"{work}/sshd_config", "w") as f:
        f.write(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work}/host_key\n"
            f"AuthorizedKeysFile {work}/authorized_keys\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            f"StrictModes no\nPidFile {work}/sshd.pid\nMaxStartups 400\nMaxSessions 400\n"
        )
    with open(f"{work}/ssh_config", "w") as f:
        for i in range(1, hosts + 1):
            f.write(f"Host host{i:03}\n  HostName 127.0.0.1\n  Port {port}\n")
        f.write(
            f"Host *\n  User root\n  IdentityFile {work}/id\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {work}/known_hosts\n  StrictHostKeyChecking yes\n"
            "  LogLevel ERROR\n"
        )
    with open(f"{work}/inventory", "w") as f:
        f.write("[all]\n")
        for i in range(1, hosts + 1):
            f.write(f"host{i:03}\n")
    files = "".join(
        f'  file "/etc/app/conf.d/{j:02}.conf" {{ content = "setting {j} = on\\n" }}\n'
        for j in range(18)
    )
    with open(f"{work}/site.fleet", "w") as f:
        f.write(
            "class app {\n  file \"/etc\" { ensure = directory }\n"
            "  file \"/etc/app\" { ensure = directory }\n"
            "  file \"/etc/app/conf.d\" { ensure = directory }\n"
            f"{files}}}\n"
        )
        for i in range(1, hosts + 1):
            f.write(f'node "host{i:03}" {{ include app }}\n')
    os.makedirs("/run/sshd", exist_ok=True)
    sshd = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", f"{work}/sshd_config"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                sys.exit("sshd does not listen")
            time.sleep(0.05)
    return sshd


def timed(cmd, env=None, ok_codes=(0,)):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if r.returncode not in ok_codes:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return wall, r.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=100)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--work", default=None)
    args = p.parse_args()
    # A SIGTERM (an outer timeout) still stops sshd through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    if shutil.which("ansible") is None:
        log("installing ansible (apt-get)")
        sh(["apt-get", "install", "-y", "ansible"])
    log("building fleet (release) and stripping a copy (what push sends to every host)")
    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    work = args.work or tempfile.mkdtemp(prefix="fleet-bench-push-")
    os.makedirs(work, exist_ok=True)
    fleet = f"{work}/fleet"
    sh(["strip", "-o", fleet, f"{ROOT}/target/release/fleet"])
    sshd = setup(work, args.hosts)
    ansible_version = sh(["ansible", "--version"]).stdout.splitlines()[0]
    rows = []
    try:
        base_env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3")
        for par in (10, 100):
            f_times, a_times = [], []
            for rep in range(args.reps):
                w, out = timed([fleet, "run", f"{work}/site.fleet", "--node", "/./", "--ssh-config",
                                f"{work}/ssh_config", "--parallel", str(par), "--", "uptime"])
                assert out.count(" load average") >= args.hosts, out[-500:]
                f_times.append(w)
                cp = tempfile.mkdtemp(dir=work, prefix="cp-")
                env = dict(base_env, ANSIBLE_SSH_ARGS=f"-F {work}/ssh_config -C -o ControlMaster=auto -o ControlPersist=60s",
                           ANSIBLE_SSH_CONTROL_PATH_DIR=cp)
                w, out = timed(["ansible", "all", "-i", f"{work}/inventory", "-m", "command", "-a", "uptime",
                                "-f", str(par)], env=env)
                assert out.count("CHANGED") >= args.hosts, out[-500:]
                a_times.append(w)
                # Ansible's persisted masters go before the next run.
                for s in os.listdir(cp):
                    subprocess.run(["ssh", "-F", f"{work}/ssh_config", "-O", "exit", "-o",
                                    f"ControlPath={cp}/{s}", "x"], capture_output=True)
                log(f"-f {par} rep {rep}: fleet run {f_times[-1]:.2f}s, ansible {a_times[-1]:.2f}s")
            rows.append((f"fleet run -- uptime, --parallel {par}", f_times))
            rows.append((f"ansible -m command -a uptime, -f {par}", a_times))
        for par in (10, 100):
            first, again = [], []
            for rep in range(args.reps):
                for d in ("roots", "push", "state"):
                    shutil.rmtree(f"{work}/{d}", ignore_errors=True)
                cmd = [fleet, "push", f"{work}/site.fleet", "--node", "/./", "--ssh-config", f"{work}/ssh_config",
                       "--parallel", str(par), "--remote-root", f"{work}/roots/{{node}}", "--remote-dir",
                       f"{work}/push/{{node}}", "--state-dir", f"{work}/state"]
                w, out = timed(cmd)
                first.append(w)
                w, out = timed(cmd)
                assert out.count(" ok ") >= args.hosts, out[-500:]
                again.append(w)
                log(f"push --parallel {par} rep {rep}: first {first[-1]:.2f}s, again {again[-1]:.2f}s")
            rows.append((f"fleet push, first (binary to every host), --parallel {par}", first))
            rows.append((f"fleet push, again (no change), --parallel {par}", again))
    finally:
        sshd.terminate()
        sshd.wait()
    size = os.path.getsize(fleet) / 1e6
    print(f"{args.hosts} hosts (one sshd on 127.0.0.1, {args.hosts} Host entries), 2 cores, {ansible_version},"
          f" {args.reps} runs each, alternating; push: 21 resources per host, a {size:.1f} MB binary")
    print()
    print("| what | median s | min s |")
    print("|---|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {statistics.median(t):.2f} | {min(t):.2f} |")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
