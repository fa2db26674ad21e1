#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (scripts/fuzz.sh calls this for an empty corpus).

Usage: fuzz/seeds.py TARGET OUT_DIR. Seeds come from the repository's own inputs: every
.fleet file under tests/, examples/ and ../shared/conformance; the conformance catalogs;
small release tarballs made here (plain, gzip'd, links, hostile entries); LSP sessions
framed with Content-Length. Each seed is one file named by its sha1, so regenerating
is idempotent. Nothing here is committed: corpora grow while fuzzing.
"""

import hashlib
import io
import json
import os
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = [
    os.path.join(ROOT, "tests"),
    os.path.join(ROOT, "examples"),
    os.path.join(ROOT, "stdlib"),
    os.path.join(ROOT, "..", "shared", "conformance"),
]
SEPARATOR = b"\xff"  # fuzz_targets/check.rs splits files on it
MAX_SEED = 64 * 1024


def walk(suffixes):
    for base in SOURCES:
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d != "target")
            for name in sorted(filenames):
                if name.endswith(suffixes):
                    yield os.path.join(dirpath, name)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def emit(out, data):
    if 0 < len(data) <= MAX_SEED:
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def check(out):
    for path in walk((".fleet",)):
        emit(out, read(path))
    # Several files at once: every folder's manifests, data and templates as one input,
    # each piece named by a `#file` line (the folder's first manifest leads).
    by_dir = {}
    for path in walk((".fleet", ".toml", ".tmpl", ".j2", ".json")):
        by_dir.setdefault(os.path.dirname(path), []).append(path)
    for d, paths in sorted(by_dir.items()):
        pieces = []
        for p in paths[:8]:
            rel = os.path.relpath(p, d)
            pieces.append(b"#file " + rel.encode() + b"\n" + read(p))
        emit(out, SEPARATOR.join(pieces))
        for sub in ("data", "templates"):
            sd = os.path.join(d, sub)
            if os.path.isdir(sd) and paths:
                extra = [
                    b"#file " + f"{sub}/{n}".encode() + b"\n" + read(os.path.join(sd, n))
                    for n in sorted(os.listdir(sd))[:6]
                    if os.path.isfile(os.path.join(sd, n))
                ]
                emit(out, SEPARATOR.join([read(paths[0])] + extra))
    emit(out, b'import "./f1.fleet"\nclass a { include b }\ninclude a\n' + SEPARATOR
         + b'class b { file "/etc/b" { content = "b\\n" } }\n')
    emit(out, b'import "ntp"\ninclude ntp\n' + SEPARATOR
         + b'#file ntp/init.fleet\nclass ntp { file "/etc/ntp.conf" { content = "x" } }\n')


def fmt(out):
    for path in walk((".fleet",)):
        emit(out, read(path))


def catalog(out):
    for path in walk((".expect.json",)):
        emit(out, read(path))
    emit(out, json.dumps({"format": 1, "node": "n", "version": "", "resources": [],
                          "edges": []}).encode())


def tar_bytes(entries, gz=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, arg in entries:
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            elif kind == "file":
                info.size = len(arg)
                t.addfile(info, io.BytesIO(arg))
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, arg
                t.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, arg
                t.addfile(info)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                t.addfile(info)
    return buf.getvalue()


def unpack(out):
    app = [("app", "dir", None), ("app/index.html", "file", b"<h1>hi</h1>\n"),
           ("app/bin", "dir", None), ("app/bin/run", "file", b"#!/bin/sh\necho run\n"),
           ("app/current", "sym", "bin/run"), ("app/again", "hard", "app/index.html"),
           ("app/\u00e9t\u00e9.txt", "file", b"unicode\n"), ("./", "dir", None)]
    emit(out, tar_bytes(app))
    emit(out, tar_bytes(app, gz=True))
    emit(out, tar_bytes([("a/" + "x" * 120 + "/long-name.txt", "file", b"long\n")]))
    for hostile in ([("../escape", "file", b"x")], [("/abs", "file", b"x")],
                    [("l", "sym", "/tmp"), ("l/x", "file", b"x")],
                    [("l", "sym", ".."), ("l/x", "file", b"x")],
                    [("d/l", "sym", "../../x")], [("h", "hard", "/etc/passwd")],
                    [("h", "hard", "../canary")], [("p", "fifo", None)],
                    [("d", "dir", None), ("d", "file", b"x")],
                    [("f", "file", b"x"), ("f/g", "file", b"y")]):
        emit(out, tar_bytes(hostile))
    emit(out, b"\x1f\x8b")


def frame(msg):
    body = json.dumps(msg).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def lsp(out):
    for n, path in enumerate(walk((".fleet",))):
        text = read(path).decode("utf-8", "replace")
        uri = "file:///fuzz/" + os.path.basename(path)
        doc = {"uri": uri}
        pos = {"textDocument": doc, "position": {"line": text.count("\n") // 2, "character": 4}}
        msgs = [
            {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": uri, "languageId": "fleet", "version": 1, "text": text}}},
            {"jsonrpc": "2.0", "id": 1, "method": "textDocument/hover", "params": pos},
            {"jsonrpc": "2.0", "id": 2, "method": "textDocument/definition", "params": pos},
            {"jsonrpc": "2.0", "id": 3, "method": "textDocument/completion", "params": pos},
            {"jsonrpc": "2.0", "id": 4, "method": "textDocument/formatting", "params": {
                "textDocument": doc, "options": {"tabSize": 2, "insertSpaces": True}}},
            {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [{"text": text[: len(text) // 2]}]}},
            {"jsonrpc": "2.0", "id": 5, "method": "textDocument/hover", "params": pos},
            {"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {"textDocument": doc}},
        ]
        emit(out, b"".join(frame(m) for m in msgs))
        if n > 200:
            break


TARGETS = {"check": check, "fmt": fmt, "catalog": catalog, "unpack": unpack, "lsp": lsp}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in TARGETS:
        sys.exit("usage: fuzz/seeds.py {%s} OUT_DIR" % ",".join(TARGETS))
    os.makedirs(sys.argv[2], exist_ok=True)
    TARGETS[sys.argv[1]](sys.argv[2])
