//! One listener's open connections: how many, how many per client address,
//! and which are idle (waiting for the next request), oldest first, so that
//! at the cap an idle keep-alive connection makes room for a new client.

use super::metrics::{ListenerMetrics, Refused};
use super::ListenerLimits;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// How many idle connections one newcomer may ask to close, and how long
/// it waits for each: an idle connection closes at once when asked.
const SHED_ATTEMPTS: usize = 2;
const SHED_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

pub struct Connections {
    name: String,
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Idle connections by when they went idle; each wakes on its Notify.
    idle: Mutex<BTreeMap<u64, Arc<Notify>>>,
    idle_seq: AtomicU64,
    /// Woken whenever an admitted connection closes.
    freed: Notify,
    metrics: ListenerMetrics,
    open_gauge: prometheus::IntGauge,
}

/// An admitted connection; dropping it frees its place.
pub struct Slot {
    table: Arc<Connections>,
    ip: Option<IpAddr>,
    /// Counted in the open-connections gauge (refused slots never are).
    admitted: bool,
    /// Woken when the listener wants this connection's place; one per
    /// connection, registered for each of its idle times.
    shed: Arc<Notify>,
}

/// A connection's time between requests; dropping it ends the idle time.
pub struct Idle<'a> {
    table: &'a Slot,
    key: u64,
}

impl Connections {
    pub fn new(name: &str, metrics: ListenerMetrics) -> Arc<Connections> {
        Arc::new(Connections {
            name: name.to_string(),
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            idle: Mutex::new(BTreeMap::new()),
            idle_seq: AtomicU64::new(0),
            freed: Notify::new(),
            open_gauge: metrics.open(name),
            metrics,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn metrics(&self) -> &ListenerMetrics {
        &self.metrics
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Takes a place for a new connection from `ip`. At the cap the oldest
    /// idle connection is told to close and the newcomer takes its place
    /// once it has; with none idle (or none closing promptly) the newcomer
    /// is refused.
    pub async fn admit(
        self: &Arc<Self>,
        ip: Option<IpAddr>,
        limits: &ListenerLimits,
    ) -> Result<Slot, Refused> {
        let per_ip = limits.max_connections_per_ip;
        let ip = ip.filter(|_| per_ip > 0);
        if let Some(ip) = ip {
            let mut counts = self.per_ip.lock();
            let count = counts.entry(ip).or_insert(0);
            if *count >= per_ip {
                drop(counts);
                self.metrics.refused(&self.name, Refused::PerIp);
                return Err(Refused::PerIp);
            }
            *count += 1;
        }
        // From here the slot owns what was taken: an early return frees it.
        let mut slot = Slot {
            table: self.clone(),
            ip,
            admitted: false,
            shed: Arc::new(Notify::new()),
        };
        for _ in 0..SHED_ATTEMPTS {
            if self.try_take(limits.max_connections) {
                slot.admitted = true;
                self.open_gauge.inc();
                return Ok(slot);
            }
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if !self.shed_oldest_idle() {
                break;
            }
            if tokio::time::timeout(SHED_WAIT, freed).await.is_err() {
                break;
            }
        }
        self.metrics.refused(&self.name, Refused::Full);
        Err(Refused::Full)
    }

    fn try_take(&self, cap: usize) -> bool {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < cap).then_some(open + 1)
            })
            .is_ok()
    }

    /// Wakes the connection that has been idle longest so that it closes.
    fn shed_oldest_idle(&self) -> bool {
        let oldest = self.idle.lock().pop_first();
        match oldest {
            Some((_, notify)) => {
                notify.notify_one();
                self.metrics.shed(&self.name);
                true
            }
            None => false,
        }
    }
}

impl Slot {
    /// Marks the connection idle until the returned guard is dropped.
    pub fn idle(&self) -> Idle<'_> {
        let key = self.table.idle_seq.fetch_add(1, Ordering::Relaxed);
        self.table.idle.lock().insert(key, self.shed.clone());
        Idle { table: self, key }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.admitted {
            self.table.open.fetch_sub(1, Ordering::AcqRel);
            self.table.open_gauge.dec();
            self.table.freed.notify_waiters();
        }
        if let Some(ip) = self.ip {
            let mut per_ip = self.table.per_ip.lock();
            if let Some(count) = per_ip.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }
}

impl Idle<'_> {
    /// Resolves when the listener needs this connection's place.
    pub async fn shed(&self) {
        self.table.shed.notified().await
    }
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.table.table.idle.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(max: usize, per_ip: usize) -> ListenerLimits {
        ListenerLimits {
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(1),
            max_header_bytes: 1024,
            max_connections: max,
            max_connections_per_ip: per_ip,
        }
    }

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2)));

    #[tokio::test]
    async fn the_cap_holds_and_frees_on_drop() {
        let table = Connections::new("t", ListenerMetrics::new());
        let l = limits(2, 0);
        let one = table.admit(A, &l).await.unwrap();
        let _two = table.admit(A, &l).await.unwrap();
        assert_eq!(table.admit(B, &l).await.err(), Some(Refused::Full));
        assert_eq!(table.open(), 2);
        drop(one);
        assert!(table.admit(B, &l).await.is_ok());
    }

    #[tokio::test]
    async fn an_idle_connection_makes_room_once_it_closes() {
        let table = Connections::new("t", ListenerMetrics::new());
        let l = limits(1, 0);
        let held = table.admit(A, &l).await.unwrap();
        // The idle connection's task: closes when asked.
        let (registered, idle_now) = tokio::sync::oneshot::channel();
        let closer = tokio::spawn(async move {
            let idle = held.idle();
            let _ = registered.send(());
            idle.shed().await;
            drop(idle);
            drop(held);
        });
        idle_now.await.unwrap();
        let newcomer = table.admit(B, &l).await;
        assert!(newcomer.is_ok());
        closer.await.unwrap();
        assert_eq!(table.open(), 1);
    }

    #[tokio::test]
    async fn a_busy_connection_is_not_waited_for_long() {
        let table = Connections::new("t", ListenerMetrics::new());
        let l = limits(1, 0);
        let held = table.admit(A, &l).await.unwrap();
        let started = std::time::Instant::now();
        assert_eq!(table.admit(B, &l).await.err(), Some(Refused::Full));
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "no idle one: no wait"
        );
        let _idle = held.idle(); // registered, but never closes
        assert_eq!(table.admit(B, &l).await.err(), Some(Refused::Full));
    }

    #[tokio::test]
    async fn one_address_gets_its_share() {
        let table = Connections::new("t", ListenerMetrics::new());
        let l = limits(10, 2);
        let a1 = table.admit(A, &l).await.unwrap();
        let _a2 = table.admit(A, &l).await.unwrap();
        assert_eq!(table.admit(A, &l).await.err(), Some(Refused::PerIp));
        assert!(table.admit(B, &l).await.is_ok());
        drop(a1);
        assert!(table.admit(A, &l).await.is_ok());
    }
}
