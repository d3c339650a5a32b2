//! The messages between a coordinator and its workers, one JSON object per
//! line, and the plan that tells a worker its share of the run.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::wire::WireRecord;
use crate::load::{
    args::Think,
    config::{Config, Share},
    schedule::Schedule,
};

/// Bumped when a message changes shape; peers must agree on it (and on the
/// srelab version).
pub const PROTOCOL: u32 = 1;

/// The longest line read: a day-long run's time series fits many times over.
const MAX_LINE: u64 = 512 << 20;

/// Every message, as `{"name":{…}}` (or `"name"` when it carries nothing).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// Each side's version, the coordinator's first.
    Hello { version: String, protocol: u32 },
    /// The other side's version or protocol is not ours.
    Refused { reason: String },
    /// The worker's share of the run.
    Plan(Box<Plan>),
    /// The worker reached every target and waits for `start`.
    Ready,
    /// The worker cannot run the plan (e.g. a target is unreachable).
    Failed { reason: String },
    /// Start now.
    Start,
    /// Sent by a worker every second while it runs: the requests it
    /// started so far.
    Progress { started: u64 },
    /// The worker's record of its share.
    Done(Box<WireRecord>),
}

impl Message {
    /// This process's `hello`.
    pub fn hello() -> Message {
        Message::Hello {
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: PROTOCOL,
        }
    }
}

/// Why a peer's `hello` is refused, if it is.
pub fn refuse(version: &str, protocol: u32) -> Option<String> {
    let ours = env!("CARGO_PKG_VERSION");
    (version != ours || protocol != PROTOCOL).then(|| {
        format!(
            "it runs srelab {version} (protocol {protocol}), this process srelab {ours} (protocol {PROTOCOL}): run one version everywhere"
        )
    })
}

/// Writes one message as one line.
pub async fn send<W: AsyncWrite + Unpin>(out: &mut W, msg: &Message) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line).await?;
    out.flush().await
}

/// Reads one message; `Ok(None)` when the peer closed the connection.
pub async fn receive<R: AsyncBufRead + Unpin>(input: &mut R) -> std::io::Result<Option<Message>> {
    let mut line = String::new();
    let n = input.take(MAX_LINE).read_line(&mut line).await?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with('\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a line without its end (closed mid-message, or longer than the limit)",
        ));
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// [`receive`] within `timeout`, with every failure as a sentence.
pub async fn receive_within<R: AsyncBufRead + Unpin>(
    input: &mut R,
    timeout: Duration,
) -> Result<Message, String> {
    match tokio::time::timeout(timeout, receive(input)).await {
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(None)) => Err("it closed the connection".into()),
        Ok(Ok(Some(msg))) => Ok(msg),
    }
}

/// A worker's share of the run: everything its [`Config`] and rlt's options
/// need. Counts (`concurrency`, `warmup`, `iterations`) are the worker's
/// own; `rate` is the whole run's (the share picks its arrivals from the
/// whole schedule).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub index: u32,
    pub count: u32,
    pub targets: Vec<String>,
    pub mix: String,
    /// Think time bounds in seconds (closed model).
    pub think: Option<(f64, f64)>,
    pub ramp_seconds: f64,
    /// A capacity step's settle (absent from older coordinators: none).
    #[serde(default)]
    pub settle_seconds: f64,
    pub seed: u64,
    pub work_ms: u32,
    pub request_timeout_seconds: f64,
    pub graceful_stop_seconds: f64,
    pub concurrency: u32,
    pub warmup: u64,
    pub duration_seconds: Option<f64>,
    pub iterations: Option<u64>,
    pub rate: Option<f64>,
    /// `--outliers`; absent from older coordinators' plans.
    #[serde(default)]
    pub outliers: usize,
}

impl Plan {
    /// Worker `index` of `count`'s share of the run `config` describes.
    pub fn share(config: &Config, rate: Option<f64>, index: u32, count: u32) -> Plan {
        let share = Share { index, count };
        let c = config.workers;
        Plan {
            index,
            count,
            targets: config.targets.iter().map(|t| t.url.clone()).collect(),
            mix: config.mix.to_string(),
            think: config
                .think
                .map(|t| (t.min.as_secs_f64(), t.max.as_secs_f64())),
            ramp_seconds: config.ramp.as_secs_f64(),
            settle_seconds: config.settle.as_secs_f64(),
            seed: config.seed,
            work_ms: config.work_ms,
            request_timeout_seconds: config.request_timeout.as_secs_f64(),
            graceful_stop_seconds: config.graceful_stop.as_secs_f64(),
            concurrency: c / count + u32::from(index < c % count),
            warmup: share.of(config.warmup),
            duration_seconds: config.duration.map(|d| d.as_secs_f64()),
            iterations: config.iterations.map(|n| share.of(n)),
            rate,
            outliers: config.outliers,
        }
    }

    /// The worker's config; a plan that does not parse is refused.
    pub fn config(&self) -> Result<Config, String> {
        let targets = self
            .targets
            .iter()
            .map(|t| t.parse())
            .collect::<Result<Vec<_>, _>>()?;
        let secs = |s: f64| {
            Duration::try_from_secs_f64(s).map_err(|e| format!("a duration of {s} s: {e}"))
        };
        let ramp = secs(self.ramp_seconds)?;
        if self.count == 0 || self.index >= self.count || self.concurrency == 0 {
            return Err(format!(
                "share {}/{} with {} connections",
                self.index, self.count, self.concurrency
            ));
        }
        Ok(Config {
            targets,
            mix: self.mix.parse()?,
            think: match self.think {
                Some((min, max)) => Some(Think {
                    min: secs(min)?,
                    max: secs(max)?,
                }),
                None => None,
            },
            ramp,
            settle: secs(self.settle_seconds)?,
            seed: self.seed,
            work_ms: self.work_ms,
            request_timeout: secs(self.request_timeout_seconds)?,
            graceful_stop: secs(self.graceful_stop_seconds)?,
            workers: self.concurrency,
            warmup: self.warmup,
            duration: self.duration_seconds.map(secs).transpose()?,
            iterations: self.iterations,
            schedule: self.rate.map(|r| Schedule::new(r, ramp)),
            share: Share {
                index: self.index,
                count: self.count,
            },
            outliers: self.outliers,
        })
    }

    /// rlt's options for the worker's step: quiet, JSON, the share's counts.
    pub fn rlt_args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["srelab", "-q", "-o", "json", "-c"]
            .map(String::from)
            .into();
        args.push(self.concurrency.to_string());
        if self.warmup > 0 {
            args.extend(["-w".into(), self.warmup.to_string()]);
        }
        if let Some(d) = self.duration_seconds {
            args.extend(["-d".into(), format!("{}ms", (d * 1e3).round() as u64)]);
        }
        if let Some(n) = self.iterations {
            args.extend(["-n".into(), n.to_string()]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_round_trips_into_the_worker_config() {
        let plan = Plan {
            index: 1,
            count: 3,
            targets: vec!["http://127.0.0.1:1".into()],
            mix: "list=1,create=2".into(),
            think: None,
            ramp_seconds: 2.0,
            settle_seconds: 0.0,
            seed: 7,
            work_ms: 5,
            request_timeout_seconds: 1.5,
            graceful_stop_seconds: 5.0,
            concurrency: 4,
            warmup: 0,
            duration_seconds: Some(3.0),
            iterations: Some(33),
            rate: Some(90.0),
            outliers: 3,
        };
        let config = plan.config().unwrap();
        assert_eq!(config.share, Share { index: 1, count: 3 });
        let again = Plan::share(
            &Config {
                workers: 12,
                iterations: Some(100),
                ..config
            },
            Some(90.0),
            1,
            3,
        );
        assert_eq!((again.concurrency, again.iterations), (4, Some(33)));
        assert_eq!(again.mix, "list=1,create=2");
        assert_eq!(
            again.rlt_args(),
            [
                "srelab", "-q", "-o", "json", "-c", "4", "-d", "3000ms", "-n", "33"
            ]
        );
        let json = serde_json::to_string(&Message::Start).unwrap();
        assert_eq!(json, r#""start""#);
        assert!(
            refuse("0.0.0-other", PROTOCOL)
                .unwrap()
                .contains("0.0.0-other")
        );
        assert!(refuse(env!("CARGO_PKG_VERSION"), PROTOCOL).is_none());
    }
}
