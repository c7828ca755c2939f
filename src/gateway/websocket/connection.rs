//! One managed WebSocket connection, held by the request's own task: the
//! upgrade request has passed the route's policies (API Gateway's
//! `$connect`), the gateway answers `101 Switching Protocols` itself (pingora
//! then hands over the raw bytes both ways), and each message is answered
//! by the route its selection expression picks, until the client closes,
//! goes idle, or the connection reaches its maximum duration.

use super::frame::{self, Assembler, Decoder, Event, Opcode};
use crate::config::model::WebSocketIntegration;
use crate::gateway::ctx::Ctx;
use crate::gateway::errors::GatewayError;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use serde_json::Value;

/// Holds the connection until it ends. The inner error is the answer to
/// a request that was not a WebSocket upgrade (426).
pub async fn serve(
    api: &WebSocketIntegration,
    session: &mut Session,
    ctx: &Ctx,
) -> pingora::Result<Result<(), GatewayError>> {
    let req = session.req_header();
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let upgrade = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let version_ok = header("sec-websocket-version") == Some("13");
    let Some(key) = header("sec-websocket-key").filter(|_| upgrade && version_ok) else {
        return Ok(Err(GatewayError::UpgradeRequired));
    };
    let mut resp = ResponseHeader::build(101, Some(4))?;
    resp.insert_header("upgrade", "websocket")?;
    resp.insert_header("connection", "Upgrade")?;
    resp.insert_header("sec-websocket-accept", frame::accept_key(key))?;
    session.write_response_header(Box::new(resp), false).await?;
    // Pingora's read deadline would end an idle connection early: ours is
    // the integration's idle timeout.
    session.set_read_timeout(Some(api.idle_timeout));
    let connection_id = ctx.request_id().to_string();
    let outcome = hold(api, session, ctx, &connection_id).await;
    let (code, reason) = match &outcome {
        Ok(Ending::ClientClosed) => return Ok(Ok(())),
        Ok(Ending::Idle) => (1001, "idle timeout"),
        Ok(Ending::Expired) => (1001, "maximum connection duration reached"),
        Err(e) => (e.code, e.reason),
    };
    let close = frame::encode(Opcode::Close, &frame::close_payload(code, reason));
    let _ = session.write_response_body(Some(close), true).await;
    Ok(Ok(()))
}

enum Ending {
    ClientClosed,
    Idle,
    Expired,
}

async fn hold(
    api: &WebSocketIntegration,
    session: &mut Session,
    ctx: &Ctx,
    connection_id: &str,
) -> Result<Ending, frame::ProtocolError> {
    let mut decoder = Decoder::new(api.max_frame);
    let mut assembler = Assembler::new(api.max_message);
    let deadline = tokio::time::Instant::now() + api.max_duration;
    loop {
        let read = tokio::time::timeout_at(deadline, session.read_request_body()).await;
        let bytes = match read {
            Err(_) => return Ok(Ending::Expired),
            Ok(Ok(Some(bytes))) => bytes,
            // The client went away without a close frame.
            Ok(Ok(None)) => return Ok(Ending::ClientClosed),
            Ok(Err(e)) if *e.etype() == pingora::ErrorType::ReadTimedout => {
                return Ok(Ending::Idle)
            }
            Ok(Err(_)) => return Ok(Ending::ClientClosed),
        };
        decoder.push(&bytes);
        while let Some(f) = decoder.next_frame()? {
            let Some(event) = assembler.take(f)? else {
                continue;
            };
            let reply = match event {
                Event::Ping(payload) => frame::encode(Opcode::Pong, &payload),
                Event::Pong(_) => continue,
                Event::Close(code) => {
                    let echo = frame::close_payload(code.unwrap_or(1000), "");
                    let _ = send(session, frame::encode(Opcode::Close, &echo)).await;
                    return Ok(Ending::ClientClosed);
                }
                Event::Text(text) => answer(api, session, ctx, connection_id, Some(&text)),
                Event::Binary(_) => answer(api, session, ctx, connection_id, None),
            };
            if send(session, reply).await.is_err() {
                return Ok(Ending::ClientClosed);
            }
        }
    }
}

async fn send(session: &mut Session, frame: Bytes) -> pingora::Result<()> {
    session.write_response_body(Some(frame), false).await
}

/// The frame answering one message: its route's answer, or AWS's
/// `Forbidden` message when no route takes it.
fn answer(
    api: &WebSocketIntegration,
    session: &Session,
    ctx: &Ctx,
    connection_id: &str,
    text: Option<&str>,
) -> Bytes {
    let key = text
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|json| {
            api.selection
                .iter()
                .try_fold(&json, |v, field| v.get(field))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let chosen = key
        .as_deref()
        .and_then(|k| api.routes.get(k))
        .or_else(|| api.routes.get("$default"));
    let body = match chosen {
        Some(mock) => crate::gateway::integration::mock::body(mock, session, ctx),
        None => Bytes::from(
            serde_json::json!({
                "message": "Forbidden",
                "connectionId": connection_id,
                "requestId": ctx.request_id(),
            })
            .to_string(),
        ),
    };
    frame::encode(Opcode::Text, &body)
}
