//! Durable state. `open(&config)` chooses the backends once, for the server
//! and the CLI alike: SQLite in the data dir (`data/gatehouse.db`) is the
//! embedded default. Each concern is a trait with an in-memory twin and one
//! conformance suite that every implementation passes:
//! - `KeyStore`: API keys and their quota usage (`memory::MemoryStore`)
//! - `flows::FlowStore`: runs, watermarks, run leases, schedule ticks
//! - `messaging::store::MessageStore`: the broker's journal of queues,
//!   topics and messages (`MemoryMessageStore`)
//! - `rate_limits::RateLimits`: GCRA buckets for route limits, plan
//!   throttles and WAF rate rules (governor in-process; a fake-clock twin)

pub mod connections;
pub mod flows;
pub mod jobs;
pub mod local_rate_limits;
pub mod memory;
pub mod postgres;
pub mod rate_limits;
pub mod redis_rate_limits;
pub mod sqlite;
pub mod sqlite_flows;
pub mod sqlite_jobs;
pub mod sqlite_messages;

use crate::config::model::{Config, Store};
use crate::keys::KeyRecord;
use crate::messaging::store::MessageStore;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The store cannot be reached now (a shared database restarting, a
    /// full pool): the request may be retried.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The backends one Gatehouse process works with.
pub struct Backends {
    pub keys: Arc<dyn KeyStore>,
    pub flows: Arc<dyn flows::FlowStore>,
    /// Where queues and topics live; `None` when the messaging API is off.
    pub messages: Option<MessageBackend>,
    pub rate_limits: Arc<dyn rate_limits::RateLimits>,
    /// The shared database, when the config names one: readiness checks
    /// and metrics look at it.
    pub shared: Option<postgres::Postgres>,
    /// Managed WebSocket connections: this node's alone, or the fleet's.
    pub connections: Arc<dyn connections::Connections>,
}

/// The messaging engine's storage: the embedded broker's journal, or the
/// shared database every node's queues and topics live in.
pub enum MessageBackend {
    Journal(Box<dyn MessageStore>),
    Shared(postgres::Postgres),
}

fn embedded_path(config: &Config) -> PathBuf {
    config.data_dir.join("gatehouse.db")
}

/// Opens every backend the config asks for. With a shared store, fails
/// within its connect timeout when the database cannot be reached.
pub async fn open(config: &Config) -> anyhow::Result<Backends> {
    let rate_limits = rate_limits::open(&config.rate_limits).await;
    match &config.store {
        Store::Embedded => Ok(Backends {
            keys: open_keys(config).await?,
            flows: open_flows(config).await?,
            messages: config
                .messaging
                .as_ref()
                .map(|m| {
                    sqlite_messages::SqliteMessageStore::open(&embedded_path(config), m.fsync)
                        .map(|s| s.sealing_with(m.key_ring.clone()))
                        .map(|s| MessageBackend::Journal(Box::new(s)))
                        .context("opening the message store")
                })
                .transpose()?,
            rate_limits,
            shared: None,
            connections: Arc::new(connections::Local::new()),
        }),
        Store::Postgres(settings) => {
            let pg = postgres::Postgres::connect(settings).await?;
            Ok(Backends {
                keys: Arc::new(postgres::keys::PgKeyStore::new(pg.clone())),
                flows: Arc::new(postgres::flows::PgFlowStore::new(pg.clone())),
                messages: config
                    .messaging
                    .as_ref()
                    .map(|_| MessageBackend::Shared(pg.clone())),
                rate_limits,
                connections: postgres::connections::PgConnections::start(pg.clone())
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("registering this node's WebSocket connections: {e}")
                    })?,
                shared: Some(pg),
            })
        }
    }
}

pub async fn open_keys(config: &Config) -> anyhow::Result<Arc<dyn KeyStore>> {
    if let Store::Postgres(settings) = &config.store {
        let pg = postgres::Postgres::connect(settings).await?;
        return Ok(Arc::new(postgres::keys::PgKeyStore::new(pg)));
    }
    let store =
        sqlite::SqliteStore::open(&embedded_path(config)).context("opening the key store")?;
    Ok(Arc::new(store))
}

/// Jobs, in the node's own `data/gatehouse.db` whatever the store: a job
/// runs in the compute environment of the node it was submitted to.
pub fn open_jobs(config: &Config) -> anyhow::Result<Arc<dyn jobs::JobStore>> {
    let store =
        sqlite_jobs::SqliteJobs::open(&embedded_path(config)).context("opening the job store")?;
    Ok(Arc::new(store))
}

pub async fn open_flows(config: &Config) -> anyhow::Result<Arc<dyn flows::FlowStore>> {
    if let Store::Postgres(settings) = &config.store {
        let pg = postgres::Postgres::connect(settings).await?;
        return Ok(Arc::new(postgres::flows::PgFlowStore::new(pg)));
    }
    let store = sqlite_flows::SqliteFlowStore::open(&embedded_path(config))
        .context("opening the flow store")?;
    Ok(Arc::new(store))
}

/// API keys and their quota usage. Async, so a store across the network
/// (PostgreSQL for a fleet) waits without holding a thread; the embedded
/// SQLite store runs its statements on blocking threads.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    async fn insert_key(&self, record: &KeyRecord) -> Result<()>;
    async fn list_keys(&self) -> Result<Vec<KeyRecord>>;
    async fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>>;
    /// Revokes by id or name; false when already revoked.
    async fn revoke_key(&self, id_or_name: &str, at: i64) -> Result<bool>;
    async fn find(&self, id_or_name: &str) -> Result<Option<KeyRecord>>;
    /// Takes up to `want` requests of a key's quota for the period starting
    /// at `period`, never taking the count past `limit`, in one atomic step:
    /// nodes reserving at once never exceed the limit together. A gateway
    /// reserves a few at a time and admits from what it holds.
    async fn reserve_usage(
        &self,
        key_id: &str,
        period: i64,
        want: u64,
        limit: u64,
    ) -> Result<Reservation>;
    /// Gives back `n` reserved requests that were not used.
    async fn release_usage(&self, key_id: &str, period: i64, n: u64) -> Result<()>;
    /// The count for the period: used and still reserved.
    async fn usage(&self, key_id: &str, period: i64) -> Result<u64>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// How many were taken (0: the quota is used up).
    pub granted: u64,
    /// The period's count after taking them.
    pub total: u64,
}

impl Reservation {
    /// What reserving `want` more from `used` (of `limit`) grants.
    pub fn from_count(used: u64, want: u64, limit: u64) -> Reservation {
        let granted = want.min(limit.saturating_sub(used));
        Reservation {
            granted,
            total: used + granted,
        }
    }
}

/// The suite every `KeyStore` passes (the in-memory twin and SQLite).
#[cfg(test)]
pub(crate) async fn conformance(store: &dyn KeyStore) {
    use crate::hex::sha256_hex;
    use crate::keys::new_key;
    let a = new_key("alpha", "basic", 100).unwrap();
    assert!(a.plain.starts_with("gh_") && a.plain.len() == 43);
    store.insert_key(&a.record).await.unwrap();
    assert!(matches!(
        store.insert_key(&a.record).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .find_by_hash(&sha256_hex(a.plain.as_bytes()))
            .await
            .unwrap(),
        Some(a.record.clone())
    );
    assert_eq!(store.find("alpha").await.unwrap().unwrap().id, a.record.id);
    assert_eq!(
        store.find(&a.record.id).await.unwrap().unwrap().name,
        "alpha"
    );
    assert!(store.revoke_key("alpha", 200).await.unwrap());
    assert!(!store.revoke_key("alpha", 300).await.unwrap());
    assert_eq!(
        store.find("alpha").await.unwrap().unwrap().revoked_at,
        Some(200)
    );
    assert!(matches!(
        store.revoke_key("nobody", 1).await,
        Err(StoreError::NotFound(_))
    ));
    let id = &a.record.id;
    let reserve =
        |want, limit| async move { store.reserve_usage(id, 86_400, want, limit).await.unwrap() };
    assert_eq!(
        reserve(5, 10).await,
        Reservation {
            granted: 5,
            total: 5
        }
    );
    assert_eq!(
        reserve(4, 10).await,
        Reservation {
            granted: 4,
            total: 9
        }
    );
    assert_eq!(
        reserve(4, 10).await,
        Reservation {
            granted: 1,
            total: 10
        }
    );
    assert_eq!(
        reserve(1, 10).await,
        Reservation {
            granted: 0,
            total: 10
        }
    );
    store.release_usage(id, 86_400, 3).await.unwrap();
    assert_eq!(store.usage(id, 86_400).await.unwrap(), 7);
    // A lowered limit grants nothing, and takes nothing back.
    assert_eq!(
        reserve(1, 5).await,
        Reservation {
            granted: 0,
            total: 7
        }
    );
    store.release_usage(id, 86_400, 100).await.unwrap(); // never below zero
    assert_eq!(store.usage(id, 86_400).await.unwrap(), 0);
    assert_eq!(store.usage(id, 0).await.unwrap(), 0);
    assert_eq!(store.list_keys().await.unwrap().len(), 1);
}

/// Tasks reserving at once, each through `open()` (a connection of its
/// own where the backend has them), never exceed the limit together.
#[cfg(test)]
pub(crate) async fn conformance_races(open: impl Fn() -> Arc<dyn KeyStore>) {
    let stores: Vec<_> = (0..8).map(|_| open()).collect();
    let start = Arc::new(tokio::sync::Barrier::new(stores.len()));
    let tasks: Vec<_> = stores
        .into_iter()
        .map(|store| {
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                let mut granted = 0;
                for _ in 0..20 {
                    granted += store
                        .reserve_usage("racer", 0, 3, 50)
                        .await
                        .unwrap()
                        .granted;
                }
                granted
            })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap();
    }
    assert_eq!(granted, 50);
    assert_eq!(open().usage("racer", 0).await.unwrap(), 50);
}
