//! Long polling across nodes: one connection per node (outside the pool)
//! LISTENs on the schema's channel; after a send commits anywhere in the
//! fleet, that node NOTIFYs the queue's id, and every receive waiting for
//! that queue on any node wakes and looks. Idle long polls hold no
//! connection and run no query: they wait on a `Notify` here and on their
//! deadline.
//!
//! Notices are announced after the commit, not inside the sending
//! transaction, and coalesced: each node sends at most one NOTIFY statement
//! per `COALESCE` window, naming every queue that changed in it. A NOTIFY
//! inside each send would serialize every sending commit on PostgreSQL's
//! notification queue lock and wake the listening backends once per batch
//! (measured: half the throughput). The cost is a few milliseconds of wake
//! latency, and a node that dies between a commit and its announcement
//! leaves other nodes' waiters to their next look (their deadline or the
//! next notice); nothing is lost.
//!
//! When the LISTEN connection drops, notices sent meanwhile are lost: on
//! reconnecting every waiter is woken to look again, and until then
//! waiters also look once a second (see `queues::receive`).

use futures_util::StreamExt;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};

pub struct Listener {
    channel: String,
    shared: Arc<Shared>,
    announcer: Arc<Announcer>,
}

/// Queues changed on this node since the last NOTIFY.
#[derive(Default)]
struct Announcer {
    pending: Mutex<HashSet<i64>>,
    kick: Notify,
}

/// How long changes gather before one NOTIFY names them all.
const COALESCE: Duration = Duration::from_millis(3);

#[derive(Default)]
struct Shared {
    /// Queue id -> its waiters' `Notify`, while anyone holds it.
    queues: Mutex<HashMap<i64, Weak<Notify>>>,
    /// WebSocket mail: the notice naming this node (`ws:NODE`) and what
    /// it wakes (see `connections.rs`).
    mail: Mutex<Option<(String, Arc<Notify>)>>,
    listening: AtomicBool,
}

impl Shared {
    fn wake(&self, queue: i64) {
        let notify = self.queues.lock().get(&queue).and_then(Weak::upgrade);
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }

    fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = {
            let mut queues = self.queues.lock();
            queues.retain(|_, w| w.strong_count() > 0);
            queues.values().filter_map(Weak::upgrade).collect()
        };
        for n in all {
            n.notify_waiters();
        }
        if let Some((_, mail)) = &*self.mail.lock() {
            mail.notify_one();
        }
    }

    fn wake_mail(&self, notice: &str) {
        if let Some((ours, mail)) = &*self.mail.lock() {
            if notice == ours {
                mail.notify_one();
            }
        }
    }
}

impl Listener {
    pub fn new(channel: String) -> Listener {
        // Channel names are identifiers: at most 63 bytes.
        let mut channel = channel;
        channel.truncate(63);
        Listener {
            channel,
            shared: Arc::default(),
            announcer: Arc::default(),
        }
    }

    /// Wakes waiters on `queue` on this node now, and on every node once the
    /// next coalesced NOTIFY goes out (call after the change committed).
    pub fn announce(&self, queue: i64) {
        self.shared.wake(queue);
        self.announcer.pending.lock().insert(queue);
        self.announcer.kick.notify_one();
    }

    /// Sends the coalesced NOTIFYs for the life of the process.
    pub fn start_announcing(&self, pool: deadpool_postgres::Pool) {
        let announcer = self.announcer.clone();
        let channel = self.channel.clone();
        tokio::spawn(async move {
            loop {
                announcer.kick.notified().await;
                tokio::time::sleep(COALESCE).await;
                let queues: Vec<String> = {
                    let mut pending = announcer.pending.lock();
                    pending.drain().map(|q| q.to_string()).collect()
                };
                if queues.is_empty() {
                    continue;
                }
                let sent = async {
                    let client = pool.get().await.map_err(|e| e.to_string())?;
                    client
                        .execute(
                            "SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q",
                            &[&channel, &queues],
                        )
                        .await
                        .map_err(|e| e.to_string())
                };
                if let Err(e) = sent.await {
                    // Waiters elsewhere look again at their deadline or on
                    // the next notice; the messages are committed.
                    tracing::warn!(error = %e, "store notices: NOTIFY failed");
                }
            }
        });
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// True while the LISTEN connection is up: notices arrive.
    pub fn listening(&self) -> bool {
        self.shared.listening.load(Ordering::SeqCst)
    }

    /// Wakes the returned `Notify` when a notice `notice` arrives (and
    /// whenever notices may have been missed).
    pub fn mail(&self, notice: String) -> Arc<Notify> {
        let wake = Arc::new(Notify::new());
        *self.shared.mail.lock() = Some((notice, wake.clone()));
        wake
    }

    /// What a receive on `queue` waits on.
    pub fn waiter(&self, queue: i64) -> Arc<Notify> {
        let mut queues = self.shared.queues.lock();
        if let Some(n) = queues.get(&queue).and_then(Weak::upgrade) {
            return n;
        }
        let n = Arc::new(Notify::new());
        queues.insert(queue, Arc::downgrade(&n));
        if queues.len() > 1024 {
            queues.retain(|_, w| w.strong_count() > 0);
        }
        n
    }

    /// Keeps a LISTEN connection up for the life of the process.
    pub fn start(&self, config: tokio_postgres::Config) {
        let shared = self.shared.clone();
        let channel = self.channel.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match listen(&config, &channel, &shared).await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(e) => {
                        tracing::warn!(error = %e, "store notices: LISTEN connection failed, retrying");
                    }
                }
                shared.listening.store(false, Ordering::SeqCst);
                // Whatever was sent while we were away is looked for now.
                shared.wake_all();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    }
}

/// One LISTEN session: returns when the connection ends.
async fn listen(
    config: &tokio_postgres::Config,
    channel: &str,
    shared: &Arc<Shared>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let pump = tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "store notices: connection lost");
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    shared.listening.store(true, Ordering::SeqCst);
    shared.wake_all();
    while let Some(payload) = rx.recv().await {
        if let Ok(queue) = payload.parse::<i64>() {
            shared.wake(queue);
        } else {
            shared.wake_mail(&payload);
        }
    }
    drop(client);
    let _ = pump.await;
    Ok(())
}
