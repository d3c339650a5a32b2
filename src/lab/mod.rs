//! Placeholder for `srelab lab`; see the issue that builds it.

pub mod defaults;

use std::process::ExitCode;

/// Arguments of `srelab lab`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `srelab lab`.
pub fn main(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("srelab lab is not built yet")
}
