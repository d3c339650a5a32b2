//! The `srelab` binary: parse the command line, run it, print errors as one line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = srelab::Cli::parse();
    match srelab::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", srelab::error_line(&err));
            srelab::exit_code(&err)
        }
    }
}
