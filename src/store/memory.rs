//! The in-memory twin of the store, for tests.

use super::{KeyRecord, KeyStore, Reservation, Result, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    keys: Mutex<Vec<KeyRecord>>,
    usage: Mutex<HashMap<(String, i64), u64>>,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Database("lock poisoned".into())
}

#[async_trait::async_trait]
impl KeyStore for MemoryStore {
    async fn insert_key(&self, record: &KeyRecord) -> Result<()> {
        let mut keys = self.keys.lock().map_err(poisoned)?;
        if keys
            .iter()
            .any(|k| k.hash == record.hash || k.name == record.name)
        {
            return Err(StoreError::Conflict(format!(
                "a key named `{}` or with that value exists",
                record.name
            )));
        }
        keys.push(record.clone());
        Ok(())
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        Ok(self.keys.lock().map_err(poisoned)?.clone())
    }

    async fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>> {
        Ok(self
            .keys
            .lock()
            .map_err(poisoned)?
            .iter()
            .find(|k| k.hash == hash)
            .cloned())
    }

    async fn revoke_key(&self, id_or_name: &str, at: i64) -> Result<bool> {
        let mut keys = self.keys.lock().map_err(poisoned)?;
        let key = keys
            .iter_mut()
            .find(|k| k.id == id_or_name || k.name == id_or_name)
            .ok_or_else(|| StoreError::NotFound(format!("no key `{id_or_name}`")))?;
        if key.revoked_at.is_some() {
            return Ok(false);
        }
        key.revoked_at = Some(at);
        Ok(true)
    }

    async fn find(&self, id_or_name: &str) -> Result<Option<KeyRecord>> {
        let keys = self.keys.lock().map_err(poisoned)?;
        Ok(keys
            .iter()
            .find(|k| k.id == id_or_name || k.name == id_or_name)
            .cloned())
    }

    async fn reserve_usage(
        &self,
        key_id: &str,
        period: i64,
        want: u64,
        limit: u64,
    ) -> Result<Reservation> {
        let mut usage = self.usage.lock().map_err(poisoned)?;
        let count = usage.entry((key_id.to_string(), period)).or_default();
        let reservation = Reservation::from_count(*count, want, limit);
        *count = reservation.total;
        Ok(reservation)
    }

    async fn release_usage(&self, key_id: &str, period: i64, n: u64) -> Result<()> {
        let mut usage = self.usage.lock().map_err(poisoned)?;
        if let Some(count) = usage.get_mut(&(key_id.to_string(), period)) {
            *count = count.saturating_sub(n);
        }
        Ok(())
    }

    async fn usage(&self, key_id: &str, period: i64) -> Result<u64> {
        let usage = self.usage.lock().map_err(poisoned)?;
        Ok(usage
            .get(&(key_id.to_string(), period))
            .copied()
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn behaves_like_a_store() {
        super::super::conformance(&super::MemoryStore::default()).await;
        let shared: std::sync::Arc<dyn super::super::KeyStore> =
            std::sync::Arc::new(super::MemoryStore::default());
        super::super::conformance_races(|| shared.clone()).await;
    }
}
