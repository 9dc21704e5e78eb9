//! Subcommands of `utizmon-server` (one file each); `main.rs` runs them instead of the
//! server when one is given. `edge-token` and `user` edit files the running server
//! re-reads; none of them starts the server.

pub mod alert_rules;
pub mod edge_token;
pub mod user;

/// What `utizmon-server <command>` does instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print the built-in alert rules, or check a rules file.
    #[command(subcommand)]
    AlertRules(alert_rules::AlertRules),
    /// Per-host edge tokens (`--edge-tokens-file`).
    #[command(subcommand)]
    EdgeToken(edge_token::Command),
    /// Dashboard users (`--users-file`).
    #[command(subcommand)]
    User(user::Command),
}

/// Runs a subcommand; an error exits 1 with its message.
pub fn run(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::AlertRules(command) => alert_rules::run(command),
        Command::EdgeToken(command) => edge_token::run(command),
        Command::User(command) => user::run(command, &mut std::io::stdin().lock()),
    }
}
