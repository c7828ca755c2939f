//! The messaging listener's accept loop: hyper's HTTP/1 server with a
//! header deadline (which also bounds idle keep-alive time), under the
//! listener's connection cap, optionally over TLS (the handshake must finish
//! within the header deadline too). At the cap the oldest connection is
//! asked to close after its current response (at once when idle) to make
//! room.

use super::connections::Connections;
use super::metrics::Refused;
use super::ListenerLimits;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// hyper refuses a read buffer smaller than this.
const MIN_BUF: usize = 8192;

/// The connection a request arrived on, in every request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: std::net::SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    connections: Arc<Connections>,
    limits: Arc<dyn Fn() -> ListenerLimits + Send + Sync>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (or a transient error): accept() would
                // fail again at once, so pause instead of spinning.
                tracing::warn!(error = %e, "messaging listener cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let limits = limits();
        let connections = connections.clone();
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let slot = match connections.admit(Some(peer.ip()), &limits).await {
                Ok(slot) => slot,
                Err(why) => return refuse(tcp, why).await,
            };
            let idle = slot.idle();
            let router = router.layer(axum::Extension(Peer {
                addr: peer,
                tls: tls.is_some(),
            }));
            match tls {
                None => serve_http(TokioIo::new(tcp), router, &limits, idle).await,
                Some(acceptor) => {
                    // A client that stalls in the handshake is dropped at
                    // the header deadline, as one that stalls in its head.
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await;
                    match handshake {
                        Ok(Ok(stream)) => {
                            serve_http(TokioIo::new(stream), router, &limits, idle).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %peer, error = %e, "messaging TLS handshake failed")
                        }
                        Err(_) => {
                            tracing::debug!(peer = %peer, "messaging TLS handshake timed out")
                        }
                    }
                }
            }
        });
    }
}

/// HTTP/1.1 on an accepted (plain or TLS) stream until the client leaves or
/// the listener sheds the connection.
async fn serve_http<S>(
    io: TokioIo<S>,
    router: axum::Router,
    limits: &ListenerLimits,
    idle: super::connections::Idle<'_>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(router);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size((limits.max_header_bytes + 1024).max(MIN_BUF))
        .serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = idle.shed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A 503 (or 429 for one address's cap) that the AWS SDKs retry with
/// backoff; the request itself is never read.
async fn refuse(mut tcp: tokio::net::TcpStream, why: Refused) {
    let (status, message) = match why {
        Refused::Full => (
            "503 Service Unavailable",
            "too many connections; try again shortly",
        ),
        Refused::PerIp => (
            "429 Too Many Requests",
            "too many connections from this address",
        ),
    };
    let body = serde_json::json!({"__type": "ServiceUnavailable", "message": message}).to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.0\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}
