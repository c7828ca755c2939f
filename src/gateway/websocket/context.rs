//! What a WebSocket API knows about one connection from its upgrade
//! request: who connected (address, user agent, the API key and what the
//! JWT and authorizer policies forwarded) and when. It travels with every
//! event to the route's integration, as API Gateway's `requestContext`.

use http::{HeaderName, HeaderValue};
use serde_json::{json, Map, Value};

/// The connection's lifecycle event a route runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Connect,
    Message,
    Disconnect,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Connect => "CONNECT",
            EventType::Message => "MESSAGE",
            EventType::Disconnect => "DISCONNECT",
        }
    }
}

/// One connection's context, fixed at the upgrade.
#[derive(Debug, Clone)]
pub struct Peer {
    pub connection_id: String,
    /// Unix milliseconds.
    pub connected_at: i64,
    /// The gateway's API and route ids.
    pub api: String,
    pub route: String,
    /// The upgrade request's `Host`.
    pub domain: String,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub api_key_id: Option<String>,
    /// The upgrade's query parameters (`$connect` integrations see them).
    pub query: Vec<(String, String)>,
    /// What the auth policies forward upstream (API key id and name, JWT
    /// claims, an authorizer's context): set on `http` integrations'
    /// requests as on proxied ones, and the context's `authorizer`.
    pub forward: Vec<(HeaderName, HeaderValue)>,
}

/// One event on a connection.
pub struct Event<'a> {
    pub kind: EventType,
    pub route_key: &'a str,
    /// Each event's own id (the message id, or the connection's request
    /// id for `$connect`).
    pub request_id: &'a str,
    /// For `$disconnect`: the close code and reason.
    pub close: Option<(u16, &'a str)>,
}

impl Peer {
    /// API Gateway's `requestContext` for `event`, as JSON.
    pub fn request_context(&self, event: &Event<'_>) -> Value {
        let authorizer: Map<String, Value> = self
            .forward
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), Value::from(v.to_str().ok()?))))
            .collect();
        let mut context = json!({
            "routeKey": event.route_key,
            "eventType": event.kind.as_str(),
            "connectionId": self.connection_id,
            "connectedAt": self.connected_at,
            "requestTimeEpoch": crate::messaging::clock::now_ms(),
            "requestId": event.request_id,
            "domainName": self.domain,
            "apiId": self.api,
            "routeId": self.route,
            "identity": {
                "sourceIp": self.source_ip,
                "userAgent": self.user_agent,
                "apiKeyId": self.api_key_id,
            },
            "authorizer": authorizer,
        });
        if event.kind == EventType::Message {
            context["messageId"] = event.request_id.into();
        }
        if event.kind == EventType::Connect {
            let query: Map<String, Value> = self
                .query
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect();
            context["queryStringParameters"] = query.into();
        }
        if let Some((code, reason)) = event.close {
            context["disconnectStatusCode"] = code.into();
            context["disconnectReason"] = reason.into();
        }
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_names_the_event_and_who_connected() {
        let peer = Peer {
            connection_id: "abc=".into(),
            connected_at: 1_700_000_000_000,
            api: "chat".into(),
            route: "ws".into(),
            domain: "example.test".into(),
            source_ip: "10.0.0.1".into(),
            user_agent: Some("ua/1".into()),
            api_key_id: Some("key_1".into()),
            query: vec![("room".into(), "blue".into())],
            forward: vec![(
                HeaderName::from_static("x-jwt-sub"),
                HeaderValue::from_static("alice"),
            )],
        };
        let connect = peer.request_context(&Event {
            kind: EventType::Connect,
            route_key: "$connect",
            request_id: "r1",
            close: None,
        });
        assert_eq!(connect["eventType"], "CONNECT");
        assert_eq!(connect["queryStringParameters"]["room"], "blue");
        assert_eq!(connect["identity"]["apiKeyId"], "key_1");
        assert_eq!(connect["authorizer"]["x-jwt-sub"], "alice");
        assert!(connect.get("messageId").is_none());
        let gone = peer.request_context(&Event {
            kind: EventType::Disconnect,
            route_key: "$disconnect",
            request_id: "r2",
            close: Some((1001, "idle timeout")),
        });
        assert_eq!(gone["disconnectStatusCode"], 1001);
        assert_eq!(gone["disconnectReason"], "idle timeout");
        assert!(gone.get("queryStringParameters").is_none());
    }
}
