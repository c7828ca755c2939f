//! WebSocket clients for tests (tokio-tungstenite).

use super::Gatehouse;
use futures_util::StreamExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The ws:// URL of `path` on the gateway's plain listener.
pub fn url(gh: &Gatehouse, path: &str) -> String {
    gh.url(path).replacen("http://", "ws://", 1)
}

/// The next text message as JSON (pings and pongs skipped), within 10s.
pub async fn next_text(ws: &mut Ws) -> serde_json::Value {
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await.expect("a message").expect("no error") {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    wait.await.expect("a message within 10s")
}
