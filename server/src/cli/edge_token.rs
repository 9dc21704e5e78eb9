//! `utizmon-server edge-token add|revoke HOST --tokens-file FILE`.
//!
//! `add` prints the new token once, as the last line on stdout; the file keeps only its
//! hash, so a lost token is replaced, never recovered.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::auth::edge_tokens;

/// `edge-token` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Give HOST a fresh token (replacing its old one) and print it once on stdout.
    Add {
        /// Host name exactly as its edge reports it (`--host-name`).
        host: String,
        /// The `--edge-tokens-file` of the server (created, mode 0600, if missing).
        #[arg(long, env = "UTIZMON_EDGE_TOKENS_FILE")]
        tokens_file: PathBuf,
    },
    /// Remove HOST's token: its edge is refused from its next connection on.
    Revoke {
        /// Host name.
        host: String,
        /// The `--edge-tokens-file` of the server.
        #[arg(long, env = "UTIZMON_EDGE_TOKENS_FILE")]
        tokens_file: PathBuf,
    },
}

/// Runs one `edge-token` subcommand.
pub fn run(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Add { host, tokens_file } => {
            let token = edge_tokens::add(tokens_file, host)?;
            eprintln!(
                "added a token for {host:?} to {}; put it in the edge's --token-file:",
                tokens_file.display()
            );
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{token}").context("writing to stdout")?;
            stdout.flush().context("flushing stdout")
        }
        Command::Revoke { host, tokens_file } => {
            edge_tokens::revoke(tokens_file, host)?;
            eprintln!("revoked the token of {host:?} in {}", tokens_file.display());
            Ok(())
        }
    }
}
