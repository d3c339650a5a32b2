//! The load tool's HTTP/1.1 answer framing against arbitrary bytes.
//!
//! Properties: the answer read does not depend on how the bytes arrive
//! (one read, two reads split where the input says, one byte per read);
//! an accepted head is one httparse's strict parser accepts, with the same
//! status and, when framed by `Content-Length`, that many body bytes; and
//! any body sent chunked (chunk sizes and extensions taken from the input)
//! decodes to the same bytes as when sent with `Content-Length`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};

use crate::load::http1::{Answer, read_answer};

/// The target's body.
pub fn check(data: &[u8]) {
    let whole = read(&[data]);
    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let halves = read(&[&data[..split], &data[split..]]);
    same("split in two", data, &whole, &halves);
    if data.len() <= 512 {
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        same("one byte per read", data, &whole, &read(&bytes));
    }
    if let Ok(answer) = &whole {
        strict_head_agrees(data, answer);
    }
    chunked_equals_length(data);
}

/// The first answer in `pieces`, each piece one read, then end of stream.
fn read(pieces: &[&[u8]]) -> Result<Answer, String> {
    let mut peer = Peer(
        pieces
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| p.to_vec())
            .collect(),
    );
    let mut buf = BytesMut::new();
    super::ready(read_answer(&mut peer, &mut buf))
        .map(|(answer, _)| answer)
        .map_err(|e| e.to_string())
}

fn same(how: &str, data: &[u8], a: &Result<Answer, String>, b: &Result<Answer, String>) {
    let show = |r: &Result<Answer, String>| match r {
        Ok(a) => format!("{} {:?} {:?}", a.status, a.location, a.body),
        Err(e) => format!("error: {e}"),
    };
    assert_eq!(
        show(a),
        show(b),
        "the answer depends on how it arrives ({how}): {:?}",
        String::from_utf8_lossy(data)
    );
}

/// httparse (strict defaults) accepts every head up to the final one, and
/// agrees on its status and, for `Content-Length` framing, the body length.
fn strict_head_agrees(data: &[u8], answer: &Answer) {
    let mut rest = data;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        let len = match res.parse(rest) {
            Ok(httparse::Status::Complete(len)) => len,
            other => panic!(
                "accepted a head httparse refuses ({other:?}): {:?}",
                String::from_utf8_lossy(data)
            ),
        };
        let code = res.code.unwrap_or_default();
        if (100..200).contains(&code) {
            rest = &rest[len..];
            continue;
        }
        assert_eq!(code, answer.status.as_u16());
        let header = |name: &str| {
            res.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let framed_by_length = header("transfer-encoding").is_none() && !matches!(code, 204 | 304);
        if let Some(length) = header("content-length").filter(|_| framed_by_length) {
            let length: usize = std::str::from_utf8(length).unwrap().parse().unwrap();
            assert_eq!(
                answer.body.len(),
                length,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
        return;
    }
}

/// `data` as a body: chunked (sizes and extensions from `data`) and with
/// `Content-Length`, both decode to `data`.
fn chunked_equals_length(data: &[u8]) {
    let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut rest = data;
    let mut sizes = data.iter().cycle();
    while !rest.is_empty() {
        let pick = *sizes.next().unwrap_or(&0);
        let size = (usize::from(pick % 64) + 1).min(rest.len());
        let extension = if pick & 0x80 != 0 { ";x=\"y\"" } else { "" };
        wire.extend_from_slice(format!("{size:X}{extension}\r\n").as_bytes());
        wire.extend_from_slice(&rest[..size]);
        wire.extend_from_slice(b"\r\n");
        rest = &rest[size..];
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let mut length =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", data.len()).into_bytes();
    length.extend_from_slice(data);
    for (framing, wire) in [("chunked", wire), ("length", length)] {
        match read(&[&wire]) {
            Ok(answer) => assert_eq!(&answer.body[..], data, "{framing}"),
            Err(e) => panic!("{framing} body refused: {e}"),
        }
    }
}

/// A peer that sends its pieces, one per read, then closes; never waits.
struct Peer(VecDeque<Vec<u8>>);

impl AsyncRead for Peer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(mut piece) = self.0.pop_front() {
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece[..n]);
            if n < piece.len() {
                self.0.push_front(piece.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}
