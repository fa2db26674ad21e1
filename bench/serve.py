#!/usr/bin/env python3
"""Catalog requests per second and latency of one `fleet serve`, beside Debian's puppetserver 7.

Both servers get the same fleet: --nodes agents (default 1,000), each with its own client
certificate from the server's CA, each asking for a catalog of --resources file resources
(default 100) whose content names the node. The load generator, benches/serve_load.rs (tokio,
rustls and hyper, built here with `cargo build --release --bench serve_load`; this script's own
Python client remains as --python-client), asks the way agents do: one request per connection,
for node after node, in two modes:

  resume  a new TCP connection per request that resumes the node's TLS session (what an agent
          does on its next run: its session ticket is still good)
  full    a new TCP connection per request with a full handshake (new agents, or a server
          whose session cache was emptied)

plus `keepalive` (many requests on one connection per client thread) as the ceiling of the
HTTP and compile path alone. A warm-up pass asks for every node once (sessions, first compiles,
the JVM's JIT for puppetserver); then each mode runs for --seconds. Requests: fleet
`POST /v1/catalog/<node>` with the node's facts (REMOTE.md); puppetserver
`POST /puppet/v3/catalog/<node>` with the same facts, form-encoded as `puppet agent` sends them.

Both servers and the load generator share this machine's cores: the client's share is printed
(its CPU seconds next to the wall time, and the server's CPU seconds from /proc), so the
server's throughput is a lower bound. The client costs fleet's server cores that puppetserver
keeps (it asks puppetserver for 40 times fewer catalogs); `--pin 1:0` gives each server the
same one core and the load generator the other, so both servers have the same CPU and neither
shares it with the client. Each server is stopped when its part is done.

    python3 bench/serve.py                 # fleet and puppetserver (installs puppetserver)
    python3 bench/serve.py --no-puppet     # fleet only
    python3 bench/serve.py --pin 1:0       # each server on CPU 1, the load generator on CPU 0

Python 3 standard library only (and cargo). Not part of the test suite.
"""

import argparse
import json
import os
import queue
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    """Runs a command, failing the bench with its output when it fails."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout


# ---------------------------------------------------------------------------------------------
# The load generator


class Target:
    """One server: where it listens, how to ask it for node N's catalog, and per-node TLS."""

    def __init__(self, name, host, port, ca, cert_of, request_of, kind, templates):
        self.name = name
        self.kind = kind  # the load generator's --kind
        self.templates = templates  # (cert, key) paths with {node} in them
        self.pid = None  # the server's process, for its CPU seconds
        self.host = host
        self.port = port
        self.ca = ca
        self.cert_of = cert_of  # node -> (crt, key)
        self.request_of = request_of  # node -> bytes of the whole HTTP request
        self.contexts = {}
        self.sessions = {}
        self.lock = threading.Lock()

    def context(self, node):
        """The node's client TLS context (its certificate), made once."""
        with self.lock:
            ctx = self.contexts.get(node)
            if ctx is None:
                ctx = ssl.create_default_context(cafile=self.ca)
                ctx.check_hostname = False
                crt, key = self.cert_of(node)
                ctx.load_cert_chain(crt, key)
                self.contexts[node] = ctx
            return ctx


def read_response(sock):
    """Reads one HTTP/1.1 response with Content-Length; returns (status, body length)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = None
    chunked = False
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v.strip())
        elif k == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    if chunked:
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, len(body)
    length = length or 0
    while len(body) < length:
        chunk = sock.recv(min(65536, length - len(body)))
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return status, len(body)


def one_request(target, node, mode, sock=None):
    """One catalog request; returns (seconds, status, resumed, body bytes, socket or None)."""
    start = time.perf_counter()
    own = sock is None
    if own:
        raw = socket.create_connection((target.host, target.port), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = target.sessions.get(node) if mode == "resume" else None
        sock = target.context(node).wrap_socket(raw, server_hostname="localhost",
                                                session=session)
    sock.sendall(target.request_of(node, keepalive=not own))
    status, size = read_response(sock)
    elapsed = time.perf_counter() - start
    resumed = sock.session_reused
    if own:
        if mode == "resume" and sock.session is not None:
            target.sessions[node] = sock.session
        try:
            sock.close()
        except OSError:
            pass
        sock = None
    return elapsed, status, resumed, size, sock


def load(target, nodes, mode, seconds, threads):
    """Runs `threads` clients for `seconds`, node after node; returns the figures."""
    deadline = time.perf_counter() + seconds
    results = queue.Queue()
    counter = iter(range(10**12))
    counter_lock = threading.Lock()

    def client(k):
        lat, statuses, resumed, sizes = [], {}, 0, 0
        sock = None
        while time.perf_counter() < deadline:
            with counter_lock:
                i = next(counter)
            node = nodes[i % len(nodes)] if mode != "keepalive" else nodes[k % len(nodes)]
            try:
                if mode == "keepalive":
                    if sock is None:
                        raw = socket.create_connection((target.host, target.port), timeout=30)
                        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        sock = target.context(node).wrap_socket(raw,
                                                                server_hostname="localhost")
                    e, st, r, sz, sock = one_request(target, node, mode, sock)
                else:
                    e, st, r, sz, _ = one_request(target, node, mode)
            except (OSError, ConnectionError, ValueError) as err:
                statuses[type(err).__name__] = statuses.get(type(err).__name__, 0) + 1
                sock = None
                continue
            lat.append(e)
            statuses[st] = statuses.get(st, 0) + 1
            resumed += int(bool(r))
            sizes += sz
        results.put((lat, statuses, resumed, sizes))

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    lat, statuses, resumed, sizes = [], {}, 0, 0
    while not results.empty():
        l, s, r, z = results.get()
        lat += l
        resumed += r
        sizes += z
        for k, v in s.items():
            statuses[k] = statuses.get(k, 0) + v
    lat.sort()
    ok = statuses.get(200, 0)
    return {
        "mode": mode,
        "requests": len(lat),
        "ok": ok,
        "statuses": {str(k): v for k, v in statuses.items()},
        "per_second": ok / wall if wall else 0,
        "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
        "resumed": resumed,
        "mean_body": sizes // max(1, len(lat)),
        "client_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
        "wall_s": wall,
    }


def warm(target, nodes, threads):
    """Asks for every node once (resume mode: keeps each node's session)."""
    todo = queue.Queue()
    for n in nodes:
        todo.put(n)
    bad = []

    def client():
        while True:
            try:
                n = todo.get_nowait()
            except queue.Empty:
                return
            try:
                _, st, _, _, _ = one_request(target, n, "resume")
                if st != 200:
                    bad.append((n, st))
            except (OSError, ConnectionError) as e:
                bad.append((n, str(e)))

    ts = [threading.Thread(target=client) for _ in range(threads)]
    start = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if bad:
        sys.exit(f"{target.name}: warm-up failed for {len(bad)} nodes, e.g. {bad[:3]}")
    return time.perf_counter() - start


def load_generator():
    """Builds benches/serve_load.rs (release) and returns its executable's path."""
    out = run(["cargo", "build", "--release", "--bench", "serve_load", "--quiet",
               "--message-format=json"], cwd=REPO)
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg["target"]["name"] == "serve_load":
            return msg["executable"]
    sys.exit("cargo build --bench serve_load: no executable")


def measure(target, nodes, args):
    """Warm-up, then every mode, with the Rust load generator; returns the rows."""
    if args.python_client:
        return measure_python(target, nodes, args)
    node_file = os.path.join(args.work, "nodes.txt")
    with open(node_file, "w") as f:
        f.write("".join(n + "\n" for n in nodes))
    cmd = pinned(args, "client") + [args.load_generator, "--addr", f"{target.host}:{target.port}", "--ca", target.ca,
           "--cert", target.templates[0], "--key", target.templates[1], "--nodes", node_file,
           "--kind", target.kind, "--modes", ",".join(args.modes), "--seconds",
           str(args.seconds), "--concurrency", str(args.concurrency), "--threads",
           str(args.client_threads)]
    if target.pid:
        cmd += ["--server-pid", str(target.pid)]
    log(f"{target.name}: warm-up, one request per node ({len(nodes)}), then "
        f"{', '.join(args.modes)} for {args.seconds} s each, {args.concurrency} in flight")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    rows, first = [], None
    for line in proc.stdout:
        row = json.loads(line)
        if row["mode"] == "warm-up":
            first = row["wall_s"]
            log(f"{target.name}: warm-up took {first:.1f} s")
            continue
        row["server"] = target.name
        row["warmup_s"] = first
        rows.append(row)
        log(json.dumps(row))
    if proc.wait() != 0:
        sys.exit(f"{target.name}: the load generator failed (exit {proc.returncode})")
    return rows


def measure_python(target, nodes, args):
    """Warm-up, then every mode, with the Python client (a fallback); returns the rows."""
    log(f"{target.name}: warm-up, one request per node ({len(nodes)})")
    first = warm(target, nodes, args.threads)
    log(f"{target.name}: warm-up took {first:.1f} s")
    rows = []
    for mode in args.modes:
        log(f"{target.name}: {mode} for {args.seconds} s, {args.threads} client threads")
        row = load(target, nodes, mode, args.seconds, args.threads)
        row["rps"] = row["per_second"]
        row["errors"] = row["requests"] - row["ok"]
        row["server"] = target.name
        row["warmup_s"] = first
        rows.append(row)
        log(json.dumps(row))
    return rows


# ---------------------------------------------------------------------------------------------
# fleet


FLEET_SITE = """\
# bench/serve.py: every agent n0001.. gets {resources} files naming it.
class app {{
  for $i in range(1, {resources}) {{
    file "/srv/app/conf.d/${{i}}.conf" {{
      content = "node ${{facts.hostname}} item ${{i}} of {resources}\\n"
      mode = "0644"
    }}
  }}
}}
node /^n[0-9]+$/ {{
  include app
}}
"""


def node_names(n):
    return [f"n{i:04d}" for i in range(1, n + 1)]


def facts_for(node):
    """The facts an agent posts (the same shape for both servers)."""
    return {
        "hostname": node,
        "fqdn": f"{node}.bench.example",
        "os": {"family": "Debian", "name": "Debian", "release": "12"},
        "kernel": "Linux",
        "architecture": "x86_64",
    }


def fleet_binary(args):
    exe = os.path.join(REPO, "target", "release", "fleet")
    if args.build or not os.path.exists(exe):
        log("cargo build --release")
        run(["cargo", "build", "--release", "--quiet"], cwd=REPO)
    return exe


def start_fleet(args, work, nodes):
    """CA, certificates, manifest, `fleet serve`; returns (Target, process)."""
    fleet = fleet_binary(args)
    ca = os.path.join(work, "ca")
    certs = os.path.join(work, "certs")
    if not os.path.exists(os.path.join(ca, "ca.crt")):
        run([fleet, "ca", "init", ca])
        run([fleet, "ca", "issue", "--ca", ca, "--out", certs, "catalog", "--server", "--ip", "127.0.0.1",
             "--dns", "localhost"])
    log(f"fleet: {len(nodes)} node certificates")
    for n in nodes:
        if not os.path.exists(os.path.join(certs, f"{n}.crt")):
            run([fleet, "ca", "issue", "--ca", ca, "--out", certs, n])
    site = os.path.join(work, "manifest", "site.fleet")
    os.makedirs(os.path.dirname(site), exist_ok=True)
    with open(site, "w") as f:
        f.write(FLEET_SITE.format(resources=args.resources))
    run([fleet, "check", site])
    store = os.path.join(work, "store")
    os.makedirs(store, exist_ok=True)
    proc = subprocess.Popen(
        pinned(args, "server") + [fleet, "serve", "--manifest", site, "--tls-cert", os.path.join(certs, "catalog.crt"),
         "--tls-key", os.path.join(certs, "catalog.key"), "--ca-cert",
         os.path.join(ca, "ca.crt"), "--crl", os.path.join(ca, "crl.pem"), "--listen",
         "127.0.0.1:0", "--store", f"sqlite:{store}/server.db", "--max-inflight", "4096"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = None
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"listening on [^\s:]+:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        proc.kill()
        sys.exit("fleet serve did not say where it listens")
    threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()

    bodies = {n: json.dumps(facts_for(n)).encode() for n in nodes}

    def request(node, keepalive=False):
        body = bodies[node]
        conn = "keep-alive" if keepalive else "close"
        return (f"POST /v1/catalog/{node} HTTP/1.1\r\nHost: localhost\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: {conn}\r\n\r\n").encode() + body

    target = Target("fleet serve", "127.0.0.1", port, os.path.join(ca, "ca.crt"),
                    lambda n: (os.path.join(certs, f"{n}.crt"), os.path.join(certs, f"{n}.key")),
                    request, "fleet",
                    (os.path.join(certs, "{node}.crt"), os.path.join(certs, "{node}.key")))
    target.pid = proc.pid
    return target, proc


# ---------------------------------------------------------------------------------------------
# puppetserver


PUPPET_SITE = """\
# bench/serve.py: the same {resources} files per node as fleet's site.
class app {{
  # Integer[1, N] iterates 1..N (core Puppet: `range` is puppetlabs-stdlib's).
  Integer[1, {resources}].each |$i| {{
    file {{ "/srv/app/conf.d/${{i}}.conf":
      ensure  => file,
      content => "node ${{facts['hostname']}} item ${{i}} of {resources}\\n",
      mode    => '0644',
    }}
  }}
}}
node /^n[0-9]+$/ {{
  include app
}}
"""


def ensure_puppetserver():
    if shutil.which("puppetserver"):
        return
    log("apt-get install puppetserver (once)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "install", "-y", "--no-install-recommends", "puppetserver"], env=env)


def start_puppet(args, work, nodes):
    """puppetserver with its own CA in WORK/puppet; returns (Target, process)."""
    ensure_puppetserver()
    base = os.path.join(work, "puppet")
    conf = os.path.join(base, "etc")
    code = os.path.join(base, "code")
    var = os.path.join(base, "var")
    for d in (conf, os.path.join(code, "environments", "production", "manifests"), var,
              os.path.join(base, "log"), os.path.join(base, "run")):
        os.makedirs(d, exist_ok=True)
    port = free_port()
    cadir = os.path.join(conf, "puppetserver", "ca")
    with open(os.path.join(conf, "puppet.conf"), "w") as f:
        f.write(f"""[main]
confdir = {conf}
codedir = {code}
vardir = {var}
logdir = {base}/log
rundir = {base}/run
ssldir = {conf}/ssl
# The CA in the bench's directory, named explicitly: `puppetserver ca` (the CLI) puts it
# under CONFDIR/puppetserver/ca, while the server's own default is Debian's
# /etc/puppet/puppetserver/ca. Left to the defaults, the server makes a second CA there at
# start-up and writes that CA's CRL to ssldir/crl.pem; its TLS then finds no CRL for the CA
# that signed the agents' certificates and refuses them all ("certificate unknown").
cadir = {cadir}
certname = localhost
server = localhost
ca_server = localhost
serverport = {port}
ca_port = {port}
# 2048-bit agent keys (Puppet 7's default is 4096): generating 1,000 of them in Ruby takes
# minutes instead of most of an hour; the server only verifies them, which RSA does cheaply.
keylength = 2048
dns_alt_names = localhost,127.0.0.1
[server]
ca = true
autosign = false
# Parse the manifests once, not per request (Puppet's default, 0, re-reads the environment
# for every catalog; `unlimited` is the setting Puppet recommends with deployed code, and
# what fleet does: compile once per change).
environment_timeout = unlimited
""")
    site = os.path.join(code, "environments", "production", "manifests", "site.pp")
    with open(site, "w") as f:
        f.write(PUPPET_SITE.format(resources=args.resources))
    ps_conf = os.path.join(base, "conf.d")
    make_puppetserver_confd(ps_conf, conf, code, var, base, port, args.puppet_jrubies)
    env = dict(os.environ, JAVA_ARGS=f"-Xms{args.puppet_heap} -Xmx{args.puppet_heap}")
    ssl_dir = os.path.join(conf, "ssl")
    if not os.path.exists(os.path.join(cadir, "ca_crt.pem")):
        log("puppetserver ca setup")
        run(["puppetserver", "ca", "setup", "--config", os.path.join(conf, "puppet.conf")],
            env=env)
    missing = [n for n in nodes
               if not os.path.exists(os.path.join(ssl_dir, "certs", f"{n}.pem"))]
    # Offline (`--ca-client`: the server is not running yet; the flag also marks the
    # certificates as allowed to use the CA API, which the catalog endpoint ignores).
    for k in range(0, len(missing), 200):
        log(f"puppetserver ca generate: {k + len(missing[k:k + 200])}/{len(missing)}")
        run(["puppetserver", "ca", "generate", "--config", os.path.join(conf, "puppet.conf"),
             "--ca-client", "--certname", ",".join(missing[k:k + 200])], env=env)
    # The webserver checks client certificates against ssldir/crl.pem (`hostcrl`): the
    # CA's revocation lists for the whole chain (root and intermediate), from the CA itself.
    shutil.copy(os.path.join(cadir, "ca_crl.pem"), os.path.join(ssl_dir, "crl.pem"))
    log(f"puppetserver foreground on 127.0.0.1:{port}")
    # What /usr/share/puppetserver/cli/apps/foreground runs, with this bench's conf.d (the
    # script names /etc/puppet/puppetserver/conf.d) and as the calling user.
    java = pinned(args, "server") + ["java", f"-Xms{args.puppet_heap}", f"-Xmx{args.puppet_heap}",
            "-Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger",
            "-Dlogappender=STDOUT", "-Djruby.lib=/usr/share/jruby/lib",
            "-jar", "/usr/share/puppetserver/puppetserver.jar", "--config", ps_conf,
            "--bootstrap-config", "/etc/puppet/puppetserver/services.d"]
    proc = subprocess.Popen(
        java, cwd="/usr/share/puppetserver",
        stdout=open(os.path.join(base, "log", "stdout"), "w"), stderr=subprocess.STDOUT,
        env=env, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"puppetserver exited {proc.returncode}: see {base}/log/stdout")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(1)
    else:
        stop(proc)
        sys.exit("puppetserver did not listen within 300 s")

    bodies = {}
    for n in nodes:
        facts = {"name": n, "values": facts_for(n)}
        form = urllib.parse.urlencode({
            "environment": "production",
            "facts_format": "application/json",
            "facts": json.dumps(facts),
            "transaction_uuid": "00000000-0000-0000-0000-000000000000",
        })
        bodies[n] = form.encode()

    def request(node, keepalive=False):
        body = bodies[node]
        conn = "keep-alive" if keepalive else "close"
        return (f"POST /puppet/v3/catalog/{node}?environment=production HTTP/1.1\r\n"
                f"Host: localhost\r\nAccept: application/json\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\nConnection: {conn}\r\n\r\n").encode() + body

    target = Target("puppetserver", "127.0.0.1", port, os.path.join(ssl_dir, "certs", "ca.pem"),
                    lambda n: (os.path.join(ssl_dir, "certs", f"{n}.pem"),
                               os.path.join(ssl_dir, "private_keys", f"{n}.pem")),
                    request, "puppet",
                    (os.path.join(ssl_dir, "certs", "{node}.pem"),
                     os.path.join(ssl_dir, "private_keys", "{node}.pem")))
    target.pid = proc.pid  # the JVM itself (started directly, not through a script)
    return target, proc


def make_puppetserver_confd(ps_conf, conf, code, var, base, port, jrubies):
    """A puppetserver conf.d beside Debian's, with this bench's directories and port."""
    os.makedirs(ps_conf, exist_ok=True)
    system = "/etc/puppet/puppetserver/conf.d"
    for name in os.listdir(system):
        shutil.copy(os.path.join(system, name), os.path.join(ps_conf, name))
    with open(os.path.join(ps_conf, "webserver.conf"), "w") as f:
        f.write(f"""webserver: {{
    access-log-config: /etc/puppet/puppetserver/request-logging.xml
    client-auth: want
    ssl-host: 127.0.0.1
    ssl-port: {port}
}}
""")
    path = os.path.join(ps_conf, "puppetserver.conf")
    with open(path) as f:
        text = f.read()
    text = re.sub(r"master-conf-dir:.*", f"master-conf-dir: {conf}", text)
    text = re.sub(r"server-conf-dir:.*", f"server-conf-dir: {conf}", text)
    text = re.sub(r"master-code-dir:.*", f"master-code-dir: {code}", text)
    text = re.sub(r"server-code-dir:.*", f"server-code-dir: {code}", text)
    text = re.sub(r"master-var-dir:.*", f"master-var-dir: {var}", text)
    text = re.sub(r"server-var-dir:.*", f"server-var-dir: {var}", text)
    text = re.sub(r"master-run-dir:.*", f"master-run-dir: {base}/run", text)
    text = re.sub(r"server-run-dir:.*", f"server-run-dir: {base}/run", text)
    text = re.sub(r"master-log-dir:.*", f"master-log-dir: {base}/log", text)
    text = re.sub(r"server-log-dir:.*", f"server-log-dir: {base}/log", text)
    # JRuby instances, each compiling one catalog at a time: as many as cores, like fleet's
    # compile threads (puppetserver's default is cores - 1, one on this machine).
    text = re.sub(r"#?\s*max-active-instances:.*", f"max-active-instances: {jrubies}", text)
    with open(path, "w") as f:
        f.write(text)


def pinned(args, who):
    """`taskset -c CPUS` for the server or the load generator under --pin, else nothing."""
    if not args.pin:
        return []
    server, client = args.pin.split(":")
    return ["taskset", "-c", server if who == "server" else client]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop(proc):
    """SIGTERM to the process group (puppetserver's JVM is a child of its script)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


# ---------------------------------------------------------------------------------------------


def table(rows):
    out = ["| server | mode | requests/s | p50 ms | p99 ms | resumed | ok / all | "
           "server CPU s | client CPU s | wall s |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        server_cpu = r.get("server_cpu_s")
        out.append(
            f"| {r['server']} | {r['mode']} | {r['rps']:.1f} | "
            f"{r['p50_ms'] or 0:.1f} | {r['p99_ms'] or 0:.1f} | {r['resumed']} | "
            f"{r['ok']} / {r['requests']} | "
            f"{'-' if server_cpu is None else f'{server_cpu:.1f}'} | "
            f"{r['client_cpu_s']:.1f} | {r['wall_s']:.1f} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--resources", type=int, default=100)
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--puppet-seconds", type=float, default=30)
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    p.add_argument("--client-threads", type=int, default=2,
                   help="the load generator's runtime threads")
    p.add_argument("--threads", type=int, default=16,
                   help="client threads of --python-client")
    p.add_argument("--python-client", action="store_true",
                   help="the Python load generator of the first figures instead of Rust's")
    p.add_argument("--puppet-jrubies", type=int, default=2,
                   help="puppetserver's max-active-instances (its default here: cores - 1)")
    p.add_argument("--modes", default="resume,full,keepalive")
    p.add_argument("--work", default="/tmp/fleet-bench-serve")
    p.add_argument("--no-puppet", action="store_true")
    p.add_argument("--no-fleet", action="store_true", help="puppetserver only")
    p.add_argument("--puppet-heap", default="2g")
    p.add_argument("--build", action="store_true", help="cargo build --release first")
    p.add_argument("--json", help="write the rows as JSON here too")
    p.add_argument("--pin", metavar="SERVER:CLIENT",
                   help="CPU lists for taskset: each server on SERVER, the load generator on "
                        "CLIENT (e.g. 1:0), so that neither server shares its core with the "
                        "client")
    args = p.parse_args()
    args.modes = args.modes.split(",")
    os.makedirs(args.work, exist_ok=True)
    if not args.python_client:
        log("cargo build --release --bench serve_load")
        args.load_generator = load_generator()
    nodes = node_names(args.nodes)
    rows = []
    if not args.no_fleet:
        target, proc = start_fleet(args, args.work, nodes)
        try:
            rows += measure(target, nodes, args)
        finally:
            stop(proc)
    if not args.no_puppet:
        target, proc = start_puppet(args, args.work, nodes)
        try:
            seconds, args.seconds = args.seconds, args.puppet_seconds
            rows += measure(target, nodes, args)
            args.seconds = seconds
        finally:
            stop(proc)
    by = {(r["server"], r["mode"]): r for r in rows}
    ratios = []
    for mode in args.modes:
        f, pz = by.get(("fleet serve", mode)), by.get(("puppetserver", mode))
        if f and pz and pz["rps"]:
            ratios.append(f"{mode}: fleet/puppetserver throughput {f['rps'] / pz['rps']:.0f}x")
    client = (f"{args.threads} Python client threads" if args.python_client else
              f"{args.concurrency} requests in flight (Rust load generator, "
              f"{args.client_threads} threads)")
    pin = f", servers pinned to CPU {args.pin.split(':')[0]} and the client to CPU " \
          f"{args.pin.split(':')[1]}" if args.pin else ""
    print(f"{args.nodes} agents, {args.resources} resources per catalog, {client}, "
          f"{os.cpu_count()} cores{pin}\n")
    print(table(rows))
    if ratios:
        print()
        print("\n".join(ratios))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
