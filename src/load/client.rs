//! The load client: one keep-alive HTTP/1.1 connection per worker and
//! target, with a request timeout.
//!
//! Like wrk, each worker owns its connections: no pool lock on the hot
//! path, and the connection is driven inside the worker's own task (not a
//! task of its own), which saves a cross-task wake-up per request. A
//! connection that fails, or that the server closed while it sat idle, is
//! dropped and the next request dials again. The bytes on the wire are
//! [`http1`]'s.

use std::pin::Pin;

use bytes::BytesMut;
use tokio::{
    io::AsyncWriteExt,
    net::TcpStream,
    time::{Instant, Sleep, sleep_until},
};

pub use super::http1::{Answer, Request};
use super::{
    http1::{self, WireError},
    target::Target,
};

/// Why an exchange got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("timeout")]
    Timeout,
}

/// A worker's connection to one target, dialled on first use.
#[derive(Default)]
pub struct Conn {
    stream: Option<TcpStream>,
    /// Answer bytes read but not yet consumed; reused from request to request
    /// and cleared whenever a connection is dialled.
    read: BytesMut,
    /// The encoded request; reused from request to request.
    write: Vec<u8>,
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
        req: Request<'_>,
        timeout: std::time::Duration,
    ) -> Result<Answer, ClientError> {
        self.prepare(target, &req);
        self.send(target, timeout).await
    }

    /// Encodes `req` for `target` into the write buffer: after this, the
    /// exchange borrows nothing from the request, so it can outlive it.
    pub fn prepare(&mut self, target: &Target, req: &Request<'_>) {
        http1::encode(&mut self.write, &target.authority, req);
    }

    /// Sends the request [`prepare`](Self::prepare) encoded and reads the
    /// whole answer within `timeout`.
    pub async fn send(
        &mut self,
        target: &Target,
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
            let work = try_exchange(&mut self.stream, &mut self.read, &self.write, target);
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
        self.stream = None;
        Err(ClientError::Timeout)
    }
}

/// One request and answer on `stream`, dialled first if needed. The
/// connection is kept only when the answer allows another request on it.
async fn try_exchange(
    stream: &mut Option<TcpStream>,
    read: &mut BytesMut,
    write: &[u8],
    target: &Target,
) -> Result<Answer, ClientError> {
    if stream.as_ref().is_some_and(|io| !idle_and_open(io)) {
        *stream = None;
    }
    let io = match stream {
        Some(io) => io,
        None => {
            read.clear();
            // Boxed: the rare dial keeps its state out of every request's future.
            stream.insert(Box::pin(dial(target)).await?)
        }
    };
    let result = match io.write_all(write).await {
        Ok(()) => http1::read_answer(io, read).await,
        Err(e) => Err(e.into()),
    };
    if !matches!(result, Ok((_, true))) {
        *stream = None;
    }
    result.map(|(answer, _)| answer).map_err(Into::into)
}

/// Whether a kept connection can carry the next request: the server has
/// neither closed it (e.g. after its idle timeout between a worker's think
/// times) nor sent anything unasked. Without a read event since the last
/// answer, tokio answers from its readiness flags without a system call.
fn idle_and_open(io: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(io.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

async fn dial(target: &Target) -> Result<TcpStream, ClientError> {
    let stream = TcpStream::connect(&target.authority)
        .await
        .map_err(ClientError::Connect)?;
    stream.set_nodelay(true).map_err(ClientError::Connect)?;
    Ok(stream)
}
