//! `srelab serve` with its JSON log in a file, and the access-log lines read
//! back from it (`"target":"srelab::access"`): one place for the tests of
//! request ids and the access log.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use super::{Server, serve_command, start_serve};

/// A server on `db` with `--log-format json` and `args`, its log in `log`.
pub fn serve(db: &Path, log: &Path, args: &[&str]) -> Server {
    let mut all = vec!["--log-format", "json"];
    all.extend_from_slice(args);
    let mut cmd = serve_command(db, &all);
    let file = std::fs::File::create(log).unwrap();
    cmd.env("RUST_LOG", "info").stderr(Stdio::from(file));
    start_serve(cmd)
}

/// The access-log lines in `log` (every line must be JSON).
pub fn lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["target"] == "srelab::access")
        .collect()
}
