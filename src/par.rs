//! Work on every core: a fixed set of scoped threads taking jobs in order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// `f` over `jobs` on up to `threads` threads with `stack` bytes of stack each (workers take
/// jobs in order); the results in job order. None as soon as one job gives None (the others
/// not yet started are skipped) or a thread cannot be started. A panic in a job is
/// re-raised here with its own message.
pub(crate) fn map<J: Sync, T: Send>(
    threads: usize,
    stack: usize,
    jobs: &[J],
    f: impl Fn(&J) -> Option<T> + Sync,
) -> Option<Vec<T>> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let failed = AtomicBool::new(false);
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for _ in 0..threads.min(jobs.len()) {
            let work = || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                match f(job) {
                    Some(out) => *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out),
                    None => failed.store(true, Ordering::Relaxed),
                }
            };
            match std::thread::Builder::new()
                .name("fleet-worker".into())
                .stack_size(stack)
                .spawn_scoped(s, work)
            {
                Ok(h) => handles.push(h),
                Err(_) => failed.store(true, Ordering::Relaxed),
            }
        }
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    if failed.into_inner() {
        return None;
    }
    slots
        .into_iter()
        .map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// The number of cores (1 when unknown).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
