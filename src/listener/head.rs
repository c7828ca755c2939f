//! Reading one request head (request line and headers) off a connection
//! before pingora parses it. Pingora waits for headers with no total
//! deadline and no size limit but its own (1 MiB), and answers what it cannot
//! parse with an empty 400; reading the head here first puts the deadline,
//! the size limit and the error shape in Gatehouse's hands. The bytes are
//! handed to pingora unchanged, so it parses exactly what the client sent.

use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// pingora's own limit on header fields (`MAX_HEADERS`).
const MAX_HEADER_FIELDS: usize = 256;

/// What the first read allocates: most request heads fit.
const FIRST_READ: usize = 2048;

/// How much more each later read may add.
const NEXT_READ: usize = 4096;

#[derive(Debug)]
pub enum Head {
    /// The whole head, and whatever followed it in the same reads.
    Complete(BytesMut),
    /// Nothing to answer: the client closed or stayed silent between
    /// requests, or the listener needed the place of this idle connection.
    Gone,
    /// The client closed part-way through a head.
    ClosedMidHead,
    /// Answer this and close.
    Refused(HeadError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// The head did not arrive before its deadline.
    Timeout,
    /// The head is larger than the limit (or has too many fields).
    TooLarge { limit: usize },
    /// Not an HTTP/1.x request head: why.
    Malformed(String),
}

/// When a head must arrive.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// The first byte must come before this, or the connection is idle-closed.
    pub idle_until: Instant,
    /// The whole head, counted from `started` (from the first byte when None).
    pub header_timeout: Duration,
    pub started: Option<Instant>,
}

/// Reads a request head from `stream`. `idle` resolves when the listener
/// wants this connection's place while it waits for the first byte.
pub async fn read<S, F>(stream: &mut S, deadlines: Deadlines, max_bytes: usize, idle: F) -> Head
where
    S: AsyncRead + Unpin + ?Sized,
    F: std::future::Future<Output = ()>,
{
    let mut buf = BytesMut::with_capacity(FIRST_READ);
    // Biased: a connection whose bytes are already waiting is not idle,
    // whatever else is ready.
    let first = tokio::select! {
        biased;
        read = stream.read_buf(&mut buf) => read,
        _ = tokio::time::sleep_until(deadlines.idle_until) => return silent_until(deadlines),
        _ = idle => return Head::Gone,
    };
    match first {
        Ok(0) | Err(_) => return Head::Gone,
        Ok(_) => {}
    }
    let deadline = deadlines.started.unwrap_or_else(Instant::now) + deadlines.header_timeout;
    loop {
        match check(&buf) {
            Ok(true) => return Head::Complete(buf),
            Ok(false) => {}
            Err(HeadError::TooLarge { .. }) => {
                return Head::Refused(HeadError::TooLarge { limit: max_bytes })
            }
            Err(e) => return Head::Refused(e),
        }
        if buf.len() > max_bytes {
            return Head::Refused(HeadError::TooLarge { limit: max_bytes });
        }
        buf.reserve(NEXT_READ);
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Head::ClosedMidHead,
            Ok(Ok(_)) => {}
            Err(_) => return Head::Refused(HeadError::Timeout),
        }
    }
}

/// A connection's first request has one deadline from accept: silence until
/// then is a timeout (worth a 408), not an idle keep-alive.
fn silent_until(deadlines: Deadlines) -> Head {
    match deadlines.started {
        Some(_) => Head::Refused(HeadError::Timeout),
        None => Head::Gone,
    }
}

/// Whether `buf` holds a whole head (`Ok(true)`), the start of one
/// (`Ok(false)`), or something that will never parse. Mirrors pingora's
/// parser: httparse, then the same escaping of bytes httparse refuses in the
/// request target, then httparse again.
pub fn check(buf: &[u8]) -> Result<bool, HeadError> {
    match parse_and_validate(buf) {
        Err(httparse::Error::Token | httparse::Error::Version) => {
            let Some(escaped) = escape_request_target(buf) else {
                return Err(malformed(httparse::Error::Token));
            };
            match parse_and_validate(&escaped) {
                Ok(result) => result,
                Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge { limit: 0 }),
                Err(e) => Err(malformed(e)),
            }
        }
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge { limit: 0 }),
        Err(e) => Err(malformed(e)),
        Ok(result) => result,
    }
}

/// One httparse pass: the parser's error, or the head's verdict.
fn parse_and_validate(buf: &[u8]) -> Result<Result<bool, HeadError>, httparse::Error> {
    // Uninitialised: zeroing 256 fields (8 KiB) per request costs more than
    // the parse itself.
    let mut fields =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADER_FIELDS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut fields)? {
        httparse::Status::Complete(_) => Ok(validate(&req).map(|()| true)),
        httparse::Status::Partial => Ok(Ok(false)),
    }
}

/// What pingora checks once a head parses (the target as a URI, the
/// authority, the framing headers), so that everything pingora would refuse
/// is refused here, in Gatehouse's words.
fn validate(req: &httparse::Request<'_, '_>) -> Result<(), HeadError> {
    let bad = |why: &str| Err(HeadError::Malformed(format!("malformed request: {why}")));
    let method = req.method.unwrap_or("");
    let target = req.path.unwrap_or("").as_bytes();
    let named = |name: &'static str| {
        req.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let mut hosts = named("host");
    let host = hosts.next();
    if hosts.next().is_some() {
        return bad("more than one Host header");
    }
    if target.first() == Some(&b'/') {
        // Origin form, nearly every request: the target must be a URI path
        // (what pingora's request header takes), and the authority checks
        // come down to the Host header's.
        if http::Method::from_bytes(method.as_bytes()).is_err()
            || http::uri::PathAndQuery::try_from(target).is_err()
        {
            return bad("an invalid method or request target");
        }
        if host.is_some_and(|h| h.contains(&b'@') || http::HeaderValue::from_bytes(h).is_err()) {
            return bad("an invalid Host header");
        }
    } else {
        // Absolute, authority or asterisk form: pingora's own checks.
        let Ok(mut header) = pingora::http::RequestHeader::build_no_case(method, target, Some(1))
        else {
            return bad("an invalid method or request target");
        };
        if let Some(host) = host {
            if header.append_header(http::header::HOST, host).is_err() {
                return bad("an invalid Host header");
            }
        }
        if pingora::protocols::http::authority::validate_request_authority(&header).is_err() {
            return bad("an invalid or ambiguous authority");
        }
    }
    let has_transfer_encoding = named("transfer-encoding").next().is_some();
    if !has_transfer_encoding {
        let mut lengths = named("content-length").flat_map(|v| v.split(|b| *b == b','));
        if let Some(first) = lengths.next() {
            let first = first.trim_ascii();
            let digits = |v: &[u8]| !v.is_empty() && v.iter().all(u8::is_ascii_digit);
            if !digits(first) || lengths.any(|v| v.trim_ascii() != first) {
                return bad("an invalid or conflicting Content-Length");
            }
        }
        return Ok(());
    }
    if req.version == Some(0) {
        return bad("Transfer-Encoding in an HTTP/1.0 request");
    }
    let last_coding = named("transfer-encoding")
        .next_back()
        .and_then(|v| v.rsplit(|b| *b == b',').next())
        .map(<[u8]>::trim_ascii);
    if !last_coding.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")) {
        return bad("a Transfer-Encoding that does not end in chunked");
    }
    Ok(())
}

fn malformed(e: httparse::Error) -> HeadError {
    let what = match e {
        httparse::Error::Token => "an invalid character in the request line",
        httparse::Error::Version => "an unsupported HTTP version",
        httparse::Error::HeaderName => "an invalid header name",
        httparse::Error::HeaderValue => "an invalid header value",
        httparse::Error::NewLine => "a bare CR or LF",
        _ => "invalid syntax",
    };
    HeadError::Malformed(format!("malformed request: {what}"))
}

/// pingora's fallback for targets with spaces, quotes, `<` or `>`: the
/// target percent-encoded. `None` when that changes nothing.
fn escape_request_target(buf: &[u8]) -> Option<Vec<u8>> {
    use percent_encoding::{percent_encode, AsciiSet, CONTROLS};
    use std::sync::LazyLock;
    const ESCAPED: &AsciiSet = &CONTROLS.add(b' ').add(b'<').add(b'>').add(b'"');
    static REQUEST_LINE: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(r"^\w+ (?P<uri>.+) HTTP/\d(?:\.\d)?")
            .expect("static pattern compiles")
    });
    let uri = REQUEST_LINE.captures(buf)?.name("uri")?;
    let mut out = Vec::with_capacity(buf.len() + 32);
    out.extend_from_slice(&buf[..uri.start()]);
    for piece in percent_encode(uri.as_bytes(), ESCAPED) {
        out.extend_from_slice(piece.as_bytes());
    }
    if out.len() == uri.end() {
        return None;
    }
    out.extend_from_slice(&buf[uri.end()..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn heads_that_parse_and_that_do_not() {
        assert_eq!(check(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n"), Ok(true));
        assert_eq!(check(b"GET / HTTP/1.1\r\nhost: a\r\n"), Ok(false));
        assert_eq!(check(b"GET /a b HTTP/1.1\r\nhost: a\r\n\r\n"), Ok(true));
        assert_eq!(check(b"GET /%3Cx%3E HTTP/1.1\r\nhost: a\r\n\r\n"), Ok(true));
        assert_eq!(
            check(b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3, 3\r\n\r\n"),
            Ok(true)
        );
        assert_eq!(
            check(b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\n\r\n"),
            Ok(true)
        );
        for bad in [
            &b"GET /<x> HTTP/1.1\r\nhost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: u@a\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nhost: b\r\n\r\n",
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n",
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: -1\r\n\r\n",
            b"POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked, gzip\r\n\r\n",
            &b"GET / HTTP/9.9\r\nhost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\rhost: a\r\n\r\n",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
            b"GET / HTTP/1.1\r\nbad header: a\r\n\r\n",
        ] {
            assert!(
                matches!(check(bad), Err(HeadError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let many: String = (0..300).map(|i| format!("h{i}: v\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(
            check(head.as_bytes()),
            Err(HeadError::TooLarge { .. })
        ));
    }

    fn deadlines(header: u64) -> Deadlines {
        Deadlines {
            idle_until: Instant::now() + Duration::from_secs(header),
            header_timeout: Duration::from_secs(header),
            started: Some(Instant::now()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_trickled_past_its_deadline_times_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let trickle = tokio::spawn(async move {
            for line in ["GET / HTTP/1.1\r\n", "a: 1\r\n", "b: 2\r\n", "c: 3\r\n"] {
                client.write_all(line.as_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_secs(4)).await;
            }
            client
        });
        let head = read(&mut server, deadlines(10), 4096, std::future::pending()).await;
        assert!(
            matches!(head, Head::Refused(HeadError::Timeout)),
            "{head:?}"
        );
        drop(trickle);
    }

    #[tokio::test(start_paused = true)]
    async fn heads_are_read_whole_and_bounded() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        client
            .write_all(b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\n\r\nhi")
            .await
            .unwrap();
        let Head::Complete(buf) =
            read(&mut server, deadlines(10), 4096, std::future::pending()).await
        else {
            panic!("not complete")
        };
        assert!(buf.ends_with(b"\r\n\r\nhi"));

        let big = format!("GET / HTTP/1.1\r\nx: {}\r\n", "v".repeat(10_000));
        client.write_all(big.as_bytes()).await.unwrap();
        let head = read(&mut server, deadlines(10), 4096, std::future::pending()).await;
        assert!(
            matches!(head, Head::Refused(HeadError::TooLarge { limit: 4096 })),
            "{head:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_and_closed_connections_are_gone() {
        let (client, mut server) = tokio::io::duplex(64);
        let idle = Deadlines {
            idle_until: Instant::now() + Duration::from_secs(5),
            header_timeout: Duration::from_secs(10),
            started: None,
        };
        let head = read(&mut server, idle, 4096, std::future::pending()).await;
        assert!(matches!(head, Head::Gone), "{head:?}");
        let head = read(&mut server, idle, 4096, std::future::ready(())).await;
        assert!(matches!(head, Head::Gone), "{head:?}");
        drop(client);
        let head = read(&mut server, idle, 4096, std::future::pending()).await;
        assert!(matches!(head, Head::Gone), "{head:?}");
    }
}
