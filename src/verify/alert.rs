//! `srelab verify alert NAME=STATE`: waits until an alert is in a state in
//! Prometheus' alerts API (`/api/v1/alerts`), among the alerts carrying the
//! given labels. The fault step of `srelab lab --check` and of the NixOS VM
//! test uses it: `SrelabInstanceDown` must fire for a stopped instance and
//! resolve once it is back.

use std::collections::BTreeMap;
use std::fmt;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;

use super::prom::{ActiveAlert, Prometheus};

/// Pause between two looks at the alerts.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// An alert's state as Prometheus' rule evaluation has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Not listed by the alerts API: the expression returns nothing.
    Inactive,
    /// The expression holds, its `for:` has not passed yet.
    Pending,
    Firing,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }
}

impl FromStr for State {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "inactive" => Ok(State::Inactive),
            "pending" => Ok(State::Pending),
            "firing" => Ok(State::Firing),
            _ => Err(format!(
                "`{s}` is not an alert state (firing, pending, inactive)"
            )),
        }
    }
}

/// What to wait for: alert `name` in `state`, among the alerts with `labels`.
#[derive(Debug, Clone, PartialEq)]
pub struct Want {
    pub name: String,
    pub state: State,
    pub labels: BTreeMap<String, String>,
}

impl Want {
    /// `name` in `state` for the alerts carrying every label of `labels`.
    pub fn new(name: &str, state: State, labels: &[(&str, &str)]) -> Want {
        Want {
            name: name.to_owned(),
            state,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The state of the wanted alert among `alerts`: the furthest of the
    /// matching ones (firing before pending), inactive when none matches.
    pub fn seen(&self, alerts: &[ActiveAlert]) -> State {
        alerts
            .iter()
            .filter(|a| a.labels.get("alertname") == Some(&self.name))
            .filter(|a| self.labels.iter().all(|(k, v)| a.labels.get(k) == Some(v)))
            .map(|a| a.state.parse().unwrap_or(State::Pending))
            .max()
            .unwrap_or(State::Inactive)
    }
}

impl FromStr for Want {
    type Err = String;

    /// `NAME=STATE`, e.g. `SrelabInstanceDown=firing`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, state) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not NAME=STATE (e.g. SrelabInstanceDown=firing)"))?;
        if name.is_empty() {
            return Err(format!("`{s}` names no alert"));
        }
        Ok(Want::new(name, state.parse()?, &[]))
    }
}

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            write!(f, "{{{}}}", labels.join(","))?;
        }
        Ok(())
    }
}

/// Arguments of `srelab verify alert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The alert and the state to wait for: NAME=firing, NAME=pending or NAME=inactive.
    #[arg(value_name = "NAME=STATE")]
    pub want: Want,
    /// Only alerts carrying this label (repeatable), e.g. instance=app:8081.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Base URL of the Prometheus server to ask.
    #[arg(
        long,
        env = "SRELAB_PROMETHEUS_URL",
        value_name = "URL",
        default_value = "http://127.0.0.1:9090",
        value_parser = super::prom::parse_base_url
    )]
    pub prometheus: String,
    /// How long to wait for the state.
    #[arg(long, value_name = "DURATION", default_value = "90s")]
    pub timeout: humantime::Duration,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// Runs `srelab verify alert`: exit 0 once the state is reached, 1 when
/// the timeout passes first.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let mut want = args.want;
    want.labels.extend(args.labels);
    let prom = Prometheus::new(&args.prometheus);
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match rt.block_on(wait(&prom, &want, args.timeout.into(), || Ok(()))) {
        Ok(after) => {
            println!(
                "alert {want} {} after {:.1}s",
                want.state.name(),
                after.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("verify: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Polls the alerts until `want` holds (returns the time it took), `limit`
/// passes, or `go_on` returns an error (e.g. a child of the lab died).
pub async fn wait(
    prom: &Prometheus,
    want: &Want,
    limit: Duration,
    mut go_on: impl FnMut() -> Result<(), String>,
) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        go_on()?;
        let last = match prom.alerts().await {
            Ok(alerts) => {
                let seen = want.seen(&alerts);
                if seen == want.state {
                    return Ok(started.elapsed());
                }
                format!("last seen {}", seen.name())
            }
            Err(e) => format!("last error: {e}"),
        };
        if started.elapsed() + POLL_EVERY > limit {
            return Err(format!(
                "alert {want} not {} within {} ({last})",
                want.state.name(),
                humantime::format_duration(limit)
            ));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, instance: &str, state: &str) -> ActiveAlert {
        ActiveAlert {
            labels: [("alertname", name), ("instance", instance)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            state: state.to_owned(),
        }
    }

    #[test]
    fn parses_name_state_and_labels() {
        let w: Want = "SrelabInstanceDown=firing".parse().unwrap();
        assert_eq!(w, Want::new("SrelabInstanceDown", State::Firing, &[]));
        assert!("SrelabInstanceDown".parse::<Want>().is_err());
        assert!("=firing".parse::<Want>().is_err());
        assert!("X=burning".parse::<Want>().unwrap_err().contains("burning"));
        assert_eq!(parse_label("instance=a:1").unwrap().1, "a:1");
        assert!(parse_label("=x").is_err());
    }

    #[test]
    fn the_matching_alert_decides() {
        let alerts = [
            alert("SrelabInstanceDown", "a:1", "pending"),
            alert("SrelabInstanceDown", "b:2", "firing"),
            alert("Other", "a:1", "firing"),
        ];
        let down =
            |instance, state| Want::new("SrelabInstanceDown", state, &[("instance", instance)]);
        assert_eq!(down("a:1", State::Firing).seen(&alerts), State::Pending);
        assert_eq!(down("b:2", State::Firing).seen(&alerts), State::Firing);
        assert_eq!(down("c:3", State::Firing).seen(&alerts), State::Inactive);
        let any = Want::new("SrelabInstanceDown", State::Firing, &[]);
        assert_eq!(any.seen(&alerts), State::Firing);
        assert_eq!(
            down("a:1", State::Firing).to_string(),
            r#"SrelabInstanceDown{instance="a:1"}"#
        );
    }
}
