//! Placeholder for `srelab load`; see the issue that builds it.

use std::process::ExitCode;

/// Arguments of `srelab load`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `srelab load`.
pub fn main(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("srelab load is not built yet")
}
