//! `srelab slo`: the SLOs of `spec/slo.toml` turned into what checks them.
//!
//! - [`spec`]: the SLO file, checked, and what follows from it (budgets,
//!   burn-rate factors, windows); [`duration`]: Prometheus' duration syntax.
//! - [`rules`]: recording rules of the error ratios and the multiwindow
//!   burn-rate alerts (`prometheus/slo.yml`).
//! - [`promtool_tests`]: their promtool unit tests (`prometheus/slo.test-*.yml`).
//! - [`dashboard`]: the error-budget dashboard (`grafana/dashboards/srelab-slo.json`).
//! - [`gates`]: the `srelab load` options that hold the SLOs.
//!
//! The generated files are committed; `srelab slo generate --check` (and a
//! test) fails when one differs from what the generator makes now.

pub mod dashboard;
pub mod duration;
pub mod gates;
pub mod promtool_tests;
pub mod rules;
pub mod spec;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::UsageError;
use spec::Spec;

/// The SLO file, relative to the repository root.
pub const SPEC_PATH: &str = "spec/slo.toml";
/// The generated rules, relative to the repository root.
pub const RULES_PATH: &str = "prometheus/slo.yml";

/// Arguments of `srelab slo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 done; 1 a generated file differs (--check); 2 an unreadable or invalid SLO file."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: SloCommand,
}

/// What `srelab slo` does.
#[derive(Debug, clap::Subcommand)]
pub enum SloCommand {
    /// Write the rules, their promtool tests and the error-budget dashboard from the SLO file.
    Generate {
        /// The SLO file.
        #[arg(long, default_value = SPEC_PATH, value_name = "PATH")]
        spec: PathBuf,
        /// The repository root the files are written under.
        #[arg(long, default_value = ".", value_name = "DIR")]
        root: PathBuf,
        /// Write nothing; exit 1 naming every file that differs.
        #[arg(long)]
        check: bool,
    },
    /// Print the `srelab load` options that hold the SLOs (e.g. `srelab load $(srelab slo gates) …`).
    Gates {
        /// The SLO file.
        #[arg(long, default_value = SPEC_PATH, value_name = "PATH")]
        spec: PathBuf,
    },
}

/// Every generated file: its path under the root, and its text.
pub fn generate(spec: &Spec) -> Result<Vec<(String, String)>, String> {
    let mut files = vec![(RULES_PATH.to_owned(), rules::rules_yaml(spec))];
    files.extend(promtool_tests::tests_yaml(spec)?);
    files.push((
        format!("grafana/dashboards/{}", dashboard::FILE),
        dashboard::dashboard_json(spec),
    ));
    Ok(files)
}

/// The generated files under `root` that differ from `generate`'s output.
pub fn stale(spec: &Spec, root: &Path) -> Result<Vec<String>, String> {
    Ok(generate(spec)?
        .into_iter()
        .filter(|(path, text)| std::fs::read_to_string(root.join(path)).ok().as_ref() != Some(text))
        .map(|(path, _)| path)
        .collect())
}

/// Runs `srelab slo`.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        SloCommand::Generate { spec, root, check } => {
            let spec = Spec::load(&spec).map_err(UsageError::new)?;
            if check {
                let stale = stale(&spec, &root).map_err(anyhow::Error::msg)?;
                if stale.is_empty() {
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!(
                    "error: generated from {SPEC_PATH} but differing: {}; run `srelab slo generate`",
                    stale.join(", ")
                );
                return Ok(ExitCode::FAILURE);
            }
            for (path, text) in generate(&spec).map_err(anyhow::Error::msg)? {
                let path = root.join(path);
                std::fs::write(&path, text)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        SloCommand::Gates { spec } => {
            let spec = Spec::load(&spec).map_err(UsageError::new)?;
            let (args, notes) = gates::gates(&spec);
            for note in notes {
                eprintln!("note: {note}");
            }
            println!("{}", args.join(" "));
            Ok(ExitCode::SUCCESS)
        }
    }
}
