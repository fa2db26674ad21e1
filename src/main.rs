// mimalloc: the front end allocates millions of small strings, vectors and maps; with
// glibc's malloc, allocation was about a third of `fleet check`'s instructions
// (docs/performance.md). Transparent huge pages are off at build time (the `no_thp`
// feature): with them, freed memory went back to the system only in 2 MiB pieces.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "mimalloc")]
extern "C" {
    // mimalloc.h (v3): `void mi_option_set(mi_option_t option, long value)`.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// mimalloc's `mi_option_purge_delay` (v3's `mi_option_e`): milliseconds before freed memory
/// goes back to the system (10 by default).
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Freed memory goes back at once while a big program is parsed and once a node is big: at
/// 100,000 resources that keeps the peak resident size near the live heap (87 MB instead of
/// 103) while the catalog replaces the evaluation. Otherwise mimalloc's default delay: at once,
/// re-faulting returned pages cost 5% of a `fleet check` of 10,000 resources and 40% of a
/// `compile --all` of 1,000 small nodes.
#[cfg(feature = "mimalloc")]
fn tune(freed: fleet::Freed) {
    let delay = match freed {
        fleet::Freed::Return => 0,
        fleet::Freed::Keep => 10,
    };
    // SAFETY: sets an option; mimalloc reads it at its next purge.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, delay) };
}

fn main() -> std::process::ExitCode {
    #[cfg(feature = "mimalloc")]
    fleet::on_memory_change(tune);
    fleet::main().into()
}
