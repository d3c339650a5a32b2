//! The HTTP client: one keep-alive HTTP/1.1 connection per worker and target.
//!
//! Like wrk, each worker owns its connections, so no pool lock sits on the
//! hot path; a connection that fails is dropped and the next request dials
//! again.

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::target::Target;

/// Why an exchange got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("handshake: {0}")]
    Handshake(#[source] hyper::Error),
    #[error("http: {0}")]
    Http(#[source] hyper::Error),
    #[error("timeout")]
    Timeout,
}

/// A complete answer: status, `Location` header and the whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<Bytes>,
    pub body: Bytes,
}

/// A worker's connection to one target, dialled on first use.
#[derive(Default)]
pub struct Conn {
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// Sends one request and reads the whole answer.
    pub async fn exchange(
        &mut self,
        target: &Target,
        req: Request<Full<Bytes>>,
    ) -> Result<Answer, ClientError> {
        let result = self.try_exchange(target, req).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn try_exchange(
        &mut self,
        target: &Target,
        req: Request<Full<Bytes>>,
    ) -> Result<Answer, ClientError> {
        let sender = self.ready(target).await?;
        let resp = sender.send_request(req).await.map_err(ClientError::Http)?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(ClientError::Http)?.to_bytes();
        let location = parts
            .headers
            .get(header::LOCATION)
            .map(|v| Bytes::copy_from_slice(v.as_bytes()));
        let closing = parts
            .headers
            .get(header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if closing {
            self.sender = None;
        }
        Ok(Answer {
            status: parts.status,
            location,
            body,
        })
    }

    async fn ready(
        &mut self,
        target: &Target,
    ) -> Result<&mut SendRequest<Full<Bytes>>, ClientError> {
        if let Some(sender) = &mut self.sender
            && sender.ready().await.is_err()
        {
            self.sender = None;
        }
        if self.sender.is_none() {
            self.sender = Some(dial(target).await?);
        }
        Ok(self.sender.as_mut().expect("dialled above"))
    }
}

async fn dial(target: &Target) -> Result<SendRequest<Full<Bytes>>, ClientError> {
    let stream = TcpStream::connect(&target.authority)
        .await
        .map_err(ClientError::Connect)?;
    stream.set_nodelay(true).map_err(ClientError::Connect)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(ClientError::Handshake)?;
    tokio::spawn(async move {
        // The connection's end is seen by the next request on it.
        let _ = conn.await;
    });
    Ok(sender)
}

/// Builds a request to `path` on `target`.
pub fn request(
    target: &Target,
    method: &'static str,
    path: &str,
    body: Option<Bytes>,
) -> Request<Full<Bytes>> {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, target.authority.as_str());
    let builder = match body {
        Some(_) => builder.header(header::CONTENT_TYPE, "application/json"),
        None => builder,
    };
    builder
        .body(Full::new(body.unwrap_or_default()))
        .expect("method, path and headers are valid")
}
