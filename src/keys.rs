//! API keys: the record kept for each (never the key, only its SHA-256),
//! and making new ones. Config declares keys, the store keeps created ones,
//! the gateway's API-key policy checks both.

use std::fmt;

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

/// The operating system had no randomness to give.
#[derive(Debug, thiserror::Error)]
#[error("no randomness available")]
pub struct NoRandomness;

/// A new random key (`gh_` + 40 hex digits, 160 bits from the OS CSPRNG) and
/// its record.
pub fn new_key(name: &str, plan: &str, now: i64) -> Result<NewKey, NoRandomness> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| NoRandomness)?;
    let plain = format!("gh_{}", crate::hex::encode(&bytes));
    Ok(NewKey {
        record: record_for(&plain, name, plan, now),
        plain,
    })
}

/// The record for a known plain key (config-declared keys).
pub fn record_for(plain: &str, name: &str, plan: &str, now: i64) -> KeyRecord {
    let hash = crate::hex::sha256_hex(plain.as_bytes());
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
