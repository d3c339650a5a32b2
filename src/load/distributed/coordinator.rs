//! `srelab load --workers ADDR,…`: hands each worker its share, starts them
//! together, gathers their records, and reports and judges the whole.

use std::{
    io::IsTerminal,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::anyhow;
use tokio::{
    io::BufReader,
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    time::Instant,
};

use super::{
    protocol::{self, Message, Plan},
    wire,
};
use crate::load::{
    args::Args,
    config::{Config, Share},
    gates, html, output,
    recorded::Recorded,
    report::{Report, WorkerReport},
    run,
    stats::Phase,
};

/// How long connecting and each step before the run may take.
const HANDSHAKE: Duration = Duration::from_secs(30);
/// A worker silent this long (it sends progress every second) is lost.
const LOST_AFTER: Duration = Duration::from_secs(10);
/// A worker silent this long at some point lagged: the run is not trustworthy.
const LAG_LIMIT: Duration = Duration::from_secs(3);
/// How often a coordinator on a terminal says how far the run got.
const TELL_EVERY: Duration = Duration::from_secs(5);

/// The connection to one worker.
struct Link {
    address: String,
    version: String,
    plan: Plan,
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

/// What became of a worker's share.
enum Fate {
    Done(Box<Recorded>),
    /// It closed the connection or sent garbage before its record.
    Died(String),
    /// It stayed silent for [`LOST_AFTER`].
    Lost,
}

/// A worker's fate and the longest silence between its messages.
struct Gathered {
    fate: Fate,
    max_silence: Duration,
}

/// Runs the load over the workers and returns the exit code.
pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let addresses = &args.load.workers;
    let count = addresses.len() as u32;
    let rate = args.bench.rate.map(|r| f64::from(r.get()));
    let mut links = Vec::new();
    for (index, address) in addresses.iter().enumerate() {
        let plan = Plan::share(&config, rate, index as u32, count);
        let link = Link::open(address, plan)
            .await
            .map_err(|e| anyhow!("worker {address}: {e}"))?;
        links.push(link);
    }
    // Probing the targets takes each worker up to the request timeout each.
    let ready_within = HANDSHAKE + config.request_timeout * config.targets.len() as u32;
    for link in &mut links {
        match protocol::receive_within(&mut link.read, ready_within).await {
            Ok(Message::Ready) => {}
            Ok(Message::Failed { reason }) => {
                return Err(anyhow!("worker {}: {reason}", link.address));
            }
            Ok(other) => return Err(anyhow!("worker {}: sent {other:?}", link.address)),
            Err(e) => return Err(anyhow!("worker {}: {e}", link.address)),
        }
    }
    for link in &mut links {
        protocol::send(&mut link.write, &Message::Start)
            .await
            .map_err(|e| anyhow!("worker {}: {e}", link.address))?;
    }
    let started = Instant::now();
    // Requests each worker started so far, from its progress lines.
    let progress: Arc<[AtomicU64]> = links.iter().map(|_| AtomicU64::new(0)).collect();
    let teller = (!args.bench.quiet && std::io::stderr().is_terminal())
        .then(|| tokio::spawn(tell(progress.clone(), started)));
    let tasks: Vec<_> = links
        .into_iter()
        .enumerate()
        .map(|(i, link)| tokio::spawn(link.gather(started, progress.clone(), i)))
        .collect();
    let mut gathered = Vec::new();
    for task in tasks {
        gathered.push(task.await?);
    }
    if let Some(teller) = teller {
        teller.abort();
    }

    let mut whole: Option<Recorded> = None;
    for (_, g) in &gathered {
        if let Fate::Done(r) = &g.fate {
            match &mut whole {
                Some(w) => w
                    .merge(r)
                    .map_err(|e| anyhow!("merging the workers: {e}"))?,
                None => whole = Some((**r).clone()),
            }
        }
    }
    let whole = whole.unwrap_or_else(|| Recorded {
        cells: Default::default(),
        seconds: Default::default(),
        monitor: crate::load::monitor::Monitor::default().snapshot(),
        elapsed: Duration::ZERO,
        started_at: None,
        outliers: Default::default(),
    });
    let mut report = run::build(&args, &config, &whole)?;
    let due = report.monitor.arrivals_due;
    report.workers = gathered
        .iter()
        .map(|(link, g)| worker_report(link, g, due))
        .collect();
    judge_workers(&mut report);
    let all_done = gathered
        .iter()
        .all(|(_, g)| matches!(g.fate, Fate::Done(_)));

    output::write(
        args.bench.output,
        args.bench.output_file.as_deref(),
        None,
        &report,
    )?;
    if let Some(path) = &args.load.html {
        html::write(path, &report, None)?;
    }
    let code = run::verdict(&report, None, run::tells(&args));
    Ok(if all_done { code } else { ExitCode::FAILURE })
}

impl Link {
    /// Connects, exchanges versions and sends the plan.
    async fn open(address: &str, plan: Plan) -> Result<Link, String> {
        let stream = tokio::time::timeout(HANDSHAKE, TcpStream::connect(address))
            .await
            .map_err(|_| "no connection within 30s".to_string())?
            .map_err(|e| format!("cannot connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        protocol::send(&mut write, &Message::hello())
            .await
            .map_err(|e| e.to_string())?;
        let version = match protocol::receive_within(&mut read, HANDSHAKE).await? {
            Message::Hello { version, protocol } => {
                if let Some(reason) = protocol::refuse(&version, protocol) {
                    let _ = protocol::send(
                        &mut write,
                        &Message::Refused {
                            reason: reason.clone(),
                        },
                    )
                    .await;
                    return Err(format!("refused: {reason}"));
                }
                version
            }
            Message::Refused { reason } => return Err(format!("it refused us: {reason}")),
            other => return Err(format!("sent {other:?} instead of hello")),
        };
        protocol::send(&mut write, &Message::Plan(Box::new(plan.clone())))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Link {
            address: address.to_owned(),
            version,
            plan,
            read,
            write,
        })
    }

    /// Reads progress (into `progress[index]`) until the worker's record,
    /// its end, or its silence.
    async fn gather(
        mut self,
        started: Instant,
        progress: Arc<[AtomicU64]>,
        index: usize,
    ) -> (Link, Gathered) {
        let mut last = started;
        let mut max_silence = Duration::ZERO;
        let fate = loop {
            let msg = tokio::time::timeout(LOST_AFTER, protocol::receive(&mut self.read)).await;
            let now = Instant::now();
            max_silence = max_silence.max(now - last);
            last = now;
            let after = humantime::format_duration(Duration::from_millis(
                (now - started).as_millis() as u64,
            ));
            match msg {
                Err(_) => break Fate::Lost,
                Ok(Ok(Some(Message::Progress { started: n }))) => {
                    progress[index].store(n, Ordering::Relaxed);
                    continue;
                }
                Ok(Ok(Some(Message::Done(record)))) => {
                    match record.into_recorded(self.plan.targets.len()) {
                        Ok(r) => break Fate::Done(Box::new(r)),
                        Err(e) => break Fate::Died(format!("sent a bad record: {e}")),
                    }
                }
                Ok(Ok(Some(other))) => break Fate::Died(format!("sent {other:?} after {after}")),
                Ok(Ok(None)) => {
                    break Fate::Died(format!("closed the connection after {after}"));
                }
                Ok(Err(e)) => break Fate::Died(format!("{e} after {after}")),
            }
        };
        (self, Gathered { fate, max_silence })
    }
}

/// Says on stderr every few seconds how many requests the workers started
/// (a coordinator has no TUI: rlt runs inside each worker).
async fn tell(progress: Arc<[AtomicU64]>, started: Instant) {
    let mut tick = tokio::time::interval(TELL_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let total: u64 = progress.iter().map(|n| n.load(Ordering::Relaxed)).sum();
        eprintln!(
            "{:>5.0}s: {total} requests started by {} workers",
            started.elapsed().as_secs_f64(),
            progress.len()
        );
    }
}

/// What the report says about one worker.
fn worker_report(link: &Link, g: &Gathered, due: Option<u64>) -> WorkerReport {
    let share = Share {
        index: link.plan.index,
        count: link.plan.count,
    };
    let (status, problem, recorded) = match &g.fate {
        Fate::Done(r) => ("done", None, Some(r)),
        Fate::Died(why) => ("died", Some(why.clone()), None),
        Fate::Lost => (
            "lost",
            Some(format!(
                "silent for {}",
                humantime::format_duration(LOST_AFTER)
            )),
            None,
        ),
    };
    let own = recorded.map(|r| {
        r.monitor
            .verdict(due.map(|d| share.of(d)), link.plan.concurrency)
    });
    let steady = recorded
        .map(|r| crate::load::report::merge(r.cells.iter(), |k| k.0 == Phase::Steady).latency);
    WorkerReport {
        address: link.address.clone(),
        version: link.version.clone(),
        share: share.to_string(),
        status: status.into(),
        problem,
        requests: recorded.map_or(0, |r| {
            r.cells
                .iter()
                .filter(|(k, _)| k.0 != Phase::Warmup)
                .map(|(_, c)| c.requests())
                .sum()
        }),
        trustworthy: own.as_ref().is_some_and(|v| v.trustworthy),
        warnings: own.map_or_else(Vec::new, |v| v.warnings),
        max_silence_seconds: g.max_silence.as_secs_f64(),
        steady_latency_hdr: steady.map(|h| wire::encode(&h)),
    }
}

/// Marks the run not trustworthy for every worker that died, went silent,
/// lagged or could not keep up itself, saying which.
fn judge_workers(report: &mut Report) {
    let mut warnings = Vec::new();
    for w in &report.workers {
        if w.status != "done" {
            warnings.push(format!(
                "worker {} {}: {}; its requests are missing from this report",
                w.address,
                w.status,
                w.problem.as_deref().unwrap_or("")
            ));
            continue;
        }
        if w.max_silence_seconds > LAG_LIMIT.as_secs_f64() {
            warnings.push(format!(
                "worker {} lagged: silent for {:.1} s (limit {} s)",
                w.address,
                w.max_silence_seconds,
                LAG_LIMIT.as_secs()
            ));
        }
        for own in &w.warnings {
            warnings.push(format!("worker {}: {own}", w.address));
        }
    }
    if !warnings.is_empty() {
        report.monitor.warnings.extend(warnings);
        report.monitor.trustworthy = false;
        report.trustworthy = false;
        // `--fail-untrustworthy` judged the merged counts before the workers'
        // health was known: judge it again.
        for gate in report
            .gates
            .iter_mut()
            .filter(|g| g.gate == gates::TRUSTWORTHY)
        {
            *gate = gates::trustworthy(false);
        }
    }
}
