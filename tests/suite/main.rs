//! The integration tests that use the ordinary test harness, as one binary (one link instead of
//! eighteen): each module is one former `tests/NAME.rs`, so a test is `NAME::test_name`
//! (`cargo test --test suite apply_file::` runs one module). The data-driven harnesses
//! (`conformance`, `ui`, `examples`: `harness = false` in Cargo.toml) stay separate binaries.

#[path = "../support/mod.rs"]
mod support;

mod agent;
mod apply_engine;
mod apply_example;
mod apply_exec_service;
mod apply_file;
mod apply_file_line;
mod apply_output;
mod apply_package;
mod apply_user;
mod ca;
mod cli_errors;
mod commands;
mod fleet_data;
mod fmt;
mod layering;
mod lsp;
mod mutations;
mod okbuy;
mod parse;
mod ports;
mod provision;
mod provision_dhcp;
mod provision_reinstall;
mod provision_vm;
mod push_ssh;
mod release_cli;
mod release_deploy;
mod release_example;
mod report_cli;
mod run_ssh;
mod serve;
mod serve_cluster;
mod stdlib;
mod stdlib_monitoring;
mod stdlib_web;
