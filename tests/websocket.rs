//! Managed WebSocket APIs through a real WebSocket client
//! (tokio-tungstenite): the upgrade passes the route's policies, messages
//! are answered by the route their `action` picks (`$default` otherwise),
//! pings are answered, oversized messages close with 1009, idle
//! connections close with 1001, and a plain GET is told to upgrade (426).

mod common;

use common::{client, Gatehouse};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

fn ws_url(gh: &Gatehouse, path: &str) -> String {
    gh.url(path).replacen("http://", "ws://", 1)
}

async fn next_text(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> serde_json::Value {
    loop {
        match ws.next().await.expect("a message").expect("no error") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn messages_are_answered_by_their_route() {
    let gh = Gatehouse::start("websocket", &[]);
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
    let gh = Gatehouse::start("websocket", &[]);
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

/// The upgrade request runs the route's policies ($connect): without the
/// API key the upgrade is refused with 401; with it, messages flow, and a
/// message no route takes (no `$default`) gets API Gateway's `Forbidden`.
#[tokio::test]
async fn the_upgrade_runs_the_routes_policies() {
    let gh = Gatehouse::start("websocket", &[]);
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
