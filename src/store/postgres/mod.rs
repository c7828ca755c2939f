//! PostgreSQL, shared by a fleet of nodes: one pool per process, every
//! table in the configured schema, the migrations applied at start-up under
//! an advisory lock (two nodes starting at once apply each migration once).
//! Each backend trait has its implementation here (`keys.rs`, `flows.rs`,
//! `queues/`, `topics.rs`) and passes the same conformance suite as the
//! embedded one. `design.md` in `store/` holds the invariants.

mod api;
pub mod connections;
pub mod flows;
pub mod keys;
pub mod listen;
mod migrations;
pub mod queues;
pub mod topics;

use super::StoreError;
use crate::config::model::PostgresSettings;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// A handle on the shared database: cheap to clone.
#[derive(Clone)]
pub struct Postgres {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    schema: String,
    /// The driver's config, for the LISTEN connection (outside the pool).
    config: tokio_postgres::Config,
    metrics: StoreMetrics,
    /// Wakes long polls on this node when any node sends.
    listener: listen::Listener,
}

/// Pool use, statement latency and failures, as Prometheus sees them.
#[derive(Clone)]
pub struct StoreMetrics {
    pub seconds: HistogramVec,
    pub errors: IntCounterVec,
    pub pool_size: IntGauge,
    pub pool_available: IntGauge,
    pub pool_waiting: IntGauge,
}

impl StoreMetrics {
    fn new() -> StoreMetrics {
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        StoreMetrics {
            seconds: HistogramVec::new(
                HistogramOpts::new(
                    "store_operation_seconds",
                    "Time one shared-store operation took, by operation",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                ]),
                &["operation"],
            )
            .expect("valid metric"),
            errors: IntCounterVec::new(
                Opts::new(
                    "store_errors_total",
                    "Shared-store operations that failed, by kind (unavailable, database, conflict)",
                ),
                &["kind"],
            )
            .expect("valid metric"),
            pool_size: gauge(
                "store_pool_connections",
                "Connections the store pool holds (in use and idle)",
            ),
            pool_available: gauge(
                "store_pool_idle_connections",
                "Idle connections in the store pool",
            ),
            pool_waiting: gauge(
                "store_pool_waiting",
                "Operations waiting for a connection from the store pool",
            ),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.seconds.clone()),
            Box::new(self.errors.clone()),
            Box::new(self.pool_size.clone()),
            Box::new(self.pool_available.clone()),
            Box::new(self.pool_waiting.clone()),
        ]
    }
}

impl Postgres {
    /// Connects, creates the schema and applies the migrations. Fails fast
    /// (within the connect timeout) when the database cannot be reached.
    pub async fn connect(settings: &PostgresSettings) -> anyhow::Result<Postgres> {
        let mut config = tokio_postgres::Config::from_str(&settings.url)
            .map_err(|e| anyhow::anyhow!("the store URL: {e}"))?;
        config
            .application_name("gatehouse")
            .connect_timeout(settings.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .options(format!(
                "-c search_path={schema} -c statement_timeout={ms} -c idle_in_transaction_session_timeout={idle}",
                schema = settings.schema,
                ms = settings.statement_timeout.as_millis().max(1),
                idle = (settings.statement_timeout.as_millis() * 3).max(1000),
            ));
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A connection closed by a restarted server is dropped and
                // replaced when next taken, not handed out broken.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.max_connections)
            .wait_timeout(Some(settings.connect_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| anyhow::anyhow!("building the store pool: {e}"))?;
        let metrics = StoreMetrics::new();
        let channel = format!("gatehouse_{}", settings.schema);
        let pg = Postgres {
            inner: Arc::new(Inner {
                pool,
                schema: settings.schema.clone(),
                config: config.clone(),
                metrics,
                listener: listen::Listener::new(channel),
            }),
        };
        let mut client = pg.inner.pool.get().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the store (PostgreSQL at {}): {e}",
                describe_hosts(&config)
            )
        })?;
        migrations::apply(&mut client, &settings.schema).await?;
        drop(client);
        pg.inner.listener.start(config);
        pg.inner.listener.start_announcing(pg.inner.pool.clone());
        Ok(pg)
    }

    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.inner.metrics
    }

    pub fn listener(&self) -> &listen::Listener {
        &self.inner.listener
    }

    /// A connection from the pool; Unavailable when none comes in time.
    pub async fn client(&self) -> Result<Object, StoreError> {
        let status = self.inner.pool.status();
        let m = &self.inner.metrics;
        m.pool_size.set(status.size as i64);
        m.pool_available.set(status.available as i64);
        m.pool_waiting.set(status.waiting as i64);
        self.inner.pool.get().await.map_err(|e| {
            m.errors.with_label_values(&["unavailable"]).inc();
            StoreError::Unavailable(format!("no database connection: {e}"))
        })
    }

    /// Runs `f` and records how long it took under `operation`; failures
    /// are counted by kind.
    pub async fn timed<T>(
        &self,
        operation: &'static str,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let out = f.await;
        let m = &self.inner.metrics;
        m.seconds
            .with_label_values(&[operation])
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = &out {
            let kind = match e {
                StoreError::Unavailable(_) => "unavailable",
                StoreError::Conflict(_) => "conflict",
                StoreError::NotFound(_) => "not_found",
                StoreError::Database(_) => "database",
            };
            m.errors.with_label_values(&[kind]).inc();
        }
        out
    }

    /// Ready when a statement round-trips.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(db)?;
        Ok(())
    }

    /// The LISTEN connection's config.
    pub fn driver_config(&self) -> &tokio_postgres::Config {
        &self.inner.config
    }
}

fn describe_hosts(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{}:{port}", hosts.join(","))
}

/// The driver's errors as the store's: a unique violation is a conflict, a
/// lost or refused connection (or a server shutting down) is unavailable,
/// the rest is a database error.
pub fn db(e: tokio_postgres::Error) -> StoreError {
    // The driver's Display says only "db error": the server's words are
    // in the DbError.
    let text = match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    };
    if let Some(code) = e.code() {
        if *code == SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(text);
        }
        let class = &code.code()[..2];
        // 08: connection exception; 57: operator intervention (shutdown,
        // statement timeout); 53: insufficient resources; 40: a deadlock
        // or serialization failure the server resolved by aborting this
        // transaction. Each is worth retrying.
        if matches!(class, "08" | "57" | "53" | "40") {
            return StoreError::Unavailable(text);
        }
        return StoreError::Database(text);
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return StoreError::Unavailable(text);
    }
    StoreError::Database(text)
}

/// Unix milliseconds as the database's `bigint`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Test support: a fresh schema per test on the machine's PostgreSQL, so
/// tests run in parallel; dropped by `drop_schema`.
#[cfg(test)]
pub mod testing {
    use super::*;

    pub const TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    pub fn url() -> String {
        std::env::var("GATEHOUSE_TEST_PG").unwrap_or_else(|_| TEST_URL.to_string())
    }

    pub fn settings(schema: &str) -> PostgresSettings {
        PostgresSettings {
            url: url(),
            schema: schema.to_string(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }

    /// A unique schema name for one test.
    pub fn schema(test: &str) -> String {
        format!("t_{}_{}_{:x}", test, std::process::id(), fastrand::u32(..))
    }

    pub async fn open(test: &str) -> Postgres {
        let schema = schema(test);
        Postgres::connect(&settings(&schema))
            .await
            .expect("the test PostgreSQL on 127.0.0.1:5432 (see .ci/setup)")
    }

    pub async fn drop_schema(pg: &Postgres) {
        if let Ok(client) = pg.client().await {
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", pg.schema()))
                .await;
        }
    }
}
