//! Managed WebSocket APIs through a real WebSocket client
//! (tokio-tungstenite): the upgrade passes the route's policies and the
//! `$connect` backend, messages are answered by the route their `action`
//! picks (`$default` otherwise) through every integration kind, pings are
//! answered, oversized messages close with 1009, idle connections close
//! with 1001, a plain GET is told to upgrade (426), a client that stops
//! reading is cut off, and `$disconnect` runs once per connection.

mod common;

use common::ws::{next_text, url as ws_url, Ws};
use common::{client, Gatehouse};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

/// What the `chat-backend` upstream was sent.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn context(&self) -> serde_json::Value {
        serde_json::from_str(self.header("x-gatehouse-request-context")).unwrap()
    }
}

/// The backend the fixture's http routes POST to: records what it is
/// sent; `/connect` refuses `?token=deny` with 403; `/message` answers.
async fn backend() -> (String, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let seen = Seen {
                    path: uri.path().to_string(),
                    headers,
                    body,
                };
                let deny = seen.path == "/connect"
                    && seen.context()["queryStringParameters"]["token"] == "deny";
                let answer = if seen.path == "/message" {
                    serde_json::json!({"backend": "got", "body": seen.body}).to_string()
                } else {
                    String::new()
                };
                let _ = tx.send(seen);
                if deny {
                    (axum::http::StatusCode::FORBIDDEN, String::new())
                } else {
                    (axum::http::StatusCode::OK, answer)
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr.to_string(), rx)
}

async fn start() -> (Gatehouse, mpsc::UnboundedReceiver<Seen>) {
    let (addr, seen) = backend().await;
    (Gatehouse::start("websocket", &[("BACKEND", addr)]), seen)
}

async fn next_seen(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("the backend was called within 10s")
        .unwrap()
}

/// Connects to the `/ws/app` API with the fixture's key.
async fn connect_app(
    gh: &Gatehouse,
    query: &str,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = ws_url(gh, &format!("/ws/app{query}"))
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("x-api-key", "gh_chat_test_key_000001".parse().unwrap());
    headers.insert("user-agent", "ws-test/1".parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

async fn ask(ws: &mut Ws, body: &str) -> serde_json::Value {
    ws.send(Message::text(body)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), next_text(ws))
        .await
        .expect("an answer within 10s")
}

async fn connection_id(ws: &mut Ws) -> String {
    let who = ask(ws, r#"{"action":"whoami"}"#).await;
    who["connectionId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn messages_are_answered_by_their_route() {
    let (gh, _) = start().await;
    let (mut ws, resp) = tokio_tungstenite::connect_async(ws_url(&gh, "/ws/chat"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::text(r#"{"action":"echo","text":"hi"}"#))
        .await
        .unwrap();
    let echo = next_text(&mut ws).await;
    assert_eq!(echo["route"], "echo");
    assert!(echo["request"].as_str().is_some_and(|r| !r.is_empty()));
    // An unknown action, no action, and a body that is not JSON: $default.
    for body in [r#"{"action":"other"}"#, r#"{"text":"x"}"#, "not json"] {
        ws.send(Message::text(body)).await.unwrap();
        assert_eq!(next_text(&mut ws).await["route"], "default", "{body}");
    }
    // A ping is answered with its payload.
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    match ws.next().await.unwrap().unwrap() {
        Message::Pong(p) => assert_eq!(&p[..], b"are you there"),
        other => panic!("expected the pong, got {other:?}"),
    }
    // A message over max_message (4 KiB): closed with 1009.
    ws.send(Message::text("x".repeat(5000))).await.unwrap();
    match ws.next().await.unwrap().unwrap() {
        Message::Close(Some(close)) => assert_eq!(close.code, CloseCode::Size),
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn idle_connections_close_and_a_plain_get_is_told_to_upgrade() {
    let (gh, _) = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&gh, "/ws/chat"))
        .await
        .unwrap();
    // idle_timeout: 1s. The close arrives without the client sending.
    match ws.next().await.unwrap().unwrap() {
        Message::Close(Some(close)) => {
            assert_eq!(close.code, CloseCode::Away);
            assert_eq!(close.reason.as_str(), "idle timeout");
        }
        other => panic!("expected a close, got {other:?}"),
    }
    let plain = client().get(gh.url("/ws/chat")).send().await.unwrap();
    assert_eq!(plain.status(), 426);
    let body: serde_json::Value = plain.json().await.unwrap();
    assert_eq!(body["code"], "UpgradeRequired");
}

/// A connection reaching `max_duration` is closed with 1001, busy or not.
#[tokio::test]
async fn connections_end_at_their_maximum_duration() {
    let (gh, _) = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&gh, "/ws/brief"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // Busy: a message every 100ms, each answered, until the close comes.
    let close = loop {
        ws.send(Message::text("{}")).await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
        match next.expect("an answer or the close").unwrap().unwrap() {
            Message::Text(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Message::Close(Some(close)) => break close,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Away);
    assert_eq!(close.reason.as_str(), "maximum connection duration reached");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

/// The upgrade request runs the route's policies ($connect): without the
/// API key the upgrade is refused with 401; with it, messages flow, and a
/// message no route takes (no `$default`) gets API Gateway's `Forbidden`.
#[tokio::test]
async fn the_upgrade_runs_the_routes_policies() {
    let (gh, _) = start().await;
    let refused = tokio_tungstenite::connect_async(ws_url(&gh, "/ws/strict")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }
    let mut request = ws_url(&gh, "/ws/strict").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-api-key", "gh_chat_test_key_000001".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text(r#"{"action":"hello"}"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await["hello"], "you");
    ws.send(Message::text(r#"{"action":"nothing"}"#))
        .await
        .unwrap();
    let forbidden = next_text(&mut ws).await;
    assert_eq!(forbidden["message"], "Forbidden");
    assert!(forbidden["connectionId"].is_string());
    ws.close(None).await.unwrap();
    // The server echoes the close.
    match ws.next().await {
        Some(Ok(Message::Close(_))) | None => {}
        other => panic!("expected the close echoed, got {other:?}"),
    }
}

/// Reads one message from `queue`, with its attributes.
async fn receive_one(gh: &Gatehouse, queue: &str) -> aws_sdk_sqs::types::Message {
    let sqs = common::aws::sqs(gh);
    let url = sqs
        .get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let got = sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(10)
        .message_attribute_names("All")
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    got.messages
        .unwrap_or_default()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("a message on {queue} within 10s"))
}

fn attribute(m: &aws_sdk_sqs::types::Message, name: &str) -> String {
    m.message_attributes
        .as_ref()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value.clone())
        .unwrap_or_default()
}

/// `$connect`, each message route's integration, and `$disconnect`, with
/// the connection's context (id, route key, identity, query) carried to
/// each: http (with and without a response), queue (standard and FIFO,
/// grouped by connection), topic (through a subscribed queue), flow, mock.
#[tokio::test]
async fn each_integration_gets_the_message_and_the_connections_context() {
    let (gh, mut seen) = start().await;
    let mut ws = connect_app(&gh, "?token=ok&room=blue").await.unwrap();
    let connect = next_seen(&mut seen).await;
    assert_eq!(connect.path, "/connect");
    assert_eq!(connect.header("x-gatehouse-event-type"), "CONNECT");
    assert_eq!(connect.header("x-gatehouse-route-key"), "$connect");
    assert_eq!(connect.body, "");
    let context = connect.context();
    assert_eq!(context["queryStringParameters"]["room"], "blue");
    assert_eq!(context["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["identity"]["userAgent"], "ws-test/1");
    // The API key's identity travels, never the key itself.
    let key_id = context["identity"]["apiKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!key_id.is_empty());
    assert_eq!(connect.header("x-api-key-id"), key_id);
    assert_eq!(connect.header("x-api-key"), "");
    let id = connection_id(&mut ws).await;
    assert_eq!(connect.header("x-gatehouse-connection-id"), id);

    // http with `respond`: the backend's answer comes back.
    let answer = ask(&mut ws, r#"{"action":"ask","q":1}"#).await;
    assert_eq!(answer["backend"], "got");
    assert_eq!(answer["body"], r#"{"action":"ask","q":1}"#);
    let asked = next_seen(&mut seen).await;
    assert_eq!(asked.path, "/message");
    assert_eq!(asked.header("x-gatehouse-route-key"), "ask");
    assert_eq!(asked.header("x-gatehouse-event-type"), "MESSAGE");
    assert_eq!(asked.header("x-gatehouse-connection-id"), id);
    assert_eq!(asked.header("x-api-key-id"), key_id);
    let message_id = asked.context()["messageId"].as_str().unwrap().to_string();
    assert_eq!(asked.header("x-request-id"), message_id);

    // Without `respond`, and `$default` for messages no route takes.
    for (body, path, key) in [
        (r#"{"action":"tell","n":2}"#, "/message", "tell"),
        (r#"{"action":"nobody"}"#, "/default", "$default"),
        ("plain words", "/default", "$default"),
    ] {
        ws.send(Message::text(body)).await.unwrap();
        let told = next_seen(&mut seen).await;
        assert_eq!((told.path.as_str(), told.body.as_str()), (path, body));
        assert_eq!(told.header("x-gatehouse-route-key"), key);
    }

    // queue: the message with connectionId, routeKey and eventType.
    ws.send(Message::text(r#"{"action":"log","n":3}"#))
        .await
        .unwrap();
    let logged = receive_one(&gh, "chat-log").await;
    assert_eq!(logged.body.as_deref(), Some(r#"{"action":"log","n":3}"#));
    assert_eq!(attribute(&logged, "connectionId"), id);
    assert_eq!(attribute(&logged, "routeKey"), "log");
    assert_eq!(attribute(&logged, "eventType"), "MESSAGE");
    // A FIFO queue groups by connection.
    ws.send(Message::text(r#"{"action":"room","n":4}"#))
        .await
        .unwrap();
    let room = receive_one(&gh, "room.fifo").await;
    let group = room
        .attributes
        .as_ref()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
        .cloned();
    assert_eq!(group.as_deref(), Some(id.as_str()));
    // topic: published, and delivered raw to the subscribed queue.
    ws.send(Message::text(
        r#"{"action":"broadcast","text":"hello all"}"#,
    ))
    .await
    .unwrap();
    let fanned = receive_one(&gh, "chat-fanout").await;
    assert_eq!(
        fanned.body.as_deref(),
        Some(r#"{"action":"broadcast","text":"hello all"}"#)
    );
    assert_eq!(attribute(&fanned, "routeKey"), "broadcast");
    assert_eq!(attribute(&fanned, "connectionId"), id);

    // flow: a run over the message's records.
    ws.send(Message::text(
        r#"{"action":"ingest","records":[{"text":"a"},{"text":"b"}]}"#,
    ))
    .await
    .unwrap();
    let run = eventually_run(&gh, "chat-ingest").await;
    assert_eq!(run["trigger"], "websocket");
    assert_eq!(run["records_written"], 2, "{run}");

    // The client closes: $disconnect, with the close code.
    ws.close(None).await.unwrap();
    let gone = next_seen(&mut seen).await;
    assert_eq!(gone.path, "/disconnect");
    assert_eq!(gone.header("x-gatehouse-event-type"), "DISCONNECT");
    assert_eq!(gone.header("x-gatehouse-connection-id"), id);
    assert_eq!(gone.context()["disconnectStatusCode"], 1000);

    // The access log has a line per event.
    for event in ["CONNECT", "MESSAGE", "DISCONNECT"] {
        let line = gh.wait_stdout(&format!(r#""websocket":"{event}""#)).await;
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(entry["connection_id"], id.as_str(), "{line}");
    }
    let disconnect_line = gh.wait_stdout(r#""websocket":"DISCONNECT""#).await;
    let entry: serde_json::Value = serde_json::from_str(&disconnect_line).unwrap();
    assert_eq!(entry["close_code"], 1000);
    // Metrics count the messages by route key, and nothing failed.
    let metrics = gh.metrics().await;
    assert!(
        metrics.contains(
            r#"gatehouse_websocket_messages_total{api="chat",direction="in",route_key="ask"} 1"#
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("gatehouse_websocket_integration_errors_total{"));
    assert!(
        !metrics.contains("gatehouse_gatehouse_"),
        "a doubled prefix"
    );
}

/// The newest finished run of `flow`.
async fn eventually_run(gh: &Gatehouse, flow: &str) -> serde_json::Value {
    let what = format!("a finished run of {flow}");
    common::eventually(&what, Duration::from_secs(30), || async {
        let v = common::get_json(&gh.admin_url(&format!("/flows/{flow}/runs?limit=10"))).await;
        v["runs"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["status"] != "InProgress").cloned())
    })
    .await
}

/// A `$connect` backend that answers 403 refuses the upgrade with 403; no
/// `$disconnect` follows for a connection that never opened.
#[tokio::test]
async fn the_connect_backend_can_refuse_a_client() {
    let (gh, mut seen) = start().await;
    match connect_app(&gh, "?token=deny").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
    assert_eq!(next_seen(&mut seen).await.path, "/connect");
    // The next connection's events come next: nothing for the refused one.
    let mut ws = connect_app(&gh, "").await.unwrap();
    assert_eq!(next_seen(&mut seen).await.path, "/connect");
    ws.close(None).await.unwrap();
    assert_eq!(next_seen(&mut seen).await.path, "/disconnect");
}

/// boto3's apigatewaymanagementapi client, unmodified: post to a
/// connection (the client receives it), describe it, delete it (the client
/// sees the close), then GoneException for all three; too large a message
/// and a bad signature are refused in AWS's shapes.
#[tokio::test]
async fn boto3_manages_connections() {
    let (gh, mut seen) = start().await;
    let mut ws = connect_app(&gh, "").await.unwrap();
    let id = connection_id(&mut ws).await;
    let endpoint = format!("{}/prod", gh.messaging_url());
    let run = |case: &str, env: &[(&str, &std::ffi::OsStr)]| {
        let mut all = vec![("CONNECTION_ID", std::ffi::OsStr::new(&id))];
        all.extend_from_slice(env);
        common::python::run_case("websocket_management.py", case, &endpoint, &all)
    };
    run("post", &[]);
    assert_eq!(
        next_text(&mut ws).await,
        serde_json::json!({"from": "boto3"})
    );
    run("describe", &[]);
    run("too_large", &[]);
    run("bad_secret", &[("SECRET", std::ffi::OsStr::new("wrong"))]);
    run("delete", &[]);
    match ws.next().await {
        Some(Ok(Message::Close(Some(close)))) => assert_eq!(close.code, CloseCode::Normal),
        other => panic!("expected the close, got {other:?}"),
    }
    let connect = next_seen(&mut seen).await;
    assert_eq!(connect.path, "/connect");
    let gone = next_seen(&mut seen).await;
    assert_eq!(gone.path, "/disconnect");
    assert_eq!(gone.context()["disconnectReason"], "disconnected");
    run("gone", &[]);
}

/// The AWS SDK for Rust's ApiGatewayManagementApi client does the same.
#[tokio::test]
async fn the_rust_sdk_manages_connections() {
    let (gh, _seen) = start().await;
    let mut ws = connect_app(&gh, "").await.unwrap();
    let id = connection_id(&mut ws).await;
    let api = common::aws::connections(&gh);
    api.post_to_connection()
        .connection_id(&id)
        .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
            b"{\"from\":\"rust\"}".to_vec(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await,
        serde_json::json!({"from": "rust"})
    );
    let described = api
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap();
    let identity = described.identity.unwrap();
    assert_eq!(identity.source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(identity.user_agent.as_deref(), Some("ws-test/1"));
    assert!(described.connected_at.unwrap() <= described.last_active_at.unwrap());
    api.delete_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap();
    let err = api
        .post_to_connection()
        .connection_id(&id)
        .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
            b"x".to_vec(),
        ))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "{err:?}"
    );
}

/// `$disconnect` runs exactly once per connection, also when the client
/// vanishes without a close frame.
#[tokio::test]
async fn disconnect_runs_once_when_the_client_vanishes() {
    let (gh, mut seen) = start().await;
    let mut ws = connect_app(&gh, "").await.unwrap();
    let id = connection_id(&mut ws).await;
    assert_eq!(next_seen(&mut seen).await.path, "/connect");
    // Drop the TCP connection under the WebSocket: no close frame.
    drop(ws);
    let gone = next_seen(&mut seen).await;
    assert_eq!(gone.path, "/disconnect");
    assert_eq!(gone.header("x-gatehouse-connection-id"), id);
    assert_eq!(gone.context()["disconnectStatusCode"], 1006);
    // A second connection comes and goes; its events are next, and no
    // second $disconnect for the first.
    let mut other = connect_app(&gh, "").await.unwrap();
    let other_id = connection_id(&mut other).await;
    other.close(None).await.unwrap();
    for expected in ["/connect", "/disconnect"] {
        let s = next_seen(&mut seen).await;
        assert_eq!(s.path, expected);
        assert_eq!(s.header("x-gatehouse-connection-id"), other_id);
    }
    assert!(seen.try_recv().is_err());
    // GoneException for the vanished one.
    let err = common::aws::connections(&gh)
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .is_some_and(|e| e.is_gone_exception()));
}

/// A route's throttle answers past its burst with API Gateway's `Too Many
/// Requests` message, without closing the connection.
#[tokio::test]
async fn throttled_messages_are_refused_and_the_connection_stays() {
    let (gh, _seen) = start().await;
    let mut ws = connect_app(&gh, "").await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            ask(&mut ws, r#"{"action":"limited"}"#).await["limited"],
            true
        );
    }
    let refused = ask(&mut ws, r#"{"action":"limited"}"#).await;
    assert_eq!(refused["message"], "Too Many Requests");
    // Other routes still answer.
    assert!(connection_id(&mut ws).await.len() == 16);
    let metrics = gh.metrics().await;
    assert!(
        metrics.contains(r#"gatehouse_websocket_throttled_total{api="chat",scope="route"} 1"#),
        "{metrics}"
    );
}

/// A client that sends pings and never reads the pongs is cut off once a
/// write stalls past `write_timeout` (1s): its next writes fail.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (gh, _seen) = start().await;
    let addr = gh.addr("http");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let upgrade = format!(
        "GET /ws/app HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         x-api-key: gh_chat_test_key_000001\r\n\r\n"
    );
    tcp.write_all(upgrade.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 1024];
    let n = tcp.read(&mut head).await.unwrap();
    assert!(
        head[..n].starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    // Masked pings of 125 bytes, never reading the pongs.
    let mut ping = vec![0x89, 0x80 | 125, 1, 2, 3, 4];
    ping.extend((0..125u8).map(|i| i ^ [1, 2, 3, 4][usize::from(i) % 4]));
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 512)
        .collect();
    let cut = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if tcp.write_all(&burst).await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "the server never cut the stalled client off");
}

/// The server's resident memory, from /proc.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A thousand clients at once, each answered, each with its own
/// connection id. The server's memory grows by a bounded amount per idle
/// connection (about 52 KiB, mostly pingora's socket and body buffers;
/// release numbers in BENCHMARKS.md), traffic on them does not add to it,
/// and the connections are released when the clients leave.
#[tokio::test]
async fn a_thousand_connections_with_bounded_memory() {
    let (gh, _seen) = start().await;
    let url = ws_url(&gh, "/ws/many");
    let open = |url: String| async move {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let id = connection_id(&mut ws).await;
        (ws, id)
    };
    // Warm the server up before measuring.
    let warm = open(url.clone()).await;
    drop(warm);
    let before = rss_kib(gh.pid());
    let mut clients = Vec::new();
    for _ in 0..10 {
        let batch = (0..100).map(|_| open(url.clone()));
        clients.extend(futures_util::future::join_all(batch).await);
    }
    let ids: std::collections::HashSet<_> = clients.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), 1000);
    let metrics = gh.metrics().await;
    assert!(
        metrics.contains(r#"gatehouse_websocket_connections{api="chat"} 1000"#),
        "{metrics}"
    );
    let opened = rss_kib(gh.pid());
    let grown = opened.saturating_sub(before);
    eprintln!(
        "1000 idle connections: +{grown} KiB ({} KiB each)",
        grown / 1000
    );
    assert!(grown < 128 * 1000, "1000 connections took {grown} KiB");
    // Ten thousand messages later (each a 2 KiB message and its answer),
    // the connections hold no more than they did.
    let filler = "x".repeat(2048);
    for _ in 0..10 {
        let answers = clients.iter_mut().map(|(ws, id)| {
            let body = format!(r#"{{"action":"whoami","pad":"{filler}"}}"#);
            async move {
                assert_eq!(ask(ws, &body).await["connectionId"], id.as_str());
            }
        });
        futures_util::future::join_all(answers).await;
    }
    let traffic = rss_kib(gh.pid()).saturating_sub(opened);
    eprintln!("after 10,000 messages: +{traffic} KiB");
    assert!(
        traffic < 16 * 1024,
        "traffic grew the server by {traffic} KiB"
    );
    drop(clients);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !gh
        .metrics()
        .await
        .contains(r#"gatehouse_websocket_connections{api="chat"} 0"#)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "connections not released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
