//! The target system under `--root`, for the rooms that change it (`apply`, `release`, and
//! `provision`'s `virsh` calls): `root` maps paths under the root without ever leaving it
//! (openat2 `RESOLVE_IN_ROOT`, pinned directory handles); `command` runs `/bin/sh -c`
//! scripts, or programs with their arguments and no shell, with a timeout, on the host with
//! `FLEET_ROOT` set or inside the root with chroot(2).
//!
//! It sits below both: `apply/providers/release.rs` plugs releases into apply, and releases
//! use the same root handles and command runner, so neither may live inside apply.

pub(crate) mod command;
pub(crate) mod root;
