//! HTTP/1.1 on the wire for the load client: a request encoded into one
//! reused buffer, an answer read back into another and framed by
//! `Content-Length`, chunked coding or the end of the connection.
//!
//! The head is parsed by httparse (hyper's own parser); this module holds
//! only the framing around it. It is not hyper's client because the
//! client's cost per request is what the load tool sells: hyper's
//! dispatcher spent about 10,000 instructions per request here, half of the
//! tool's total, for machinery (pooled buffers, body streams, a
//! connection task state machine) that one request at a time on a
//! connection does not need. Like wrk, this client never pipelines.

use std::io::Write as _;

use bytes::{Buf, Bytes, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::outliers::RequestId;

/// Largest answer head (status line and headers) accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest answer body accepted.
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Largest chunk-size or trailer line accepted in a chunked body.
const MAX_LINE: usize = 4096;
const MAX_HEADERS: usize = 64;
/// Free space kept in the read buffer before each read.
const READ_SPACE: usize = 4096;

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed before the answer was complete")]
    Closed,
    #[error("malformed answer: {0}")]
    Malformed(String),
}

fn malformed<T>(why: impl Into<String>) -> Result<T, WireError> {
    Err(WireError::Malformed(why.into()))
}

/// One request: the body, if any, is sent as JSON; the id, if any, as
/// `X-Request-Id`.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'static str,
    pub path: &'a str,
    pub json_body: Option<&'a [u8]>,
    pub id: Option<RequestId>,
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str) -> Self {
        Request {
            method: "GET",
            path,
            json_body: None,
            id: None,
        }
    }
}

/// Writes `req` for `host` into `out`, replacing what was there.
pub fn encode(out: &mut Vec<u8>, host: &str, req: &Request<'_>) {
    out.clear();
    for part in [
        req.method,
        " ",
        req.path,
        " HTTP/1.1\r\nHost: ",
        host,
        "\r\n",
    ] {
        out.extend_from_slice(part.as_bytes());
    }
    if let Some(id) = req.id {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "X-Request-Id: {id}\r\n");
    }
    if let Some(body) = req.json_body {
        out.extend_from_slice(b"Content-Type: application/json\r\n");
        // Writing into a Vec cannot fail.
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(req.json_body.unwrap_or_default());
}

/// A complete answer: status, `Location` header and the whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<Bytes>,
    pub body: Bytes,
}

/// How the body of an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    /// Neither length nor chunked: the body runs to the end of the connection.
    Close,
}

/// What the head says, copied out of the buffer it was parsed from.
struct Head {
    status: StatusCode,
    location: Option<Bytes>,
    framing: Framing,
    keep_alive: bool,
}

/// Reads one whole answer from `io`, using `buf` (which may already hold
/// its first bytes). Returns it and whether the connection can carry
/// another request: HTTP keep-alive and nothing left over in `buf`.
pub async fn read_answer<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
) -> Result<(Answer, bool), WireError> {
    let head = read_head(io, buf).await?;
    let body = match head.framing {
        Framing::Empty => Bytes::new(),
        Framing::Length(n) if n > MAX_BODY => return malformed("body over 64 MiB"),
        Framing::Length(n) => exact(io, buf, n).await?,
        Framing::Chunked => chunked(io, buf).await?,
        Framing::Close => {
            while fill(io, buf).await? > 0 {
                if buf.len() > MAX_BODY {
                    return malformed("body over 64 MiB");
                }
            }
            buf.split().freeze()
        }
    };
    let reusable = head.keep_alive && head.framing != Framing::Close && buf.is_empty();
    let answer = Answer {
        status: head.status,
        location: head.location,
        body,
    };
    Ok((answer, reusable))
}

/// Reads and parses the head, skipping interim (1xx) answers.
async fn read_head<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
) -> Result<Head, WireError> {
    loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut res = httparse::Response::new(&mut headers);
            match res.parse(buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let head = head(&res)?;
                    buf.advance(len);
                    match head {
                        Some(head) => return Ok(head),
                        None => continue,
                    }
                }
                Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
                    return malformed("head over 64 KiB");
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return malformed(e.to_string()),
            }
        }
        if fill(io, buf).await? == 0 {
            return Err(WireError::Closed);
        }
    }
}

/// The parts of a parsed head the client needs; `None` for an interim answer.
fn head(res: &httparse::Response<'_, '_>) -> Result<Option<Head>, WireError> {
    let code = res.code.unwrap_or_default();
    if code == 101 {
        return malformed("101 Switching Protocols to a plain request");
    }
    if (100..200).contains(&code) {
        return Ok(None);
    }
    let Ok(status) = StatusCode::from_u16(code) else {
        return malformed(format!("status {code}"));
    };
    let mut location = None;
    let mut length: Option<usize> = None;
    let mut chunked = None;
    let mut close = false;
    let mut keep_alive = false;
    for h in res.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (n, length) {
                (None, _) => return malformed("invalid Content-Length"),
                (Some(n), Some(seen)) if n != seen => {
                    return malformed("conflicting Content-Length headers");
                }
                (Some(n), _) => length = Some(n),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the last coding decides whether the body is chunked.
            chunked = Some(
                tokens(h.value)
                    .last()
                    .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")),
            );
        } else if name.eq_ignore_ascii_case("connection") {
            for token in tokens(h.value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("location") {
            location = Some(Bytes::copy_from_slice(h.value));
        }
    }
    let framing = match (code, chunked, length) {
        (204 | 304, _, _) => Framing::Empty,
        // Transfer-Encoding overrides Content-Length (RFC 9112, 6.3).
        (_, Some(true), _) => Framing::Chunked,
        (_, Some(false), _) => Framing::Close,
        (_, None, Some(n)) => Framing::Length(n),
        (_, None, None) => Framing::Close,
    };
    // HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only when told to keep it.
    let keep_alive = !close && (res.version == Some(1) || keep_alive);
    Ok(Some(Head {
        status,
        location,
        framing,
        keep_alive,
    }))
}

/// The comma-separated tokens of a header value, trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Reads more bytes into `buf`; 0 means the peer closed the connection.
async fn fill<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < READ_SPACE / 4 {
        buf.reserve(READ_SPACE);
    }
    io.read_buf(buf).await
}

/// The next `n` bytes.
async fn exact<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    n: usize,
) -> Result<Bytes, WireError> {
    buf.reserve(n.saturating_sub(buf.len()));
    while buf.len() < n {
        if fill(io, buf).await? == 0 {
            return Err(WireError::Closed);
        }
    }
    Ok(buf.split_to(n).freeze())
}

/// The next line, without its CRLF.
async fn line<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut) -> Result<BytesMut, WireError> {
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let mut line = buf.split_to(end + 2);
            line.truncate(end);
            return Ok(line);
        }
        if buf.len() > MAX_LINE {
            return malformed("chunk line over 4 KiB");
        }
        if fill(io, buf).await? == 0 {
            return Err(WireError::Closed);
        }
    }
}

/// A chunked body, decoded; trailers are read and dropped.
async fn chunked<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut) -> Result<Bytes, WireError> {
    let mut body = BytesMut::new();
    loop {
        let size = chunk_size(&line(io, buf).await?)?;
        if size == 0 {
            while !line(io, buf).await?.is_empty() {}
            return Ok(body.freeze());
        }
        if body.len() + size > MAX_BODY {
            return malformed("body over 64 MiB");
        }
        body.extend_from_slice(&exact(io, buf, size).await?);
        if !line(io, buf).await?.is_empty() {
            return malformed("chunk data longer than its size");
        }
    }
}

/// The size of a chunk from its size line (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Result<usize, WireError> {
    let hex = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if hex.is_empty() || hex.len() > 8 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return malformed("invalid chunk size");
    }
    // At most 8 hex digits: always fits.
    Ok(hex.iter().fold(0, |n, &d| {
        n * 16 + (d as char).to_digit(16).unwrap_or(0) as usize
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that sends `pieces`, one read each, then closes.
    struct Peer(std::collections::VecDeque<Vec<u8>>);

    impl AsyncRead for Peer {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if let Some(mut piece) = self.0.pop_front() {
                let n = piece.len().min(buf.remaining());
                buf.put_slice(&piece[..n]);
                if n < piece.len() {
                    self.0.push_front(piece.split_off(n));
                }
            }
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// Reads answers from `pieces` as the client would, while it may reuse
    /// the connection.
    fn read_all(pieces: &[&[u8]]) -> Vec<Result<(Answer, bool), WireError>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut io = Peer(pieces.iter().map(|p| p.to_vec()).collect());
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            loop {
                let r = read_answer(&mut io, &mut buf).await;
                let stop = !matches!(&r, Ok((_, true))) || io.0.is_empty();
                out.push(r);
                if stop {
                    return out;
                }
            }
        })
    }

    /// The first answer in `wire`; the same whether it arrives in one
    /// read or one byte per read.
    fn one(wire: &str) -> Result<(Answer, bool), WireError> {
        let whole = read_all(&[wire.as_bytes()]).remove(0);
        let bytes: Vec<&[u8]> = wire.as_bytes().chunks(1).collect();
        let trickled = read_all(&bytes).remove(0);
        assert_eq!(format!("{whole:?}"), format!("{trickled:?}"), "{wire:?}");
        whole
    }

    fn body(wire: &str) -> String {
        let (a, _) = one(wire).unwrap();
        String::from_utf8(a.body.to_vec()).unwrap()
    }

    fn error(wire: &str) -> String {
        one(wire).unwrap_err().to_string()
    }

    #[test]
    fn encodes_requests_with_and_without_a_body() {
        let mut out = b"stale".to_vec();
        encode(&mut out, "127.0.0.1:80", &Request::get("/healthz"));
        assert_eq!(out, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n");
        let post = Request {
            method: "POST",
            path: "/api/items",
            json_body: Some(b"{}"),
            id: Some(RequestId { seed: 7, k: 42 }),
        };
        encode(&mut out, "h:1", &post);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /api/items HTTP/1.1\r\nHost: h:1\r\nX-Request-Id: 0000000000000007-42\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn frames_by_length_and_keeps_the_connection() {
        let first = "HTTP/1.1 201 Created\r\nLocation: /api/items/3\r\nContent-Length: 2\r\n\r\n{}";
        let second = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        let answers = read_all(&[first.as_bytes(), second.as_bytes()]);
        assert_eq!(answers.len(), 2, "the first answer left the second intact");
        let (a, reusable) = answers[0].as_ref().unwrap();
        assert_eq!(a.status, StatusCode::CREATED);
        assert_eq!(a.location.as_deref(), Some(&b"/api/items/3"[..]));
        assert_eq!(&a.body[..], b"{}");
        assert!(reusable);
        let (b, _) = answers[1].as_ref().unwrap();
        assert_eq!((b.status, b.body.len()), (StatusCode::OK, 0));
    }

    #[test]
    fn decodes_chunked_bodies_with_extensions_and_trailers() {
        let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                    5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(body(wire), "hello world");
        let (_, reusable) = one(wire).unwrap();
        assert!(reusable);
        // Transfer-Encoding wins over Content-Length.
        let both = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n\
                    2\r\nok\r\n0\r\n\r\n";
        assert_eq!(body(both), "ok");
    }

    #[test]
    fn a_body_without_length_runs_to_the_close() {
        let wire = "HTTP/1.1 200 OK\r\n\r\nuntil the end";
        assert_eq!(body(wire), "until the end");
        assert!(!one(wire).unwrap().1, "the connection cannot be reused");
        let not_chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw";
        assert_eq!(body(not_chunked), "raw");
    }

    #[test]
    fn connection_headers_and_versions_decide_reuse() {
        let close = "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n";
        assert!(!one(close).unwrap().1);
        let http10 = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(!one(http10).unwrap().1);
        let http10_kept = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert!(one(http10_kept).unwrap().1);
        // Bytes nobody asked for, in the same read as the answer.
        let extra = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab";
        assert!(!read_all(&[extra]).remove(0).unwrap().1);
    }

    #[test]
    fn skips_interim_answers_and_reads_empty_statuses() {
        let wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let (a, reusable) = one(wire).unwrap();
        assert_eq!(
            (a.status, a.body.len(), reusable),
            (StatusCode::NO_CONTENT, 0, true)
        );
    }

    #[test]
    fn bad_answers_are_named() {
        assert!(error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab").contains("closed"));
        assert!(error("HTTP/1.1 200 OK\r\nContent-Le").contains("closed"));
        assert!(error("").contains("closed"));
        assert!(error("SSH-2.0-OpenSSH\r\n\r\n").starts_with("malformed answer"));
        for length in ["-1", "1, 2", "x", ""] {
            let wire = format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n");
            assert!(error(&wire).contains("Content-Length"), "{length}");
        }
        let twice = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
        assert!(error(twice).contains("conflicting"));
        let size = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(error(size).contains("chunk size"));
        let long = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n";
        assert!(error(long).contains("longer than its size"));
        let huge = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert!(error(&huge).contains("64 MiB"));
        let switch = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
        assert!(error(switch).contains("101"));
        let endless = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD));
        let endless = read_all(&[endless.as_bytes()]).remove(0);
        assert!(endless.unwrap_err().to_string().contains("64 KiB"));
    }
}
