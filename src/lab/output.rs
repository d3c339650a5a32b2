//! Writing the lab's progress to stdout without panicking when stdout is
//! gone (a closed pipe must not keep the lab from stopping its children).

use std::io::Write as _;

/// Writes `text` and a newline to stdout, ignoring write errors.
pub fn say(text: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Writes `text` and a newline to stderr, ignoring write errors.
pub fn esay(text: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
