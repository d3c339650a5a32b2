//! Panic containment: a future wrapper that turns a panic while polling
//! into an `Err`, so a panicking handler becomes a counted 500 instead of a
//! dropped connection.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::Poll;

/// The payload of a caught panic.
pub type Panic = Box<dyn Any + Send + 'static>;

/// Awaits `fut`; a panic while polling it resolves to `Err(payload)`.
pub async fn catch_unwind_future<F: Future>(fut: F) -> Result<F::Output, Panic> {
    let mut fut = pin!(fut);
    // The future is never polled again after a panic (this one resolves), so
    // nothing can observe the state the panic left behind.
    poll_fn(
        move |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        },
    )
    .await
}

/// The message of a panic payload (caught, or in a panic hook), for the log.
pub fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_and_a_value_passes_through() {
        let ok = catch_unwind_future(async { 7 }).await;
        assert_eq!(ok.unwrap(), 7);
        let caught = catch_unwind_future(async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
        })
        .await;
        assert_eq!(message(&*caught.unwrap_err()), "boom");
    }
}
