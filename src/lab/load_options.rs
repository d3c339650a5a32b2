//! The load tool's options after `--`, checked before the lab starts: a
//! mistake there is a flag mistake of `srelab lab` (exit 2), not a child that
//! dies once everything runs.

use std::time::Duration;

use clap::Parser as _;

use super::stack::Plan;

/// Parses the load tool's command line as the lab will run it, so a
/// mistake in the options after `--` is found before anything starts.
pub(super) fn check(plan: &Plan, duration: Duration) -> anyhow::Result<()> {
    let owned: [(&[&str], &str); 2] = [
        (
            &["-d", "--duration"],
            "give the load's duration to --load (with --check: --duration)",
        ),
        (
            &["--metrics-listen"],
            "the lab sets it to --load-metrics-port, where Prometheus scrapes",
        ),
    ];
    for (flags, why) in owned {
        if plan.load_option_given(flags) {
            anyhow::bail!("the load options after `--`: {}: {why}", flags.join("/"));
        }
    }
    parse(plan.load_args(duration, false))
}

/// Parses `srelab load ARGV` as the lab will run it; the error names the
/// options after `--`.
pub(super) fn parse(argv: Vec<String>) -> anyhow::Result<()> {
    #[derive(clap::Parser)]
    #[command(name = "srelab load")]
    struct LoadCli {
        #[command(flatten)]
        args: crate::load::Args,
    }
    let argv = std::iter::once("srelab load".to_owned()).chain(argv);
    let cli = LoadCli::try_parse_from(argv).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        anyhow::anyhow!(
            "the load options after `--`: {}",
            first.trim_start_matches("error: ")
        )
    })?;
    crate::load::run::check_flags(&cli.args)
        .and_then(|()| crate::load::capacity::args::check_flags(&cli.args))
        .map_err(|e| anyhow::anyhow!("the load options after `--`: {e}"))
}
