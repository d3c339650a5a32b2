//! The bodies of the fuzz targets: what each parser we wrote ourselves must
//! do with arbitrary bytes, beyond not panicking. A broken property panics.
//!
//! `fuzz/` (cargo-fuzz, libFuzzer) calls these under the fuzzer;
//! `tests/fuzz_corpus.rs` runs them over the committed seed corpus
//! (`fuzz/corpus/TARGET/`) on every `cargo test`.
//!
//! - [`http1_response`]: the load tool's answer framing (`load::http1`).
//! - [`request`]: the service's request side: path ids, query strings,
//!   item bodies through validation, error bodies.
//! - [`verify_spec`]: the verify spec and its metric-name extraction.
//! - [`prom_answer`]: verify's reading of Prometheus' HTTP API answers.
//! - [`verify_rules`]: verify's reading of rules files and dashboards.

pub mod http1_response;
pub mod prom_answer;
pub mod request;
pub mod verify_rules;
pub mod verify_spec;

/// A target's body: panics when a property does not hold for `data`.
pub type Check = fn(data: &[u8]);

/// Every target: its name (the corpus directory) and its body.
pub const TARGETS: &[(&str, Check)] = &[
    ("http1_response", http1_response::check),
    ("request", request::check),
    ("verify_spec", verify_spec::check),
    ("prom_answer", prom_answer::check),
    ("verify_rules", verify_rules::check),
];

/// The output of a future that never waits (in-memory peers, full bodies).
fn ready<F: std::future::Future>(future: F) -> F::Output {
    let future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a future over in-memory data waited"),
    }
}
