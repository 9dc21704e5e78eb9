//! `utizmon-server alert-rules defaults` prints the built-in rules in the rules-file
//! format; `utizmon-server alert-rules check FILE` validates a file (exit 1 with the line
//! and the reason), the same check the server makes at start-up.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::alerts::rules::{RuleSet, DEFAULT_RULES_YAML};

/// `alert-rules` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AlertRules {
    /// Print the built-in rules as a rules file, to edit and pass with --alert-rules.
    Defaults,
    /// Check a rules file; exit 1 with the line and reason of the first error.
    Check {
        /// The rules file.
        file: PathBuf,
    },
}

/// Runs one `alert-rules` subcommand.
pub fn run(command: &AlertRules) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        AlertRules::Defaults => stdout
            .write_all(DEFAULT_RULES_YAML.as_bytes())
            .context("writing to stdout")?,
        AlertRules::Check { file } => {
            let rules = RuleSet::load(file)?;
            writeln!(
                stdout,
                "{}: {} rules ok: {}",
                file.display(),
                rules.rules.len(),
                rules
                    .rules
                    .iter()
                    .map(|r| r.alert.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .context("writing to stdout")?;
        }
    }
    stdout.flush().context("flushing stdout")
}
