#!/usr/bin/env python3
"""Measures fleet side by side with Puppet 7 on the same synthetic fleet.

For each size N the input comes from bench/gen.py. Every step runs for both tools, one after
the other, `--reps` times; the table shows the median wall time, the peak resident memory of
the child (ru_maxrss from wait4, which covers its own children too) and the fleet/Puppet
time ratio. Steps:

  check       fleet check                    | puppet parser validate
  compile     fleet compile --all --out DIR  | puppet catalog compile NODE --render-as json
  noop-empty  fleet apply --noop (empty root) | puppet apply --noop (empty root)
  apply-empty fleet apply (empty root)       | puppet apply (empty root)
  noop-steady fleet apply --noop (applied)   | puppet apply --noop (applied)
  floor       find TREE -type f -print0 | xargs -0 sha256sum (on each tool's tree)
  apply-nofsync  fleet apply --no-fsync (empty root; fleet only)

With --shapes node,classes,repo the script measures only `check` against `puppet parser
validate`, at --shape-resources (10,000) resources for each of bench/gen.py's shapes (the
`repo` shape validates all of Puppet's .pp files in one command), for `--fleet` and, with
--fleet-before, a second fleet binary in the same run, alternating; each fleet run also
reports the wall time its front end spent parsing (`FLEET_TIMINGS=1`: the sum of its
`parse` stages) and the parse throughput over the shape's .fleet bytes.

Otherwise, plus, with --fleet-nodes K, `fleet compile --all` of a K-node fleet (Puppet has no batch
compile: one `puppet catalog compile` per node, sampled and scaled, marked as an estimate).

Everything is written under --scratch (default /tmp/fleetbench): fleet applies with
`--root SCRATCH/fleet-root`, Puppet's manifest names only SCRATCH/puppet-root/... and its
confdir, vardir, codedir, logdir and rundir are in SCRATCH/puppet-state. The script checks
that both trees are identical after the first apply.

Installs Debian's `puppet` and `time` (GNU time measures peak memory) with apt-get when
missing. Python 3 standard library only. Not part of the test suite.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GEN = os.path.join(HERE, "gen.py")

STEPS = ["check", "compile", "noop-empty", "apply-empty", "noop-steady", "floor",
         "apply-nofsync"]
# Steps only fleet has: a fresh apply with `--no-fsync` (no flush at all, where the normal
# apply flushes its files in groups; Puppet always flushes each file).
FLEET_ONLY = {"apply-nofsync"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_puppet():
    """apt-get install puppet when it is missing (this script only, never the tests)."""
    missing = [pkg for pkg, exe in (("puppet", "puppet"), ("time", "/usr/bin/time"))
               if not shutil.which(exe)]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit("puppet is missing and we are not root: apt-get install -y puppet")
    log(f"installing Debian's {' and '.join(missing)} ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q"] + missing, check=True, env=env)


def build_fleet(path):
    if path:
        return os.path.abspath(path)
    log("cargo build --release ...")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "fleet"], cwd=REPO,
                   check=True)
    return os.path.join(REPO, "target", "release", "fleet")


class Result:
    def __init__(self, seconds, maxrss_kb, code):
        self.seconds = seconds
        self.maxrss_kb = maxrss_kb
        self.code = code


def run(argv, logfile, ok=(0,), shell=False):
    """Runs one command under GNU time; returns wall time and peak RSS. Output to logfile.

    Peak RSS comes from `/usr/bin/time -f %M` rather than from this process's wait4: a child
    forked from Python starts with Python's pages, which would count towards its peak.
    """
    if shell:
        argv = ["/bin/bash", "-c", argv]
    rss_file = logfile + ".rss"
    with open(logfile, "ab") as out:
        out.write(("\n$ " + " ".join(argv) + "\n").encode())
        out.flush()
        # No command pays for the one before it: the data a previous step left dirty (an
        # apply with --no-fsync leaves all of it) is written back now, not while this runs.
        os.sync()
        t0 = time.perf_counter()
        code = subprocess.call(["/usr/bin/time", "-o", rss_file, "-f", "%M"] + argv,
                               stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        elapsed = time.perf_counter() - t0
    with open(rss_file) as f:
        lines = f.read().split()
    if code not in ok:
        sys.exit(f"command failed with exit code {code} (expected {ok}): "
                 f"{' '.join(argv)}\nsee {logfile}")
    return Result(elapsed, int(lines[-1]), code)


def rmtree(path, scratch):
    path = os.path.abspath(path)
    if not path.startswith(scratch + os.sep):
        sys.exit(f"refusing to remove {path}: outside the scratch dir {scratch}")
    shutil.rmtree(path, ignore_errors=True)


def set_aside(path, scratch):
    """Moves path (under scratch) into SCRATCH/set-aside, deleted at the end of the run.

    Deleting a tree of thousands of files just before a fresh apply makes the next apply
    slow for a reason that is neither tool's: on an ext4 without a journal (this machine's
    root filesystem) the inode allocator skips every inode deleted in the last minute, one
    lookup at a time, for each new file, directory and link. A rename frees nothing.
    """
    path = os.path.abspath(path)
    if not path.startswith(scratch + os.sep):
        sys.exit(f"refusing to move {path}: outside the scratch dir {scratch}")
    if not os.path.lexists(path):
        return
    aside = os.path.join(scratch, "set-aside")
    os.makedirs(aside, exist_ok=True)
    os.rename(path, os.path.join(aside, f"{len(os.listdir(aside))}-{os.path.basename(path)}"))


def tree_digest(top):
    """(relative path, kind, mode, sha256 or link target) for everything under top."""
    rows = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, top)
            if os.path.islink(p):
                rows.append((rel, "link", os.readlink(p)))
            elif os.path.isdir(p):
                rows.append((rel, "dir", oct(st.st_mode & 0o7777)))
            else:
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                rows.append((rel, "file", oct(st.st_mode & 0o7777), digest))
    return rows


class Tools:
    """The commands of both tools for one generated input."""

    def __init__(self, fleet, scratch, gen_dir, meta):
        self.fleet = fleet
        self.scratch = scratch
        self.gen_dir = gen_dir
        self.node = meta["node"]
        self.fleet_manifest = os.path.join(gen_dir, "fleet", "site.fleet")
        self.puppet_manifest = os.path.join(gen_dir, "puppet", "manifests", "site.pp")
        self.modulepath = os.path.join(gen_dir, "puppet", "modules")
        self.fleet_root = os.path.join(scratch, "fleet-root")
        self.puppet_prefix = meta["puppet_prefix"]
        self.fleet_tree = self.fleet_root + meta["fleet_tree"]
        self.puppet_tree = meta["puppet_tree"]
        self.state = os.path.join(scratch, "puppet-state")
        self.out = os.path.join(scratch, "out")
        self.logs = os.path.join(scratch, "logs")
        os.makedirs(self.logs, exist_ok=True)

    def puppet_dirs(self):
        s = self.state
        return ["--confdir", s + "/conf", "--vardir", s + "/var", "--codedir", s + "/code",
                "--logdir", s + "/log", "--rundir", s + "/run", "--color", "false"]

    def empty_roots(self):
        """Both trees gone (set aside, see `set_aside`), both tools' state gone, the parent
        of /srv/bench present.

        Under --root, fleet resolves owners in ROOT/etc (as in an image or a chroot), while
        Puppet reads the host's: the fleet root gets the host's `root` user and group.
        """
        set_aside(self.fleet_root, self.scratch)
        set_aside(self.puppet_prefix, self.scratch)
        rmtree(os.path.join(self.state, "var"), self.scratch)
        os.makedirs(os.path.dirname(self.fleet_tree), exist_ok=True)
        os.makedirs(os.path.dirname(self.puppet_tree), exist_ok=True)
        etc = os.path.join(self.fleet_root, "etc")
        os.makedirs(etc, exist_ok=True)
        for name in ("passwd", "group"):
            with open(os.path.join("/etc", name)) as src, open(os.path.join(etc, name), "w") as dst:
                dst.writelines(line for line in src if line.startswith("root:"))

    def fleet_cmd(self, step):
        f, m = self.fleet, self.fleet_manifest
        if step == "check":
            return [f, "check", m], (0,)
        if step == "compile":
            rmtree(self.out, self.scratch)
            return [f, "compile", "--all", "--out", self.out, m], (0,)
        apply = [f, "apply", "--detailed-exitcodes", "--root", self.fleet_root, "--node",
                 self.node]
        if step == "noop-empty":
            return apply + ["--noop", m], (2,)
        if step == "apply-empty":
            return apply + [m], (2,)
        if step == "noop-steady":
            return apply + ["--noop", m], (0,)
        if step == "apply-nofsync":
            return apply + ["--no-fsync", m], (2,)
        raise ValueError(step)

    def puppet_cmd(self, step):
        d, m = self.puppet_dirs(), self.puppet_manifest
        if step == "check":
            return ["puppet", "parser", "validate"] + d + [m], (0,)
        if step == "compile":
            return (["puppet", "catalog", "compile", self.node] + d
                    + ["--modulepath", self.modulepath, "--manifest", m, "--render-as", "json"],
                    (0,))
        apply = (["puppet", "apply", "--detailed-exitcodes", "--certname", self.node,
                  "--modulepath", self.modulepath] + d)
        if step == "noop-empty":  # Puppet's --noop never exits 2
            return apply + ["--noop", m], (0, 2)
        if step == "apply-empty":
            return apply + [m], (2,)
        if step == "noop-steady":
            return apply + ["--noop", m], (0,)
        raise ValueError(step)

    def floor_cmd(self, tree):
        return (f"set -euo pipefail; find '{tree}' -type f -print0 | xargs -0 sha256sum "
                "> /dev/null")


def median(xs):
    return statistics.median(xs) if xs else None


def measure_size(n, args, fleet, table, notes):
    scratch = args.scratch
    gen_dir = os.path.join(scratch, f"gen-{n}")
    rmtree(gen_dir, scratch)
    meta = json.loads(subprocess.run(
        [sys.executable, GEN, "--resources", str(n), "--out", gen_dir, "--puppet-prefix",
         os.path.join(scratch, "puppet-root")],
        check=True, capture_output=True, text=True).stdout)
    tools = Tools(fleet, scratch, gen_dir, meta)
    puppet_reps = args.puppet_sizes.get(n, 0)
    with_puppet = puppet_reps > 0
    logfile = os.path.join(tools.logs, f"{n}.log")
    open(logfile, "w").close()
    samples = {(step, tool): [] for step in STEPS for tool in ("fleet", "puppet")}
    log(f"N={meta['resources_per_node']}: {meta['files_per_node']} files; puppet "
        f"{'on' if with_puppet else 'off'}; log {logfile}")
    steps = [s for s in STEPS if s in args.steps]
    for rep in range(args.reps):
        for step in steps:
            if step in ("noop-empty", "apply-empty", "apply-nofsync"):
                tools.empty_roots()
            for tool in ("fleet", "puppet"):
                if tool == "puppet" and (rep >= puppet_reps or step in FLEET_ONLY):
                    continue
                if step == "floor":
                    tree = tools.fleet_tree if tool == "fleet" else tools.puppet_tree
                    if not os.path.isdir(tree):
                        continue
                    r = run(tools.floor_cmd(tree), logfile, shell=True)
                else:
                    argv, ok = (tools.fleet_cmd if tool == "fleet" else tools.puppet_cmd)(step)
                    r = run(argv, logfile, ok)
                samples[(step, tool)].append(r)
                log(f"  rep {rep + 1} {step:12s} {tool:6s} {r.seconds:8.3f} s "
                    f"{r.maxrss_kb / 1024:7.1f} MB")
            if step == "apply-empty" and rep == 0 and with_puppet:
                a, b = tree_digest(tools.fleet_tree), tree_digest(tools.puppet_tree)
                if a != b:
                    diff = sorted(set(a) ^ set(b))[:5]
                    sys.exit(f"fleet and Puppet wrote different trees, e.g. {diff}")
                notes.append(f"N={n}: fleet and Puppet wrote identical trees "
                             f"({len(a)} entries).")
    for step in steps:
        fr = samples[(step, "fleet")]
        pr = samples[(step, "puppet")]
        table.append((meta["resources_per_node"], step, fr, pr))


def measure_fleet_compile(args, fleet, table, notes):
    scratch = args.scratch
    k = args.fleet_nodes
    gen_dir = os.path.join(scratch, f"gen-fleet-{k}")
    rmtree(gen_dir, scratch)
    meta = json.loads(subprocess.run(
        [sys.executable, GEN, "--nodes", str(k), "--apps-per-node", str(args.apps_per_node),
         "--out", gen_dir, "--puppet-prefix", os.path.join(scratch, "puppet-root")],
        check=True, capture_output=True, text=True).stdout)
    tools = Tools(fleet, scratch, gen_dir, meta)
    logfile = os.path.join(tools.logs, f"fleet-{k}.log")
    open(logfile, "w").close()
    log(f"fleet of {k} nodes x {meta['resources_per_node']} resources: log {logfile}")
    fr, pr = [], []
    sample = list(range(1, k + 1, max(1, k // args.puppet_fleet_sample)))[
        :args.puppet_fleet_sample]
    for rep in range(args.reps):
        argv, ok = tools.fleet_cmd("compile")
        r = run(argv, logfile, ok)
        fr.append(r)
        log(f"  rep {rep + 1} compile --all  fleet  {r.seconds:8.3f} s "
            f"{r.maxrss_kb / 1024:7.1f} MB")
        if rep == 0:
            written = len([x for x in os.listdir(tools.out) if x.endswith(".json")])
            notes.append(f"fleet compile --all wrote {written} catalogs "
                         f"({meta['resources_total']} resources) per run.")
        if args.puppet_fleet_sample:
            # Puppet: one process per node; two at a time (two cores), scaled to k nodes.
            t0 = time.perf_counter()
            peak = 0
            pending = [f"n{i:04d}" for i in sample]
            running = []
            rss_file = logfile + ".rss"
            with open(logfile, "ab") as out:
                while pending or running:
                    while pending and len(running) < 2:
                        tools.node = pending.pop(0)
                        argv, _ = tools.puppet_cmd("compile")
                        rss = f"{rss_file}.{len(running)}.{tools.node}"
                        proc = subprocess.Popen(["/usr/bin/time", "-o", rss, "-f", "%M"] + argv,
                                                stdout=out, stderr=out,
                                                stdin=subprocess.DEVNULL)
                        running.append((proc, rss))
                    time.sleep(0.01)
                    for proc, rss in list(running):
                        if proc.poll() is None:
                            continue
                        running.remove((proc, rss))
                        if proc.returncode != 0:
                            sys.exit(f"puppet catalog compile failed; see {logfile}")
                        with open(rss) as f:
                            peak = max(peak, int(f.read().split()[-1]))
                        os.unlink(rss)
            elapsed = (time.perf_counter() - t0) * k / len(sample)
            pr.append(Result(elapsed, peak, 0))
            log(f"  rep {rep + 1} compile x{len(sample)} puppet {elapsed:8.3f} s (scaled to {k})")
    if pr:
        notes.append(f"Puppet fleet compile: {len(sample)} sampled nodes, one "
                     f"`puppet catalog compile` each, two at a time, scaled to {k} nodes "
                     "(an estimate; peak memory is one process's).")
    table.append((f"{k} nodes x {meta['resources_per_node']}", "compile --all", fr, pr))


def fmt_row(reps, size, step, fr, pr):
    def cell_t(rs):
        if not rs:
            return "—"
        t = f"{median([r.seconds for r in rs]):.3f}"
        return t if len(rs) >= reps else f"{t} ({len(rs)} run{'s' if len(rs) > 1 else ''})"

    def cell_m(rs):
        return f"{max(r.maxrss_kb for r in rs) / 1024:.0f}" if rs else "—"

    if fr and pr:
        f, p = median([r.seconds for r in fr]), median([r.seconds for r in pr])
        ratio = f"{f / p:.4f} ({p / f:.0f}x faster)" if f > 0 else "—"
    else:
        ratio = "—"
    if step == "floor":
        ratio = "(reference)"
    size = f"{size:,}" if isinstance(size, int) else size
    return f"| {size} | {step} | {cell_t(fr)} | {cell_m(fr)} | {cell_t(pr)} | {cell_m(pr)} | {ratio} |"


def parse_ms(logfile_text):
    """The sum of the `fleet: parse… N ms` stages in FLEET_TIMINGS output."""
    total = 0.0
    for line in logfile_text.splitlines():
        if line.startswith("fleet: parse") and line.endswith(" ms"):
            total += float(line.split()[-2])
    return total


def measure_shapes(args, fleets, notes):
    """`check` of each shape with each fleet binary and with Puppet; returns table lines."""
    scratch = args.scratch
    d = ["--confdir", scratch + "/puppet-state/conf", "--vardir", scratch + "/puppet-state/var",
         "--codedir", scratch + "/puppet-state/code", "--logdir", scratch + "/puppet-state/log",
         "--rundir", scratch + "/puppet-state/run", "--color", "false"]
    lines = ["| shape | files | .fleet lines | .fleet MB | fleet | check s | parse ms | parse MB/s "
             "| Puppet validate s | Puppet/fleet |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    logs = os.path.join(scratch, "logs")
    os.makedirs(logs, exist_ok=True)
    for shape in args.shapes:
        gen_dir = os.path.join(scratch, f"gen-shape-{shape}")
        rmtree(gen_dir, scratch)
        subprocess.run([sys.executable, GEN, "--shape", shape, "--resources",
                        str(args.shape_resources), "--out", gen_dir, "--puppet-prefix",
                        os.path.join(scratch, "puppet-root")],
                       check=True, capture_output=True, text=True)
        with open(os.path.join(gen_dir, "meta.json")) as f:
            meta = json.load(f)
        files = [os.path.join(gen_dir, p) for p in meta["fleet_files"]]
        nbytes = sum(os.path.getsize(p) for p in files)
        nlines = 0
        for p in files:
            with open(p) as f:
                nlines += sum(1 for _ in f)
        manifest = os.path.join(gen_dir, "fleet", "site.fleet")
        validate = [os.path.join(gen_dir, p) for p in meta["puppet_validate"]]
        logfile = os.path.join(logs, f"shape-{shape}.log")
        open(logfile, "w").close()
        check_s = {label: [] for label, _ in fleets}
        parse = {label: [] for label, _ in fleets}
        puppet = []
        for rep_i in range(args.reps):
            for label, binary in fleets:
                timings = os.path.join(logs, f"shape-{shape}-{label}.timings")
                os.sync()
                t0 = time.perf_counter()
                with open(timings, "w") as err:
                    code = subprocess.call([binary, "check", manifest], stdout=subprocess.DEVNULL,
                                           stderr=err, stdin=subprocess.DEVNULL,
                                           env=dict(os.environ, FLEET_TIMINGS="1"))
                elapsed = time.perf_counter() - t0
                with open(timings) as f:
                    text = f.read()
                if code != 0:
                    sys.exit(f"fleet check failed ({code}) on {manifest}:\n{text[-2000:]}")
                check_s[label].append(elapsed)
                parse[label].append(parse_ms(text))
                log(f"  {shape} rep {rep_i + 1} fleet {label:8s} {elapsed:8.3f} s, "
                    f"parse {parse[label][-1]:.1f} ms")
            if rep_i < args.puppet_reps:
                r = run(["puppet", "parser", "validate"] + d + validate, logfile)
                puppet.append(r.seconds)
                log(f"  {shape} rep {rep_i + 1} puppet   {r.seconds:8.3f} s")
        p = median(puppet)
        for label, _ in fleets:
            c, pm = median(check_s[label]), median(parse[label])
            ratio = f"{p / c:.0f}x" if p else "—"
            lines.append(f"| {shape} | {len(files)} | {nlines:,} | {nbytes / 1e6:.2f} | {label} "
                         f"| {c:.3f} | {pm:.1f} | {nbytes / 1e6 / (pm / 1e3):.1f} "
                         f"| {p:.3f} | {ratio} |")
        notes.append(f"{shape}: {meta['resources_total']:,} resources; Puppet validated "
                     f"{len(validate)} .pp file(s) in one command.")
    return lines


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,50000",
                    help="comma-separated resource counts (default: %(default)s)")
    ap.add_argument("--puppet-sizes", default="1000,10000",
                    help="sizes at which Puppet runs too, each optionally SIZE:REPS to run "
                         "Puppet fewer times there (default: %(default)s; Puppet needs many "
                         "minutes per step at 50,000)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per step (default 3)")
    ap.add_argument("--steps", default=",".join(STEPS), help="subset of " + ",".join(STEPS))
    ap.add_argument("--fleet-nodes", type=int, default=1000,
                    help="nodes in the compile-throughput fleet (0: skip)")
    ap.add_argument("--apps-per-node", type=int, default=5,
                    help="bench_app instances per node in that fleet (10 resources each)")
    ap.add_argument("--puppet-fleet-sample", type=int, default=10,
                    help="nodes Puppet compiles for the fleet row, scaled up (0: skip)")
    ap.add_argument("--scratch", default="/tmp/fleetbench",
                    help="the only directory written to (default %(default)s)")
    ap.add_argument("--fleet", help="fleet binary (default: cargo build --release)")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--shapes", help="only `check` vs `puppet parser validate`, for these "
                    "bench/gen.py shapes (node,classes,repo)")
    ap.add_argument("--shape-resources", type=int, default=10000,
                    help="resources of each shape with --shapes (default %(default)s)")
    ap.add_argument("--fleet-before", help="with --shapes: a second fleet binary, measured "
                    "in the same run (labelled `before`)")
    ap.add_argument("--puppet-reps", type=int, default=None,
                    help="with --shapes: Puppet runs per shape (default: --reps)")
    args = ap.parse_args(argv)

    args.scratch = os.path.abspath(args.scratch)
    if args.scratch in ("/", "/tmp", os.path.expanduser("~")):
        ap.error("--scratch must be a dedicated directory")
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    args.puppet_sizes = {
        int(x.split(":")[0]): int(x.split(":")[1]) if ":" in x else args.reps
        for x in args.puppet_sizes.split(",") if x
    }
    args.steps = set(args.steps.split(","))
    unknown = args.steps - set(STEPS)
    if unknown:
        ap.error(f"unknown steps {sorted(unknown)}")

    ensure_puppet()
    fleet = build_fleet(args.fleet)
    os.makedirs(args.scratch, exist_ok=True)
    rmtree(os.path.join(args.scratch, "set-aside"), args.scratch)
    puppet_version = subprocess.run(["puppet", "--version"], capture_output=True,
                                    text=True).stdout.strip()
    fleet_version = subprocess.run([fleet, "--version"], capture_output=True,
                                   text=True).stdout.strip()
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()[0]

    if args.shapes:
        args.shapes = [s for s in args.shapes.split(",") if s]
        if args.puppet_reps is None:
            args.puppet_reps = args.reps
        fleets = [("after", fleet)] if args.fleet_before else [("fleet", fleet)]
        if args.fleet_before:
            fleets.insert(0, ("before", os.path.abspath(args.fleet_before)))
        notes = []
        lines = measure_shapes(args, fleets, notes)
        text = "\n".join([
            f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}; {fleet_version or 'fleet'} vs "
            f"Puppet {puppet_version}; median of {args.reps} runs per cell (Puppet "
            f"{args.puppet_reps}), the tools run alternately. Load average (1 min) "
            f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.", ""]
            + lines + [""] + [f"- {n}" for n in notes]) + "\n"
        print(text)
        if args.markdown:
            with open(args.markdown, "w") as f:
                f.write(text)
        return 0

    table, notes = [], []
    for n in args.sizes:
        measure_size(n, args, fleet, table, notes)
    if args.fleet_nodes:
        measure_fleet_compile(args, fleet, table, notes)

    # The trees set aside between steps, deleted now that nothing is measured any more.
    rmtree(os.path.join(args.scratch, "set-aside"), args.scratch)

    lines = [
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}; {fleet_version or 'fleet'} vs "
        f"Puppet {puppet_version}; median of {args.reps} runs per cell, each tool run "
        "alternately; peak RSS is the largest of the runs. Load average (1 min) "
        f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| resources | step | fleet s | fleet MB | Puppet s | Puppet MB | fleet/Puppet |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    lines += [fmt_row(args.reps, *row) for row in table]
    lines.append("")
    lines += [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
