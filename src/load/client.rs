//! The HTTP client: one keep-alive HTTP/1.1 connection per worker and target.
//!
//! Like wrk, each worker owns its connections: no pool lock on the hot
//! path, and the connection is driven inside the worker's own task (not a
//! task of its own), which saves a cross-task wake-up per request. A
//! connection that fails is dropped and the next request dials again.

use std::{borrow::Cow, pin::Pin, sync::LazyLock};

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, StatusCode, Uri, header, response::Parts};
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper::{
    body::Incoming,
    client::conn::http1::{self, Connection, SendRequest},
};
use hyper_util::rt::TokioIo;
use tokio::{
    net::TcpStream,
    time::{Instant, Sleep, sleep_until},
};

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

type Link = (
    SendRequest<Full<Bytes>>,
    Connection<TokioIo<TcpStream>, Full<Bytes>>,
);

/// A worker's connection to one target, dialled on first use.
#[derive(Default)]
pub struct Conn {
    link: Option<Link>,
    /// The request timeout's timer, kept from request to request: it is
    /// never later than the current request's deadline and is only moved
    /// when it fires early, so most requests neither add nor remove a
    /// timer entry (which `tokio::time::timeout` does for each).
    timer: Option<Pin<Box<Sleep>>>,
}

impl Conn {
    /// Sends one request and reads the whole answer within `timeout`; after
    /// a timeout the connection is dropped (it still owes an answer).
    pub async fn exchange(
        &mut self,
        target: &Target,
        req: Request<Full<Bytes>>,
        timeout: std::time::Duration,
    ) -> Result<Answer, ClientError> {
        let now = Instant::now();
        // As `tokio::time::timeout`: an unrepresentable deadline is ~30 years.
        let deadline = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + std::time::Duration::from_secs(86400 * 365 * 30));
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        {
            let work = Self::try_exchange(&mut self.link, target, req);
            tokio::pin!(work);
            loop {
                tokio::select! {
                    biased;
                    result = &mut work => return result,
                    () = timer.as_mut() => {
                        if Instant::now() >= deadline {
                            break;
                        }
                        // An earlier request's deadline: wait for this one's.
                        timer.as_mut().reset(deadline);
                    }
                }
            }
        }
        self.link = None;
        Err(ClientError::Timeout)
    }

    async fn try_exchange(
        link: &mut Option<Link>,
        target: &Target,
        req: Request<Full<Bytes>>,
    ) -> Result<Answer, ClientError> {
        if link.is_none() {
            // Boxed: the rare dial keeps its state out of every request's future.
            *link = Some(Box::pin(dial(target)).await?);
        }
        let (result, ended) = {
            let (sender, conn) = link.as_mut().expect("dialled above");
            let work = async {
                sender.ready().await?;
                let (parts, body) = sender.send_request(req).await?.into_parts();
                Ok::<_, hyper::Error>((parts, read_body(body).await?))
            };
            tokio::pin!(work);
            tokio::select! {
                biased;
                r = &mut work => (r, false),
                // The connection ended (e.g. the server closed it after this
                // answer): whatever it delivered is still in `work`.
                _ = conn => (work.await, true),
            }
        };
        match result {
            Ok((parts, body)) => {
                if ended || closing(&parts) {
                    *link = None;
                }
                Ok(answer(parts, body))
            }
            Err(e) => {
                *link = None;
                Err(ClientError::Http(e))
            }
        }
    }
}

/// The whole body, as `collect().to_bytes()` gives it, without collecting
/// the common single data frame into a list first.
async fn read_body(mut body: Incoming) -> Result<Bytes, hyper::Error> {
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        match (&first, &mut more) {
            (None, _) => first = Some(data),
            (Some(f), None) => {
                let mut buf = BytesMut::with_capacity(f.len() + data.len());
                buf.extend_from_slice(f);
                buf.extend_from_slice(&data);
                more = Some(buf);
            }
            (Some(_), Some(buf)) => buf.extend_from_slice(&data),
        }
        if body.is_end_stream() {
            break;
        }
    }
    Ok(match more {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
}

fn closing(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
}

fn answer(parts: Parts, body: Bytes) -> Answer {
    let location = parts
        .headers
        .get(header::LOCATION)
        .map(|v| Bytes::copy_from_slice(v.as_bytes()));
    Answer {
        status: parts.status,
        location,
        body,
    }
}

async fn dial(target: &Target) -> Result<Link, ClientError> {
    let stream = TcpStream::connect(&target.authority)
        .await
        .map_err(ClientError::Connect)?;
    stream.set_nodelay(true).map_err(ClientError::Connect)?;
    // Answers are small; a 4 KiB read buffer (hyper's default starts at
    // 8 KiB and grows) keeps 1,000 workers' connections light. Requests
    // are small too: one flat write buffer is cheaper than hyper's queue
    // of buffers for writev.
    http1::Builder::new()
        .read_buf_exact_size(Some(4096))
        .writev(false)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(ClientError::Handshake)
}
/// The URI of a static path, parsed once for the paths the kinds use.
fn static_uri(path: &'static str) -> Uri {
    static PARSED: LazyLock<[Uri; 2]> =
        LazyLock::new(|| ["/healthz", "/api/items"].map(Uri::from_static));
    PARSED
        .iter()
        .find(|u| u.path() == path)
        .cloned()
        .unwrap_or_else(|| Uri::from_static(path))
}

/// Builds a request to `path` on `target`: the `Host` value is the target's,
/// validated once, and a static path is not copied.
pub fn request(
    target: &Target,
    method: &'static str,
    path: Cow<'static, str>,
    body: Option<Bytes>,
) -> Request<Full<Bytes>> {
    let uri = match path {
        Cow::Borrowed(p) => static_uri(p),
        Cow::Owned(p) => Uri::try_from(p).expect("paths are valid"),
    };
    let json = body.is_some();
    let mut req = Request::new(Full::new(body.unwrap_or_default()));
    *req.method_mut() = Method::from_bytes(method.as_bytes()).expect("methods are valid");
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    headers.insert(header::HOST, target.host.clone());
    if json {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    req
}
