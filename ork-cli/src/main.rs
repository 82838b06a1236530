//! `ork`: inspect and operate ork queues, workers and workflows from a
//! terminal, and serve a web dashboard.
//!
//! It reads the same Redis as the workers and never needs the tasks' Rust
//! types: arguments written with the JSON codec are shown as JSON, others as
//! bytes. Run `ork --help` for the commands.

mod cli;
mod commands;
mod connect;
mod dashboard;
mod error;
mod format;
mod graph;
mod table;

use ork_dashboard::view;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(commands::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.code())
        }
    }
}
