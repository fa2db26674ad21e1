//! Criterion benchmarks of the in-process stages, one group per stage, so that a regression
//! in one stage shows on its own: parse, load (read + parse), compile (evaluate, catalog,
//! graph), check (every node, lints), to_doc (the catalog wire format, sealed), wire (the
//! same JSON streamed, as `fleet compile` writes it), and the apply engine's noop plan on an
//! empty root and on an applied one (steady state).
//!
//! Input comes from `bench/gen.py` (the one generator of benchmark manifests), written into
//! a temporary directory when the benchmark starts. `FLEET_BENCH_SIZES=1000,10000` chooses
//! the resource counts (default 1000 and 10000). The `shapes` group parses, and loads, the
//! other shapes at 10,000 resources (`FLEET_BENCH_SHAPES`, default `classes,repo`): one big
//! file of classes, and a control repository of 501 files; its throughput is in bytes.

use std::io::Seek;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use fleet::internals::apply::{Options as ApplyOptions, Providers};
use fleet::internals::catalog::store::ContentStore;
use fleet::internals::program::{Options, Program};
use fleet::internals::source::FileId;
use fleet::internals::sys::root::Root;

struct Input {
    resources: u64,
    manifest: PathBuf,
    text: String,
    _dir: tempfile::TempDir,
}

/// Runs the generator for `resources` resources and reads back the fleet manifest.
fn generate(resources: u64) -> Input {
    let dir = tempfile::tempdir().expect("tempdir");
    let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen.py");
    let status = Command::new("python3")
        .arg(&gen)
        .args(["--resources", &resources.to_string(), "--out"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 bench/gen.py");
    assert!(status.success(), "bench/gen.py failed");
    let manifest = dir.path().join("fleet/site.fleet");
    let text = std::fs::read_to_string(&manifest).expect("generated manifest");
    Input {
        resources,
        manifest,
        text,
        _dir: dir,
    }
}

fn sizes() -> Vec<u64> {
    std::env::var("FLEET_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn stages(c: &mut Criterion) {
    let inputs: Vec<Input> = sizes().into_iter().map(generate).collect();

    let mut group = c.benchmark_group("parse");
    for input in &inputs {
        group.throughput(Throughput::Bytes(input.text.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(input.resources),
            &input.text,
            |b, text| {
                b.iter(|| {
                    let (ast, diags) = fleet::internals::syntax::parse(FileId(0), text);
                    assert!(diags.is_empty());
                    ast
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("load");
    for input in &inputs {
        group.throughput(Throughput::Elements(input.resources));
        group.bench_with_input(
            BenchmarkId::from_parameter(input.resources),
            &input.manifest,
            |b, manifest| {
                b.iter(|| Program::load(std::slice::from_ref(manifest), Options::default()))
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("compile");
    for input in &inputs {
        let program = Program::load(std::slice::from_ref(&input.manifest), Options::default());
        group.throughput(Throughput::Elements(input.resources));
        group.bench_with_input(
            BenchmarkId::from_parameter(input.resources),
            &program,
            |b, program| {
                b.iter(|| {
                    let (catalog, diags) = program.compile("bench01", &ContentStore::new());
                    assert!(catalog.is_some(), "{diags:?}");
                    catalog
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("check");
    for input in &inputs {
        let program = Program::load(std::slice::from_ref(&input.manifest), Options::default());
        group.throughput(Throughput::Elements(input.resources));
        group.bench_with_input(
            BenchmarkId::from_parameter(input.resources),
            &program,
            |b, program| b.iter(|| program.check()),
        );
    }
    group.finish();
}

/// One of bench/gen.py's other shapes at 10,000 resources: every `.fleet` file's text, and
/// the main manifest.
struct Shape {
    name: String,
    texts: Vec<String>,
    manifest: PathBuf,
    _dir: tempfile::TempDir,
}

fn generate_shape(name: &str) -> Shape {
    let dir = tempfile::tempdir().expect("tempdir");
    let gen = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen.py");
    let status = Command::new("python3")
        .arg(&gen)
        .args(["--shape", name, "--resources", "10000", "--out"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 bench/gen.py");
    assert!(status.success(), "bench/gen.py failed");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("meta.json")).unwrap())
            .expect("meta.json");
    let texts = meta["fleet_files"]
        .as_array()
        .expect("fleet_files")
        .iter()
        .map(|f| std::fs::read_to_string(dir.path().join(f.as_str().unwrap())).unwrap())
        .collect();
    Shape {
        name: name.to_string(),
        texts,
        manifest: dir.path().join("fleet/site.fleet"),
        _dir: dir,
    }
}

/// `parse`: every file of the shape parsed in turn (a big file in pieces on every core, as
/// `syntax::parse` does); `load`: `Program::load` of its main manifest (reading, imports,
/// data, the files parsed on every core).
fn shapes(c: &mut Criterion) {
    let names = std::env::var("FLEET_BENCH_SHAPES").unwrap_or_else(|_| "classes,repo".into());
    let shapes: Vec<Shape> = names
        .split(',')
        .filter(|s| !s.is_empty())
        .map(generate_shape)
        .collect();
    let mut group = c.benchmark_group("shape_parse");
    for shape in &shapes {
        let bytes: usize = shape.texts.iter().map(String::len).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(&shape.name),
            &shape.texts,
            |b, texts| {
                b.iter(|| {
                    for (i, text) in texts.iter().enumerate() {
                        let (_, diags) = fleet::internals::syntax::parse(FileId(i as u32), text);
                        assert!(diags.is_empty(), "{diags:?}");
                    }
                })
            },
        );
    }
    group.finish();
    let mut group = c.benchmark_group("shape_load");
    for shape in &shapes {
        let bytes: usize = shape.texts.iter().map(String::len).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(&shape.name),
            &shape.manifest,
            |b, manifest| {
                b.iter(|| {
                    let p = Program::load(std::slice::from_ref(manifest), Options::default());
                    assert!(p.load_diags.is_empty());
                    p
                })
            },
        );
    }
    group.finish();
}

/// A sandbox root holding just the `root` user and group (file owners resolve inside it).
fn sandbox() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::create_dir_all(dir.path().join("srv")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("etc/group"), "root:x:0:\n").unwrap();
    dir
}

fn apply_options(root: &Path, noop: bool) -> ApplyOptions {
    ApplyOptions {
        root: Root::new(root).expect("root"),
        state_dir: root.join("var/lib/fleet"),
        noop,
        jobs: 0,
        show_diff: false,
        fsync: true,
        chroot: false,
        host_commands: false,
        tags: Default::default(),
    }
}

fn plan(c: &mut Criterion) {
    let inputs: Vec<Input> = sizes().into_iter().map(generate).collect();
    let providers = Providers::standard();

    // Each input's program and bench01 catalog, compiled once for the two writer groups.
    let compiled: Vec<(&Input, Program, fleet::internals::catalog::Catalog)> = inputs
        .iter()
        .map(|input| {
            let program = Program::load(std::slice::from_ref(&input.manifest), Options::default());
            let (catalog, _) = program.compile("bench01", &ContentStore::new());
            (input, program, catalog.expect("catalog"))
        })
        .collect();

    let mut group = c.benchmark_group("to_doc");
    for (input, program, catalog) in &compiled {
        group.throughput(Throughput::Elements(input.resources));
        group.bench_with_input(
            BenchmarkId::from_parameter(input.resources),
            catalog,
            |b, catalog| b.iter(|| fleet::internals::catalog::to_doc(catalog, &program.sources)),
        );
    }
    group.finish();

    // What `fleet compile` does instead of `to_doc`: hash the compact form, stream the pretty
    // form (here into a sink).
    let mut group = c.benchmark_group("wire");
    for (input, program, catalog) in &compiled {
        group.throughput(Throughput::Elements(input.resources));
        group.bench_with_input(
            BenchmarkId::new("version", input.resources),
            catalog,
            |b, catalog| {
                b.iter(|| fleet::internals::catalog::wire::version(catalog, &program.sources))
            },
        );
        group.bench_with_input(
            BenchmarkId::new("write_pretty", input.resources),
            catalog,
            |b, catalog| {
                b.iter(|| {
                    fleet::internals::catalog::wire::write_pretty(
                        catalog,
                        &program.sources,
                        std::io::sink(),
                    )
                })
            },
        );
        // One pass, into a file.
        let file = tempfile::tempfile().expect("temp file");
        group.bench_with_input(
            BenchmarkId::new("write_pretty_seekable", input.resources),
            catalog,
            |b, catalog| {
                b.iter(|| {
                    let mut f = &file;
                    f.set_len(0).expect("truncate");
                    f.rewind().expect("rewind");
                    fleet::internals::catalog::wire::write_pretty_seekable(
                        catalog,
                        &program.sources,
                        f,
                    )
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("plan");
    for input in &inputs {
        let program = Program::load(std::slice::from_ref(&input.manifest), Options::default());
        let store = ContentStore::new();
        let (catalog, _) = program.compile("bench01", &store);
        let doc = fleet::internals::catalog::to_doc(&catalog.expect("catalog"), &program.sources);
        group.throughput(Throughput::Elements(input.resources));

        let empty = sandbox();
        let opts = apply_options(empty.path(), true);
        group.bench_with_input(
            BenchmarkId::new("empty", input.resources),
            &doc,
            |b, doc| {
                b.iter(|| {
                    fleet::internals::apply::run(doc, &store, &providers, &opts).expect("plan")
                })
            },
        );

        let applied = sandbox();
        let run = fleet::internals::apply::run(
            &doc,
            &store,
            &providers,
            &apply_options(applied.path(), false),
        )
        .expect("apply");
        assert!(!run.failed(), "the benchmark catalog must apply cleanly");
        let opts = apply_options(applied.path(), true);
        group.bench_with_input(
            BenchmarkId::new("steady", input.resources),
            &doc,
            |b, doc| {
                b.iter(|| {
                    let run =
                        fleet::internals::apply::run(doc, &store, &providers, &opts).expect("plan");
                    assert!(!run.changed());
                    run
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = stages, plan, shapes
}
criterion_main!(benches);
