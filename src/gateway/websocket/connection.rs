//! One managed WebSocket connection, held by the request's own task: the
//! upgrade request has passed the route's policies, the `$connect`
//! integration (if any) has accepted it, the connection is registered (so
//! `@connections` on any node reaches it), and the gateway answers
//! `101 Switching Protocols` itself (pingora then hands over the raw bytes
//! both ways). Then one loop waits on the client's bytes, the connection's
//! mailbox and its deadlines, until the client closes, goes idle, stops
//! reading, is disconnected, or the connection reaches its maximum
//! duration. `$disconnect` runs once, from a drop guard, however it ended.

use super::context::{Event, EventType, Peer};
use super::dispatch::{self, Failure, Payload, Targets};
use super::frame::{self, Assembler, Decoder, Opcode};
use super::WebSockets;
use crate::config::model::{WebSocketIntegration, WebSocketRoute, WebSocketTarget};
use crate::gateway::ctx::Ctx;
use crate::gateway::errors::GatewayError;
use crate::gateway::{Runtime, State};
use crate::store::connections::{ConnectionInfo, Delivery, Mailbox};
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use serde_json::Value;
use std::sync::Arc;
use tokio::time::Instant;

/// Holds the connection until it ends. The inner error is the answer to
/// a request that was not a WebSocket upgrade (426), or that `$connect`
/// refused.
pub async fn serve(
    api: &Arc<WebSocketIntegration>,
    state: &Arc<State>,
    runtime: &Arc<Runtime>,
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
    let accept = frame::accept_key(key);
    let peer = peer(session, ctx);
    let targets = Targets {
        runtime: runtime.clone(),
        topics: state.topics.clone(),
        queues: state.queues.clone(),
        flows: state.flows.clone(),
    };
    let ws = &state.websockets;
    if let Some(route) = api.routes.get("$connect") {
        let event = Event {
            kind: EventType::Connect,
            route_key: "$connect",
            request_id: ctx.request_id(),
            close: None,
        };
        // Boxed, as every integration call here: its future is large, and
        // kept inline it would be part of every idle connection's state.
        let ran = Box::pin(dispatch::run(
            &targets,
            &route.target,
            &peer,
            &event,
            &Payload::None,
        ))
        .await;
        log_event(
            state,
            &peer,
            &event,
            ran.as_ref().map_or_else(|f| f.status, |_| 101),
            0,
        );
        if let Err(failure) = ran {
            failed(ws, &peer, "$connect", &failure);
            return Ok(Err(refusal(failure)));
        }
    }
    let now = crate::messaging::clock::now_ms();
    let info = ConnectionInfo {
        id: peer.connection_id.clone(),
        connected_at: now,
        last_active_at: now,
        source_ip: peer.source_ip.clone(),
        user_agent: peer.user_agent.clone(),
    };
    let mailbox = match ws.connections.open(info).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cannot register a WebSocket connection");
            return Ok(Err(GatewayError::Unavailable(
                "cannot register the connection now; retry shortly".into(),
            )));
        }
    };
    // From here on, however the connection ends, `$disconnect` runs once.
    let mut guard = Disconnect {
        state: state.clone(),
        api: api.clone(),
        targets: targets.clone(),
        peer: peer.clone(),
        close: (1006, "the connection ended".into()),
    };
    ws.metrics.open.with_label_values(&[&peer.api]).inc();
    let mut resp = ResponseHeader::build(101, Some(4))?;
    resp.insert_header("upgrade", "websocket")?;
    resp.insert_header("connection", "Upgrade")?;
    resp.insert_header("sec-websocket-accept", accept)?;
    session.write_response_header(Box::new(resp), false).await?;
    // The loop keeps its own deadlines: pingora's read timeout would end a
    // connection that only receives (from @connections) as idle.
    session.set_read_timeout(Some(api.max_duration));
    let mut held = Held {
        api,
        state,
        targets: &targets,
        peer: &peer,
        params: ctx.params(),
        mailbox,
        idle_until: Instant::now() + api.idle_timeout,
        connection_throttle: api.throttle.as_ref().map(super::throttle::bucket),
    };
    let ending = held.run(session).await;
    let (code, reason) = match &ending {
        Ending::ClientClosed(code) => (*code, ""),
        Ending::Vanished => (1006, "the client went away"),
        Ending::Idle => (1001, "idle timeout"),
        Ending::Expired => (1001, "maximum connection duration reached"),
        Ending::Disconnected => (1000, "disconnected"),
        Ending::Stalled => (1006, "the client stopped reading"),
        Ending::Protocol(e) => (e.code, e.reason),
    };
    guard.close = (code, reason.to_string());
    match ending {
        // Nothing more can be written: the client is gone or not reading.
        Ending::Vanished | Ending::ClientClosed(_) => {}
        Ending::Stalled => cut_off(session),
        _ => {
            let close = frame::encode(Opcode::Close, &frame::close_payload(code, reason));
            if send(session, close, api.write_timeout).await.is_err() {
                cut_off(session);
            }
        }
    }
    drop(guard);
    Ok(Ok(()))
}

/// Who connected, from the upgrade request and what the policies found.
fn peer(session: &Session, ctx: &Ctx) -> Peer {
    let req = session.req_header();
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let route = ctx.route.as_ref();
    let forward: Vec<_> = ctx
        .upstream_headers
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect();
    let api_key_id = forward
        .iter()
        .find(|(k, _)| k == "x-api-key-id")
        .and_then(|(_, v)| v.to_str().ok())
        .map(str::to_string);
    Peer {
        connection_id: crate::store::connections::new_id(),
        connected_at: crate::messaging::clock::now_ms(),
        api: route.map_or_else(String::new, |r| r.api.clone()),
        route: route.map_or_else(String::new, |r| r.id.clone()),
        domain: crate::gateway::request::request_host_raw(req).to_string(),
        source_ip: session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        user_agent: header("user-agent").map(str::to_string),
        api_key_id,
        query: req
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
        forward,
    }
}

/// `$connect` said no: its backend's 4xx, or 502/503/504 when it failed.
fn refusal(failure: Failure) -> GatewayError {
    match failure.status {
        status @ 400..=499 => GatewayError::Refused {
            status,
            code: "Forbidden",
            message: "the $connect integration refused the connection".into(),
        },
        503 => GatewayError::Unavailable("the $connect integration is unavailable".into()),
        504 => GatewayError::UpstreamTimeout,
        _ => GatewayError::UpstreamUnavailable,
    }
}

fn failed(ws: &WebSockets, peer: &Peer, route_key: &str, failure: &Failure) {
    ws.metrics
        .integration_errors
        .with_label_values(&[&peer.api, route_key, failure.kind])
        .inc();
    tracing::warn!(
        api = %peer.api,
        route_key,
        connection_id = %peer.connection_id,
        kind = failure.kind,
        error = %failure.detail,
        "WebSocket route integration failed"
    );
}

enum Ending {
    ClientClosed(u16),
    /// The connection dropped without a close frame.
    Vanished,
    Idle,
    Expired,
    /// `@connections` DELETE.
    Disconnected,
    /// A write did not finish within the write timeout.
    Stalled,
    Protocol(frame::ProtocolError),
}

struct Held<'a> {
    api: &'a WebSocketIntegration,
    state: &'a State,
    targets: &'a Targets,
    peer: &'a Peer,
    /// The upgrade request's path parameters (mock templates read them).
    params: &'a crate::config::path_template::Params,
    mailbox: Mailbox,
    idle_until: Instant,
    connection_throttle: Option<governor::DefaultDirectRateLimiter>,
}

impl Held<'_> {
    async fn run(&mut self, session: &mut Session) -> Ending {
        let api = self.api;
        let mut decoder = Decoder::new(api.max_frame);
        let mut assembler = Assembler::new(api.max_message);
        let expires = Instant::now() + api.max_duration;
        loop {
            // Reads are cancel-safe (pingora's own proxy loop selects over
            // them too): a mailbox delivery never loses client bytes.
            let bytes = tokio::select! {
                mail = self.mailbox.recv() => {
                    match mail {
                        Some(Delivery::Data(data)) => {
                            let opcode = match std::str::from_utf8(&data) {
                                Ok(_) => Opcode::Text,
                                Err(_) => Opcode::Binary,
                            };
                            self.sent("@connections");
                            if send(session, frame::encode(opcode, &data), api.write_timeout).await.is_err() {
                                return Ending::Stalled;
                            }
                            continue;
                        }
                        Some(Delivery::Disconnect) | None => return Ending::Disconnected,
                    }
                }
                read = session.read_request_body() => read,
                _ = tokio::time::sleep_until(self.idle_until) => return Ending::Idle,
                _ = tokio::time::sleep_until(expires) => return Ending::Expired,
            };
            let bytes = match bytes {
                Ok(Some(bytes)) => bytes,
                Ok(None) | Err(_) => return Ending::Vanished,
            };
            decoder.push(&bytes);
            loop {
                let event = match next_event(&mut decoder, &mut assembler) {
                    Ok(Some(event)) => event,
                    Ok(None) => break,
                    Err(e) => return Ending::Protocol(e),
                };
                let reply = match event {
                    frame::Event::Ping(payload) => Some(frame::encode(Opcode::Pong, &payload)),
                    frame::Event::Pong(_) => None,
                    frame::Event::Close(code) => {
                        let code = code.unwrap_or(1000);
                        let echo = frame::close_payload(code, "");
                        let _ = send(
                            session,
                            frame::encode(Opcode::Close, &echo),
                            api.write_timeout,
                        )
                        .await;
                        return Ending::ClientClosed(code);
                    }
                    frame::Event::Text(text) => {
                        self.idle_until = Instant::now() + api.idle_timeout;
                        self.message(session, Payload::Text(text)).await
                    }
                    frame::Event::Binary(data) => {
                        self.idle_until = Instant::now() + api.idle_timeout;
                        self.message(session, Payload::Binary(data)).await
                    }
                };
                if let Some(reply) = reply {
                    if send(session, reply, api.write_timeout).await.is_err() {
                        return Ending::Stalled;
                    }
                }
            }
        }
    }

    /// Counts a message to the client and notes the activity.
    fn sent(&mut self, route_key: &str) {
        self.idle_until = Instant::now() + self.api.idle_timeout;
        let ws = &self.state.websockets;
        ws.metrics
            .messages
            .with_label_values(&[&self.peer.api, route_key, "out"])
            .inc();
        ws.connections
            .touch(&self.peer.connection_id, crate::messaging::clock::now_ms());
    }

    /// Runs the message's route; the frame to answer with, if any.
    async fn message(&mut self, session: &Session, payload: Payload) -> Option<Bytes> {
        let api = self.api;
        let ws = &self.state.websockets;
        let message_id = crate::store::connections::new_id();
        let (route_key, route) = route_for(api, &payload);
        let key_label = route_key.as_deref().unwrap_or("-");
        ws.metrics
            .messages
            .with_label_values(&[&self.peer.api, key_label, "in"])
            .inc();
        ws.connections
            .touch(&self.peer.connection_id, crate::messaging::clock::now_ms());
        let size = payload.len();
        let status_message = |message: &str| {
            Some(frame::encode(
                Opcode::Text,
                serde_json::json!({
                    "message": message,
                    "connectionId": self.peer.connection_id,
                    "requestId": message_id,
                })
                .to_string()
                .as_bytes(),
            ))
        };
        let (Some(route_key), Some(route)) = (route_key, route) else {
            self.log_message("-", &message_id, 403, size);
            return status_message("Forbidden");
        };
        let over_connection = self
            .connection_throttle
            .as_ref()
            .is_some_and(|b| b.check().is_err());
        let over_route = !over_connection
            && route
                .throttle
                .as_ref()
                .is_some_and(|t| !ws.routes.admit(&self.peer.api, &route_key, t));
        if over_connection || over_route {
            let scope = if over_connection {
                "connection"
            } else {
                "route"
            };
            ws.metrics
                .throttled
                .with_label_values(&[&self.peer.api, scope])
                .inc();
            self.log_message(&route_key, &message_id, 429, size);
            return status_message("Too Many Requests");
        }
        let event = Event {
            kind: EventType::Message,
            route_key: &route_key,
            request_id: &message_id,
            close: None,
        };
        let reply = match &route.target {
            WebSocketTarget::Mock(mock) => Ok(Some(crate::gateway::integration::mock::body_for(
                mock,
                session,
                &message_id,
                Some(&self.peer.connection_id),
                self.params,
            ))),
            target => {
                Box::pin(dispatch::run(
                    self.targets,
                    target,
                    self.peer,
                    &event,
                    &payload,
                ))
                .await
            }
        };
        match reply {
            Ok(reply) => {
                self.log_message(&route_key, &message_id, 200, size);
                let reply = reply?;
                self.sent(&route_key);
                let opcode = match std::str::from_utf8(&reply) {
                    Ok(_) => Opcode::Text,
                    Err(_) => Opcode::Binary,
                };
                Some(frame::encode(opcode, &reply))
            }
            Err(failure) => {
                failed(ws, self.peer, &route_key, &failure);
                self.log_message(&route_key, &message_id, failure.status, size);
                status_message("Internal server error")
            }
        }
    }

    fn log_message(&self, route_key: &str, message_id: &str, status: u16, size: usize) {
        let event = Event {
            kind: EventType::Message,
            route_key,
            request_id: message_id,
            close: None,
        };
        log_event(self.state, self.peer, &event, status, size);
    }
}

/// The next whole message or control frame in what has arrived.
fn next_event(
    decoder: &mut Decoder,
    assembler: &mut Assembler,
) -> Result<Option<frame::Event>, frame::ProtocolError> {
    while let Some(f) = decoder.next_frame()? {
        if let Some(event) = assembler.take(f)? {
            return Ok(Some(event));
        }
    }
    Ok(None)
}

/// The route a message goes to: the key its selection expression finds
/// (if a route has it), else `$default`; a binary or non-JSON message has
/// no key.
fn route_for<'a>(
    api: &'a WebSocketIntegration,
    payload: &Payload,
) -> (Option<String>, Option<&'a WebSocketRoute>) {
    let key = match payload {
        Payload::Text(text) => serde_json::from_str::<Value>(text).ok().and_then(|json| {
            api.selection
                .iter()
                .try_fold(&json, |v, field| v.get(field))
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        _ => None,
    };
    match key
        .as_deref()
        .filter(|k| !k.starts_with('$'))
        .and_then(|k| api.routes.get(k))
    {
        Some(route) => (key, Some(route)),
        None => match api.routes.get("$default") {
            Some(route) => (Some("$default".into()), Some(route)),
            None => (None, None),
        },
    }
}

async fn send(session: &mut Session, frame: Bytes, within: std::time::Duration) -> Result<(), ()> {
    match tokio::time::timeout(within, session.write_response_body(Some(frame), false)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Shuts the client's socket down both ways. A client that stopped reading
/// leaves unsent bytes in the socket: pingora would try to flush them when
/// the request ends, without a deadline. After a shutdown, those writes
/// fail at once and the connection is released.
fn cut_off(session: &Session) {
    use pingora::protocols::http::ServerSession;
    use pingora::protocols::UniqueID;
    if let ServerSession::H1(h1) = session.as_downstream() {
        // A plain or TLS stream's id is its socket's fd.
        let fd = UniqueID::id(h1.stream().as_ref());
        // SAFETY: the fd belongs to the stream the session still owns and
        // stays open until the session is dropped; shutdown(2) does not
        // close it, so no other file can take its number meanwhile.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Both);
    }
}

/// Runs `$disconnect` and forgets the connection when dropped: once per
/// connection, whether it closed, vanished, or its task was cancelled.
struct Disconnect {
    state: Arc<State>,
    api: Arc<WebSocketIntegration>,
    targets: Targets,
    peer: Peer,
    close: (u16, String),
}

impl Drop for Disconnect {
    fn drop(&mut self) {
        let state = self.state.clone();
        let api = self.api.clone();
        let targets = self.targets.clone();
        let peer = self.peer.clone();
        let (code, reason) = self.close.clone();
        state
            .websockets
            .metrics
            .open
            .with_label_values(&[&peer.api])
            .dec();
        let run = async move {
            state
                .websockets
                .connections
                .close(&peer.connection_id)
                .await;
            let request_id = crate::store::connections::new_id();
            let event = Event {
                kind: EventType::Disconnect,
                route_key: "$disconnect",
                request_id: &request_id,
                close: Some((code, &reason)),
            };
            let status = match api.routes.get("$disconnect") {
                Some(route) => {
                    match dispatch::run(&targets, &route.target, &peer, &event, &Payload::None)
                        .await
                    {
                        Ok(_) => 200,
                        Err(failure) => {
                            failed(&state.websockets, &peer, "$disconnect", &failure);
                            failure.status
                        }
                    }
                }
                None => 200,
            };
            log_event(&state, &peer, &event, status, 0);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(run);
            }
            Err(_) => tracing::warn!(
                connection_id = %self.peer.connection_id,
                "no runtime to run $disconnect on"
            ),
        }
    }
}

/// One access-log line for a connection's event.
fn log_event(state: &State, peer: &Peer, event: &Event<'_>, status: u16, bytes: usize) {
    if !state.access_log.enabled() {
        return;
    }
    let time = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    state.access_log.log_json(&serde_json::json!({
        "time": time,
        "request_id": event.request_id,
        "client": peer.source_ip,
        "api": peer.api,
        "route": peer.route,
        "websocket": event.kind.as_str(),
        "connection_id": peer.connection_id,
        "route_key": event.route_key,
        "status": status,
        "bytes_in": bytes,
        "close_code": event.close.map(|(code, _)| code),
    }));
}
