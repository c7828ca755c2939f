//! The request body, when the gateway reads it whole before an upstream is
//! contacted: for a policy that inspects it, for an integration that turns
//! it into a message or a flow run, and for any body small enough to buffer
//! (as nginx buffers request bodies). A slow client then never holds an
//! upstream connection, and never makes a healthy upstream look slow.
//!
//! The bytes stay in pingora's retry buffer, from which the proxy sends them
//! upstream; that buffer holds 64 KiB, which is why larger bodies stream.

use super::ctx::Ctx;
use super::errors::GatewayError;
use bytes::{Bytes, BytesMut};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::{ErrorType, Result};
use std::time::Instant;

/// Bodies declared up to this size are read whole before an upstream is
/// chosen: pingora's retry buffer, which replays them upstream.
pub const BUFFERED: u64 = 64 * 1024;

/// The request body, whole (already read if a policy needed it), kept in
/// the context for the upstream; or the answer when it is too large or too
/// slow.
pub async fn whole(
    session: &mut Session,
    ctx: &mut Ctx,
) -> Result<std::result::Result<Bytes, GatewayError>> {
    if let Some(b) = &ctx.body {
        return Ok(Ok(b.clone()));
    }
    let read = read_whole(session, ctx.body_limit, ctx.body_deadline()).await?;
    if let Ok(b) = &read {
        ctx.body = Some(b.clone());
    }
    Ok(read)
}

/// Reads the whole body, at most `limit` bytes, before `deadline` (each read
/// also within the session's read timeout). The outer error is a broken
/// connection, with nobody to answer; the inner one is the answer: 413 or
/// 408. After either, the connection closes (the body was not drained).
pub async fn read_whole(
    session: &mut Session,
    limit: u64,
    deadline: Instant,
) -> Result<std::result::Result<Bytes, GatewayError>> {
    session.enable_retry_buffering();
    let mut chunks = Chunks::start(session, limit, deadline).await?;
    let mut body = BytesMut::new();
    loop {
        match chunks.next(session).await? {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok(Ok(body.freeze())),
            Err(err) => return Ok(Err(err)),
        }
    }
}

/// A request body chunk by chunk, within a size limit and a deadline (each
/// read also within the session's read timeout), for readers that do not
/// hold it whole.
pub struct Chunks {
    limit: u64,
    seen: u64,
    deadline: tokio::time::Instant,
}

impl Chunks {
    /// Starts reading: answers `Expect: 100-continue` first, since the
    /// client waits for it and no upstream is there to say it.
    pub async fn start(session: &mut Session, limit: u64, deadline: Instant) -> Result<Chunks> {
        if expects_continue(session.req_header()) {
            session.write_continue_response().await?;
        }
        Ok(Chunks {
            limit,
            seen: 0,
            deadline: tokio::time::Instant::from_std(deadline),
        })
    }

    /// The next chunk, None at the end. The outer error is a broken
    /// connection, with nobody to answer; the inner one is the answer: 413
    /// or 408, after which the connection closes (the body was not drained).
    pub async fn next(
        &mut self,
        session: &mut Session,
    ) -> Result<std::result::Result<Option<Bytes>, GatewayError>> {
        let chunk = match tokio::time::timeout_at(self.deadline, session.read_request_body()).await
        {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return Ok(Ok(None)),
            Ok(Err(e)) if *e.etype() == ErrorType::ReadTimedout => {
                return Ok(Err(refuse(session, GatewayError::RequestTimeout)))
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(Err(refuse(session, GatewayError::RequestTimeout))),
        };
        self.seen += chunk.len() as u64;
        if self.seen > self.limit {
            let limit = self.limit;
            return Ok(Err(refuse(
                session,
                GatewayError::PayloadTooLarge { limit },
            )));
        }
        Ok(Ok(Some(chunk)))
    }
}

fn refuse(session: &mut Session, err: GatewayError) -> GatewayError {
    session.set_keepalive(None);
    err
}

/// Whether this request's body is read whole before an upstream is chosen:
/// a declared length up to `BUFFERED`. A chunked body's length is unknown
/// until its end, and bytes read past the retry buffer could not be
/// replayed, so chunked bodies stream.
pub fn buffered_before_upstream(req: &RequestHeader) -> bool {
    if req.headers.contains_key(http::header::TRANSFER_ENCODING) {
        return false;
    }
    declared_length(req).is_some_and(|n| n > 0 && n <= BUFFERED)
}

pub fn declared_length(req: &RequestHeader) -> Option<u64> {
    req.headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

pub fn expects_continue(req: &RequestHeader) -> bool {
    req.headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("POST", b"/", None).unwrap();
        for (n, v) in headers {
            req.insert_header(n.to_string(), *v).unwrap();
        }
        req
    }

    #[test]
    fn small_declared_bodies_are_buffered_and_the_rest_stream() {
        assert!(buffered_before_upstream(&request(&[(
            "content-length",
            "10"
        )])));
        assert!(buffered_before_upstream(&request(&[(
            "content-length",
            "65536"
        )])));
        assert!(!buffered_before_upstream(&request(&[(
            "content-length",
            "65537"
        )])));
        assert!(!buffered_before_upstream(&request(&[(
            "content-length",
            "0"
        )])));
        assert!(!buffered_before_upstream(&request(&[])));
        assert!(!buffered_before_upstream(&request(&[(
            "transfer-encoding",
            "chunked"
        )])));
    }
}
