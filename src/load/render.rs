//! `srelab load report FILE [--baseline FILE] [--html OUT]`: a saved JSON
//! report as text on stdout, or as the HTML page (beside a baseline's).

use std::process::ExitCode;

use super::{args::ReportArgs, baseline, html, text};

/// Renders a saved report; a file that is not one is the user's mistake.
pub fn main(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let read = |path| match baseline::read(path) {
        Ok(report) => Ok(report),
        Err(e) => {
            eprintln!("error: {e:#}");
            Err(ExitCode::from(2))
        }
    };
    let report = match read(&args.report) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let baseline = match args.baseline.as_deref().map(read).transpose() {
        Ok(b) => b,
        Err(code) => return Ok(code),
    };
    match &args.html {
        Some(out) => html::write(out, &report, baseline.as_ref())?,
        None => print!("{}", text::render(&report)),
    }
    Ok(ExitCode::SUCCESS)
}
