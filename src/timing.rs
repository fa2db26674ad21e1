//! `FLEET_TIMINGS=1`: each stage of the front end prints its wall time on stderr (for
//! profiling; docs/performance.md). Off, a stage costs one load of a cached flag.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FLEET_TIMINGS").is_some_and(|v| v != "0"))
}

/// Runs `f`, printing `fleet: <what> <ms> ms` when timings are on (`what` is only
/// formatted then: `stage(format_args!("evaluate {node}"), …)` costs nothing when off).
pub(crate) fn stage<T>(what: std::fmt::Arguments<'_>, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let start = Instant::now();
    let out = f();
    eprintln!(
        "fleet: {what} {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    out
}
