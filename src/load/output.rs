//! Writes one report: rlt's, with srelab's section added.
//!
//! rlt writes its report to a temporary file, which [`step`](super::step)
//! reads back; this module writes the combined report where the user asked
//! (`-O` or stdout): in JSON as an `srelab` key of rlt's object, in text as
//! a block after rlt's. Without rlt's part (the coordinator of several
//! workers runs no rlt), the srelab section stands alone. rlt colours its
//! text always; the colours stay only on a terminal that wants them (not
//! with `NO_COLOR`, never in a file).

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

/// Writes the whole report: rlt's part `rlt` (if any) and srelab's.
pub fn write(
    format: ReportFormat,
    dest: Option<&Path>,
    rlt: Option<String>,
    report: &Report,
) -> anyhow::Result<()> {
    let whole = match (format, rlt) {
        (ReportFormat::Json, None) => {
            serde_json::to_string_pretty(&serde_json::json!({ "srelab": report }))? + "\n"
        }
        (ReportFormat::Text, None) => text::render(report),
        (ReportFormat::Json, Some(rlt)) => {
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
        (ReportFormat::Text, Some(rlt)) => {
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
