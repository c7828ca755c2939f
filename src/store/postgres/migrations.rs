//! Versioned schema changes. Each runs once, in its own transaction, in
//! order; `schema_migrations` records which have. A session advisory lock
//! keyed by the schema name makes nodes that start together take turns: the
//! first applies, the others find the versions recorded. Migrations are
//! append-only: a released one is never edited.

use deadpool_postgres::Object;

const MIGRATIONS: &[&str] = &[
    // 1: API keys and their quota usage.
    "
    CREATE TABLE api_keys (
        id text PRIMARY KEY,
        name text NOT NULL UNIQUE,
        plan text NOT NULL,
        hash text NOT NULL UNIQUE,
        created_at bigint NOT NULL,
        revoked_at bigint
    );
    CREATE TABLE key_usage (
        key_id text NOT NULL,
        period bigint NOT NULL,
        count bigint NOT NULL,
        -- What the last reservation added (returned with the count).
        granted bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (key_id, period)
    );
    ",
    // 2: flow runs, state, run leases, schedule ticks.
    "
    CREATE TABLE flow_runs (
        id text PRIMARY KEY,
        flow text NOT NULL,
        trigger text NOT NULL,
        status text NOT NULL,
        records_read bigint NOT NULL,
        records_filtered bigint NOT NULL,
        records_invalid bigint NOT NULL,
        records_written bigint NOT NULL,
        bytes_written bigint NOT NULL,
        started_at text NOT NULL,
        ended_at text,
        watermark_before text,
        watermark_after text,
        error text,
        files jsonb NOT NULL
    );
    CREATE INDEX flow_runs_by_flow ON flow_runs (flow, started_at);
    CREATE INDEX flow_runs_by_start ON flow_runs (started_at);
    CREATE TABLE flow_state (
        flow text PRIMARY KEY,
        watermark text,
        consecutive_failures integer NOT NULL DEFAULT 0,
        deactivated boolean NOT NULL DEFAULT false
    );
    CREATE TABLE flow_leases (
        flow text PRIMARY KEY,
        holder text NOT NULL,
        expires_at bigint NOT NULL
    );
    CREATE TABLE flow_ticks (
        flow text NOT NULL,
        tick bigint NOT NULL,
        holder text NOT NULL,
        PRIMARY KEY (flow, tick)
    );
    CREATE INDEX flow_ticks_by_tick ON flow_ticks (tick);
    ",
    // 3: queues and messages. `seq` is fleet-wide and increasing: the
    // receipt's key and the FIFO sequence number. A message is ready when
    // `visible_at <= now`; in flight when also received (`receive_count >
    // 0`) and not yet visible; delayed otherwise.
    "
    CREATE TABLE mq_queues (
        id bigserial PRIMARY KEY,
        name text NOT NULL UNIQUE,
        fifo boolean NOT NULL,
        attributes jsonb NOT NULL,
        tags jsonb NOT NULL,
        created_at bigint NOT NULL,
        modified_at bigint NOT NULL,
        last_purge bigint
    );
    CREATE SEQUENCE mq_seq;
    CREATE TABLE mq_messages (
        seq bigint PRIMARY KEY,
        queue_id bigint NOT NULL REFERENCES mq_queues (id) ON DELETE CASCADE,
        message_id text NOT NULL,
        body text NOT NULL,
        attributes jsonb,
        trace_header text,
        sent_at bigint NOT NULL,
        group_id text,
        dedup_id text,
        receive_count integer NOT NULL DEFAULT 0,
        first_receive_at bigint,
        visible_at bigint NOT NULL,
        nonce bigint NOT NULL DEFAULT 0,
        origin bigint
    );
    CREATE INDEX mq_messages_ready ON mq_messages (queue_id, visible_at, seq);
    CREATE INDEX mq_messages_group ON mq_messages (queue_id, group_id, seq) WHERE group_id IS NOT NULL;
    CREATE INDEX mq_messages_age ON mq_messages (queue_id, sent_at);
    CREATE TABLE mq_dedup (
        queue_id bigint NOT NULL REFERENCES mq_queues (id) ON DELETE CASCADE,
        key text NOT NULL,
        expires_at bigint NOT NULL,
        message_id text NOT NULL,
        seq bigint NOT NULL,
        PRIMARY KEY (queue_id, key)
    );
    CREATE INDEX mq_dedup_expiry ON mq_dedup (expires_at);
    CREATE TABLE mq_attempts (
        queue_id bigint NOT NULL REFERENCES mq_queues (id) ON DELETE CASCADE,
        attempt_id text NOT NULL,
        expires_at bigint NOT NULL,
        receipts jsonb NOT NULL,
        PRIMARY KEY (queue_id, attempt_id)
    );
    CREATE TABLE mq_move_tasks (
        handle text PRIMARY KEY,
        source_arn text NOT NULL,
        destination_arn text,
        max_per_second integer,
        status text NOT NULL,
        failure_reason text,
        moved bigint NOT NULL DEFAULT 0,
        to_move bigint NOT NULL,
        started_at bigint NOT NULL,
        holder text,
        lease_until bigint NOT NULL DEFAULT 0
    );
    CREATE TABLE mq_chores (
        name text PRIMARY KEY,
        holder text NOT NULL,
        expires_at bigint NOT NULL
    );
    ",
    // 4: topics, subscriptions, FIFO topic deduplication, the delivery outbox.
    "
    CREATE TABLE mq_topics (
        arn text PRIMARY KEY,
        name text NOT NULL,
        attributes jsonb NOT NULL,
        tags jsonb NOT NULL
    );
    CREATE TABLE mq_subscriptions (
        arn text PRIMARY KEY,
        topic_arn text NOT NULL REFERENCES mq_topics (arn) ON DELETE CASCADE,
        protocol text NOT NULL,
        endpoint text NOT NULL,
        attributes jsonb NOT NULL,
        confirm_token text
    );
    CREATE INDEX mq_subscriptions_topic ON mq_subscriptions (topic_arn);
    CREATE TABLE mq_topic_dedup (
        topic_arn text NOT NULL,
        dedup_id text NOT NULL,
        expires_at bigint NOT NULL,
        message_id text NOT NULL,
        seq bigint NOT NULL,
        PRIMARY KEY (topic_arn, dedup_id)
    );
    CREATE TABLE mq_deliveries (
        id bigint PRIMARY KEY DEFAULT nextval('mq_seq'),
        subscription_arn text NOT NULL,
        body text NOT NULL,
        due_at bigint NOT NULL,
        claimed_until bigint NOT NULL DEFAULT 0,
        attempts integer NOT NULL,
        message_id text NOT NULL,
        kind text NOT NULL
    );
    CREATE INDEX mq_deliveries_due ON mq_deliveries (due_at);
    ",
    // 5: queue tables churn (every message is inserted, updated and deleted
    // within seconds): vacuum and analyze them after a thousand changes
    // rather than a fifth of the table, as queue systems on PostgreSQL do.
    "
    ALTER TABLE mq_messages SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
      autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
    ALTER TABLE mq_deliveries SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
      autovacuum_vacuum_cost_delay = 0);
    ALTER TABLE mq_dedup SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
      autovacuum_vacuum_cost_delay = 0);
    ",
    // 6: what a run wants its operator to know without failing.
    "ALTER TABLE flow_runs ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]'",
    // 7: managed WebSocket connections across a fleet: which node holds
    // each, nodes' heartbeats, and mail for connections held elsewhere.
    "
    CREATE TABLE ws_connections (
      id text PRIMARY KEY,
      node text NOT NULL,
      connected_at bigint NOT NULL,
      last_active_at bigint NOT NULL,
      source_ip text NOT NULL,
      user_agent text
    );
    CREATE INDEX ws_connections_node ON ws_connections (node);
    CREATE TABLE ws_nodes (
      node text PRIMARY KEY,
      seen_at bigint NOT NULL
    );
    CREATE TABLE ws_mail (
      seq bigserial PRIMARY KEY,
      node text NOT NULL,
      connection text NOT NULL,
      disconnect boolean NOT NULL,
      data bytea NOT NULL,
      sent_at bigint NOT NULL
    );
    CREATE INDEX ws_mail_node ON ws_mail (node, seq);
    ",
];

/// Brings `schema` up to date; safe when several nodes call it at once.
pub async fn apply(client: &mut Object, schema: &str) -> anyhow::Result<()> {
    let key = lock_key(schema);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&key])
        .await
        .map_err(|e| anyhow::anyhow!("locking the schema for migrations: {e}"))?;
    let result = apply_locked(client, schema).await;
    // Released with the session too, should this node die meanwhile.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&key])
        .await;
    result
}

async fn apply_locked(client: &mut Object, schema: &str) -> anyhow::Result<()> {
    // The name was checked to be a plain identifier (config::store).
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );"
        ))
        .await
        .map_err(|e| anyhow::anyhow!("creating schema {schema}: {e}"))?;
    let applied: i32 = client
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.schema_migrations"),
            &[],
        )
        .await?
        .get(0);
    if applied as usize > MIGRATIONS.len() {
        anyhow::bail!(
            "the database schema {schema} is at version {applied}, newer than this gatehouse knows ({}): upgrade this node",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let version = i as i32 + 1;
        let tx = client.transaction().await?;
        tx.batch_execute(&format!("SET LOCAL search_path = {schema}"))
            .await?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| anyhow::anyhow!("migration {version}: {e}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(schema, version, "store migration applied");
    }
    Ok(())
}

/// A stable 64-bit key per schema (FNV-1a), so schemas migrate independently.
fn lock_key(schema: &str) -> i64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in b"gatehouse-migrations:".iter().chain(schema.as_bytes()) {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash as i64
}

#[cfg(test)]
pub fn latest() -> usize {
    MIGRATIONS.len()
}
