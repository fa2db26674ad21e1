// mimalloc: the front end allocates millions of small strings, vectors and maps; with
// glibc's malloc, allocation was about a third of `fleet check`'s instructions
// (docs/performance.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "mimalloc")]
extern "C" {
    // mimalloc.h (v3): `void mi_option_set(mi_option_t option, long value)`.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// mimalloc's `mi_option_purge_delay` (v3's `mi_option_e`): milliseconds before freed memory
/// goes back to the system.
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() {
    // Memory freed while the catalog replaces the evaluation is returned at once rather than
    // after 10 ms (100 ms in arenas): at 100,000 resources that keeps the peak resident size
    // near the live heap (104 MB instead of 125) for about 5% more CPU time. Transparent huge
    // pages are off at build time (the `no_thp` feature) for the same reason.
    #[cfg(feature = "mimalloc")]
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, 0)
    };
    std::process::exit(fleet::cli::main());
}
