//! `utizmon-server user add NAME --users-file FILE`: the password is read from stdin (one
//! line), never from an argument, so it stays out of `ps` and shell history.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context};

use crate::auth::users;

/// `user` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Add NAME (or set its password), reading the password from stdin.
    Add {
        /// User name: 1..=64 characters of A-Z a-z 0-9 . _ -
        name: String,
        /// The `--users-file` of the server (created, mode 0600, if missing).
        #[arg(long, env = "UTIZMON_USERS_FILE")]
        users_file: PathBuf,
    },
}

/// Runs one `user` subcommand; the password comes from `stdin`.
pub fn run(command: &Command, stdin: &mut dyn BufRead) -> anyhow::Result<()> {
    match command {
        Command::Add { name, users_file } => {
            let mut line = String::new();
            stdin
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            let password = line.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                bail!("no password on stdin (pipe it in: `printf '%s\\n' \"$PASSWORD\" | utizmon-server user add NAME --users-file FILE`)");
            }
            users::add(users_file, name, password)?;
            eprintln!("user {name:?} saved in {}", users_file.display());
            Ok(())
        }
    }
}
