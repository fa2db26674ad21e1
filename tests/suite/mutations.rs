//! Mutation testing on stable Rust: every conformance case, example and UI case is mangled
//! many ways (truncations, character flips, inserted tokens, deleted, duplicated and swapped
//! lines) with a small deterministic PRNG, and `fleet check` must survive each mutant: no
//! panic, no hang, exit 0 or 1, every stdout line a JSON diagnostic with sane positions.
//! Most mutants run in-process through `fleet::internals::program::Program` (fast); a subset runs
//! through the binary with a timeout (hangs, aborts, the CLI's own code). Deep nesting and
//! long include and import chains must give a diagnostic or a clean result, never a stack
//! overflow.
//!
//! Byte mutants go below text: invalid UTF-8 (stray continuation bytes, overlong forms,
//! surrogates, code points past U+10FFFF, 0xFF), multi-byte characters cut short, NULs, raw
//! bit flips and cuts inside a character, in one file or in several at once (files on the
//! command line and files they import): `check` must report them, not crash.
//!
//! `FLEET_MUTANTS=N` sets the mutants per seed file (default 40, about 3,000 in all; raise
//! it for a deeper run). Failing mutants are saved under Cargo's test scratch folder
//! (`target/tmp/mutants/`) for reproduction.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fleet::internals::diag::json::to_line;
use fleet::internals::diag::render::{render, RenderOptions};
use fleet::internals::program::{Options, Program};

use crate::support;
use support::{command, run_within};

/// xorshift64*: deterministic, tiny, good enough to pick offsets.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// FNV-1a, to seed each file's PRNG from its name.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Characters and tokens that stress a parser of this language.
const CHARS: &[char] = &[
    '{', '}', '[', ']', '(', ')', '"', '\'', '$', '\\', '\n', '=', ',', ':', '#', '/', '~', '-',
    '>', '?', '.', '*', '0', 'a', 'Z', ' ', '\t', '中', '😀', '\u{0}', '\u{feff}',
];
const TOKENS: &[&str] = &[
    "${",
    "\"\"\"",
    "->",
    "~>",
    "??",
    "=~",
    "none",
    "if",
    "else",
    "for $x in",
    "class c {",
    "define d($p) {",
    "node default {",
    "include",
    "import \"x\"",
    "$x",
    "$facts.os",
    "[",
    "]",
    "{}",
    "/^a+$/",
    "0o7777",
    "99999999999999999999",
    "-9223372036854775808",
    "\\u{110000}",
    "Package[\"nginx\"]",
    "* = {}",
    "let $x = 1\n",
    "fail(\"x\")\n",
    "\"${",
];

/// The char boundaries of `s` (offsets a cut may fall on), end included.
fn boundaries(s: &str) -> Vec<usize> {
    let mut b: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
    b.push(s.len());
    b
}

/// One mutant of `text`; the description says how it was made.
fn mutate(text: &str, rng: &mut Rng) -> (String, String) {
    let cuts = boundaries(text);
    let at = |rng: &mut Rng| cuts[rng.below(cuts.len())];
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    match rng.below(8) {
        0 => {
            let i = at(rng);
            (text[..i].to_string(), format!("truncated at byte {i}"))
        }
        1 if text.len() > 1 => {
            let i = cuts[rng.below(cuts.len() - 1)];
            let c = text[i..].chars().next().unwrap();
            let new = CHARS[rng.below(CHARS.len())];
            let s = format!("{}{}{}", &text[..i], new, &text[i + c.len_utf8()..]);
            (s, format!("char at byte {i} replaced by {new:?}"))
        }
        2 => {
            let i = at(rng);
            let tok = TOKENS[rng.below(TOKENS.len())];
            (
                format!("{}{}{}", &text[..i], tok, &text[i..]),
                format!("{tok:?} inserted at byte {i}"),
            )
        }
        3 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let mut l = lines.clone();
            l.remove(i);
            (l.concat(), format!("line {} deleted", i + 1))
        }
        4 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let mut l = lines.clone();
            l.insert(i, lines[i]);
            (l.concat(), format!("line {} duplicated", i + 1))
        }
        5 if lines.len() > 1 => {
            let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
            let mut l = lines.clone();
            l.swap(i, j);
            (l.concat(), format!("lines {} and {} swapped", i + 1, j + 1))
        }
        6 => {
            let (mut i, mut j) = (at(rng), at(rng));
            if i > j {
                std::mem::swap(&mut i, &mut j);
            }
            (
                format!("{}{}", &text[..i], &text[j..]),
                format!("bytes {i}..{j} deleted"),
            )
        }
        _ => {
            // A raw byte flip, made valid UTF-8 again lossily.
            let mut bytes = text.as_bytes().to_vec();
            if bytes.is_empty() {
                return (String::new(), "emptied".into());
            }
            let i = rng.below(bytes.len());
            let bit = 1u8 << rng.below(8);
            bytes[i] ^= bit;
            (
                String::from_utf8_lossy(&bytes).into_owned(),
                format!("bit {bit:#04x} of byte {i} flipped"),
            )
        }
    }
}

/// Byte sequences that are not valid UTF-8, or only just are.
const BAD_BYTES: &[&[u8]] = &[
    b"\xff",
    b"\xfe\xff",
    b"\x80",             // a continuation byte with no lead
    b"\xc0\xaf",         // overlong '/'
    b"\xe0\x80\xaf",     // overlong '/' in three bytes
    b"\xed\xa0\x80",     // a UTF-16 surrogate
    b"\xf4\x90\x80\x80", // past U+10FFFF
    b"\xc3",             // a lead byte alone
    b"\xef\xbb\xbf",     // a BOM (valid; but where it is not expected)
    b"\x00",
    b"\x00\x00\x00\x00",
    b"\"\x00\"",
    b"\r",
];
/// Multi-byte characters, to insert cut short.
const WIDE: &[&str] = &["é", "中", "😀", "\u{10ffff}"];

/// One byte mutant of `bytes` (valid UTF-8 or not); the description says how it was made.
fn mutate_bytes(bytes: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let at = |rng: &mut Rng| rng.below(bytes.len() + 1);
    let splice = |i: usize, what: &[u8]| [&bytes[..i], what, &bytes[i..]].concat();
    match rng.below(7) {
        0 => {
            let (i, bad) = (at(rng), BAD_BYTES[rng.below(BAD_BYTES.len())]);
            (splice(i, bad), format!("{bad:x?} inserted at byte {i}"))
        }
        1 => {
            let w = WIDE[rng.below(WIDE.len())].as_bytes();
            let (i, keep) = (at(rng), 1 + rng.below(w.len() - 1));
            (
                splice(i, &w[..keep]),
                format!(
                    "{keep} of the {} bytes of {:x?} inserted at byte {i}",
                    w.len(),
                    w
                ),
            )
        }
        2 => {
            // Cut inside a multi-byte character when there is one, else anywhere.
            let inside: Vec<usize> = (1..bytes.len())
                .filter(|&i| bytes[i] & 0xC0 == 0x80)
                .collect();
            let i = if inside.is_empty() {
                at(rng)
            } else {
                inside[rng.below(inside.len())]
            };
            (bytes[..i].to_vec(), format!("cut at byte {i}"))
        }
        3 => {
            let i = at(rng);
            (splice(i, b"\x00"), format!("NUL inserted at byte {i}"))
        }
        4 if !bytes.is_empty() => {
            let i = rng.below(bytes.len());
            let bit = 1u8 << rng.below(8);
            let mut b = bytes.to_vec();
            b[i] ^= bit;
            (
                b,
                format!("bit {bit:#04x} of byte {i} flipped (not repaired)"),
            )
        }
        5 if !bytes.is_empty() => {
            // Every byte of one kind replaced: each 'e' by a lone lead byte, say.
            let from = bytes[rng.below(bytes.len())];
            let to = [0x00, 0x80, 0xC3, 0xFF][rng.below(4)];
            let b = bytes
                .iter()
                .map(|&c| if c == from { to } else { c })
                .collect();
            (b, format!("every byte {from:#04x} replaced by {to:#04x}"))
        }
        _ => {
            let (i, j) = (at(rng), at(rng));
            let (i, j) = (i.min(j), i.max(j));
            let mut b = bytes.to_vec();
            b.drain(i..j);
            (
                b,
                format!("bytes {i}..{j} deleted (cuts may split characters)"),
            )
        }
    }
}

/// Seed manifests: the shared conformance cases, the examples and the UI cases.
fn seeds() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        root.join("../shared/conformance/check"),
        root.join("../shared/conformance/compile"),
        root.join("examples"),
        root.join("tests/ui"),
    ] {
        collect_fleet_files(&dir, &mut out);
    }
    // The mutators work on text: a seed that is deliberately not UTF-8 is no seed.
    out.retain(|p| std::fs::read_to_string(p).is_ok());
    out.sort();
    assert!(
        out.len() >= 10,
        "expected seed manifests under ../shared/conformance, examples/ and tests/ui, found {}",
        out.len()
    );
    out
}

fn collect_fleet_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_fleet_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "fleet") {
            out.push(path);
        }
    }
}

/// A scratch copy of the seed's folder: every sibling linked in (data, templates, imports),
/// the seed itself replaced by each mutant in turn.
struct Sandbox {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

impl Sandbox {
    fn new(seed: &Path) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let parent = seed.parent().unwrap();
        for entry in std::fs::read_dir(parent).unwrap().flatten() {
            if entry.path() != seed {
                std::os::unix::fs::symlink(entry.path(), dir.path().join(entry.file_name()))
                    .unwrap();
            }
        }
        let file = dir.path().join(seed.file_name().unwrap());
        Sandbox { _dir: dir, file }
    }

    fn write(&self, text: &str) {
        std::fs::write(&self.file, text).unwrap();
    }

    fn write_bytes(&self, bytes: &[u8]) {
        std::fs::write(&self.file, bytes).unwrap();
    }
}

fn mutants_per_seed() -> usize {
    std::env::var("FLEET_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// Saves a failing mutant where a developer can find it; returns its path.
fn keep(seed: &Path, n: usize, text: impl AsRef<[u8]>) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mutants");
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("{}-{n}.fleet", seed.file_stem().unwrap().to_string_lossy());
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Checks one file in-process the way `fleet check --format json` does, and also renders the
/// text report, so the renderers meet every odd span too. `Err` describes what went wrong.
fn check_in_process(file: &Path) -> Result<(), String> {
    check_files_in_process(&[file.to_path_buf()])
}

/// [`check_in_process`] with several files on the command line.
fn check_files_in_process(files: &[PathBuf]) -> Result<(), String> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let program = Program::load(files, Options::default());
        let diags = program.check();
        let main = program
            .sources
            .files()
            .next()
            .map(|(_, f)| f.name.clone())
            .unwrap_or_default();
        let mut problems = Vec::new();
        for d in &diags {
            let line = to_line(d, &program.sources, &main);
            match serde_json::from_str::<serde_json::Value>(&line) {
                Err(e) => problems.push(format!("not JSON ({e}): {line}")),
                Ok(v) => {
                    for key in ["line", "column", "end_line", "end_column"] {
                        if v.get(key).and_then(|n| n.as_u64()) == Some(0) {
                            problems.push(format!("{key} is 0: {line}"));
                        }
                    }
                }
            }
            let text = render(d, &program.sources, &main, RenderOptions::PLAIN);
            if !text.starts_with(d.severity.as_str()) {
                problems.push(format!("odd rendering: {text}"));
            }
        }
        problems
    }));
    match result {
        Ok(problems) if problems.is_empty() => Ok(()),
        Ok(problems) => Err(problems.join("\n")),
        Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic)".into()
    }
}

#[test]
fn mutants_never_crash_in_process() {
    mutants_in_process(0, &|text, rng| {
        let (mutant, how) = mutate(text, rng);
        (mutant.into_bytes(), how)
    });
}

/// One to three byte mutations in a row.
fn byte_mutant(text: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let (mut bytes, mut how) = mutate_bytes(text, rng);
    for _ in 0..rng.below(3) {
        let (b, h) = mutate_bytes(&bytes, rng);
        bytes = b;
        how = format!("{how}, then {h}");
    }
    (bytes, how)
}

#[test]
fn byte_mutants_never_crash_in_process() {
    mutants_in_process(0xB17E, &|text, rng| byte_mutant(text.as_bytes(), rng));
}

type Mutator = dyn Fn(&str, &mut Rng) -> (Vec<u8>, String) + Sync;

/// Every seed mutated `FLEET_MUTANTS` times by `make` (its PRNG stream picked by `salt`) and
/// checked in-process, on as many threads as there are cores.
fn mutants_in_process(salt: u64, make: &Mutator) {
    let seeds = seeds();
    let per_seed = mutants_per_seed();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = seeds
            .chunks(seeds.len().div_ceil(workers))
            .map(|chunk| {
                // The main thread's stack size, so in-process runs meet the binary's limits.
                std::thread::Builder::new()
                    .stack_size(8 << 20)
                    .spawn_scoped(s, move || {
                        let mut failures = Vec::new();
                        for seed in chunk {
                            let text = std::fs::read_to_string(seed).unwrap();
                            let sandbox = Sandbox::new(seed);
                            let mut rng = Rng::new(hash(&seed.to_string_lossy()) ^ salt);
                            for n in 0..per_seed {
                                let (mutant, how) = make(&text, &mut rng);
                                sandbox.write_bytes(&mutant);
                                if let Err(e) = check_in_process(&sandbox.file) {
                                    let kept = keep(seed, n, &mutant);
                                    failures.push(format!(
                                        "{} mutant {n} ({how}), saved as {}:\n{e}",
                                        seed.display(),
                                        kept.display()
                                    ));
                                    break; // one failure per seed is enough to act on
                                }
                            }
                        }
                        failures
                    })
                    .unwrap()
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} seed(s) have crashing mutants:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Three seeds at a time as three files, each mutated bytewise (or left alone): `a.fleet`
/// imports `b.fleet` and `c.fleet`, `b.fleet` imports `c.fleet`; `a` and `b` are on the
/// command line, `c` is read only as an import.
#[test]
fn byte_mutants_of_several_files_never_crash_in_process() {
    let seeds = seeds();
    let texts: Vec<Vec<u8>> = seeds.iter().map(|s| std::fs::read(s).unwrap()).collect();
    let per_group = mutants_per_seed().div_ceil(2);
    let mut failures = Vec::new();
    for (g, group) in texts.chunks(3).enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["a.fleet", "b.fleet", "c.fleet"];
        let heads: [&[u8]; 3] = [
            b"import \"./b.fleet\"\nimport \"./c.fleet\"\n",
            b"import \"./c.fleet\"\n",
            b"",
        ];
        let mut rng = Rng::new(0x5EED ^ g as u64);
        for n in 0..per_group {
            let mut hows = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let seed = [heads[i], group.get(i).map_or(&b""[..], |t| t)].concat();
                let bytes = if rng.below(3) == 0 {
                    seed
                } else {
                    let (b, how) = byte_mutant(&seed, &mut rng);
                    hows.push(format!("{name}: {how}"));
                    b
                };
                std::fs::write(dir.path().join(name), bytes).unwrap();
            }
            let mains = [dir.path().join("a.fleet"), dir.path().join("b.fleet")];
            if let Err(e) = check_files_in_process(&mains) {
                let kept: Vec<String> = names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let bytes = std::fs::read(dir.path().join(name)).unwrap();
                        keep(Path::new(&format!("group{g}-{i}")), n, bytes)
                            .display()
                            .to_string()
                    })
                    .collect();
                failures.push(format!(
                    "files {:?} mutant {n} ({}), saved as {}:\n{e}",
                    seeds[g * 3..(g * 3 + 3).min(seeds.len())]
                        .iter()
                        .map(|s| s.file_name().unwrap().to_string_lossy())
                        .collect::<Vec<_>>(),
                    hows.join("; "),
                    kept.join(", ")
                ));
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} group(s) of files have crashing mutants:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Asserts what every `fleet check --format json` run must give: exit 0 or 1, JSON lines
/// only, at least one diagnostic when it fails, no panic. `what` names the input.
fn assert_survives(dir: &Path, file: &str, what: &str) {
    assert_all_survive(dir, &[file], what);
}

/// [`assert_survives`] with several files on the command line.
fn assert_all_survive(dir: &Path, files: &[&str], what: &str) {
    let mut args = vec!["check", "--format", "json"];
    args.extend(files);
    let run = run_within(
        command().current_dir(dir).args(&args),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|hang| panic!("{what}: {hang}"));
    let code = run.status.code();
    assert!(
        matches!(code, Some(0 | 1)) && !run.stderr.contains("panicked at"),
        "{what}: fleet crashed\n{}",
        run.describe()
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{what}: stdout line is not JSON ({e}): {line}"));
        assert!(v.get("code").is_some(), "{what}: no code in {line}");
    }
    if code == Some(1) {
        assert!(
            !lines.is_empty(),
            "{what}: exit 1 without a diagnostic\n{}",
            run.describe()
        );
    }
}

#[test]
fn mutants_never_crash_or_hang_the_binary() {
    // A few mutants of every seed (other PRNG streams than the in-process test).
    for seed in seeds() {
        let text = std::fs::read_to_string(&seed).unwrap();
        let sandbox = Sandbox::new(&seed);
        let mut rng = Rng::new(hash(&seed.to_string_lossy()) ^ 0xB1A5);
        let name = sandbox
            .file
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        for n in 0..2 {
            let (mutant, how) = mutate(&text, &mut rng);
            sandbox.write(&mutant);
            let kept = keep(&seed, 10_000 + n, &mutant);
            let what = format!(
                "{} mutant ({how}), saved as {}",
                seed.display(),
                kept.display()
            );
            assert_survives(sandbox.file.parent().unwrap(), &name, &what);
            let _ = std::fs::remove_file(kept);
        }
    }
}

#[test]
fn byte_mutants_never_crash_or_hang_the_binary() {
    for seed in seeds() {
        let text = std::fs::read(&seed).unwrap();
        let sandbox = Sandbox::new(&seed);
        let mut rng = Rng::new(hash(&seed.to_string_lossy()) ^ 0xB1A5_B17E);
        let name = sandbox.file.file_name().unwrap().to_str().unwrap();
        let (mutant, how) = byte_mutant(&text, &mut rng);
        sandbox.write_bytes(&mutant);
        let kept = keep(&seed, 20_000, &mutant);
        let what = format!(
            "{} byte mutant ({how}), saved as {}",
            seed.display(),
            kept.display()
        );
        assert_survives(sandbox.file.parent().unwrap(), name, &what);
        let _ = std::fs::remove_file(kept);
    }
}

/// Writes `files` into a scratch folder and checks the first one through the binary.
fn survives<T: AsRef<[u8]>>(files: &[(&str, T)], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    assert_survives(dir.path(), files[0].0, what);
}

/// Hand-made bytes that are not text, each through the binary, alone and imported.
#[test]
fn bytes_that_are_not_text() {
    let cases: &[(&str, &[u8])] = &[
        (
            "0xFF inside a string",
            b"file \"/etc/motd\" { content = \"a\xffb\" }\n",
        ),
        (
            "a lone continuation byte in a comment",
            b"# caf\x80\nfile \"/etc/motd\" { content = \"x\" }\n",
        ),
        ("a 3-byte character cut at the end", b"let $x = \"\xe4\xb8"),
        (
            "a 4-byte character cut before a newline",
            b"let $x = 1 # \xf0\x9f\x98\n",
        ),
        (
            "an overlong slash in a path",
            b"file \"/etc\xc0\xafmotd\" { }\n",
        ),
        (
            "a surrogate in a name",
            b"class c\xed\xa0\x80 { }\ninclude c\n",
        ),
        (
            "NUL inside a string",
            b"file \"/etc/motd\" { content = \"a\x00b\" }\n",
        ),
        ("NUL between tokens", b"let $x\x00= 1\n"),
        ("only NULs", &[0; 64]),
        ("a BOM, then a clean file", b"\xef\xbb\xbflet $x = 1\n"),
        ("UTF-16LE text", b"l\x00e\x00t\x00 \x00$\x00x\x00\n\x00"),
    ];
    for (what, bytes) in cases {
        survives(
            &[("main.fleet", bytes.to_vec())],
            &format!("main file: {what}"),
        );
        survives(
            &[
                ("main.fleet", b"import \"./lib.fleet\"\n".to_vec()),
                ("lib.fleet", bytes.to_vec()),
            ],
            &format!("imported file: {what}"),
        );
    }
    // Several files on the command line, every one of them broken.
    let dir = tempfile::tempdir().unwrap();
    for (i, (_, bytes)) in cases.iter().enumerate() {
        std::fs::write(dir.path().join(format!("f{i}.fleet")), bytes).unwrap();
    }
    let names: Vec<String> = (0..cases.len()).map(|i| format!("f{i}.fleet")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_all_survive(dir.path(), &names, "every case above at once");
}

const DEEP: usize = 100_000;

#[test]
fn deep_brackets() {
    let text = format!("let $x = {}1{}\n", "[".repeat(DEEP), "]".repeat(DEEP));
    survives(&[("deep.fleet", text)], "100,000 nested [");
}

#[test]
fn deep_parentheses() {
    let text = format!("let $x = {}1{}\n", "(".repeat(DEEP), ")".repeat(DEEP));
    survives(&[("deep.fleet", text)], "100,000 nested (");
}

#[test]
fn deep_braces() {
    let text = format!("let $x = {}1{}\n", "{ a: ".repeat(DEEP), " }".repeat(DEEP));
    survives(&[("deep.fleet", text)], "100,000 nested {");
}

#[test]
fn deep_if_blocks() {
    let text = format!(
        "{}notice(\"deep\")\n{}",
        "if true {\n".repeat(DEEP),
        "}\n".repeat(DEEP)
    );
    survives(&[("deep.fleet", text)], "100,000 nested if blocks");
}

#[test]
fn unclosed_deep_nesting() {
    for open in ["[", "(", "{ a: ", "if true { "] {
        let text = format!("let $x = {}\n", open.repeat(DEEP));
        survives(
            &[("deep.fleet", text)],
            &format!("100,000 unclosed {open:?}"),
        );
    }
}

#[test]
fn long_include_chain() {
    let mut text = String::new();
    for i in 0..500 {
        text.push_str(&format!("class c{i} {{ include c{} }}\n", i + 1));
    }
    text.push_str("class c500 { file \"/etc/deep\" { content = \"500\\n\" } }\n");
    text.push_str("include c0\n");
    survives(&[("chain.fleet", text)], "a 500-deep include chain");
}

#[test]
fn import_cycle() {
    survives(
        &[
            (
                "a.fleet",
                "import \"./b.fleet\"\nfile \"/etc/a\" { content = \"a\\n\" }\n".to_string(),
            ),
            (
                "b.fleet",
                "import \"./a.fleet\"\nfile \"/etc/b\" { content = \"b\\n\" }\n".to_string(),
            ),
        ],
        "an import cycle a -> b -> a",
    );
}

#[test]
fn the_prng_is_deterministic() {
    let text = "file \"/etc/motd\" {\n  content = \"中😀\"\n}\n";
    let run = |seed| {
        let mut rng = Rng::new(seed);
        (0..200).map(|_| mutate(text, &mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    let bytes = |seed| {
        let mut rng = Rng::new(seed);
        (0..200)
            .map(|_| byte_mutant(text.as_bytes(), &mut rng))
            .collect::<Vec<_>>()
    };
    assert_eq!(bytes(7), bytes(7));
    assert_ne!(bytes(7), bytes(8));
}

#[test]
fn a_closed_stdout_ends_output_quietly() {
    // `fleet check --format json … | head -1`: the reader goes away after one line.
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..5000)
        .map(|i| format!("file \"/etc/f{i}\" {{ contentz = \"x\" }}\n"))
        .collect();
    std::fs::write(dir.path().join("many.fleet"), text).unwrap();
    let mut child = support::command()
        .args(["check", "--format", "json", "many.fleet"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap(); // the reader (and the pipe) is dropped here
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        first.starts_with('{') && out.status.code() == Some(1) && !stderr.contains("panicked"),
        "status {}, first line {first:?}, stderr:\n{stderr}",
        out.status
    );
}

/// `fleet check --format json FILE` in `dir`: (exit code, the diagnostics' codes).
fn check_codes(dir: &Path, file: &str) -> (Option<i32>, Vec<String>, String) {
    let run = run_within(
        command()
            .current_dir(dir)
            .args(["check", "--format", "json", file]),
        Duration::from_secs(120),
    )
    .unwrap_or_else(|hang| panic!("{file}: {hang}"));
    let codes = run
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!("{} {}", v["code"].as_str().unwrap(), v["message"])
        })
        .collect();
    (run.status.code(), codes, run.describe())
}

/// Files `f0.fleet`..: each declares a file and imports the next (the last imports nothing).
fn import_chain(dir: &Path, n: usize) {
    for i in 0..n {
        let next = if i + 1 < n {
            format!("import \"./f{}.fleet\"\n", i + 1)
        } else {
            String::new()
        };
        let text = format!("{next}file \"/etc/f{i}\" {{ content = \"{i}\\n\" }}\n");
        std::fs::write(dir.join(format!("f{i}.fleet")), text).unwrap();
    }
}

#[test]
fn files_imported_directly_and_in_a_chain_are_not_too_deep() {
    // Every file is one import from the main file, so no chain is too deep, however long the
    // chain through them is.
    let dir = tempfile::tempdir().unwrap();
    let n = 10_000;
    import_chain(dir.path(), n);
    let main: String = (0..n)
        .map(|i| format!("import \"./f{i}.fleet\"\n"))
        .collect();
    std::fs::write(dir.path().join("site.fleet"), main).unwrap();
    let (code, codes, run) = check_codes(dir.path(), "site.fleet");
    assert!(code == Some(0) && codes.is_empty(), "{codes:?}\n{run}");
}

#[test]
fn a_chain_of_imports_too_deep_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    import_chain(dir.path(), 400);
    std::fs::write(dir.path().join("site.fleet"), "import \"./f0.fleet\"\n").unwrap();
    let (code, codes, run) = check_codes(dir.path(), "site.fleet");
    assert_eq!(code, Some(1), "{run}");
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert!(
        codes[0].contains("imports nest deeper than 256"),
        "{codes:?}"
    );
}

#[test]
fn every_file_of_a_long_chain_within_the_limit_is_evaluated() {
    // 250 files deep: within the import limit, and deeper than the evaluator's nesting
    // limit for blocks, which imports must not count against.
    let dir = tempfile::tempdir().unwrap();
    import_chain(dir.path(), 250);
    std::fs::write(dir.path().join("site.fleet"), "import \"./f0.fleet\"\n").unwrap();
    let run = run_within(
        command()
            .current_dir(dir.path())
            .args(["compile", "--node", "default", "site.fleet"]),
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", run.describe());
    assert!(
        run.stdout.contains("\"/etc/f249\""),
        "the last file of the chain was not evaluated:\n{}",
        run.describe()
    );
}

/// A FIFO at `path` (nobody ever writes to it: reading it would block forever).
fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn special_files_are_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("pipe"));
    let cases = [
        (
            "file \"/etc/x\" { content = file(\"/dev/zero\") }\n",
            "a character device",
        ),
        ("file \"/etc/x\" { content = file(\"./pipe\") }\n", "a FIFO"),
        (
            "file \"/etc/x\" { content = template(\"./pipe\") }\n",
            "a FIFO",
        ),
        ("file \"/etc/x\" { content = file(\".\") }\n", "a directory"),
        ("file \"/etc/x\" { source = \"./pipe\" }\n", "a FIFO"),
        (
            "file \"/etc/x\" { source = \"/dev/zero\" }\n",
            "a character device",
        ),
    ];
    for (text, what) in cases {
        std::fs::write(dir.path().join("site.fleet"), text).unwrap();
        let (code, codes, run) = check_codes(dir.path(), "site.fleet");
        assert_eq!(code, Some(1), "{text}{run}");
        assert!(
            codes.len() == 1
                && codes[0].starts_with("source-not-found")
                && codes[0].contains(&format!("{what}, not a regular file")),
            "{text}{codes:?}"
        );
    }
    // `compile` reads `source` contents: the FIFO is refused there too.
    std::fs::write(
        dir.path().join("site.fleet"),
        "file \"/etc/x\" { source = \"./pipe\" }\n",
    )
    .unwrap();
    let run = run_within(
        command()
            .current_dir(dir.path())
            .args(["compile", "--node", "default", "site.fleet"]),
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(
        run.status.code() == Some(1) && run.stderr.contains("a FIFO"),
        "{}",
        run.describe()
    );
}

#[test]
fn files_past_the_size_limit_are_a_resource_limit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.txt"), vec![b'x'; 4096]).unwrap();
    std::fs::write(
        dir.path().join("site.fleet"),
        "let $x = file(\"./big.txt\")\nfile \"/etc/x\" { content = $x }\n",
    )
    .unwrap();
    let run = |limit: &str| {
        let out = support::command()
            .args(["check", "--format", "json", "site.fleet"])
            .current_dir(dir.path())
            .env("FLEET_MAX_FILE_BYTES", limit)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run("4000");
    assert!(
        code == Some(1)
            && out.contains("\"resource-limit\"")
            && out.contains("\"line\":1,\"column\":15"),
        "{out}"
    );
    assert_eq!(run("4096"), (Some(0), String::new()));
    // Manifests too: an import past the limit is refused at its string.
    let big: String = (0..100)
        .map(|i| format!("let $v{i} = \"{i:040}\"\n"))
        .collect();
    std::fs::write(dir.path().join("big.fleet"), big).unwrap();
    std::fs::write(dir.path().join("site.fleet"), "import \"./big.fleet\"\n").unwrap();
    let (code, out) = run("4096");
    assert!(
        code == Some(1)
            && out.contains("\"resource-limit\"")
            && out.contains("larger than 4096 bytes")
            && out.contains("\"line\":1,\"column\":8"),
        "{out}"
    );
    // A `source` directory is tarred at compile time: its files count together.
    std::fs::create_dir(dir.path().join("tree")).unwrap();
    std::fs::write(dir.path().join("tree/a"), vec![b'a'; 3000]).unwrap();
    std::fs::write(dir.path().join("tree/b"), vec![b'b'; 3000]).unwrap();
    std::fs::write(
        dir.path().join("site.fleet"),
        "file \"/srv/tree\" { ensure = directory, source = \"./tree\", recurse = true }\n",
    )
    .unwrap();
    let out = support::command()
        .args(["compile", "--node", "default", "site.fleet"])
        .current_dir(dir.path())
        .env("FLEET_MAX_FILE_BYTES", "4096")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1) && stderr.contains("resource-limit"),
        "{stderr}"
    );
}

/// `fleet check --format json site.fleet` in `dir` with `text` as site.fleet and the limits
/// in `env`: (exit code, the diagnostics as (code, line, column)). A hang fails the test.
fn check_limited(
    dir: &Path,
    text: &str,
    env: &[(&str, &str)],
) -> (Option<i32>, Vec<(String, u64, u64)>) {
    std::fs::write(dir.join("site.fleet"), text).unwrap();
    let mut cmd = support::command();
    cmd.args(["check", "--format", "json", "site.fleet"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fleet check hung on:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let diags = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["code"].as_str().unwrap().to_string(),
                v["line"].as_u64().unwrap_or(0),
                v["column"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    (out.status.code(), diags)
}

/// `let $s0 = SEED` then `let $sN = OP` doubling `rounds` times, used in a file's content.
fn doubling(seed: &str, op: &str, rounds: usize, content: &str) -> String {
    let mut text = format!("let $s0 = {seed}\n");
    for i in 0..rounds {
        let step = op.replace("PREV", &format!("s{i}"));
        text.push_str(&format!("let $s{} = {step}\n", i + 1));
    }
    text.push_str(&format!(
        "file \"/etc/x\" {{ content = {} }}\n",
        content.replace("LAST", &format!("s{rounds}"))
    ));
    text
}

#[test]
fn doubling_strings_and_arrays_is_a_resource_limit() {
    let dir = tempfile::tempdir().unwrap();
    let small = [("FLEET_MAX_VALUE_BYTES", "1000000")];
    let cases = [
        (
            "string +",
            doubling("\"xxxxxxxx\"", "$PREV + $PREV", 60, "$LAST"),
        ),
        (
            "interpolation",
            doubling("\"xxxxxxxx\"", "\"${PREV}${PREV}\"", 60, "$LAST"),
        ),
        (
            "join",
            doubling("\"xxxxxxxx\"", "join([$PREV, $PREV], \"\")", 60, "$LAST"),
        ),
        (
            "format",
            doubling(
                "\"xxxxxxxx\"",
                "format(\"{}{}\", $PREV, $PREV)",
                60,
                "$LAST",
            ),
        ),
        (
            "array +",
            doubling("[1, 2]", "$PREV + $PREV", 60, "join($LAST, \",\")"),
        ),
        (
            "concat",
            doubling("[1, 2]", "concat($PREV, $PREV)", 60, "join($LAST, \",\")"),
        ),
        (
            "flatten",
            doubling(
                "[1, 2]",
                "[$PREV, $PREV]",
                60,
                "join(flatten($LAST), \",\")",
            ),
        ),
        // Shared elements written out in full: as an attribute, in a template's context.
        (
            "an attribute",
            doubling("[1, 2]", "[$PREV, $PREV]", 60, "$LAST"),
        ),
        (
            "a template",
            doubling("[1, 2]", "[$PREV, $PREV]", 60, "template(\"small.j2\")"),
        ),
    ];
    std::fs::write(dir.path().join("small.j2"), "small\n").unwrap();
    for (what, text) in &cases {
        let (code, diags) = check_limited(dir.path(), text, &small);
        assert_eq!(code, Some(1), "{what}: {diags:?}");
        assert!(
            diags.len() == 1 && diags[0].0 == "resource-limit",
            "{what}: {diags:?}"
        );
    }
    // A message shows the start of such a value, not all of it.
    let text = doubling("[1, 2]", "[$PREV, $PREV]", 60, "$LAST + 1");
    let (code, diags) = check_limited(dir.path(), &text, &small);
    assert!(
        code == Some(1) && diags.len() == 1 && diags[0].0 == "invalid-value",
        "{diags:?}"
    );
    // Under the limit: clean.
    let (code, diags) = check_limited(
        dir.path(),
        &doubling("\"xxxxxxxx\"", "$PREV + $PREV", 10, "$LAST"),
        &small,
    );
    assert!(code == Some(0) && diags.is_empty(), "{diags:?}");
}

#[test]
fn endless_loops_are_a_resource_limit() {
    let dir = tempfile::tempdir().unwrap();
    let steps = [("FLEET_MAX_EVAL_STEPS", "200000")];
    let cases = [
        (
            "nested comprehensions",
            "let $x = [for $i in range(1, 1000000) : [for $j in range(1, 1000000) : $i + $j]]\nfile \"/etc/x\" { content = \"${length($x)}\" }\n",
            (1, 10),
        ),
        (
            "nested for loops",
            "for $i in range(1, 1000000) {\n  for $j in range(1, 1000000) {\n    notice(\"x\")\n  }\n}\n",
            (2, 0),
        ),
    ];
    for (what, text, (line, _)) in cases {
        let (code, diags) = check_limited(dir.path(), text, &steps);
        assert_eq!(code, Some(1), "{what}: {diags:?}");
        assert!(
            diags.len() == 1 && diags[0].0 == "resource-limit" && diags[0].1 <= line,
            "{what}: {diags:?}"
        );
    }
}

#[test]
fn endless_templates_are_a_resource_limit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("loops.j2"),
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("big.j2"),
        "{% for i in range(100000) %}{{ line }}{% endfor %}\n",
    )
    .unwrap();
    let text = "file \"/etc/x\" { content = template(\"loops.j2\") }\n";
    let (code, diags) = check_limited(dir.path(), text, &[("FLEET_MAX_TEMPLATE_FUEL", "100000")]);
    assert!(
        code == Some(1) && diags == [("resource-limit".into(), 1, 36)],
        "{diags:?}"
    );
    let text = "let $line = \"0123456789012345678901234567890123456789\"\nfile \"/etc/x\" { content = template(\"big.j2\") }\n";
    let (code, diags) = check_limited(dir.path(), text, &[("FLEET_MAX_VALUE_BYTES", "100000")]);
    assert!(
        code == Some(1) && diags == [("resource-limit".into(), 2, 36)],
        "{diags:?}"
    );
    // Within the limits: clean.
    let (code, diags) = check_limited(dir.path(), text, &[]);
    assert!(code == Some(0) && diags.is_empty(), "{diags:?}");
}
