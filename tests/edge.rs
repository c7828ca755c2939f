//! Limits (413, 431, slow clients) and WebSocket proxying.

mod common;

use common::{client, json, upstream, Gatehouse};
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

async fn setup() -> (Gatehouse, upstream::Upstream) {
    let a = upstream::start("a").await;
    let gh = Gatehouse::start("edge", &[("A", a.address())]);
    (gh, a)
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let (gh, _a) = setup().await;
    let c = client();
    let ok = c
        .post(gh.url("/echo/x"))
        .body(vec![b'a'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(json(ok).await["body_len"], 1024);

    let resp = c
        .post(gh.url("/echo/x"))
        .body(vec![b'a'; 1025])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(json(resp).await["code"], "PayloadTooLarge");

    // Chunked: no length up front, counted as it streams.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b'b'; 512])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let resp = c.post(gh.url("/echo/x")).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(json(resp).await["code"], "PayloadTooLarge");
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let (gh, _a) = setup().await;
    let resp = client()
        .get(gh.url("/echo/x"))
        .header("x-big", "v".repeat(5000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 431);
    assert_eq!(json(resp).await["code"], "RequestHeaderFieldsTooLarge");
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_is_cut_off() {
    let (gh, a) = setup().await;
    let mut s = tokio::net::TcpStream::connect(gh.addr("http"))
        .await
        .unwrap();
    s.write_all(b"POST /echo/x HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection still open after 10s");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "closed too late: {elapsed:?}"
    );
    // The upstream never saw a complete request.
    assert_eq!(a.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn websocket_text_binary_and_large_messages_pass_through() {
    let (gh, _a) = setup().await;
    let url = format!("ws://{}/ws-patient", gh.addr("http"));
    let (mut ws, resp) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(resp.status(), 101);
    assert!(resp.headers().contains_key("x-request-id"));

    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));

    let binary: Vec<u8> = (0..=255u8).collect();
    ws.send(Message::binary(binary.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(binary));

    // 1 MiB, far over the 1KiB body limit: limits apply to requests, not to frames.
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    match ws.next().await.unwrap().unwrap() {
        Message::Binary(b) => assert!(b.as_ref() == big.as_slice(), "1 MiB message corrupted"),
        other => panic!("unexpected {other:?}"),
    }
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn idle_websockets_are_closed() {
    let (gh, _a) = setup().await;
    let url = format!("ws://{}/ws", gh.addr("http"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text("still here")
    );
    let started = Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "idle WebSocket was not closed");
    assert!(started.elapsed() >= Duration::from_millis(900));
}
