//! `srelab verify items REPORT --rows-before N --rows-after M`: the items a
//! load run created (`items_created` of its JSON report, over every phase
//! and target) equal the rows the database gained during the run. The
//! NixOS VM test counts the rows on the database's machine and hands the
//! two counts over; this is where they are compared.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;

/// Arguments of `srelab verify items`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The load run's JSON report (`srelab load -o json -O REPORT`).
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// Rows of the items table before the run.
    #[arg(long, value_name = "N")]
    pub rows_before: u64,
    /// Rows of the items table after the run.
    #[arg(long, value_name = "N")]
    pub rows_after: u64,
}

/// Runs `srelab verify items`: exit 0 when the counts agree, 1 otherwise.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let created = items_created(&args.report)?;
    let gained = args.rows_after.checked_sub(args.rows_before);
    if gained == Some(created) {
        println!("items: the load created {created} items and the database gained {created} rows");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "verify: the load created {created} items but the database went from {} to {} rows",
        args.rows_before, args.rows_after
    );
    Ok(ExitCode::FAILURE)
}

/// The sum of `items_created` over every phase and target of a report file.
pub fn items_created(path: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the load report {}", path.display()))?;
    let report: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    sum_created(&report).with_context(|| {
        format!(
            "{} is not a JSON report of srelab load (no srelab.phases.*.targets[].items_created)",
            path.display()
        )
    })
}

fn sum_created(report: &Value) -> Option<u64> {
    let phases = report.get("srelab")?.get("phases")?.as_object()?;
    let mut sum = 0;
    for phase in phases.values() {
        for target in phase.get("targets")?.as_array()? {
            sum += target.get("items_created")?.as_u64()?;
        }
    }
    Some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_phase_and_target() {
        let report = serde_json::json!({"srelab": {"phases": {
            "warmup": {"targets": [{"items_created": 1}, {"items_created": 2}]},
            "steady": {"targets": [{"items_created": 30}, {"items_created": 40}]},
        }}});
        assert_eq!(sum_created(&report), Some(73));
        assert_eq!(sum_created(&serde_json::json!({"summary": {}})), None);
        let broken = serde_json::json!({"srelab": {"phases": {"steady": {"targets": [{}]}}}});
        assert_eq!(sum_created(&broken), None);
    }
}
