//! Before the run: is every target reachable? Fails naming the URL (and,
//! for the default target, where the lab's instances are).

use std::time::Duration;

use super::{args::DEFAULT_TARGET, client, target::Target};
use crate::lab::defaults::{BASE_PORT, INSTANCES};

/// Why the run did not start.
#[derive(Debug, thiserror::Error)]
#[error("target {url} is unreachable: {reason}{hint}")]
pub struct Unreachable {
    pub url: String,
    pub reason: String,
    /// Said after the reason (for the default target).
    pub hint: String,
}

/// Where to look when the default target does not answer.
fn hint(url: &str) -> String {
    if url != DEFAULT_TARGET {
        return String::new();
    }
    let lab: Vec<String> = (0..INSTANCES)
        .map(|i| format!("--target http://127.0.0.1:{}", BASE_PORT + i))
        .collect();
    format!(
        " ({url} is the default target, `srelab serve`'s address; for the lab's instances pass {})",
        lab.join(" ")
    )
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
            hint: hint(&target.url),
        });
    }
    Ok(())
}
