// mimalloc: the front end allocates millions of small strings, vectors and maps; with
// glibc's malloc, allocation was about a third of `fleet check`'s instructions
// (docs/performance.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(fleet::cli::main());
}
