//! Process logs (not the access log): `tracing` to stderr, level from
//! `GATEHOUSE_LOG` (default `info`), JSON when `GATEHOUSE_LOG_FORMAT=json`.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter =
        EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let json = std::env::var("GATEHOUSE_LOG_FORMAT").is_ok_and(|v| v == "json");
    // Err means a subscriber is already set (tests): keep that one.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
