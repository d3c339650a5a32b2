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
        let req = client::Request::get("/healthz");
        let reason = match conn.exchange(target, req, timeout).await {
            Ok(_) => continue,
            Err(client::ClientError::Timeout) => {
                format!("no answer within {}", humantime::format_duration(timeout))
            }
            Err(e) => e.to_string(),
        };
        return Err(Unreachable {
            url: target.url.clone(),
            reason,
        });
    }
    Ok(())
}
