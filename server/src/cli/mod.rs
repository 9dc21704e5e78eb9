//! Offline subcommands of `utizmon-server` (`edge-token`, `user`): one file each. They edit
//! files the running server re-reads, and never start the server.

pub mod edge_token;
pub mod user;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// The subcommands, parsed only when the first argument names one.
#[derive(Debug, clap::Parser)]
#[command(
    name = "utizmon-server",
    about = "utizmon master: administration commands"
)]
enum Command {
    /// Per-host edge tokens (`--edge-tokens-file`).
    #[command(subcommand)]
    EdgeToken(edge_token::Command),
    /// Dashboard users (`--users-file`).
    #[command(subcommand)]
    User(user::Command),
}

/// Names [`run`] handles.
const NAMES: [&str; 2] = ["edge-token", "user"];

/// Runs the subcommand `args` names, or returns `None` when `args[1]` is not a subcommand
/// (the caller then starts the server).
pub fn run(args: &[OsString]) -> Option<ExitCode> {
    let first = args.get(1)?.to_str()?;
    if !NAMES.contains(&first) {
        return None;
    }
    let command = Command::parse_from(args);
    let result = match command {
        Command::EdgeToken(command) => edge_token::run(command),
        Command::User(command) => user::run(command, &mut std::io::stdin().lock()),
    };
    Some(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("utizmon-server: {e:#}");
            ExitCode::FAILURE
        }
    })
}
