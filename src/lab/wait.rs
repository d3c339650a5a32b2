//! Waiting for a condition in the steps of `--check`: polled at a fixed
//! pace until it holds or a limit passes.

use std::time::Duration;

use tokio::time::Instant;

/// Polls `ok` every `every` until it holds (then returns how long that
/// took) or `limit` passes.
pub async fn until<F, Fut>(limit: Duration, every: Duration, mut ok: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if ok().await {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}
