//! What the binary's allocator is told about the work ahead.
//!
//! The library does not know which allocator the binary links; `main` registers a hook that
//! tunes it. Memory freed while a big program is parsed (the parser's queues of a megabyte of
//! manifest) and while a big node's catalog replaces its evaluation should go back to the
//! system at once, or the resident peak holds both; everywhere else (small programs, or a
//! thousand small nodes in `compile --all`) freed pages are better kept for reuse.

use std::sync::OnceLock;

/// Manifests at least this big (the files named to a command) are parsed with [`Freed::Return`].
pub(crate) const BIG_PROGRAM_BYTES: usize = 256 * 1024;

/// A node with this many declarations is a big node: [`Freed::Return`] from then on.
pub(crate) const BIG_NODE_RESOURCES: usize = 25_000;

/// What to do with freed memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freed {
    /// Give it back to the system at once.
    Return,
    /// Keep it a while for reuse (the allocator's default).
    Keep,
}

static HOOK: OnceLock<fn(Freed)> = OnceLock::new();

/// Registers the allocator's hook (once per process; later calls are ignored).
pub fn on_change(hook: fn(Freed)) {
    let _ = HOOK.set(hook);
}

pub(crate) fn set(freed: Freed) {
    if let Some(hook) = HOOK.get() {
        hook(freed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    static SEEN: Mutex<Vec<Freed>> = Mutex::new(Vec::new());

    fn record(f: Freed) {
        SEEN.lock().unwrap().push(f);
    }

    fn check(text: String) {
        let program = crate::program::Program::load_with(
            vec![("site.fleet".into(), text)],
            Default::default(),
        );
        program.check();
    }

    #[test]
    fn big_programs_and_big_nodes_return_freed_memory() {
        on_change(record);
        let execs =
            |n: usize| -> String { (0..n).map(|i| format!("exec \"e{i}\" {{}}\n")).collect() };
        check(execs(100));
        assert_eq!(*SEEN.lock().unwrap(), []);
        // A node reaching the size (in a program big enough on its own).
        let text = execs(BIG_NODE_RESOURCES);
        assert!(text.len() >= BIG_PROGRAM_BYTES);
        check(text);
        assert_eq!(
            *SEEN.lock().unwrap(),
            [Freed::Return, Freed::Keep, Freed::Return]
        );
        SEEN.lock().unwrap().clear();
        // A big program of small nodes: returned while parsing, kept after.
        let mut text = execs(10);
        while text.len() < BIG_PROGRAM_BYTES {
            text.push_str(&format!("node \"n{}\" {{ exec \"x\" {{}} }}\n", text.len()));
        }
        check(text);
        assert_eq!(*SEEN.lock().unwrap(), [Freed::Return, Freed::Keep]);
    }
}
