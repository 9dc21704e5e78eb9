//! Subcommands of `utizmon-server` (one file each); `main.rs` runs them instead of the
//! server when one is given.

pub mod alert_rules;

/// What `utizmon-server <command>` does instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print the built-in alert rules, or check a rules file.
    #[command(subcommand)]
    AlertRules(alert_rules::AlertRules),
}

/// Runs a subcommand; an error exits 1 with its message.
pub fn run(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::AlertRules(command) => alert_rules::run(command),
    }
}
