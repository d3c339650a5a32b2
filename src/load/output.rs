//! Writes one report: rlt's, with srelab's section added.
//!
//! rlt writes its report to a temporary file; this module reads it back and
//! writes the combined report where the user asked (`-O` or stdout): in JSON
//! as an `srelab` key of rlt's object, in text as a block after rlt's. rlt
//! colours its text always; the colours stay only on a terminal that wants
//! them (not with `NO_COLOR`, never in a file).

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use rlt::cli::ReportFormat;

use super::{report::Report, text};

/// Where rlt writes its part; unique per process.
pub fn rlt_scratch() -> PathBuf {
    std::env::temp_dir().join(format!("srelab-load-{}.rlt", std::process::id()))
}

/// Reads rlt's part (removing the scratch file) and writes the whole report.
pub fn write(
    format: ReportFormat,
    dest: Option<&Path>,
    scratch: &Path,
    report: &Report,
) -> anyhow::Result<()> {
    let rlt = fs::read_to_string(scratch).context("reading rlt's report")?;
    let _ = fs::remove_file(scratch);
    let whole = match format {
        ReportFormat::Json => {
            let mut value: serde_json::Value =
                serde_json::from_str(&rlt).context("parsing rlt's JSON report")?;
            match value.as_object_mut() {
                Some(obj) => {
                    obj.insert("srelab".into(), serde_json::to_value(report)?);
                }
                None => value = serde_json::json!({ "rlt": value, "srelab": report }),
            }
            serde_json::to_string_pretty(&value)? + "\n"
        }
        ReportFormat::Text => {
            let colour = dest.is_none()
                && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
            let rlt = if colour {
                rlt
            } else {
                anstream::adapter::strip_str(&rlt).to_string()
            };
            format!("{rlt}\n{}", text::render(report))
        }
    };
    match dest {
        Some(path) => fs::write(path, whole).with_context(|| format!("writing {}", path.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(whole.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}
