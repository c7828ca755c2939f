//! The JSON access log, written off the request path.
//!
//! Requests format their line into a buffer and hand it to a writer thread
//! through a bounded channel. If the writer falls behind, lines are dropped
//! and counted (`gatehouse_access_log_dropped_total`) rather than slowing
//! traffic down.

use crate::config::model::AccessLogTarget;
use prometheus::IntCounter;
use serde::Serialize;
use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

#[derive(Serialize)]
pub struct Entry<'a> {
    pub time: &'a str,
    pub request_id: &'a str,
    pub client: &'a str,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub api: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub latency_ms: f64,
    pub upstream: &'a str,
    pub bytes_in: usize,
    pub bytes_out: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    /// The policy that refused the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied_by: Option<&'a str>,
    /// The WAF rule that blocked the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
}

pub struct AccessLog {
    sender: Option<SyncSender<Vec<u8>>>,
    dropped: IntCounter,
}

impl AccessLog {
    pub fn new(target: &AccessLogTarget, dropped: IntCounter) -> std::io::Result<AccessLog> {
        let out: Box<dyn Write + Send> = match target {
            AccessLogTarget::Off => {
                return Ok(AccessLog {
                    sender: None,
                    dropped,
                })
            }
            AccessLogTarget::Stdout => Box::new(std::io::stdout()),
            AccessLogTarget::Stderr => Box::new(std::io::stderr()),
            AccessLogTarget::File(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                )
            }
        };
        let (sender, receiver) = sync_channel(64 * 1024);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(receiver, out))?;
        Ok(AccessLog {
            sender: Some(sender),
            dropped,
        })
    }

    pub fn enabled(&self) -> bool {
        self.sender.is_some()
    }

    pub fn log(&self, entry: &Entry<'_>) {
        let Some(sender) = &self.sender else { return };
        let mut line = Vec::with_capacity(384);
        if serde_json::to_writer(&mut line, entry).is_err() {
            return;
        }
        line.push(b'\n');
        if let Err(TrySendError::Full(_)) = sender.try_send(line) {
            self.dropped.inc();
        }
    }
}

fn write_lines(receiver: Receiver<Vec<u8>>, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    while let Ok(line) = receiver.recv() {
        let _ = out.write_all(&line);
        // Drain what is queued, then flush once: one syscall per burst.
        while let Ok(line) = receiver.try_recv() {
            let _ = out.write_all(&line);
        }
        let _ = out.flush();
    }
}
