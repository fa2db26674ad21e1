//! What the binary's allocator is told about the work ahead.
//!
//! The library does not know which allocator the binary links; `main` registers a hook that
//! tunes it for a big program. A program of a few hundred kilobytes (tens of thousands of
//! resources) should give freed memory back to the system at once, so that the catalog
//! replacing the evaluation does not raise the peak; a small one runs faster when freed
//! pages are kept for reuse.

use std::sync::OnceLock;

/// Manifests at least this big (the files named to a command) make a big program.
pub const BIG_PROGRAM_BYTES: usize = 256 * 1024;

static ON_BIG_PROGRAM: OnceLock<fn()> = OnceLock::new();

/// Registers what to do when a big program is loaded (once per process; later calls are
/// ignored).
pub fn on_big_program(hook: fn()) {
    let _ = ON_BIG_PROGRAM.set(hook);
}

/// Called by `Program` when the manifests it loads total `bytes`.
pub(crate) fn program_loaded(bytes: usize) {
    if bytes >= BIG_PROGRAM_BYTES {
        if let Some(hook) = ON_BIG_PROGRAM.get() {
            hook();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        CALLS.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn only_a_big_program_calls_the_hook() {
        on_big_program(count);
        program_loaded(BIG_PROGRAM_BYTES - 1);
        assert_eq!(CALLS.load(Ordering::SeqCst), 0);
        program_loaded(BIG_PROGRAM_BYTES);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    }
}
