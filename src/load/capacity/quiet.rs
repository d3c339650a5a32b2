//! Between steps: after a failing step the servers may still be working
//! off its backlog (queued CPU work, a write queue), which would fail the
//! next, lower step for the wrong reason. The search waits until every
//! target answers `GET /healthz` about as fast as before the search.

use std::time::Duration;

use tokio::time::Instant;

use crate::load::{client, target::Target};

/// Consecutive quick rounds of probes that make the targets quiet.
const QUICK_ROUNDS: u32 = 3;
/// Pause between two rounds.
const EVERY: Duration = Duration::from_millis(200);
/// A probe this fast is quick, whatever the baseline.
const FLOOR: Duration = Duration::from_millis(25);

/// How fast the targets answer when idle: the slowest target's median over
/// five rounds, before the search.
pub async fn baseline(targets: &[Target], timeout: Duration) -> Duration {
    let mut conns: Vec<client::Conn> = targets.iter().map(|_| Default::default()).collect();
    let mut rounds = Vec::new();
    for _ in 0..5 {
        rounds.push(round(targets, &mut conns, timeout).await.unwrap_or(timeout));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rounds.sort();
    rounds[rounds.len() / 2]
}

/// The slowest answer of one probe to every target (`None` when one failed).
async fn round(
    targets: &[Target],
    conns: &mut [client::Conn],
    timeout: Duration,
) -> Option<Duration> {
    let mut slowest = Duration::ZERO;
    for (target, conn) in targets.iter().zip(conns.iter_mut()) {
        let t = Instant::now();
        conn.exchange(target, client::Request::get("/healthz"), timeout)
            .await
            .ok()?;
        slowest = slowest.max(t.elapsed());
    }
    Some(slowest)
}

/// The threshold of a quick probe given the idle `baseline`.
pub fn threshold(baseline: Duration) -> Duration {
    (baseline * 10).max(FLOOR)
}

/// Waits until [`QUICK_ROUNDS`] rounds in a row answer within `quick`, at
/// most `limit`; returns how long it took, or `None` when the targets
/// were not quiet by then.
pub async fn wait(targets: &[Target], quick: Duration, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut conns: Vec<client::Conn> = targets.iter().map(|_| Default::default()).collect();
    let mut streak = 0;
    while started.elapsed() < limit {
        let timeout = limit
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(1));
        match round(targets, &mut conns, timeout).await {
            Some(slowest) if slowest <= quick => streak += 1,
            _ => streak = 0,
        }
        if streak >= QUICK_ROUNDS {
            return Some(started.elapsed());
        }
        tokio::time::sleep(EVERY).await;
    }
    None
}
