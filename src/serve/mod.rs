//! Placeholder for `srelab serve`; see the issue that builds it.

pub mod metrics;

use std::process::ExitCode;

/// Arguments of `srelab serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `srelab serve`.
pub fn main(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("srelab serve is not built yet")
}
