//! Before the run: is every target reachable? Fails naming the URL.

use std::time::Duration;

use super::{client, target::Target};

/// Why the run did not start.
#[derive(Debug, thiserror::Error)]
#[error("target {url} is unreachable: {reason}")]
pub struct Unreachable {
    pub url: String,
    pub reason: String,
}

/// Sends `GET /healthz` to each target; any HTTP answer counts as reachable.
pub async fn reachable(targets: &[Target], timeout: Duration) -> Result<(), Unreachable> {
    for target in targets {
        let mut conn = client::Conn::default();
        let req = client::request(target, "GET", "/healthz", None);
        let reason = match tokio::time::timeout(timeout, conn.exchange(target, req)).await {
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {}", humantime::format_duration(timeout)),
        };
        return Err(Unreachable {
            url: target.url.clone(),
            reason,
        });
    }
    Ok(())
}
