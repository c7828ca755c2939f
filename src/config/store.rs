//! The `store` and `rate_limits` sections: where durable state and rate
//! limit counts live. Absent, Gatehouse keeps both in the process (SQLite in
//! the data dir, governor buckets); a fleet points every node at one
//! PostgreSQL database and one Redis. URLs are checked by the drivers'
//! own parsers, so what passes `gatehouse validate` is what they accept.

use super::diagnostics::Reporter;
use super::model::{PostgresSettings, RateLimitBackend, RedisSettings, Store};
use super::raw::{RateLimitsRaw, StoreRaw, StoreSettingsRaw};
use std::str::FromStr;
use std::time::Duration;

pub const DEFAULT_SCHEMA: &str = "gatehouse";
pub const DEFAULT_KEY_PREFIX: &str = "gatehouse:";

pub fn store(raw: Option<&StoreRaw>, r: &mut Reporter) -> Store {
    let settings = match raw {
        None => return Store::Embedded,
        Some(StoreRaw::Url(url)) => StoreSettingsRaw {
            url: url.clone(),
            ..Default::default()
        },
        Some(StoreRaw::Full(full)) => StoreSettingsRaw {
            url: full.url.clone(),
            schema: full.schema.clone(),
            max_connections: full.max_connections,
            connect_timeout: full.connect_timeout,
            statement_timeout: full.statement_timeout,
        },
    };
    let url_path = match raw {
        Some(StoreRaw::Full(_)) => "store.url",
        _ => "store",
    };
    if let Err(why) = check_postgres_url(&settings.url) {
        r.error(url_path, why);
    }
    let schema = settings
        .schema
        .clone()
        .unwrap_or_else(|| DEFAULT_SCHEMA.into());
    if !is_identifier(&schema) {
        r.error(
            "store.schema",
            format!("bad schema `{schema}`: lowercase letters, digits and `_`, starting with a letter, at most 63"),
        );
    }
    let max_connections = settings.max_connections.unwrap_or(16);
    if max_connections == 0 {
        r.error("store.max_connections", "must be at least 1");
    }
    Store::Postgres(PostgresSettings {
        url: settings.url,
        schema,
        max_connections: max_connections.max(1),
        connect_timeout: settings
            .connect_timeout
            .map_or(Duration::from_secs(5), |d| d.0),
        statement_timeout: settings
            .statement_timeout
            .map_or(Duration::from_secs(10), |d| d.0),
    })
}

/// `GATEHOUSE_STORE_URL` replaces the file's URL (keeping its pool
/// settings), so one config folder serves nodes pointed at different
/// databases, and a password need not be in a file.
pub fn store_from_env(store: Store, url: &str) -> Result<Store, String> {
    check_postgres_url(url)?;
    Ok(Store::Postgres(match store {
        Store::Postgres(settings) => PostgresSettings {
            url: url.to_string(),
            ..settings
        },
        Store::Embedded => PostgresSettings {
            url: url.to_string(),
            schema: DEFAULT_SCHEMA.into(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        },
    }))
}

/// A PostgreSQL URL the driver accepts, naming a host and a database.
pub fn check_postgres_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("expected a URL like postgres://user@host:5432/db".into());
    }
    let parsed = tokio_postgres::Config::from_str(url)
        .map_err(|e| format!("not a PostgreSQL URL the driver accepts: {e}"))?;
    if parsed.get_hosts().is_empty() {
        return Err("the URL names no host: postgres://user@host:5432/db".into());
    }
    if parsed.get_dbname().is_none_or(str::is_empty) {
        return Err("the URL names no database: postgres://user@host:5432/db".into());
    }
    if parsed.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        return Err(
            "sslmode=require is not supported yet: reach the database over a private network or a local socket".into(),
        );
    }
    Ok(())
}

pub fn is_identifier(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub fn rate_limits(raw: Option<&RateLimitsRaw>, r: &mut Reporter) -> RateLimitBackend {
    let Some(raw) = raw else {
        return RateLimitBackend::Local;
    };
    match raw.backend.as_deref().unwrap_or("local") {
        "local" => {
            if raw.url.is_some() {
                r.error(
                    "rate_limits.url",
                    "a URL only means something with `backend: redis`",
                );
            }
            RateLimitBackend::Local
        }
        "redis" => {
            let Some(url) = &raw.url else {
                r.error(
                    "rate_limits.url",
                    "`backend: redis` needs a URL like redis://127.0.0.1:6379",
                );
                return RateLimitBackend::Local;
            };
            if let Err(why) = check_redis_url(url) {
                r.error("rate_limits.url", why);
            }
            let nodes = raw.nodes.unwrap_or(1);
            if nodes == 0 {
                r.error("rate_limits.nodes", "must be at least 1");
            }
            let fail_closed = match raw.on_failure.as_deref().unwrap_or("open") {
                "open" => false,
                "closed" => true,
                other => {
                    r.error(
                        "rate_limits.on_failure",
                        format!("`{other}`: expected `open` or `closed`"),
                    );
                    false
                }
            };
            let timeout = raw
                .timeout
                .map_or(Duration::from_millis(100), |d| d.0)
                .max(Duration::from_millis(1));
            RateLimitBackend::Redis(RedisSettings {
                url: url.clone(),
                key_prefix: raw
                    .key_prefix
                    .clone()
                    .unwrap_or_else(|| DEFAULT_KEY_PREFIX.into()),
                nodes: nodes.max(1),
                fail_closed,
                timeout,
            })
        }
        other => {
            r.error(
                "rate_limits.backend",
                format!("`{other}`: expected `local` or `redis`"),
            );
            RateLimitBackend::Local
        }
    }
}

fn check_redis_url(url: &str) -> Result<(), String> {
    if !url.starts_with("redis://") {
        return Err(
            "expected a URL like redis://127.0.0.1:6379 (rediss:// is not supported yet)".into(),
        );
    }
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|e| format!("not a Redis URL the client accepts: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_need_a_host_and_a_database() {
        assert!(check_postgres_url("postgres://gh@127.0.0.1:5432/test").is_ok());
        assert!(check_postgres_url("postgresql://u:p@db.internal/app").is_ok());
        for bad in [
            "mysql://x@y/z",
            "postgres://127.0.0.1:5432",
            "postgres://u@h:notaport/db",
            "postgres://u@h/db?sslmode=require",
        ] {
            assert!(check_postgres_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redis_urls_are_checked() {
        assert!(check_redis_url("redis://127.0.0.1:6379").is_ok());
        assert!(check_redis_url("redis://:secret@127.0.0.1:6379/2").is_ok());
        assert!(check_redis_url("http://127.0.0.1:6379").is_err());
        assert!(check_redis_url("redis://127.0.0.1:port").is_err());
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(is_identifier("gatehouse"));
        assert!(is_identifier("t_123"));
        assert!(!is_identifier("Gate"));
        assert!(!is_identifier("1abc"));
        assert!(!is_identifier("a;drop"));
    }
}
