//! `srelab load report FILE [--baseline FILE] [--html OUT]`: a saved JSON
//! report as text on stdout, or as the HTML page (beside a baseline's).

use std::process::ExitCode;

use super::{args::ReportArgs, baseline, html, text};
use crate::UsageError;

/// Renders a saved report; a file that is not one is the user's mistake.
pub fn main(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let report = baseline::read(&args.report).map_err(UsageError)?;
    let baseline = match &args.baseline {
        Some(path) => Some(baseline::read(path).map_err(UsageError)?),
        None => None,
    };
    match &args.html {
        Some(out) => html::write(out, &report, baseline.as_ref())?,
        None => print!("{}", text::render(&report)),
    }
    Ok(ExitCode::SUCCESS)
}
