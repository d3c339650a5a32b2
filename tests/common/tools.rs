//! The external programs the tests run (`promtool`, `prometheus`, …),
//! found on PATH only: never at a fixed path such as `/usr/bin`, which the
//! Nix build sandbox does not have. A missing program fails the test with a
//! message naming the Debian package that provides it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A program the tests need, and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub debian_package: &'static str,
}

pub const PROMTOOL: Tool = Tool {
    name: "promtool",
    debian_package: "prometheus",
};

pub const PROMETHEUS: Tool = Tool {
    name: "prometheus",
    debian_package: "prometheus",
};

/// Node.js, for Grafana's LogQL grammar (tests/logql_syntax.rs).
pub const NODE: Tool = Tool {
    name: "node",
    debian_package: "nodejs",
};

/// Debian installs it in /usr/sbin, on root's PATH (scripts/test.sh runs as root).
pub const HAPROXY: Tool = Tool {
    name: "haproxy",
    debian_package: "haproxy",
};

pub const AMTOOL: Tool = Tool {
    name: "amtool",
    debian_package: "prometheus-alertmanager",
};

/// Alertmanager under its two names: nixpkgs' `alertmanager`, Debian's
/// `prometheus-alertmanager`.
pub const ALERTMANAGER: [Tool; 2] = [
    Tool {
        name: "alertmanager",
        debian_package: "prometheus-alertmanager",
    },
    Tool {
        name: "prometheus-alertmanager",
        debian_package: "prometheus-alertmanager",
    },
];

/// Alertmanager's path on PATH under either name; fails the test, naming
/// the package, when missing.
pub fn alertmanager() -> PathBuf {
    ALERTMANAGER
        .iter()
        .find_map(|t| t.find())
        .unwrap_or_else(|| ALERTMANAGER[1].path())
}

impl Tool {
    /// The program's path on PATH, if any (an executable regular file).
    pub fn find(self) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(self.name))
            .find(|p| {
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    }

    /// The program's path on PATH; fails the test, naming the package, when missing.
    pub fn path(self) -> PathBuf {
        self.find().unwrap_or_else(|| {
            panic!(
                "{} not found on PATH ({}): install Debian's `{}` package \
                 (scripts/test.sh does) or use `nix develop`",
                self.name,
                std::env::var("PATH").unwrap_or_default(),
                self.debian_package
            )
        })
    }

    /// A command running the program.
    pub fn command(self) -> Command {
        Command::new(self.path())
    }
}

/// Runs `promtool check metrics` on an exposition text; returns what it
/// said (empty when it found nothing to complain about). Panics if promtool
/// itself fails.
pub fn promtool_check_metrics(text: &str) -> String {
    let mut child = PROMTOOL
        .command()
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("writing to promtool");
    let out = child.wait_with_output().expect("waiting for promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed: {said}"
    );
    said
}

/// Runs promtool with `args` in the repository root; fails the test with
/// its output unless it succeeds.
pub fn promtool(args: &[&str]) {
    let out = PROMTOOL
        .command()
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
