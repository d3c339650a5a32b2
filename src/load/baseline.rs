//! Saved reports: srelab's section kept beside rlt's baselines, and reading
//! any saved JSON report back.
//!
//! rlt's `--save-baseline NAME` stores rlt's summary as `DIR/NAME.json`;
//! srelab stores its own section beside it as `DIR/NAME.srelab.json`, so
//! a later `--baseline NAME --html` can show both runs side by side (for
//! `--baseline-file X.json`, the section is `X.srelab.json`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rlt::cli::BenchCli;

use super::report::Report;

/// Where srelab's section of the baseline `cli` names lives.
fn section_path(cli: &BenchCli, name: Option<&str>) -> Option<PathBuf> {
    if let Some(name) = name {
        let dir = rlt::baseline::resolve_baseline_dir(cli.baseline_dir.as_deref());
        return Some(dir.join(format!("{name}.srelab.json")));
    }
    let file = cli.baseline_file.as_deref()?;
    Some(file.with_extension("srelab.json"))
}

/// srelab's section of the baseline given by `--baseline` or
/// `--baseline-file`, if one was saved beside it (else a warning).
pub fn load(cli: &BenchCli) -> anyhow::Result<Option<Report>> {
    let name = cli.baseline.as_ref().map(|n| n.as_str().to_owned());
    let Some(path) = section_path(cli, name.as_deref()) else {
        return Ok(None);
    };
    if !path.exists() {
        eprintln!(
            "warning: no srelab report beside the baseline ({} is missing; save one with --save-baseline): the HTML page shows this run alone",
            path.display()
        );
        return Ok(None);
    }
    read(&path).map(Some)
}

/// With `--save-baseline NAME`, stores srelab's section beside rlt's.
pub fn save(cli: &BenchCli, report: &Report) -> anyhow::Result<()> {
    let name = cli.save_baseline.as_ref().map(|n| n.as_str().to_owned());
    let Some(path) = name.and_then(|n| section_path(cli, Some(&n))) else {
        return Ok(());
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(report)? + "\n";
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))
}

/// Reads a saved JSON report: the whole report (rlt's with an `srelab`
/// key) or srelab's section alone.
pub fn read(path: &Path) -> anyhow::Result<Report> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if let Some(section) = value.get_mut("srelab") {
        value = section.take();
    }
    serde_json::from_value(value).with_context(|| {
        format!(
            "{} is not a report of srelab load (save one with -o json -O FILE)",
            path.display()
        )
    })
}
