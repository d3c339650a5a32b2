//! One load step in-process: the suite under rlt with a given config, and
//! what it recorded. `srelab load` runs one step and reports it; a worker
//! of a distributed run runs its share as a step and sends the record to
//! the coordinator; a capacity search runs step after step, each watched
//! so a collapsing server is not hammered to the end of the step.

use std::{sync::Arc, time::Duration};

use rlt::cli::{BenchCli, RegressionError};
use tokio::time::Instant;

use super::{
    config::Config, metrics::LoadMetrics, monitor::Monitor, output, recorded::Recorded,
    suite::Shared, suite::Suite,
};

/// How often the finished seconds of the time series are sealed.
const ROLL_EVERY: Duration = Duration::from_millis(500);

/// The outcome of one step.
pub struct Step {
    pub recorded: Recorded,
    /// rlt's own report, in the format `cli.output` asked for.
    pub rlt: String,
    /// `--fail-on-regression` fired.
    pub regression: Option<RegressionError>,
    /// Why the [`Watch`] ended the step early, if it did.
    pub aborted: Option<String>,
}

/// Asked about twice a second while a step runs; `Some(reason)` ends the
/// step at once: rlt's run is dropped, the requests in flight abandoned
/// (neither answered nor interrupted), and rlt writes no report.
pub type Watch = Box<dyn FnMut(&Shared) -> Option<String> + Send>;

/// Runs `config` under rlt's runner with rlt's options `cli` (its TUI,
/// baselines and report format; `-r` is ignored: the suite schedules the
/// open model itself) and returns what the run recorded. `monitor` counts
/// the step's arrivals as they start (a fresh one per step).
pub async fn run(
    config: &Config,
    cli: BenchCli,
    metrics: Option<Arc<LoadMetrics>>,
    monitor: Arc<Monitor>,
) -> anyhow::Result<Step> {
    run_watched(config, cli, metrics, monitor, None).await
}

/// [`run`], with `watch` asked after each roll of the time series.
pub async fn run_watched(
    config: &Config,
    mut cli: BenchCli,
    metrics: Option<Arc<LoadMetrics>>,
    monitor: Arc<Monitor>,
    mut watch: Option<Watch>,
) -> anyhow::Result<Step> {
    let (abort, aborted) = tokio::sync::oneshot::channel::<String>();
    let shared = Arc::new(Shared::new(config.clone(), monitor.clone(), metrics));
    // Both stop with the step, also when its future is dropped (a worker
    // whose coordinator went away).
    let sampler = AbortOnDrop({
        let shared = shared.clone();
        monitor.spawn_cpu_sampler(move |share| {
            if let Some(second) = shared.second() {
                shared.stats.cpu_sample(second, share);
            }
        })
    });
    let roller = AbortOnDrop({
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ROLL_EVERY);
            let mut abort = Some(abort);
            loop {
                tick.tick().await;
                if let Some(second) = shared.second() {
                    shared.stats.roll(Some(second));
                }
                if let Some(reason) = watch.as_mut().and_then(|w| w(&shared))
                    && let Some(abort) = abort.take()
                {
                    let _ = abort.send(reason);
                }
            }
        })
    });

    let scratch = output::rlt_scratch();
    // The open model is scheduled by the suite; rlt's limiter would only
    // gate the call and never catch up after a stall.
    cli.rate = None;
    cli.output_file = Some(scratch.clone());
    let suite = Suite {
        shared: shared.clone(),
    };
    let (outcome, aborted) = tokio::select! {
        outcome = rlt::cli::run(cli, suite) => (Some(outcome), None),
        Ok(reason) = aborted => (None, Some(reason)),
    };
    let end = Instant::now();
    drop((sampler, roller));
    let rlt = match aborted {
        Some(_) => Ok(String::new()),
        None => std::fs::read_to_string(&scratch),
    };
    let _ = std::fs::remove_file(&scratch);
    let regression = match outcome {
        Some(Err(e)) => Some(e.downcast::<RegressionError>()?),
        Some(Ok(())) | None => None,
    };
    shared.stats.roll(None);
    Ok(Step {
        recorded: Recorded {
            cells: shared.stats.merged(),
            seconds: shared.stats.seconds(),
            monitor: monitor.snapshot(),
            elapsed: main_elapsed(config, &shared, end).unwrap_or_default(),
            started_at: shared
                .start
                .get()
                .map(|start| std::time::SystemTime::now() - start.elapsed()),
            outliers: shared.outliers(),
        },
        rlt: rlt.map_err(|e| anyhow::anyhow!("reading rlt's report: {e}"))?,
        regression,
        aborted,
    })
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Seconds of the main phase, capped at `-d` (rlt's teardown is not load).
fn main_elapsed(config: &Config, shared: &Shared, end: Instant) -> Option<Duration> {
    let start = *shared.start.get()?;
    let elapsed = end.duration_since(start);
    Some(config.duration.map_or(elapsed, |d| elapsed.min(d)))
}
