//! Durable state in the data dir. SQLite is the embedded default
//! (`data/gatehouse.db`); `KeyStore` is the seam a PostgreSQL backend will
//! implement for a fleet, and `memory::MemoryStore` is the in-memory twin for
//! unit tests.
//!
//! It holds API keys and their quota usage, and (through
//! `messaging::store::MessageStore`) queues, topics and messages.

pub mod memory;
pub mod sqlite;
pub mod sqlite_flows;
pub mod sqlite_messages;

use std::fmt;

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

/// An API key as stored: never the key itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Public identifier: the first 12 hex digits of the hash.
    pub id: String,
    pub name: String,
    pub plan: String,
    /// Hex SHA-256 of the key.
    pub hash: String,
    /// Unix seconds.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl KeyRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A freshly created key: the plain text exists only here, shown once.
pub struct NewKey {
    pub record: KeyRecord,
    pub plain: String,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
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

/// SHA-256 in lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random key (`gh_` + 40 hex digits, 160 bits from the OS CSPRNG) and
/// its record.
pub fn new_key(name: &str, plan: &str, now: i64) -> Result<NewKey> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Database("no randomness available".into()))?;
    let plain = format!(
        "gh_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    Ok(NewKey {
        record: record_for(&plain, name, plan, now),
        plain,
    })
}

/// The record for a known plain key (config-declared keys).
pub fn record_for(plain: &str, name: &str, plan: &str, now: i64) -> KeyRecord {
    let hash = sha256_hex(plain.as_bytes());
    KeyRecord {
        id: hash[..12].to_string(),
        name: name.to_string(),
        plan: plan.to_string(),
        hash,
        created_at: now,
        revoked_at: None,
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
pub(crate) fn exercise(store: &dyn KeyStore) {
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
