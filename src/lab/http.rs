//! The lab's own HTTP client, for the steps of `--check` that talk to the
//! instances, HAProxy and the load tool directly: GET a JSON or text
//! answer, POST an item, each within [`TIMEOUT`].

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The longest any request of the lab's own may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A keep-alive HTTP/1.1 client.
pub type Http = Client<HttpConnector, Full<Bytes>>;

/// A new client.
pub fn client() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

/// `GET url`: its status and JSON body (`null` when not JSON); `None`
/// without an answer.
pub async fn get_json(http: &Http, url: &str) -> Option<(u16, serde_json::Value)> {
    let (status, body) = get(http, url).await?;
    Some((status, serde_json::from_slice(&body).unwrap_or_default()))
}

/// `GET url`: the body as text when the status is 200.
pub async fn get_text(http: &Http, url: &str) -> Option<String> {
    match get(http, url).await? {
        (200, body) => Some(String::from_utf8_lossy(&body).into_owned()),
        _ => None,
    }
}

/// `POST url` with a JSON body: its status and JSON answer.
pub async fn post_json(
    http: &Http,
    url: &str,
    body: &serde_json::Value,
) -> Option<(u16, serde_json::Value)> {
    let req = http::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .ok()?;
    let (status, body) = send(http, req).await?;
    Some((status, serde_json::from_slice(&body).unwrap_or_default()))
}

async fn get(http: &Http, url: &str) -> Option<(u16, Bytes)> {
    let req = http::Request::get(url).body(Full::new(Bytes::new())).ok()?;
    send(http, req).await
}

/// Sends `req` and reads the whole answer, within [`TIMEOUT`].
async fn send(http: &Http, req: http::Request<Full<Bytes>>) -> Option<(u16, Bytes)> {
    let answer = async {
        let resp = http.request(req).await.ok()?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        Some((status, body))
    };
    tokio::time::timeout(TIMEOUT, answer).await.ok()?
}
