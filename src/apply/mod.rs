//! Plan (desired vs current), noop, execution and reports; `providers/` does the system IO.
