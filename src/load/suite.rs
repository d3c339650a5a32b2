//! The rlt bench suite: one iteration is one request, planned from the
//! global sequence number, sent at its due time, checked and recorded.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, OnceLock, atomic::Ordering},
    time::Duration,
};

use anyhow::Result;
use async_trait::async_trait;
use rlt::{BenchSuite, IterInfo, IterReport, Status};
use tokio::time::{Instant, sleep, sleep_until};

use super::{
    check::{self, Created, Outcome},
    client::{Answer, ClientError, Conn, Request},
    config::{Config, mix64},
    metrics::LoadMetrics,
    mix::Kind,
    monitor::Monitor,
    outliers::{Outlier, Outliers, Recorder, RequestId},
    schedule::worker_start,
    stats::{Phase, Sample, Stats, shard_count},
};

/// Items kept per target for `get`; older ones are overwritten.
const POOL: usize = 10_000;

/// State shared by all workers.
pub struct Shared {
    pub config: Config,
    pub stats: Stats,
    pub monitor: Arc<Monitor>,
    /// The tool's own metrics, when `--metrics-listen` serves them.
    pub metrics: Option<Arc<LoadMetrics>>,
    /// When the main phase began (after warm-up).
    pub start: OnceLock<Instant>,
    calls: std::sync::atomic::AtomicU64,
    created: Vec<Mutex<Vec<Created>>>,
    /// The slowest and failed requests, with `--outliers`.
    outliers: Option<Recorder>,
}

impl Shared {
    pub fn new(config: Config, monitor: Arc<Monitor>, metrics: Option<Arc<LoadMetrics>>) -> Self {
        Shared {
            stats: Stats::new(shard_count(), config.targets.len()),
            created: config.targets.iter().map(|_| Mutex::default()).collect(),
            outliers: (config.outliers > 0).then(|| Recorder::new(config.outliers, shard_count())),
            config,
            monitor,
            metrics,
            start: OnceLock::new(),
            calls: Default::default(),
        }
    }

    /// The outliers kept so far (none without `--outliers`).
    pub fn outliers(&self) -> Outliers {
        self.outliers
            .as_ref()
            .map_or_else(|| Outliers::new(0), Recorder::merged)
    }

    /// The current second of the main phase, once it began.
    pub fn second(&self) -> Option<u32> {
        let start = self.start.get()?;
        Some(start.elapsed().as_secs() as u32)
    }

    fn remember(&self, target: usize, item: Created) {
        let mut pool = self.created[target]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL {
            pool.push(item);
        } else {
            let slot = item.id as usize % POOL;
            pool[slot] = item;
        }
    }

    fn recall(&self, target: usize, random: u64) -> Option<Created> {
        let pool = self.created[target]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        (!pool.is_empty()).then(|| pool[random as usize % pool.len()].clone())
    }
}

/// The suite rlt clones into each worker.
#[derive(Clone)]
pub struct Suite {
    pub shared: Arc<Shared>,
}

/// A worker's own state: its connections, think-time randomness, and the
/// request it has on the wire.
pub struct Worker {
    id: u32,
    conns: Vec<Conn>,
    random: u64,
    started: bool,
    /// Lives in the state rather than in `bench`'s future: when `-d` ends,
    /// rlt drops `bench` but hands the state to `teardown`, which lets the
    /// request finish within `--graceful-stop` and counts it as usual.
    in_flight: Option<InFlight>,
}

type Exchange = Pin<Box<dyn Future<Output = (Conn, Result<Answer, ClientError>)> + Send>>;

/// A request on the wire; owns its connection until the answer is read.
struct InFlight {
    exchange: Exchange,
    target: usize,
    key: (Phase, usize, Kind),
    /// The request's sequence number in the run.
    k: u64,
    plan: check::Plan,
    /// Where its latency counts from.
    from: Instant,
}

#[async_trait]
impl BenchSuite for Suite {
    type WorkerState = Worker;

    async fn state(&self, id: u32) -> Result<Worker> {
        let conns = self
            .shared
            .config
            .targets
            .iter()
            .map(|_| Conn::default())
            .collect();
        let random = mix64(self.shared.config.seed ^ u64::from(id).rotate_left(32));
        Ok(Worker {
            id,
            conns,
            random,
            started: false,
            in_flight: None,
        })
    }

    /// Finishes the request the end of the run caught on the wire, within
    /// the grace; one still unanswered then is interrupted.
    async fn teardown(self, mut w: Worker, _info: IterInfo) -> Result<()> {
        let Some(mut sent) = w.in_flight.take() else {
            return Ok(());
        };
        let monitor = &self.shared.monitor;
        let grace = self.shared.config.graceful_stop;
        match tokio::time::timeout(grace, sent.exchange.as_mut()).await {
            Ok((_, answer)) => {
                self.finish(w.id, sent, &answer);
            }
            Err(_) => {
                monitor.interrupted.fetch_add(1, Ordering::Relaxed);
                if sent.key.2.is_write() {
                    monitor.interrupted_writes.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    async fn bench(&mut self, w: &mut Worker, info: &IterInfo) -> Result<IterReport> {
        let shared = &*self.shared;
        let cfg = &shared.config;
        // rlt runs exactly `warmup` calls before the main phase starts.
        let warmup = cfg.warmup > 0 && shared.calls.fetch_add(1, Ordering::Relaxed) < cfg.warmup;
        // This process's `runner_seq`-th request is request `k` of the run.
        let k = cfg.share.request(info.runner_seq);
        let (from, phase) = if warmup {
            (Instant::now(), Phase::Warmup)
        } else {
            self.wait_turn(w, k).await
        };
        let (target, plan) = self.plan(k, phase);
        let req = Request {
            method: plan.kind.method(),
            path: &plan.path,
            json_body: plan.body.as_deref(),
            id: Some(RequestId { seed: cfg.seed, k }),
        };

        let conn = &mut w.conns[target];
        conn.prepare(&cfg.targets[target], &req);
        let mut conn = std::mem::take(conn);
        let suite = self.shared.clone();
        let sent = w.in_flight.insert(InFlight {
            exchange: Box::pin(async move {
                let cfg = &suite.config;
                let answer = conn.send(&cfg.targets[target], cfg.request_timeout).await;
                (conn, answer)
            }),
            target,
            key: (phase, target, plan.kind),
            k,
            plan,
            from,
        });
        let (conn, answer) = sent.exchange.as_mut().await;
        let sent = w.in_flight.take().expect("the request just sent");
        w.conns[target] = conn;
        let (outcome, latency) = self.finish(w.id, sent, &answer);
        let answer = answer?;
        Ok(IterReport {
            duration: latency,
            status: rlt_status(outcome, &answer),
            bytes: answer.body.len() as u64,
            items: 1,
        })
    }
}

impl Suite {
    /// Checks and records a request's answer; returns its outcome and latency.
    fn finish(
        &self,
        worker: u32,
        sent: InFlight,
        answer: &Result<Answer, ClientError>,
    ) -> (Outcome, Duration) {
        let now = Instant::now();
        let latency = now.duration_since(sent.from);
        let second = match (sent.key.0, self.shared.start.get()) {
            (Phase::Warmup, _) | (_, None) => None,
            (_, Some(start)) => Some(now.saturating_duration_since(*start).as_secs() as u32),
        };
        let (outcome, status) = match answer {
            Ok(a) => {
                let (outcome, created) = check::check(&sent.plan, self.shared.config.work_ms, a);
                if let Some(c) = created {
                    self.shared.remember(sent.target, c);
                }
                (outcome, Some(a.status.as_u16()))
            }
            Err(_) => (Outcome::TransportError, None),
        };
        if let Some(outliers) = &self.shared.outliers
            && sent.key.0 != Phase::Warmup
        {
            let (_, target, kind) = sent.key;
            let o = Outlier::new(sent.k, target, kind, status, outcome, latency);
            outliers.record(worker, o);
        }
        self.record(
            worker,
            Sample {
                key: sent.key,
                outcome,
                status,
                latency,
                second,
            },
        );
        (outcome, latency)
    }

    /// Request `k`: its target (round robin) and what to send (by seed and `k`).
    fn plan(&self, k: u64, phase: Phase) -> (usize, check::Plan) {
        let shared = &*self.shared;
        let cfg = &shared.config;
        let target = (k % cfg.targets.len() as u64) as usize;
        let salt = u64::from(phase == Phase::Warmup);
        let draw = mix64(cfg.seed ^ k.wrapping_mul(0xA24B_AED4_963E_E407) ^ salt);
        let kind = cfg.mix.pick(draw);
        let recalled = match kind {
            Kind::Get => shared.recall(target, mix64(draw)),
            _ => None,
        };
        (target, check::plan(kind, k, cfg.work_ms, recalled))
    }

    /// Waits until request `k` is due; returns when its latency starts and its phase.
    async fn wait_turn(&self, w: &mut Worker, k: u64) -> (Instant, Phase) {
        let shared = &*self.shared;
        let cfg = &shared.config;
        let start = *shared.start.get_or_init(Instant::now);
        let (due, from) = match cfg.schedule {
            Some(schedule) => {
                let due = start + schedule.offset(k);
                let now = Instant::now();
                let slept = now < due;
                // Only a request not yet due takes a timer.
                let now = if slept {
                    sleep_until(due).await;
                    Instant::now()
                } else {
                    now
                };
                let lag = now.duration_since(due);
                shared.monitor.arrival(w.id, lag, slept);
                if let Some(m) = &shared.metrics {
                    m.schedule_lag.set(lag.as_secs_f64());
                }
                // A worker that waited for the due time and woke late was
                // held up by the tool's own timer (about 1 ms), not by the
                // server: its latency counts from the send. A worker still
                // busy with the server past the due time counts from the due
                // time: that wait is the server's (coordinated omission).
                (due, if slept { now } else { due })
            }
            None => {
                if !w.started {
                    w.started = true;
                    sleep_until(start + worker_start(cfg.ramp, w.id, cfg.workers)).await;
                } else if let Some(think) = cfg.think {
                    w.random = mix64(w.random);
                    let span = (think.max - think.min).as_nanos() as u64;
                    sleep(think.min + Duration::from_nanos(w.random % span.saturating_add(1)))
                        .await;
                }
                let now = Instant::now();
                (now, now)
            }
        };
        shared.monitor.started.fetch_add(1, Ordering::Relaxed);
        let phase = if due.duration_since(start) < cfg.unjudged() {
            Phase::Ramp
        } else {
            Phase::Steady
        };
        (from, phase)
    }

    fn record(&self, worker: u32, sample: Sample) {
        let shared = &*self.shared;
        if let Some(metrics) = &shared.metrics
            && sample.key.0 != Phase::Warmup
        {
            let handles = &metrics.handles[sample.key.1][sample.key.2.index()];
            handles.outcomes[sample.outcome.index()].inc();
            handles.duration.observe(sample.latency.as_secs_f64());
        }
        shared.stats.record(worker, sample);
    }
}

/// rlt's status: success only for a correct answer; a wrong status keeps its
/// class, a wrong body is an uncategorised error with the status code.
fn rlt_status(outcome: Outcome, answer: &Answer) -> Status {
    let code = i64::from(answer.status.as_u16());
    match outcome {
        Outcome::Ok => Status::success(code),
        Outcome::UnexpectedStatus if answer.status.is_client_error() => Status::client_error(code),
        Outcome::UnexpectedStatus if answer.status.is_server_error() => Status::server_error(code),
        _ => Status::error(code),
    }
}
