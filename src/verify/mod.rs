//! Placeholder for `srelab verify`; see the issue that builds it.

use std::process::ExitCode;

/// Arguments of `srelab verify`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `srelab verify`.
pub fn main(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("srelab verify is not built yet")
}
