//! Process logs (not the access log): `tracing` to stderr, level from
//! `GATEHOUSE_LOG` (default `info`), JSON when `GATEHOUSE_LOG_FORMAT=json`,
//! colours only on a terminal.
//!
//! Anyone who can open a connection can make a line be logged (a broken
//! TLS handshake, say), so no call site may write more than `BURST` lines a
//! second: the rest are counted in `gatehouse_log_lines_suppressed_total`.
//! Lines known to be routine are not written at all, only counted.

use parking_lot::Mutex;
use prometheus::IntCounter;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::LazyLock;
use std::time::Instant;
use tracing::callsite::Identifier;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Lines one call site may write per second.
const BURST: u32 = 20;

/// Lines dropped by the per-call-site limit.
pub static SUPPRESSED: LazyLock<IntCounter> = LazyLock::new(|| {
    IntCounter::new(
        "log_lines_suppressed_total",
        "Log lines not written because their call site went over 20 a second",
    )
    .expect("static metric definition")
});

/// pingora's "failed to acquire reusable stream": its pool hands an idle
/// upstream connection to a request while the connection's idle watcher,
/// on another thread, is still letting go of it; the request opens a new
/// connection instead. Harmless but for that connection, and frequent under
/// load, so counted rather than logged.
pub static POOL_HANDOFF_MISSES: LazyLock<IntCounter> = LazyLock::new(|| {
    IntCounter::new(
        "upstream_pool_handoff_misses_total",
        "Idle upstream connections pingora's pool could not hand over (a new one was opened)",
    )
    .expect("static metric definition")
});

pub fn init() {
    let filter =
        EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let json = std::env::var("GATEHOUSE_LOG_FORMAT").is_ok_and(|v| v == "json");
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    let output = if json {
        fmt.json().with_filter(Limiter::default()).boxed()
    } else {
        fmt.with_filter(Limiter::default()).boxed()
    };
    // Err means a subscriber is already set (tests): keep that one.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init();
}

/// The per-call-site limit, and the routine lines that are only counted.
#[derive(Default)]
struct Limiter {
    /// Per call site: the second its window started and lines written in it.
    windows: Mutex<HashMap<Identifier, (u64, u32)>>,
}

impl<S: Subscriber> Filter<S> for Limiter {
    fn enabled(&self, _meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        if is_pool_handoff_miss(event) {
            POOL_HANDOFF_MISSES.inc();
            return false;
        }
        let second = seconds_since_start();
        let mut windows = self.windows.lock();
        let window = windows
            .entry(event.metadata().callsite())
            .or_insert((second, 0));
        if window.0 != second {
            *window = (second, 0);
        }
        window.1 += 1;
        if window.1 > BURST {
            SUPPRESSED.inc();
            return false;
        }
        true
    }
}

fn seconds_since_start() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    START.elapsed().as_secs()
}

/// Whether `event` is pingora's pool hand-off line (it arrives through the
/// `log` bridge, so it is recognised by its text).
fn is_pool_handoff_miss(event: &Event<'_>) -> bool {
    struct Message(bool);
    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}") == "failed to acquire reusable stream";
            }
        }
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            if field.name() == "message" {
                self.0 = value == "failed to acquire reusable stream";
            }
        }
    }
    if *event.metadata().level() != tracing::Level::ERROR {
        return false;
    }
    let mut found = Message(false);
    event.record(&mut found);
    found.0
}
