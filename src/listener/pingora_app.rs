//! The wrapper every pingora listener (gateway, admin) runs its HTTP app
//! in. It takes over pingora's HTTP/1 keep-alive loop so that, before each
//! request, the head is read here under the listener's deadlines
//! (`head::read`) and replayed to pingora as a pipelined prefix; HTTP/2
//! connections go to pingora's own server, inside the connection cap.

use super::connections::Connections;
use super::head::{self, Deadlines, Head, HeadError};
use super::metrics::{ClientError, Refused};
use super::refusal::{self, Refusal};
use super::ListenerLimits;
use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::time::Instant;

/// Where a listener reads its current limits (they follow config reloads).
pub type LimitsSource = Arc<dyn Fn() -> ListenerLimits + Send + Sync>;

pub struct Guarded<A> {
    inner: Arc<A>,
    connections: Arc<Connections>,
    limits: LimitsSource,
}

impl<A> Guarded<A> {
    pub fn new(inner: A, connections: Arc<Connections>, limits: LimitsSource) -> Guarded<A> {
        Guarded {
            inner: Arc::new(inner),
            connections,
            limits,
        }
    }
}

#[async_trait]
impl<A> ServerApp for Guarded<A>
where
    A: HttpServerApp + ServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let accepted = Instant::now();
        let limits = (self.limits)();
        let slot = match self.connections.admit(peer_ip(&stream), &limits).await {
            Ok(slot) => slot,
            Err(why) => {
                let refusal = match why {
                    Refused::Full => Refusal::Full,
                    Refused::PerIp => Refusal::PerIp,
                };
                refusal::write(&mut stream, &refusal).await;
                return None;
            }
        };
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            // HTTP/2 frames its own requests; pingora's server runs it.
            ServerApp::process_new(&self.inner, stream, shutdown).await;
            return None;
        }

        let mut started = Some(accepted);
        let mut persistent: Option<HttpPersistentSettings> = None;
        loop {
            let limits = (self.limits)();
            let deadlines = Deadlines {
                idle_until: match started {
                    Some(at) => at + limits.header_timeout,
                    None => Instant::now() + limits.keepalive_timeout,
                },
                header_timeout: limits.header_timeout,
                started,
            };
            let idle = slot.idle();
            let mut stopping = shutdown.clone();
            let leave = async {
                tokio::select! {
                    _ = idle.shed() => {}
                    _ = stopping.wait_for(|stop| *stop) => {}
                }
            };
            let head = head::read(&mut stream, deadlines, limits.max_header_bytes, leave).await;
            drop(idle);
            let prefix = match head {
                Head::Complete(prefix) => prefix,
                Head::Gone => return None,
                Head::ClosedMidHead => {
                    self.client_error(ClientError::ClosedMidHead);
                    return None;
                }
                Head::Refused(e) => {
                    let (what, refusal) = match e {
                        HeadError::Timeout => (ClientError::HeaderTimeout, Refusal::Timeout),
                        HeadError::TooLarge { limit } => {
                            (ClientError::HeadTooLarge, Refusal::HeadTooLarge { limit })
                        }
                        HeadError::Malformed(why) => {
                            (ClientError::Malformed, Refusal::Malformed(why))
                        }
                    };
                    self.client_error(what);
                    refusal::write(&mut stream, &refusal).await;
                    return None;
                }
            };

            let mut session = ServerSession::new_http1(stream);
            match persistent.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => session.set_keepalive(Some(limits.keepalive_timeout.as_secs().max(1))),
            }
            session.set_pipelined_prefix(prefix);
            let reusable = self.inner.process_new_http(session, shutdown).await?;
            let (next, settings) = reusable.consume();
            stream = next;
            persistent = settings;
            started = None;
        }
    }

    async fn cleanup(&self) {
        self.inner.http_cleanup().await;
    }
}

impl<A> Guarded<A> {
    fn client_error(&self, what: ClientError) {
        let name = self.connections.name();
        self.connections.metrics().client_error(name, what);
    }
}

fn peer_ip(stream: &Stream) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    digest.peer_addr()?.as_inet().map(|a| a.ip())
}
