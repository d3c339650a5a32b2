//! Request ids and the run's outliers.
//!
//! Every request carries `X-Request-Id: SEED-K` (the run's seed in 16 hex
//! digits, then its sequence number `k`), so request `k` of a seeded run
//! has the same id on every run and in every worker of a distributed one.
//! `srelab serve` logs the id in its access log.
//!
//! With `--outliers N`, the workers also keep the N slowest requests and
//! the first N that failed (wrong answer or none), each with its id, and
//! the report lists them with a LogQL query that finds their lines in
//! Loki. Keeping them costs a lock and a comparison per request, so it is
//! off unless asked for.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    fmt,
    sync::Mutex,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};

use super::{check::Outcome, mix::Kind, report::rfc3339_millis};

/// The id of request `k` of the run with `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    pub seed: u64,
    pub k: u64,
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{}", self.seed, self.k)
    }
}

/// One request worth finding again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outlier {
    /// Its sequence number in the run (the id is `SEED-K`).
    pub k: u64,
    pub target: usize,
    /// The kind's name (`list`, `create`, …).
    pub kind: String,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The outcome's name (`ok`, `unexpected_status`, …).
    pub outcome: String,
    pub latency_seconds: f64,
    /// When the answer (or the failure) came, seconds since the Unix epoch.
    pub at: f64,
}

impl Outlier {
    pub fn new(
        k: u64,
        target: usize,
        kind: Kind,
        status: Option<u16>,
        outcome: Outcome,
        latency: Duration,
    ) -> Outlier {
        let at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Outlier {
            k,
            target,
            kind: kind.name().to_owned(),
            status,
            outcome: outcome.name().to_owned(),
            latency_seconds: latency.as_secs_f64(),
            at,
        }
    }

    fn failed(&self) -> bool {
        self.outcome != Outcome::Ok.name()
    }
}

/// Ordered by latency, then `k`, for the heap of the slowest.
#[derive(Debug, Clone, PartialEq)]
struct BySlowness(Outlier);

impl Eq for BySlowness {}

impl PartialOrd for BySlowness {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BySlowness {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.latency_seconds.total_cmp(&other.0.latency_seconds)).then(self.0.k.cmp(&other.0.k))
    }
}

/// The N slowest and the first N failed requests seen.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Wire", into = "Wire")]
pub struct Outliers {
    cap: usize,
    slowest: BinaryHeap<Reverse<BySlowness>>,
    failed: Vec<Outlier>,
    /// Every failed request, also those not kept.
    pub failed_total: u64,
}

impl Outliers {
    /// Keeps at most `cap` of each.
    pub fn new(cap: usize) -> Outliers {
        Outliers {
            cap,
            ..Outliers::default()
        }
    }

    /// Whether this keeps nothing (`--outliers` not given).
    pub fn is_off(&self) -> bool {
        self.cap == 0
    }

    /// Considers one finished request.
    pub fn offer(&mut self, o: Outlier) {
        if self.cap == 0 {
            return;
        }
        if o.failed() {
            self.failed_total += 1;
            self.keep_failed(o.clone());
        }
        self.keep_slow(o);
    }

    fn keep_slow(&mut self, o: Outlier) {
        if self.slowest.len() < self.cap {
            self.slowest.push(Reverse(BySlowness(o)));
        } else if let Some(Reverse(fastest)) = self.slowest.peek()
            && BySlowness(o.clone()) > *fastest
        {
            self.slowest.pop();
            self.slowest.push(Reverse(BySlowness(o)));
        }
    }

    fn keep_failed(&mut self, o: Outlier) {
        self.failed.push(o);
        if self.failed.len() > self.cap {
            self.failed
                .sort_by(|a, b| a.at.total_cmp(&b.at).then(a.k.cmp(&b.k)));
            self.failed.truncate(self.cap);
        }
    }

    /// Adds another record's outliers (a shard's, a worker's).
    pub fn merge(&mut self, other: &Outliers) {
        self.cap = self.cap.max(other.cap);
        for Reverse(BySlowness(o)) in &other.slowest {
            self.keep_slow(o.clone());
        }
        for o in &other.failed {
            self.keep_failed(o.clone());
        }
        self.failed_total += other.failed_total;
    }

    /// The slowest, slowest first.
    pub fn slowest(&self) -> Vec<Outlier> {
        let mut out: Vec<BySlowness> = self.slowest.iter().map(|r| r.0.clone()).collect();
        out.sort_by(|a, b| b.cmp(a));
        out.into_iter().map(|b| b.0).collect()
    }

    /// The first failed, earliest first.
    pub fn failed(&self) -> Vec<Outlier> {
        let mut out = self.failed.clone();
        out.sort_by(|a, b| a.at.total_cmp(&b.at).then(a.k.cmp(&b.k)));
        out
    }
}

/// [`Outliers`] as JSON (on the wire between workers and coordinator).
#[derive(Serialize, Deserialize)]
struct Wire {
    cap: usize,
    slowest: Vec<Outlier>,
    failed: Vec<Outlier>,
    failed_total: u64,
}

impl From<Outliers> for Wire {
    fn from(o: Outliers) -> Wire {
        Wire {
            slowest: o.slowest(),
            failed: o.failed(),
            cap: o.cap,
            failed_total: o.failed_total,
        }
    }
}

impl From<Wire> for Outliers {
    fn from(w: Wire) -> Outliers {
        let mut o = Outliers::new(w.cap);
        for s in w.slowest {
            o.keep_slow(s);
        }
        for f in w.failed {
            o.keep_failed(f);
        }
        o.failed_total = w.failed_total;
        o
    }
}

/// The workers' outliers, sharded like the statistics so workers on
/// different threads rarely meet at one lock.
pub struct Recorder {
    shards: Vec<Mutex<Outliers>>,
}

impl Recorder {
    pub fn new(cap: usize, shards: usize) -> Recorder {
        Recorder {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Outliers::new(cap)))
                .collect(),
        }
    }

    pub fn record(&self, worker: u32, o: Outlier) {
        let shard = &self.shards[worker as usize % self.shards.len()];
        shard.lock().unwrap_or_else(|e| e.into_inner()).offer(o);
    }

    /// Every shard's outliers, merged.
    pub fn merged(&self) -> Outliers {
        let mut out = Outliers::default();
        for shard in &self.shards {
            out.merge(&shard.lock().unwrap_or_else(|e| e.into_inner()));
        }
        out
    }
}

/// The outliers in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutliersReport {
    pub slowest: Vec<OutlierReport>,
    pub failed: Vec<OutlierReport>,
    /// Failed requests in all (only the first are listed).
    pub failed_total: u64,
    /// A LogQL query finding every listed request in the servers' logs
    /// (the lines the servers' `--access-log` mode kept).
    pub logql: String,
}

/// One listed request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutlierReport {
    pub request_id: String,
    pub target: String,
    pub kind: String,
    pub status: Option<u16>,
    pub outcome: String,
    pub latency_seconds: f64,
    /// When its answer (or failure) came, RFC 3339 in UTC, to the millisecond.
    pub at: String,
}

/// A LogQL query finding the lines of requests `ks` of the run with `seed`
/// in the servers' access logs.
pub fn logql(seed: u64, ks: &[String]) -> String {
    format!(
        r#"{{job="srelab"}} | json | request_id=~"{seed:016x}-({})""#,
        ks.join("|")
    )
}

impl OutliersReport {
    /// The report's section, or `None` when nothing was kept.
    pub fn of(o: &Outliers, seed: u64, targets: &[String]) -> Option<OutliersReport> {
        if o.is_off() {
            return None;
        }
        let row = |x: Outlier| OutlierReport {
            request_id: RequestId { seed, k: x.k }.to_string(),
            target: targets.get(x.target).cloned().unwrap_or_default(),
            kind: x.kind,
            status: x.status,
            outcome: x.outcome,
            latency_seconds: x.latency_seconds,
            at: rfc3339_millis(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(x.at.max(0.0))),
        };
        let slowest: Vec<OutlierReport> = o.slowest().into_iter().map(row).collect();
        let failed: Vec<OutlierReport> = o.failed().into_iter().map(row).collect();
        let mut ks: Vec<String> = slowest
            .iter()
            .chain(&failed)
            .map(|r| {
                r.request_id
                    .rsplit('-')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        ks.sort();
        ks.dedup();
        Some(OutliersReport {
            logql: logql(seed, &ks),
            slowest,
            failed,
            failed_total: o.failed_total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlier(k: u64, ms: u64, outcome: Outcome, at: f64) -> Outlier {
        Outlier {
            at,
            ..Outlier::new(
                k,
                0,
                Kind::List,
                Some(200),
                outcome,
                Duration::from_millis(ms),
            )
        }
    }

    #[test]
    fn ids_are_the_seed_in_hex_and_k() {
        let id = RequestId { seed: 0xab, k: 42 };
        assert_eq!(id.to_string(), "00000000000000ab-42");
    }

    #[test]
    fn keeps_the_slowest_and_the_first_failed() {
        let mut a = Outliers::new(3);
        for k in 0..100u64 {
            let outcome = if k % 10 == 3 {
                Outcome::UnexpectedStatus
            } else {
                Outcome::Ok
            };
            // Latency k * 7 mod 100: the slowest are 99, 98, 97 ms.
            a.offer(outlier(k, (k * 7) % 100, outcome, 1000.0 - k as f64));
        }
        let slow: Vec<u64> = a
            .slowest()
            .iter()
            .map(|o| (o.latency_seconds * 1e3).round() as u64)
            .collect();
        assert_eq!(slow, [99, 98, 97]);
        // The earliest failures are those with the largest k here.
        let failed: Vec<u64> = a.failed().iter().map(|o| o.k).collect();
        assert_eq!(failed, [93, 83, 73]);
        assert_eq!(a.failed_total, 10);

        let mut b = Outliers::new(3);
        b.offer(outlier(500, 5000, Outcome::TransportError, 1.0));
        a.merge(&b);
        assert_eq!(a.slowest()[0].k, 500);
        assert_eq!(a.failed()[0].k, 500);
        assert_eq!(a.failed().len(), 3);
        assert_eq!(a.failed_total, 11);

        let json = serde_json::to_string(&a).unwrap();
        let back: Outliers = serde_json::from_str(&json).unwrap();
        assert_eq!(back.slowest(), a.slowest());
        assert_eq!(back.failed(), a.failed());
        assert_eq!(back.failed_total, 11);
    }

    #[test]
    fn off_keeps_nothing_and_reports_nothing() {
        let mut o = Outliers::new(0);
        o.offer(outlier(1, 10, Outcome::TransportError, 1.0));
        assert!(o.slowest().is_empty() && o.failed().is_empty());
        assert!(OutliersReport::of(&o, 7, &[]).is_none());
    }

    #[test]
    fn the_report_names_ids_and_a_query_for_them() {
        let mut o = Outliers::new(2);
        o.offer(outlier(4, 300, Outcome::Ok, 1.5));
        o.offer(outlier(9, 20, Outcome::TransportError, 2.25));
        let r = OutliersReport::of(&o, 7, &["http://a".into()]).unwrap();
        assert_eq!(r.slowest[0].request_id, "0000000000000007-4");
        assert_eq!(r.slowest[0].target, "http://a");
        assert_eq!(r.failed[0].at, "1970-01-01T00:00:02.250Z");
        assert_eq!(
            r.logql,
            r#"{job="srelab"} | json | request_id=~"0000000000000007-(4|9)""#
        );
    }
}
