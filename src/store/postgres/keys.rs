//! API keys and quota usage in PostgreSQL. A reservation is one statement
//! (an upsert that adds at most what is left under the limit), so nodes
//! reserving at once never take the count past the limit together.

use super::{db, Postgres};
use crate::keys::KeyRecord;
use crate::store::{KeyStore, Reservation, Result, StoreError};
use tokio_postgres::Row;

pub struct PgKeyStore {
    pg: Postgres,
}

impl PgKeyStore {
    pub fn new(pg: Postgres) -> PgKeyStore {
        PgKeyStore { pg }
    }
}

const COLUMNS: &str = "id, name, plan, hash, created_at, revoked_at";

fn record(row: &Row) -> KeyRecord {
    KeyRecord {
        id: row.get(0),
        name: row.get(1),
        plan: row.get(2),
        hash: row.get(3),
        created_at: row.get(4),
        revoked_at: row.get(5),
    }
}

#[async_trait::async_trait]
impl KeyStore for PgKeyStore {
    async fn insert_key(&self, r: &KeyRecord) -> Result<()> {
        self.pg
            .timed("insert_key", async {
                let client = self.pg.client().await?;
                client
                    .execute(
                        "INSERT INTO api_keys (id, name, plan, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
                        &[&r.id, &r.name, &r.plan, &r.hash, &r.created_at, &r.revoked_at],
                    )
                    .await
                    .map_err(|e| match db(e) {
                        StoreError::Conflict(_) => StoreError::Conflict(format!(
                            "a key named `{}` (or with the same hash) already exists",
                            r.name
                        )),
                        other => other,
                    })?;
                Ok(())
            })
            .await
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        self.pg
            .timed("list_keys", async {
                let client = self.pg.client().await?;
                let rows = client
                    .query(
                        &format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"),
                        &[],
                    )
                    .await
                    .map_err(db)?;
                Ok(rows.iter().map(record).collect())
            })
            .await
    }

    async fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>> {
        self.pg
            .timed("find_key", async {
                let client = self.pg.client().await?;
                let stmt = client
                    .prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE hash = $1"))
                    .await
                    .map_err(db)?;
                let row = client.query_opt(&stmt, &[&hash]).await.map_err(db)?;
                Ok(row.as_ref().map(record))
            })
            .await
    }

    async fn revoke_key(&self, id_or_name: &str, at: i64) -> Result<bool> {
        self.pg
            .timed("revoke_key", async {
                let client = self.pg.client().await?;
                let row = client
                    .query_opt(
                        "SELECT revoked_at FROM api_keys WHERE id = $1 OR name = $1 LIMIT 1",
                        &[&id_or_name],
                    )
                    .await
                    .map_err(db)?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound(format!("no key `{id_or_name}`")));
                };
                if row.get::<_, Option<i64>>(0).is_some() {
                    return Ok(false);
                }
                let changed = client
                    .execute(
                        "UPDATE api_keys SET revoked_at = $2 WHERE (id = $1 OR name = $1) AND revoked_at IS NULL",
                        &[&id_or_name, &at],
                    )
                    .await
                    .map_err(db)?;
                Ok(changed > 0)
            })
            .await
    }

    async fn find(&self, id_or_name: &str) -> Result<Option<KeyRecord>> {
        self.pg
            .timed("find_key", async {
                let client = self.pg.client().await?;
                let row = client
                    .query_opt(
                        &format!(
                            "SELECT {COLUMNS} FROM api_keys WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1"
                        ),
                        &[&id_or_name],
                    )
                    .await
                    .map_err(db)?;
                Ok(row.as_ref().map(record))
            })
            .await
    }

    async fn reserve_usage(
        &self,
        key_id: &str,
        period: i64,
        want: u64,
        limit: u64,
    ) -> Result<Reservation> {
        let (want, limit) = (to_i64(want), to_i64(limit));
        self.pg
            .timed("reserve_usage", async {
                let client = self.pg.client().await?;
                // One statement: the upsert locks the row, so concurrent
                // reservations queue and each sees the last count. What
                // this one added is kept beside the count to be returned.
                let stmt = client
                    .prepare_cached(
                        "INSERT INTO key_usage AS u (key_id, period, count, granted)
                           VALUES ($1, $2, least($3::bigint, $4::bigint), least($3::bigint, $4::bigint))
                         ON CONFLICT (key_id, period) DO UPDATE
                           SET granted = greatest(0, least($3::bigint, $4::bigint - u.count)),
                               count = u.count + greatest(0, least($3::bigint, $4::bigint - u.count))
                         RETURNING count, granted",
                    )
                    .await
                    .map_err(db)?;
                let row = client
                    .query_one(&stmt, &[&key_id, &period, &want, &limit])
                    .await
                    .map_err(db)?;
                Ok(Reservation {
                    granted: row.get::<_, i64>(1).max(0) as u64,
                    total: row.get::<_, i64>(0).max(0) as u64,
                })
            })
            .await
    }

    async fn release_usage(&self, key_id: &str, period: i64, n: u64) -> Result<()> {
        let n = to_i64(n);
        self.pg
            .timed("release_usage", async {
                let client = self.pg.client().await?;
                client
                    .execute(
                        "UPDATE key_usage SET count = greatest(0, count - $3) WHERE key_id = $1 AND period = $2",
                        &[&key_id, &period, &n],
                    )
                    .await
                    .map_err(db)?;
                Ok(())
            })
            .await
    }

    async fn usage(&self, key_id: &str, period: i64) -> Result<u64> {
        self.pg
            .timed("usage", async {
                let client = self.pg.client().await?;
                let row = client
                    .query_opt(
                        "SELECT count FROM key_usage WHERE key_id = $1 AND period = $2",
                        &[&key_id, &period],
                    )
                    .await
                    .map_err(db)?;
                Ok(row.map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
            })
            .await
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_key_store_passes_the_suite() {
        let pg = testing::open("keys").await;
        crate::store::conformance(&PgKeyStore::new(pg.clone())).await;
        testing::drop_schema(&pg).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_quota_reservations_are_exact_under_races() {
        let pg = testing::open("key_races").await;
        let shared = pg.clone();
        crate::store::conformance_races(move || {
            Arc::new(PgKeyStore::new(shared.clone())) as Arc<dyn KeyStore>
        })
        .await;
        testing::drop_schema(&pg).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_starting_together_migrate_once() {
        let schema = testing::schema("migrate");
        let settings = testing::settings(&schema);
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let settings = settings.clone();
                tokio::spawn(async move { Postgres::connect(&settings).await })
            })
            .collect();
        let mut nodes = Vec::new();
        for s in starts {
            nodes.push(s.await.unwrap().unwrap());
        }
        let client = nodes[0].client().await.unwrap();
        let versions: i64 = client
            .query_one("SELECT count(*) FROM schema_migrations", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(versions as usize, super::super::migrations::latest());
        drop(client);
        testing::drop_schema(&nodes[0]).await;
    }
}
