//! The JSON access log, written off the request path.
//!
//! Requests format their line into a buffer and hand it to a writer thread
//! through a bounded channel. If the writer falls behind, lines are dropped
//! and counted (`gatehouse_access_log_dropped_total`) rather than slowing
//! traffic down. A file log is rotated by size (`access.log` ->
//! `access.log.1` -> ... -> `access.log.N`, the oldest dropped) and reopened
//! on SIGUSR1, for logrotate.

use crate::config::model::{AccessLogTarget, Rotation};
use prometheus::IntCounter;
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

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
    /// Set by SIGUSR1: the writer reopens the file before its next line.
    reopen: Arc<AtomicBool>,
}

impl AccessLog {
    pub fn new(
        target: &AccessLogTarget,
        rotation: Rotation,
        dropped: IntCounter,
    ) -> std::io::Result<AccessLog> {
        let reopen = Arc::new(AtomicBool::new(false));
        let out = match target {
            AccessLogTarget::Off => {
                return Ok(AccessLog {
                    sender: None,
                    dropped,
                    reopen,
                })
            }
            AccessLogTarget::Stdout => Sink::Stream(Box::new(std::io::stdout())),
            AccessLogTarget::Stderr => Sink::Stream(Box::new(std::io::stderr())),
            AccessLogTarget::File(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Sink::File(LogFile::open(path.clone(), rotation, reopen.clone())?)
            }
        };
        let (sender, receiver) = sync_channel(64 * 1024);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(receiver, out))?;
        Ok(AccessLog {
            sender: Some(sender),
            dropped,
            reopen,
        })
    }

    /// Reopens a file log before the next line (after logrotate moved it).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Release);
    }

    pub fn enabled(&self) -> bool {
        self.sender.is_some()
    }

    pub fn log(&self, entry: &Entry<'_>) {
        self.log_json(entry);
    }

    /// Logs any JSON line (WebSocket events have their own fields).
    pub fn log_json<T: Serialize + ?Sized>(&self, entry: &T) {
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

enum Sink {
    Stream(Box<dyn Write + Send>),
    File(LogFile),
}

impl Sink {
    fn write_line(&mut self, line: &[u8]) {
        match self {
            Sink::Stream(out) => {
                let _ = out.write_all(line);
            }
            Sink::File(file) => file.write_line(line),
        }
    }

    fn flush(&mut self) {
        let _ = match self {
            Sink::Stream(out) => out.flush(),
            Sink::File(file) => file.out.flush(),
        };
    }
}

fn write_lines(receiver: Receiver<Vec<u8>>, out: Sink) {
    let mut out = match out {
        Sink::Stream(s) => Sink::Stream(Box::new(std::io::BufWriter::with_capacity(64 * 1024, s))),
        file => file,
    };
    while let Ok(line) = receiver.recv() {
        out.write_line(&line);
        // Drain what is queued, then flush once: one syscall per burst.
        while let Ok(line) = receiver.try_recv() {
            out.write_line(&line);
        }
        out.flush();
    }
}

/// A file access log with its rotation.
struct LogFile {
    path: PathBuf,
    out: std::io::BufWriter<File>,
    written: u64,
    rotation: Rotation,
    reopen: Arc<AtomicBool>,
}

impl LogFile {
    fn open(
        path: PathBuf,
        rotation: Rotation,
        reopen: Arc<AtomicBool>,
    ) -> std::io::Result<LogFile> {
        let file = append(&path)?;
        let written = file.metadata().map_or(0, |m| m.len());
        Ok(LogFile {
            path,
            out: std::io::BufWriter::with_capacity(64 * 1024, file),
            written,
            rotation,
            reopen,
        })
    }

    fn write_line(&mut self, line: &[u8]) {
        if self.reopen.swap(false, Ordering::AcqRel) {
            self.replace_file(false);
        }
        let max = self.rotation.max_size;
        if max > 0 && self.written > 0 && self.written + line.len() as u64 > max {
            self.replace_file(true);
        }
        if self.out.write_all(line).is_ok() {
            self.written += line.len() as u64;
        }
    }

    /// Flushes, shifts the rotated files along when `rotate`, and opens the
    /// path afresh. On failure the current file is kept.
    fn replace_file(&mut self, rotate: bool) {
        let _ = self.out.flush();
        if rotate {
            if let Err(e) = shift(&self.path, self.rotation.keep) {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot rotate the access log");
                return;
            }
        }
        match append(&self.path) {
            Ok(file) => {
                self.written = file.metadata().map_or(0, |m| m.len());
                self.out = std::io::BufWriter::with_capacity(64 * 1024, file);
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot reopen the access log")
            }
        }
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// `log.(keep-1)` -> `log.keep`, ..., `log` -> `log.1`; with `keep` 0 the
/// log is simply removed.
fn shift(path: &Path, keep: u32) -> std::io::Result<()> {
    let numbered = |n: u32| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    };
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    for n in (1..keep).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(&from, numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_rotate_by_size_and_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let rotation = Rotation {
            max_size: 100,
            keep: 2,
        };
        let mut log = LogFile::open(path.clone(), rotation, Arc::default()).unwrap();
        for i in 0..20 {
            log.write_line(format!("{i:0>29}\n").as_bytes()); // 30 bytes
        }
        log.out.flush().unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        // 20 lines, 3 per file: the last two lines in the log, then 3 + 3.
        assert_eq!(read(&path).lines().count(), 2);
        assert!(read(&path).starts_with(&format!("{:0>29}\n", 18)));
        let one = dir.path().join("access.log.1");
        assert_eq!(read(&one).lines().count(), 3);
        assert!(dir.path().join("access.log.2").exists());
        assert!(!dir.path().join("access.log.3").exists());
        for p in [path.clone(), one] {
            assert!(std::fs::metadata(p).unwrap().len() <= 100);
        }
    }
}
