//! The process's file-descriptor budget. At start-up the soft `RLIMIT_NOFILE`
//! is raised to the hard limit; the default connection caps are shares of
//! what that allows, so no one listener can take the descriptors the others
//! (and upstream connections, the database, log files) need.

use std::sync::OnceLock;

/// Descriptors kept back for everything that is not a client connection:
/// the database, log files, listening sockets, health checks, flows.
const RESERVE: u64 = 128;

static NOFILE: OnceLock<u64> = OnceLock::new();

/// The soft limit before and after start-up raised it.
#[derive(Debug, Clone, Copy)]
pub struct Raised {
    pub before: u64,
    pub after: u64,
}

/// Raises the soft descriptor limit to the hard one (once per process).
pub fn raise() -> std::io::Result<Raised> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    // `None` is unlimited; a number stands in so the shares stay finite.
    let before = limit.current.unwrap_or(1 << 20);
    let after = match limit.maximum {
        Some(hard) if hard > before => {
            let raised = Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            setrlimit(Resource::Nofile, raised)?;
            hard
        }
        _ => before,
    };
    let _ = NOFILE.set(after);
    Ok(Raised { before, after })
}

/// The soft descriptor limit this process runs with.
pub fn nofile() -> u64 {
    *NOFILE.get_or_init(|| {
        rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(1 << 20)
    })
}

/// Which listener a default cap is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// One of `gateway_listeners` gateway listeners.
    Gateway {
        listeners: usize,
    },
    Messaging,
    Admin,
}

/// The default connection cap of a listener with `nofile` descriptors in all.
/// Gateway listeners share two fifths (each client connection may hold an
/// upstream connection too), messaging gets three twentieths, admin a
/// twentieth up to 256; the rest stays for upstreams and files.
pub fn default_cap(listener: Listener, nofile: u64) -> usize {
    let budget = nofile.saturating_sub(RESERVE);
    let share = match listener {
        Listener::Gateway { listeners } => budget * 2 / 5 / listeners.max(1) as u64,
        Listener::Messaging => budget * 3 / 20,
        Listener::Admin => (budget / 20).min(256),
    };
    share.max(8) as usize
}

/// The caps written in config that, added up, leave too few descriptors:
/// the numbers for a start-up warning.
pub fn overcommitted(caps: &[usize], nofile: u64) -> Option<(u64, u64)> {
    // Gateway connections may each hold an upstream connection: counted twice
    // would be exact for them, once is the optimistic floor used here.
    let wanted: u64 = caps.iter().map(|c| *c as u64).sum::<u64>() + RESERVE;
    (wanted > nofile).then_some((wanted, nofile))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_fit_the_budget() {
        for nofile in [256u64, 1024, 20_000, 1 << 20] {
            let gateway = default_cap(Listener::Gateway { listeners: 2 }, nofile);
            let messaging = default_cap(Listener::Messaging, nofile);
            let admin = default_cap(Listener::Admin, nofile);
            let total = 2 * 2 * gateway + messaging + admin; // gateway x2: upstream side
            assert!(
                total as u64 + RESERVE <= nofile.max(RESERVE + 64),
                "{nofile}: {total}"
            );
            assert!(admin <= 256);
        }
        assert_eq!(
            default_cap(Listener::Gateway { listeners: 1 }, 20_128),
            8000
        );
        assert_eq!(default_cap(Listener::Messaging, 20_128), 3000);
        assert_eq!(default_cap(Listener::Admin, 20_128), 256);
    }

    #[test]
    fn overcommit_is_reported() {
        assert_eq!(overcommitted(&[100, 100], 1024), None);
        assert_eq!(overcommitted(&[1000, 100], 1024), Some((1228, 1024)));
    }
}
