//! Fleet mode, managed WebSocket APIs: a client connected to one node is
//! reached through `@connections` on another (PostgreSQL holds which node
//! has it; the mail goes by NOTIFY), and a node that dies takes its
//! connections with it (GoneException elsewhere once its heartbeat stops).

mod common;

use common::fleet::Fleet;
use common::ws::{next_text, Ws};
use common::Gatehouse;
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

fn connections(node: &Gatehouse) -> aws_sdk_apigatewaymanagement::Client {
    // The fleet's messaging listener is open (loopback, no keys): any
    // credentials do.
    common::aws::connections(node)
}

async fn connect(node: &Gatehouse) -> (Ws, String) {
    let mut request = common::ws::url(node, "/f/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("user-agent", "fleet-ws/1".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text(r#"{"action":"whoami"}"#))
        .await
        .unwrap();
    let id = next_text(&mut ws).await["connectionId"]
        .as_str()
        .unwrap()
        .to_string();
    (ws, id)
}

async fn is_gone(api: &aws_sdk_apigatewaymanagement::Client, id: &str) -> bool {
    match api.get_connection().connection_id(id).send().await {
        Ok(_) => false,
        Err(e) => {
            assert!(
                e.as_service_error().is_some_and(|e| e.is_gone_exception()),
                "{e:?}"
            );
            true
        }
    }
}

/// Waits (up to `within`) for `id` to be gone as node `api` sees it.
async fn eventually_gone(api: &aws_sdk_apigatewaymanagement::Client, id: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while !is_gone(api, id).await {
        assert!(
            Instant::now() < deadline,
            "{id} still described after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn connections_are_reached_from_any_node() {
    let fleet = Fleet::start(2, "ws");
    let (mut ws, id) = connect(fleet.node(0)).await;
    let other = connections(fleet.node(1));

    // Sent on node 1, in order, to the client on node 0.
    for i in 0..5 {
        other
            .post_to_connection()
            .connection_id(&id)
            .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
                format!("{{\"n\":{i}}}").into_bytes(),
            ))
            .send()
            .await
            .unwrap();
    }
    for i in 0..5 {
        assert_eq!(next_text(&mut ws).await["n"], i);
    }
    let described = other
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap();
    let identity = described.identity.unwrap();
    assert_eq!(identity.user_agent.as_deref(), Some("fleet-ws/1"));
    assert_eq!(identity.source_ip.as_deref(), Some("127.0.0.1"));

    // Deleted on node 1: the client on node 0 is closed.
    other
        .delete_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(Message::Close(Some(close))))) => assert_eq!(close.code, CloseCode::Normal),
        other => panic!("expected the close, got {other:?}"),
    }
    eventually_gone(&other, &id, Duration::from_secs(10)).await;
    let err = other
        .post_to_connection()
        .connection_id(&id)
        .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
            b"x".to_vec(),
        ))
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .is_some_and(|e| e.is_gone_exception()));
    fleet.drop_schema().await;
}

/// A node killed with SIGKILL cannot close its connections' rows: the
/// other node answers GoneException once the dead node's heartbeat is
/// older than ten seconds.
#[tokio::test]
async fn a_dead_nodes_connections_are_gone_elsewhere() {
    let mut fleet = Fleet::start(2, "ws_dead");
    let (_ws, id) = connect(fleet.node(0)).await;
    let other = connections(fleet.node(1));
    assert!(!is_gone(&other, &id).await);
    let dead = fleet.nodes.remove(0);
    let _dir = dead.kill_hard();
    eventually_gone(&other, &id, Duration::from_secs(30)).await;
    fleet.drop_schema().await;
}
