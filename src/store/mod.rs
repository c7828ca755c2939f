//! Durable state. `open(&config)` chooses the backends once, for the server
//! and the CLI alike: SQLite in the data dir (`data/gatehouse.db`) is the
//! embedded default. Each concern is a trait with an in-memory twin and one
//! conformance suite that every implementation passes:
//! - `KeyStore`: API keys and their quota usage (`memory::MemoryStore`)
//! - `flows::FlowStore`: runs, watermarks, run leases, schedule ticks
//! - `messaging::store::MessageStore`: the broker's journal of queues,
//!   topics and messages (`MemoryMessageStore`)

pub mod flows;
pub mod memory;
pub mod sqlite;
pub mod sqlite_flows;
pub mod sqlite_messages;

use crate::config::model::Config;
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
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The backends one Gatehouse process works with.
pub struct Backends {
    pub keys: Arc<dyn KeyStore>,
    pub flows: Arc<dyn flows::FlowStore>,
    /// The message broker's journal; `None` when the messaging API is off.
    pub messages: Option<Box<dyn MessageStore>>,
}

fn embedded_path(config: &Config) -> PathBuf {
    config.data_dir.join("gatehouse.db")
}

/// Opens every backend the config asks for.
pub fn open(config: &Config) -> anyhow::Result<Backends> {
    Ok(Backends {
        keys: open_keys(config)?,
        flows: open_flows(config)?,
        messages: config
            .messaging
            .as_ref()
            .map(|m| {
                sqlite_messages::SqliteMessageStore::open(&embedded_path(config), m.fsync)
                    .map(|s| Box::new(s) as Box<dyn MessageStore>)
                    .context("opening the message store")
            })
            .transpose()?,
    })
}

pub fn open_keys(config: &Config) -> anyhow::Result<Arc<dyn KeyStore>> {
    let store =
        sqlite::SqliteStore::open(&embedded_path(config)).context("opening the key store")?;
    Ok(Arc::new(store))
}

pub fn open_flows(config: &Config) -> anyhow::Result<Arc<dyn flows::FlowStore>> {
    let store = sqlite_flows::SqliteFlowStore::open(&embedded_path(config))
        .context("opening the flow store")?;
    Ok(Arc::new(store))
}

pub trait KeyStore: Send + Sync {
    fn insert_key(&self, record: &KeyRecord) -> Result<()>;
    fn list_keys(&self) -> Result<Vec<KeyRecord>>;
    fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>>;
    /// Revokes by id or name; false when already revoked.
    fn revoke_key(&self, id_or_name: &str, at: i64) -> Result<bool>;
    fn find(&self, id_or_name: &str) -> Result<Option<KeyRecord>>;
    /// Adds `n` requests to a key's count for the period starting at `period`.
    fn add_usage(&self, key_id: &str, period: i64, n: u64) -> Result<()>;
    fn usage(&self, key_id: &str, period: i64) -> Result<u64>;
}

#[cfg(test)]
pub(crate) fn exercise(store: &dyn KeyStore) {
    use crate::hex::sha256_hex;
    use crate::keys::new_key;
    let a = new_key("alpha", "basic", 100).unwrap();
    assert!(a.plain.starts_with("gh_") && a.plain.len() == 43);
    store.insert_key(&a.record).unwrap();
    assert!(matches!(
        store.insert_key(&a.record),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.find_by_hash(&sha256_hex(a.plain.as_bytes())).unwrap(),
        Some(a.record.clone())
    );
    assert_eq!(store.find("alpha").unwrap().unwrap().id, a.record.id);
    assert_eq!(store.find(&a.record.id).unwrap().unwrap().name, "alpha");
    assert!(store.revoke_key("alpha", 200).unwrap());
    assert!(!store.revoke_key("alpha", 300).unwrap());
    assert_eq!(store.find("alpha").unwrap().unwrap().revoked_at, Some(200));
    assert!(matches!(
        store.revoke_key("nobody", 1),
        Err(StoreError::NotFound(_))
    ));
    store.add_usage(&a.record.id, 86_400, 5).unwrap();
    store.add_usage(&a.record.id, 86_400, 2).unwrap();
    assert_eq!(store.usage(&a.record.id, 86_400).unwrap(), 7);
    assert_eq!(store.usage(&a.record.id, 0).unwrap(), 0);
    assert_eq!(store.list_keys().unwrap().len(), 1);
}
