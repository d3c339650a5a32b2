//! Logging set-up: tracing to stderr, human-readable or JSON lines.
//!
//! The level comes from `RUST_LOG` (default `info`: lifecycle events, and
//! the access log's lines). JSON lines are flat (`{"timestamp", "level",
//! "message", fields…, "target"}`), so LogQL's `| json` finds `status` or
//! `request_id` at the top.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use super::config::LogFormat;

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Replaces the default panic output with one log event, so a panicking
/// handler (answered with a 500) leaves a structured line, not raw stderr.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let panic = super::panic::message(info.payload());
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            tracing::error!(panic, location, %backtrace, "panic");
        } else {
            tracing::error!(panic, location, "panic");
        }
    }));
}
