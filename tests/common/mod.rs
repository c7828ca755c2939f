//! Test harness: start the real `gatehouse` binary on port 0 from a fixture
//! folder, and real upstream servers in-process.

#![allow(dead_code)]

pub mod aws;
pub mod browser;
pub mod fleet;
pub mod flows;
pub mod hook;
pub mod moto;
pub mod pki;
pub mod python;
pub mod saas;
pub mod upstream;
pub mod waf_corpus;
pub mod ws;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies a folder (recursively) so a test can change files and own `data/`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub struct Gatehouse {
    child: Child,
    pub dir: tempfile::TempDir,
    pub listeners: HashMap<String, SocketAddr>,
    pub admin: Option<SocketAddr>,
    /// The SQS/SNS API, when enabled.
    pub messaging: Option<SocketAddr>,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// The environment it was started with, for CLI runs on the same folder.
    pub env: Vec<(String, String)>,
}

#[derive(Default)]
pub struct Options<'a> {
    pub env: Vec<(&'a str, String)>,
    pub args: Vec<&'a str>,
    /// Run with this open-file limit (soft and hard), as a small machine would.
    pub nofile: Option<u64>,
}

impl Gatehouse {
    /// Starts gatehouse on a copy of `tests/fixtures/<name>`.
    pub fn start(name: &str, env: &[(&str, String)]) -> Gatehouse {
        Self::start_with(
            name,
            Options {
                env: env.to_vec(),
                ..Options::default()
            },
            |_| {},
        )
    }

    /// Like `start`, with extra args and a hook to add files before starting.
    pub fn start_with(name: &str, opts: Options<'_>, prepare: impl FnOnce(&Path)) -> Gatehouse {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixture(name), dir.path());
        prepare(dir.path());
        Self::launch(dir, &opts)
    }

    /// Starts gatehouse on an existing folder (e.g. one a stopped instance left).
    pub fn launch(dir: tempfile::TempDir, opts: &Options<'_>) -> Gatehouse {
        gatehouse::tls::install_crypto();
        let mut cmd = match opts.nofile {
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_gatehouse"));
                sh
            }
            None => Command::new(env!("CARGO_BIN_EXE_gatehouse")),
        };
        cmd.arg("-C").arg(dir.path()).arg("serve").args(&opts.args);
        cmd.env("GATEHOUSE_LOG", "info")
            .envs(opts.env.iter().map(|(k, v)| (k.to_string(), v.clone())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn gatehouse");
        let stdout = collect_lines(child.stdout.take().unwrap(), None);
        let (tx, rx) = mpsc::channel();
        let stderr = collect_lines(child.stderr.take().unwrap(), Some(tx));
        let announcement = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "gatehouse did not start:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        let v: serde_json::Value = serde_json::from_str(&announcement).unwrap();
        let listeners: HashMap<String, SocketAddr> = v["listeners"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, a)| (k.clone(), a.as_str().unwrap().parse().unwrap()))
            .collect();
        let admin = v["admin"].as_str().map(|a| a.parse().unwrap());
        let messaging = v["messaging"].as_str().map(|a| a.parse().unwrap());
        let gh = Gatehouse {
            child,
            dir,
            listeners,
            admin,
            messaging,
            stdout,
            stderr,
            env: opts
                .env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        for addr in gh
            .listeners
            .values()
            .chain(gh.admin.iter())
            .chain(gh.messaging.iter())
        {
            wait_for_port(*addr);
        }
        gh
    }

    /// SIGTERM, wait for a clean exit, and hand back the folder.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.signal(SIGTERM);
        assert_eq!(
            self.wait_exit(Duration::from_secs(20)),
            Some(0),
            "unclean exit"
        );
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// SIGKILL: no chance to flush anything. Hands back the folder.
    pub fn kill_hard(mut self) -> tempfile::TempDir {
        self.signal(9);
        let status = self.child.wait().unwrap();
        assert!(status.code().is_none(), "exited on its own: {status}");
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// Runs `gatehouse -C <this folder> ARGS` to completion.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("-C")
            .arg(self.dir.path())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    pub fn addr(&self, listener: &str) -> SocketAddr {
        self.listeners[listener]
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr("http"))
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin.expect("admin listener"))
    }

    /// The messaging API's endpoint URL, as SDKs take it.
    pub fn messaging_url(&self) -> String {
        format!("http://{}", self.messaging.expect("messaging listener"))
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        unsafe_kill(self.pid(), sig);
    }

    pub async fn generation(&self) -> u64 {
        let v: serde_json::Value = reqwest::get(self.admin_url("/readyz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["config_generation"].as_u64().unwrap()
    }

    /// Sends SIGHUP and waits for the reload to be applied (generation moves)
    /// or rejected (a "rejected" log line appears).
    pub async fn reload(&self) -> bool {
        let before = self.generation().await;
        let rejected_before = self.count_stderr("config reload rejected");
        self.signal(SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.generation().await > before {
                return true;
            }
            if self.count_stderr("config reload rejected") > rejected_before {
                return false;
            }
            assert!(Instant::now() < deadline, "reload did not happen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The admin listener's /metrics text.
    pub async fn metrics(&self) -> String {
        client()
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn count_stderr(&self, needle: &str) -> usize {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits for a line containing `needle` on stdout (the access log).
    pub async fn wait_stdout(&self, needle: &str) -> String {
        wait_line(&self.stdout, "stdout", needle).await
    }

    /// Waits for a line containing `needle` on stderr (process logs).
    pub async fn wait_stderr(&self, needle: &str) -> String {
        wait_line(&self.stderr, "stderr", needle).await
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Write then rename, as editors and deploy tools do, so a reload never
        // sees half a file.
        let tmp = path.with_extension("tmp-write");
        std::fs::write(&tmp, contents).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const SIGHUP: i32 = 1;
pub const SIGTERM: i32 = 15;

fn unsafe_kill(pid: i32, sig: i32) {
    // `kill` from the shell keeps the tests free of unsafe code and libc.
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn collect_lines(
    pipe: impl std::io::Read + Send + 'static,
    announce: Option<mpsc::Sender<String>>,
) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &announce {
                if line.contains("\"event\":\"listening\"") {
                    let _ = tx.send(line.clone());
                }
            }
            if std::env::var("GATEHOUSE_TEST_ECHO").is_ok() {
                eprintln!("[gatehouse] {line}");
            }
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// Listeners are bound by pingora just after the announcement: wait for the
/// port to accept.
fn wait_for_port(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "{addr} never accepted");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn client() -> reqwest::Client {
    gatehouse::tls::install_crypto();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub async fn json(resp: reqwest::Response) -> serde_json::Value {
    resp.json().await.unwrap()
}

/// GET `url` and its JSON body.
pub async fn get_json(url: &str) -> serde_json::Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `check` every 20ms until it gives a value; fails the test naming
/// `what` if none comes within `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_line(lines: &Mutex<Vec<String>>, stream: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(l) = lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        assert!(Instant::now() < deadline, "no {stream} line with {needle}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
