//! What saturated: the servers' own signals over a step's judged seconds,
//! asked of Prometheus through verify's client (`--prometheus`): process
//! CPU, the hosts' CPU, requests in flight, the database write queue and
//! (on PostgreSQL) the connection pool.

use std::time::{Duration, SystemTime};

use super::report::Saturation;
use crate::{load::target::Target, verify::prom::Prometheus};

/// The shortest window read: two scrapes at the lab's 2 s interval, and
/// one more for the range's edges.
pub const MIN_WINDOW: Duration = Duration::from_secs(5);

/// Reads the signals of the `targets` (instances of `job`) between `from`
/// and `to`, evaluated at `to`; over at least [`MIN_WINDOW`], so that a
/// short step still holds two scrapes.
pub async fn read(
    prom: &Prometheus,
    job: &str,
    targets: &[Target],
    (from, to): (SystemTime, SystemTime),
) -> Saturation {
    let window = to
        .duration_since(from)
        .unwrap_or_default()
        .max(MIN_WINDOW)
        .as_secs();
    let instances: Vec<&str> = targets.iter().map(|t| t.authority.as_str()).collect();
    let sel = format!(r#"{{job="{job}",instance=~"{}"}}"#, instances.join("|"));
    let mut s = Saturation::default();
    let queries: [(&mut Option<f64>, String); 5] = [
        (
            &mut s.cpu_cores,
            format!("sum(rate(process_cpu_seconds_total{sel}[{window}s]))"),
        ),
        (
            &mut s.host_cpu_ratio,
            format!("max(avg_over_time(srelab_host_cpu_utilization_ratio{sel}[{window}s]))"),
        ),
        (
            &mut s.in_flight,
            format!("sum(max_over_time(http_requests_in_flight{sel}[{window}s]))"),
        ),
        (
            &mut s.db_write_queue,
            format!("sum(max_over_time(srelab_db_write_queue_depth{sel}[{window}s]))"),
        ),
        (
            &mut s.db_pool_in_use,
            format!("sum(max_over_time(srelab_db_pool_connections_in_use{sel}[{window}s]))"),
        ),
    ];
    let mut error = None;
    for (into, expr) in queries {
        match prom.query_at(&expr, to).await {
            Ok(samples) => *into = samples.first().map(|s| s.value).filter(|v| v.is_finite()),
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    s.error = error;
    s
}
