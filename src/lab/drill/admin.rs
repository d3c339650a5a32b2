//! The drill's client of the instances' `/admin/faults` (`srelab serve
//! --faults`): set one fault, clear them all.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Sends `method` with `body` (JSON, may be empty) to the instance's
/// `/admin/faults`; an error names the instance and what it answered.
pub async fn call(addr: SocketAddr, method: Method, body: &str) -> Result<(), String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::builder()
        .method(method.clone())
        .uri(format!("http://{addr}/admin/faults"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| format!("{method} http://{addr}/admin/faults: no answer within 10s"))?
        .map_err(|e| format!("{method} http://{addr}/admin/faults: {e}"))?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    let text = answer
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    Err(format!(
        "{method} http://{addr}/admin/faults: {status}: {}",
        text.trim()
    ))
}

/// Sets one fault (JSON) on the instance.
pub async fn set(addr: SocketAddr, fault: &str) -> Result<(), String> {
    call(addr, Method::POST, fault).await
}

/// Clears every fault of the instance.
pub async fn clear(addr: SocketAddr) -> Result<(), String> {
    call(addr, Method::DELETE, "").await
}
