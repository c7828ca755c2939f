//! Managed WebSocket connections, wherever they are held: the node holding
//! a client's connection registers it and gets a mailbox; the `@connections`
//! API on any node sends to it, describes it or disconnects it through this
//! seam. `Local` is the table of one node's connections (and the in-memory
//! twin on its own); `postgres::connections` adds the fleet: a row per
//! connection naming its node, and mail for other nodes' connections
//! through a table and `NOTIFY`.

use super::StoreError;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a connection's holder is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Send these bytes to the client (a text frame when UTF-8).
    Data(Bytes),
    /// Close the connection (the `@connections` DELETE).
    Disconnect,
}

/// A connection's mail, read by the task that holds it.
pub type Mailbox = mpsc::Receiver<Delivery>;

/// Deliveries waiting for one connection at most: a client that does not
/// read its messages fills it, and later sends are refused (429) rather
/// than buffered without end.
pub const MAILBOX_CAPACITY: usize = 32;

/// What the `@connections` GET answers, as API Gateway describes a
/// connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub id: String,
    /// Unix milliseconds.
    pub connected_at: i64,
    /// Unix milliseconds of the last message either way.
    pub last_active_at: i64,
    pub source_ip: String,
    pub user_agent: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// No such connection open anywhere (API Gateway's GoneException).
    #[error("the connection is gone")]
    Gone,
    /// The connection's mailbox is full: its client is not reading.
    #[error("the connection's client is not keeping up; try again later")]
    Full,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait::async_trait]
pub trait Connections: Send + Sync {
    /// Registers a connection this node holds; what others send it arrives
    /// in the mailbox.
    async fn open(&self, info: ConnectionInfo) -> Result<Mailbox, StoreError>;
    /// Forgets a connection that ended (repeating it does nothing).
    async fn close(&self, id: &str);
    /// Notes a message on the connection (its `lastActiveAt`).
    fn touch(&self, id: &str, at: i64);
    /// Sends `data` to the connection, wherever it is held.
    async fn post(&self, id: &str, data: Bytes) -> Result<(), PostError>;
    /// Describes the connection; `None` when it is not open anywhere.
    async fn describe(&self, id: &str) -> Result<Option<ConnectionInfo>, StoreError>;
    /// Asks the connection's holder to close it.
    async fn disconnect(&self, id: &str) -> Result<(), PostError>;
    /// Connections held by this node.
    fn held(&self) -> usize;
}

/// One node's connections: the in-memory twin, and the part of every
/// shared backend that reaches the connections held here.
#[derive(Default, Clone)]
pub struct Local {
    held: Arc<Mutex<HashMap<String, Held>>>,
}

struct Held {
    info: ConnectionInfo,
    last_active_at: Arc<AtomicU64>,
    mailbox: mpsc::Sender<Delivery>,
}

impl Local {
    pub fn new() -> Local {
        Local::default()
    }

    pub fn open(&self, info: ConnectionInfo) -> Mailbox {
        let (tx, rx) = mpsc::channel(MAILBOX_CAPACITY);
        let held = Held {
            last_active_at: Arc::new(AtomicU64::new(info.last_active_at.max(0) as u64)),
            info: info.clone(),
            mailbox: tx,
        };
        self.held.lock().insert(info.id, held);
        rx
    }

    /// True when the connection was held here.
    pub fn close(&self, id: &str) -> bool {
        self.held.lock().remove(id).is_some()
    }

    pub fn touch(&self, id: &str, at: i64) {
        if let Some(h) = self.held.lock().get(id) {
            h.last_active_at
                .fetch_max(at.max(0) as u64, Ordering::Relaxed);
        }
    }

    /// Hands `delivery` to a connection held here. `Gone` when it is not
    /// (or its holder has stopped reading its mail: the connection ended).
    pub fn deliver(&self, id: &str, delivery: Delivery) -> Result<(), PostError> {
        let sender = match self.held.lock().get(id) {
            Some(h) => h.mailbox.clone(),
            None => return Err(PostError::Gone),
        };
        match sender.try_send(delivery) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(Delivery::Disconnect)) => {
                // A close must get through a full mailbox: the holder reads
                // its mail in order, so the close waits behind the data.
                tokio::spawn(async move {
                    let _ = sender.send(Delivery::Disconnect).await;
                });
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(PostError::Full),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PostError::Gone),
        }
    }

    pub fn describe(&self, id: &str) -> Option<ConnectionInfo> {
        self.held.lock().get(id).map(|h| ConnectionInfo {
            last_active_at: h.last_active_at.load(Ordering::Relaxed) as i64,
            ..h.info.clone()
        })
    }

    /// The last activity of every connection held here (a shared backend
    /// writes them out now and then).
    pub fn activity(&self) -> Vec<(String, i64)> {
        self.held
            .lock()
            .values()
            .map(|h| {
                (
                    h.info.id.clone(),
                    h.last_active_at.load(Ordering::Relaxed) as i64,
                )
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.held.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait::async_trait]
impl Connections for Local {
    async fn open(&self, info: ConnectionInfo) -> Result<Mailbox, StoreError> {
        Ok(Local::open(self, info))
    }

    async fn close(&self, id: &str) {
        Local::close(self, id);
    }

    fn touch(&self, id: &str, at: i64) {
        Local::touch(self, id, at);
    }

    async fn post(&self, id: &str, data: Bytes) -> Result<(), PostError> {
        self.deliver(id, Delivery::Data(data))
    }

    async fn describe(&self, id: &str) -> Result<Option<ConnectionInfo>, StoreError> {
        Ok(Local::describe(self, id))
    }

    async fn disconnect(&self, id: &str) -> Result<(), PostError> {
        self.deliver(id, Delivery::Disconnect)
    }

    fn held(&self) -> usize {
        self.len()
    }
}

/// A fresh connection id, as API Gateway's look (16 characters of
/// base64, safe in a URL path).
pub fn new_id() -> String {
    use base64::Engine;
    let bytes: [u8; 10] = std::array::from_fn(|_| fastrand::u8(..));
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// The suite every `Connections` passes. `here` holds connections; `there`
/// is another node on the same backend (the same handle for the twin).
#[cfg(test)]
pub(crate) async fn conformance(here: &dyn Connections, there: &dyn Connections) {
    let info = |id: &str| ConnectionInfo {
        id: id.to_string(),
        connected_at: 1_000,
        last_active_at: 1_000,
        source_ip: "127.0.0.1".into(),
        user_agent: Some("test/1".into()),
    };
    async fn next(mailbox: &mut Mailbox) -> Option<Delivery> {
        tokio::time::timeout(std::time::Duration::from_secs(10), mailbox.recv())
            .await
            .expect("mail within 10s")
    }
    let a = new_id();
    assert_eq!(a.len(), 16);
    assert_ne!(a, new_id());
    let mut mailbox = here.open(info(&a)).await.unwrap();
    assert_eq!(here.held(), 1);

    // Sent from either node, in order.
    here.post(&a, Bytes::from_static(b"one")).await.unwrap();
    there.post(&a, Bytes::from_static(b"two")).await.unwrap();
    assert_eq!(
        next(&mut mailbox).await,
        Some(Delivery::Data(Bytes::from_static(b"one")))
    );
    assert_eq!(
        next(&mut mailbox).await,
        Some(Delivery::Data(Bytes::from_static(b"two")))
    );

    // Described from either node, with its activity.
    here.touch(&a, 5_000);
    let seen = here.describe(&a).await.unwrap().unwrap();
    assert_eq!((seen.connected_at, seen.last_active_at), (1_000, 5_000));
    assert_eq!(seen.user_agent.as_deref(), Some("test/1"));
    let far = there.describe(&a).await.unwrap().unwrap();
    assert_eq!(
        (far.id.as_str(), far.source_ip.as_str()),
        (a.as_str(), "127.0.0.1")
    );

    // Unknown ids are gone everywhere.
    let unknown = new_id();
    assert!(matches!(
        there.post(&unknown, Bytes::new()).await,
        Err(PostError::Gone)
    ));
    assert!(matches!(
        there.disconnect(&unknown).await,
        Err(PostError::Gone)
    ));
    assert_eq!(there.describe(&unknown).await.unwrap(), None);

    // A disconnect from the other node reaches the holder.
    there.disconnect(&a).await.unwrap();
    assert_eq!(next(&mut mailbox).await, Some(Delivery::Disconnect));

    // Closed: gone for everyone, and closing again is harmless.
    here.close(&a).await;
    here.close(&a).await;
    assert_eq!(here.held(), 0);
    assert!(matches!(
        there.post(&a, Bytes::new()).await,
        Err(PostError::Gone)
    ));
    assert_eq!(there.describe(&a).await.unwrap(), None);

    // A client that reads nothing fills its mailbox: later sends are
    // refused, not buffered; a disconnect still gets through.
    let b = new_id();
    let mut slow = here.open(info(&b)).await.unwrap();
    for _ in 0..MAILBOX_CAPACITY {
        here.post(&b, Bytes::from_static(b"x")).await.unwrap();
    }
    assert!(matches!(
        here.post(&b, Bytes::from_static(b"x")).await,
        Err(PostError::Full)
    ));
    here.disconnect(&b).await.unwrap();
    for _ in 0..MAILBOX_CAPACITY {
        assert!(matches!(next(&mut slow).await, Some(Delivery::Data(_))));
    }
    assert_eq!(next(&mut slow).await, Some(Delivery::Disconnect));
    here.close(&b).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_in_memory_twin_passes_the_suite() {
        let local = Local::new();
        conformance(&local, &local.clone()).await;
    }
}
