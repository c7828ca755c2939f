//! The body a `queue` or `topic` integration turns into a message: read
//! whole while it fits under `messaging.large_payloads.threshold`, and
//! streamed into the payload store past it (a 2 GB body is never held in
//! memory), where the message then points at it (`messaging::payloads`).

use crate::gateway::body::{self, Chunks};
use crate::gateway::ctx::Ctx;
use crate::gateway::errors::GatewayError;
use crate::messaging::payloads::{Payloads, Upload};
use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;

pub enum Body {
    Inline(Bytes),
    /// Stored in the payload store under `key`.
    Offloaded {
        key: String,
        size: u64,
    },
}

pub async fn read(
    session: &mut Session,
    ctx: &mut Ctx,
    payloads: Option<&Payloads>,
) -> pingora::Result<Result<Body, GatewayError>> {
    let small = |req: &pingora::http::RequestHeader, threshold: u64| {
        !req.headers.contains_key(http::header::TRANSFER_ENCODING)
            && body::declared_length(req).is_some_and(|n| n <= threshold)
    };
    let payloads = match payloads {
        Some(p) if ctx.body.is_none() && !small(session.req_header(), p.threshold) => p,
        Some(p) => {
            // Read already (a policy inspected it) or small: whole, and
            // offloaded if it still turns out too large.
            return Ok(match body::whole(session, ctx).await? {
                Ok(bytes) if bytes.len() as u64 > p.threshold => offload_whole(p, bytes).await,
                Ok(bytes) => Ok(Body::Inline(bytes)),
                Err(err) => Err(err),
            });
        }
        None => return Ok(body::whole(session, ctx).await?.map(Body::Inline)),
    };
    let mut chunks = Chunks::start(session, ctx.body_limit, ctx.body_deadline()).await?;
    let mut head = BytesMut::new();
    let mut upload: Option<Upload> = None;
    loop {
        let chunk = match chunks.next(session).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => break,
            Ok(Err(err)) => {
                abandon(upload).await;
                return Ok(Err(err));
            }
            Err(e) => {
                abandon(upload).await;
                return Err(e);
            }
        };
        let written = match &mut upload {
            Some(up) => up.write(chunk).await,
            None => {
                head.extend_from_slice(&chunk);
                if head.len() as u64 <= payloads.threshold {
                    continue;
                }
                match payloads.upload().await {
                    Ok(mut up) => {
                        let first = std::mem::take(&mut head).freeze();
                        let written = up.write(first).await;
                        upload = Some(up);
                        written
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = written {
            abandon(upload).await;
            return Ok(Err(store_failed(e)));
        }
    }
    Ok(match upload {
        None => Ok(Body::Inline(head.freeze())),
        Some(up) => {
            let size = up.size();
            match up.finish().await {
                Ok(key) => Ok(Body::Offloaded { key, size }),
                Err(e) => Err(store_failed(e)),
            }
        }
    })
}

async fn offload_whole(payloads: &Payloads, bytes: Bytes) -> Result<Body, GatewayError> {
    let size = bytes.len() as u64;
    match payloads.put(bytes).await {
        Ok(key) => Ok(Body::Offloaded { key, size }),
        Err(e) => Err(store_failed(e)),
    }
}

async fn abandon(upload: Option<Upload>) {
    if let Some(up) = upload {
        up.abort().await;
    }
}

/// The payload store failing is the backend's problem: the client may retry.
fn store_failed(e: crate::messaging::payloads::PayloadError) -> GatewayError {
    tracing::error!(error = %e, "offloading a large message body failed");
    GatewayError::Unavailable("the payload store is unavailable; retry shortly".into())
}
