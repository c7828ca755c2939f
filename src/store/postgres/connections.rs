//! Managed WebSocket connections across a fleet. Each node holds its own
//! clients' connections (`connections::Local`) and writes a row per
//! connection naming itself; `@connections` on any node finds the row and,
//! for a connection held elsewhere, inserts mail for its node and NOTIFYs
//! `ws:NODE` in the same statement. The holder wakes on the notice (or on
//! its one-second look while the LISTEN connection is down), takes its
//! mail and hands it to the connections' mailboxes.
//!
//! Nodes write a heartbeat every two seconds, with the last activity of
//! the connections they hold. A connection whose node has not been seen
//! for `ALIVE_MS` is gone (its node died with its clients); a node's rows
//! are removed once it has been silent for `FORGET_MS`.
//!
//! Mail to a connection whose client is not reading is dropped at the
//! holder when its mailbox is full (logged): the sender on another node
//! has already been answered. A post to a connection held here is refused
//! with 429 as on one node.

use super::{db, now_ms, Postgres};
use crate::store::connections::{ConnectionInfo, Connections, Delivery, Local, Mailbox, PostError};
use crate::store::StoreError;
use bytes::Bytes;
use std::sync::{Arc, Weak};
use std::time::Duration;

const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node not seen for this long holds no connections.
const ALIVE_MS: i64 = 10_000;
/// A node not seen for this long is forgotten, rows and all.
const FORGET_MS: i64 = 60_000;

pub struct PgConnections {
    pg: Postgres,
    node: String,
    local: Local,
}

impl PgConnections {
    /// Registers this node (its first heartbeat) and starts taking its
    /// mail and beating.
    pub async fn start(pg: Postgres) -> Result<Arc<PgConnections>, StoreError> {
        let node = uuid::Uuid::from_u128(fastrand::u128(..)).to_string();
        let this = Arc::new(PgConnections {
            pg,
            node,
            local: Local::new(),
        });
        this.heartbeat().await?;
        let wake = this.pg.listener().mail(format!("ws:{}", this.node));
        tokio::spawn(take_mail(Arc::downgrade(&this), wake));
        tokio::spawn(beat(Arc::downgrade(&this)));
        Ok(this)
    }

    async fn heartbeat(&self) -> Result<(), StoreError> {
        let now = now_ms();
        let (ids, times): (Vec<String>, Vec<i64>) = self.local.activity().into_iter().unzip();
        self.pg
            .timed("ws_heartbeat", async {
                let client = self.pg.client().await?;
                client
                    .execute(
                        "INSERT INTO ws_nodes (node, seen_at) VALUES ($1, $2)
                         ON CONFLICT (node) DO UPDATE SET seen_at = EXCLUDED.seen_at",
                        &[&self.node, &now],
                    )
                    .await
                    .map_err(db)?;
                if !ids.is_empty() {
                    client
                        .execute(
                            "UPDATE ws_connections c SET last_active_at = a.at
                             FROM unnest($1::text[], $2::bigint[]) AS a(id, at)
                             WHERE c.id = a.id AND c.last_active_at < a.at",
                            &[&ids, &times],
                        )
                        .await
                        .map_err(db)?;
                }
                Ok(())
            })
            .await
    }

    /// Removes the rows of nodes silent for `FORGET_MS`.
    async fn forget_dead_nodes(&self) -> Result<(), StoreError> {
        let before = now_ms() - FORGET_MS;
        self.pg
            .timed("ws_forget", async {
                let client = self.pg.client().await?;
                client
                    .batch_execute(&format!(
                        "DELETE FROM ws_connections WHERE node IN (SELECT node FROM ws_nodes WHERE seen_at < {before});
                         DELETE FROM ws_mail WHERE node IN (SELECT node FROM ws_nodes WHERE seen_at < {before});
                         DELETE FROM ws_nodes WHERE seen_at < {before};"
                    ))
                    .await
                    .map_err(db)
            })
            .await
    }

    /// Takes this node's mail and hands it out, in the order it was sent.
    async fn deliver_mail(&self) -> Result<(), StoreError> {
        let rows = self
            .pg
            .timed("ws_take_mail", async {
                let client = self.pg.client().await?;
                client
                    .query(
                        "DELETE FROM ws_mail WHERE node = $1 RETURNING seq, connection, disconnect, data",
                        &[&self.node],
                    )
                    .await
                    .map_err(db)
            })
            .await?;
        let mut mail: Vec<(i64, String, bool, Vec<u8>)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        mail.sort_by_key(|m| m.0);
        for (_, connection, disconnect, data) in mail {
            let delivery = if disconnect {
                Delivery::Disconnect
            } else {
                Delivery::Data(Bytes::from(data))
            };
            match self.local.deliver(&connection, delivery) {
                Ok(()) | Err(PostError::Gone) => {}
                Err(e) => tracing::warn!(
                    connection_id = %connection,
                    error = %e,
                    "a message from another node was dropped"
                ),
            }
        }
        Ok(())
    }

    /// Mail for a connection held elsewhere: false when no live node holds it.
    async fn send_mail(&self, id: &str, delivery: &Delivery) -> Result<bool, StoreError> {
        let (disconnect, data): (bool, &[u8]) = match delivery {
            Delivery::Data(d) => (false, d),
            Delivery::Disconnect => (true, &[]),
        };
        let now = now_ms();
        let alive = now - ALIVE_MS;
        let channel = self.pg.listener().channel().to_string();
        self.pg
            .timed("ws_send_mail", async {
                let client = self.pg.client().await?;
                let rows = client
                    .query(
                        "WITH m AS (
                           INSERT INTO ws_mail (node, connection, disconnect, data, sent_at)
                           SELECT c.node, c.id, $2, $3, $4 FROM ws_connections c
                           JOIN ws_nodes n ON n.node = c.node
                           WHERE c.id = $1 AND n.seen_at > $5
                           RETURNING node)
                         SELECT pg_notify($6, 'ws:' || node) FROM m",
                        &[&id, &disconnect, &data, &now, &alive, &channel],
                    )
                    .await
                    .map_err(db)?;
                Ok(!rows.is_empty())
            })
            .await
    }

    async fn reach(&self, id: &str, delivery: Delivery) -> Result<(), PostError> {
        match self.local.deliver(id, delivery.clone()) {
            Err(PostError::Gone) => {}
            held_here => return held_here,
        }
        if self.send_mail(id, &delivery).await? {
            Ok(())
        } else {
            Err(PostError::Gone)
        }
    }
}

/// Takes mail when noticed, and once a second in case a notice was lost
/// (a node holding no connections skips that look: no query while idle).
async fn take_mail(this: Weak<PgConnections>, wake: Arc<tokio::sync::Notify>) {
    loop {
        let noticed = tokio::time::timeout(Duration::from_secs(1), wake.notified())
            .await
            .is_ok();
        let Some(this) = this.upgrade() else { return };
        if !noticed && this.local.is_empty() {
            continue;
        }
        if let Err(e) = this.deliver_mail().await {
            tracing::warn!(error = %e, "WebSocket mail: cannot take this node's mail");
        }
    }
}

async fn beat(this: Weak<PgConnections>) {
    let mut ticks = 0u64;
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let Some(this) = this.upgrade() else { return };
        if let Err(e) = this.heartbeat().await {
            tracing::warn!(error = %e, "WebSocket connections: heartbeat failed");
        }
        ticks += 1;
        if ticks.is_multiple_of(15) {
            if let Err(e) = this.forget_dead_nodes().await {
                tracing::warn!(error = %e, "WebSocket connections: cannot forget dead nodes");
            }
        }
    }
}

#[async_trait::async_trait]
impl Connections for PgConnections {
    async fn open(&self, info: ConnectionInfo) -> Result<Mailbox, StoreError> {
        self.pg
            .timed("ws_open", async {
                let client = self.pg.client().await?;
                client
                    .execute(
                        "INSERT INTO ws_connections (id, node, connected_at, last_active_at, source_ip, user_agent)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                        &[
                            &info.id,
                            &self.node,
                            &info.connected_at,
                            &info.last_active_at,
                            &info.source_ip,
                            &info.user_agent,
                        ],
                    )
                    .await
                    .map_err(db)
            })
            .await?;
        Ok(self.local.open(info))
    }

    async fn close(&self, id: &str) {
        if !self.local.close(id) {
            return;
        }
        let removed = self
            .pg
            .timed("ws_close", async {
                let client = self.pg.client().await?;
                client
                    .execute(
                        "DELETE FROM ws_connections WHERE id = $1 AND node = $2",
                        &[&id, &self.node],
                    )
                    .await
                    .map_err(db)
            })
            .await;
        if let Err(e) = removed {
            // Other nodes see it gone once this node's rows are forgotten
            // or the row is removed on a later close; a post meanwhile
            // reaches this node and is dropped here.
            tracing::warn!(connection_id = %id, error = %e, "cannot remove a closed WebSocket connection's row");
        }
    }

    fn touch(&self, id: &str, at: i64) {
        self.local.touch(id, at);
    }

    async fn post(&self, id: &str, data: Bytes) -> Result<(), PostError> {
        self.reach(id, Delivery::Data(data)).await
    }

    async fn describe(&self, id: &str) -> Result<Option<ConnectionInfo>, StoreError> {
        if let Some(info) = self.local.describe(id) {
            return Ok(Some(info));
        }
        let alive = now_ms() - ALIVE_MS;
        let row = self
            .pg
            .timed("ws_describe", async {
                let client = self.pg.client().await?;
                client
                    .query_opt(
                        "SELECT c.connected_at, c.last_active_at, c.source_ip, c.user_agent
                         FROM ws_connections c JOIN ws_nodes n ON n.node = c.node
                         WHERE c.id = $1 AND n.seen_at > $2",
                        &[&id, &alive],
                    )
                    .await
                    .map_err(db)
            })
            .await?;
        Ok(row.map(|r| ConnectionInfo {
            id: id.to_string(),
            connected_at: r.get(0),
            last_active_at: r.get(1),
            source_ip: r.get(2),
            user_agent: r.get(3),
        }))
    }

    async fn disconnect(&self, id: &str) -> Result<(), PostError> {
        self.reach(id, Delivery::Disconnect).await
    }

    fn held(&self) -> usize {
        self.local.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;

    #[tokio::test]
    async fn two_nodes_on_postgres_pass_the_suite() {
        let schema = testing::schema("ws");
        let a = Postgres::connect(&testing::settings(&schema))
            .await
            .unwrap();
        let b = Postgres::connect(&testing::settings(&schema))
            .await
            .unwrap();
        let here = PgConnections::start(a.clone()).await.unwrap();
        let there = PgConnections::start(b).await.unwrap();
        crate::store::connections::conformance(here.as_ref(), there.as_ref()).await;
        testing::drop_schema(&a).await;
    }

    #[tokio::test]
    async fn a_dead_nodes_connections_are_gone() {
        let pg = testing::open("ws_dead").await;
        let here = PgConnections::start(pg.clone()).await.unwrap();
        let info = ConnectionInfo {
            id: "dead-node-conn".into(),
            connected_at: 1,
            last_active_at: 1,
            source_ip: "127.0.0.1".into(),
            user_agent: None,
        };
        let client = pg.client().await.unwrap();
        // A connection row on a node whose last heartbeat is long past.
        client
            .batch_execute(
                "INSERT INTO ws_nodes VALUES ('gone-node', 1);
                 INSERT INTO ws_connections VALUES ('dead-node-conn', 'gone-node', 1, 1, '127.0.0.1', NULL);",
            )
            .await
            .unwrap();
        assert!(matches!(
            here.post(&info.id, Bytes::from_static(b"x")).await,
            Err(PostError::Gone)
        ));
        assert_eq!(here.describe(&info.id).await.unwrap(), None);
        here.forget_dead_nodes().await.unwrap();
        let left: i64 = client
            .query_one("SELECT count(*) FROM ws_connections", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 0);
        testing::drop_schema(&pg).await;
    }
}
