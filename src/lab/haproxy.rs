//! HAProxy in front of the instances (`srelab lab --lb`, and the tests):
//! the one configuration, `haproxy/srelab.cfg`, rendered with the lab's
//! addresses (the NixOS module renders the same file the same way,
//! `nixos-modules/haproxy-config.nix`); the health-check timing read from
//! it, from which the failover bound and the drain delay are derived; the
//! command line; and the servers' state as its Prometheus exporter reports
//! it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::binaries::Program;
use super::defaults::LB_BACKEND;
use super::error::LabError;
use super::state::{self, StateDir};

/// `haproxy/srelab.cfg`, with `@LISTEN@`, `@EXPORTER_LISTEN@` and `@SERVERS@`.
pub const TEMPLATE: &str = include_str!("../../haproxy/srelab.cfg");

/// Said when `haproxy` is missing.
pub const HINT: &str = "install the Debian package `haproxy` (apt-get install haproxy), or run `nix run .#lab -- --lb`, or name it with --haproxy-bin / SRELAB_HAPROXY";

pub const PROGRAM: Program = Program {
    what: "HAProxy",
    names: &["haproxy"],
    hint: HINT,
};

/// Debian's place for `haproxy`, which is not on the PATH of users but root.
const DEBIAN_BIN: &str = "/usr/sbin/haproxy";

/// The explicit path when given, else `haproxy` on PATH, else Debian's.
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, LabError> {
    PROGRAM.find(explicit).or_else(|e| match explicit {
        None if super::binaries::is_executable(Path::new(DEBIAN_BIN)) => Ok(DEBIAN_BIN.into()),
        _ => Err(e),
    })
}

/// One backend server: its name (the `server` label of HAProxy's metrics)
/// and its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub address: String,
}

/// The configuration text for HAProxy listening on `listen`, its exporter
/// on `exporter`, in front of `servers`.
pub fn render(listen: &str, exporter: &str, servers: &[Server]) -> String {
    let lines: Vec<String> = servers
        .iter()
        .map(|s| format!("    server {} {}", s.name, s.address))
        .collect();
    TEMPLATE
        .replace("@LISTEN@", listen)
        .replace("@EXPORTER_LISTEN@", exporter)
        .replace("@SERVERS@", &lines.join("\n"))
}

/// The health-check and capacity numbers of the template.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Between two checks of a server that is up.
    pub inter: Duration,
    /// Between checks while a server goes down (or comes up).
    pub fastinter: Duration,
    /// Failed checks that take a server out.
    pub fall: u32,
    /// Good checks that bring it back.
    pub rise: u32,
    /// A check's connection gets min(timeout connect, inter).
    pub timeout_connect: Duration,
    /// A check's answer must come within this, after its connection.
    pub timeout_check: Duration,
    /// Requests at once per server; more wait in HAProxy's queue.
    pub maxconn: u32,
}

impl Timing {
    /// The numbers of [`TEMPLATE`] (tested to parse).
    pub fn of_template() -> Timing {
        Timing::parse(TEMPLATE).expect("haproxy/srelab.cfg is tested to hold every number")
    }

    /// Reads the `default-server` line and the `timeout` lines.
    pub fn parse(cfg: &str) -> Result<Timing, String> {
        let line = |prefix: &str| {
            cfg.lines()
                .map(str::trim)
                .find(|l| l.starts_with(prefix))
                .ok_or_else(|| format!("no `{prefix}` line"))
        };
        let server: Vec<&str> = line("default-server ")?.split_whitespace().collect();
        let word = |key: &str| {
            server
                .windows(2)
                .find(|w| w[0] == key)
                .map(|w| w[1])
                .ok_or_else(|| format!("default-server has no `{key}`"))
        };
        let dur = |text: &str| parse_duration(text).ok_or_else(|| format!("bad duration {text:?}"));
        let num = |text: &str| text.parse::<u32>().map_err(|e| format!("{text:?}: {e}"));
        let timeout = |name: &str| {
            let l = line(&format!("timeout {name} "))?;
            dur(l.split_whitespace().nth(2).unwrap_or_default())
        };
        Ok(Timing {
            inter: dur(word("inter")?)?,
            fastinter: dur(word("fastinter")?)?,
            fall: num(word("fall")?)?,
            rise: num(word("rise")?)?,
            timeout_connect: timeout("connect")?,
            timeout_check: timeout("check")?,
            maxconn: num(word("maxconn")?)?,
        })
    }

    /// The longest a check may take: its connection, then its answer.
    pub fn check_limit(&self) -> Duration {
        self.timeout_connect.min(self.inter) + self.timeout_check
    }

    /// The longest from an instance failing to its first failed check:
    /// up to `inter` until that check starts, then the check itself.
    pub fn first_failure_limit(&self) -> Duration {
        self.inter + self.check_limit()
    }

    /// The longest from an instance failing its checks (dead, or answering
    /// 503) to HAProxy taking it out: up to `inter` until the next check,
    /// then `fall` checks `fastinter` apart, each taking up to
    /// [`Timing::check_limit`].
    pub fn detection_limit(&self) -> Duration {
        self.inter + self.fastinter * (self.fall - 1) + self.check_limit() * self.fall
    }
}

/// `1s`, `500ms`: HAProxy's time format as the template uses it.
fn parse_duration(text: &str) -> Option<Duration> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(digits);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(60 * n)),
        _ => None,
    }
}

/// HAProxy as the lab runs it.
#[derive(Debug, Clone)]
pub struct LabHaproxy {
    pub bin: PathBuf,
    pub port: u16,
    pub exporter_port: u16,
}

impl LabHaproxy {
    /// Writes `STATE/haproxy/haproxy.cfg` for `servers`, checks it with
    /// `haproxy -c`, and returns the command running HAProxy in the
    /// foreground.
    pub fn prepare(
        &self,
        state: &StateDir,
        listen: SocketAddr,
        exporter: SocketAddr,
        servers: &[Server],
    ) -> Result<Command, LabError> {
        let config = state.root().join("haproxy/haproxy.cfg");
        let text = render(&listen.to_string(), &exporter.to_string(), servers);
        state::write(&config, &text)?;
        check_config(&self.bin, &config).map_err(LabError::Haproxy)?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-db").arg("-f").arg(&config);
        Ok(cmd)
    }
}

/// `haproxy -c -f CONFIG`: an error with HAProxy's own words unless it
/// accepts the file.
pub fn check_config(bin: &Path, config: &Path) -> Result<(), String> {
    let out = Command::new(bin)
        .arg("-c")
        .arg("-f")
        .arg(config)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`haproxy -c` rejects {}: {}{}",
        config.display(),
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Each server of the srelab backend and its state (`UP`, `DOWN`, `MAINT`,
/// …) in an exporter's `/metrics` text.
pub fn server_states(metrics: &str) -> BTreeMap<String, String> {
    let backend = format!("proxy=\"{LB_BACKEND}\"");
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("haproxy_server_status{"))
        .filter(|l| l.ends_with(" 1") && l.contains(&backend))
        .filter_map(|l| Some((label(l, "server")?, label(l, "state")?)))
        .collect()
}

/// The value of the first series `name{…}` in an exporter's `/metrics`
/// text whose labels include every `labels` pair.
pub fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix('{')?;
        let (inside, value) = rest.split_once("} ")?;
        labels
            .iter()
            .all(|(k, v)| label(inside, k).as_deref() == Some(v))
            .then(|| value.trim().parse().ok())?
    })
}

/// Requests of the srelab backend HAProxy had to send again (retries on
/// the same server and redispatches to another), in an exporter's text.
pub fn resent(metrics: &str) -> f64 {
    [
        "haproxy_backend_retry_warnings_total",
        "haproxy_backend_redispatch_warnings_total",
    ]
    .iter()
    .filter_map(|name| sample(metrics, name, &[("proxy", LB_BACKEND)]))
    .sum()
}

/// The value of label `name` in the inside of a series' braces.
fn label(series: &str, name: &str) -> Option<String> {
    let start = series.find(&format!("{name}=\""))? + name.len() + 2;
    let len = series[start..].find('"')?;
    Some(series[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_has_every_placeholder_and_number() {
        for word in ["@LISTEN@", "@EXPORTER_LISTEN@", "@SERVERS@"] {
            assert!(TEMPLATE.contains(word), "{word}");
        }
        assert!(TEMPLATE.contains(&format!("\nbackend {LB_BACKEND}\n")));
        let t = Timing::of_template();
        assert_eq!(t.inter, Duration::from_secs(1));
        assert_eq!(t.fastinter, Duration::from_millis(500));
        assert_eq!((t.fall, t.rise, t.maxconn), (2, 2, 32));
        assert_eq!(t.check_limit(), Duration::from_secs(2));
        assert_eq!(t.first_failure_limit(), Duration::from_secs(3));
        assert_eq!(t.detection_limit(), Duration::from_millis(5500));
    }

    #[test]
    fn renders_servers_and_addresses() {
        let servers = [
            Server {
                name: "srelab-1".into(),
                address: "127.0.0.1:8081".into(),
            },
            Server {
                name: "srelab-2".into(),
                address: "app2:8081".into(),
            },
        ];
        let cfg = render("127.0.0.1:8080", "127.0.0.1:8405", &servers);
        assert!(cfg.contains("    bind 127.0.0.1:8080\n"));
        assert!(cfg.contains("    bind 127.0.0.1:8405\n"));
        assert!(
            cfg.contains("    server srelab-1 127.0.0.1:8081\n    server srelab-2 app2:8081\n")
        );
        for word in ["@LISTEN@", "@EXPORTER_LISTEN@", "@SERVERS@"] {
            assert!(!cfg.contains(word), "{word} replaced");
        }
    }

    #[test]
    fn a_missing_number_is_named() {
        let err = Timing::parse("default-server check inter 1s\n").unwrap_err();
        assert_eq!(err, "default-server has no `fastinter`");
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), None);
    }

    #[test]
    fn samples_by_name_and_labels() {
        let text = "haproxy_backend_retry_warnings_total{proxy=\"srelab\"} 2\n\
            haproxy_backend_redispatch_warnings_total{proxy=\"other\"} 7\n\
            haproxy_backend_redispatch_warnings_total{proxy=\"srelab\"} 3\n\
            haproxy_server_current_sessions{proxy=\"srelab\",server=\"srelab-1\"} 5\n";
        assert_eq!(resent(text), 5.0);
        let s1 = [("proxy", "srelab"), ("server", "srelab-1")];
        assert_eq!(
            sample(text, "haproxy_server_current_sessions", &s1),
            Some(5.0)
        );
        assert_eq!(
            sample(text, "haproxy_server_current_sessions", &[("server", "x")]),
            None
        );
        assert_eq!(
            sample(text, "haproxy_server", &[]),
            None,
            "a whole name only"
        );
    }

    #[test]
    fn server_states_from_the_exporter() {
        let text = "# HELP x\n\
            haproxy_server_status{proxy=\"srelab\",server=\"srelab-1\",state=\"DOWN\"} 1\n\
            haproxy_server_status{proxy=\"srelab\",server=\"srelab-1\",state=\"UP\"} 0\n\
            haproxy_server_status{proxy=\"srelab\",server=\"srelab-2\",state=\"UP\"} 1\n\
            haproxy_server_status{proxy=\"other\",server=\"x\",state=\"UP\"} 1\n";
        let states = server_states(text);
        assert_eq!(states.len(), 2);
        assert_eq!(states["srelab-1"], "DOWN");
        assert_eq!(states["srelab-2"], "UP");
    }
}
