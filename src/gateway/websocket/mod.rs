//! Managed WebSocket APIs (issue 18, being built): the gateway holds the
//! client connection itself and routes its messages, rather than proxying
//! the upgrade to a backend. `connection`: one connection, from the 101 to
//! its close; `frame`: RFC 6455 framing with the limits applied as bytes
//! arrive, and the handshake's accept value.

pub mod connection;
pub mod frame;
