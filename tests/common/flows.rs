//! Flow test helpers: a config folder written by the test, `gatehouse flow`
//! run on it as a real process, waiting for runs the server started, and
//! reading what landed in the lake.

use super::Gatehouse;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A folder with `flows/<id>.yaml` files (and optionally gatehouse.yaml).
pub struct FlowDir {
    pub dir: tempfile::TempDir,
}

impl FlowDir {
    pub fn new() -> FlowDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("flows")).unwrap();
        FlowDir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn flow(&self, id: &str, yaml: &str) -> &FlowDir {
        std::fs::write(self.path().join("flows").join(format!("{id}.yaml")), yaml).unwrap();
        self
    }

    /// `gatehouse -C DIR ARGS...`: (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("-C")
            .arg(self.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `flow run NAME --json`: the run record (whether it succeeded or not).
    pub fn run(&self, flow: &str) -> Value {
        let (_, stdout, stderr) = self.cli(&["flow", "run", flow, "--json"]);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|_| panic!("no run record from `flow run {flow}`:\n{stdout}\n{stderr}"))
    }

    pub fn lake(&self) -> PathBuf {
        self.path().join("data/lake")
    }
}

/// Polls the admin API until the run has ended; its record.
pub async fn wait_for_run(gh: &Gatehouse, flow: &str, run_id: &str) -> Value {
    let client = super::client();
    let url = gh.admin_url(&format!("/flows/{flow}/runs/{run_id}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = client.get(&url).send().await.unwrap();
        if resp.status() == 200 {
            let run: Value = resp.json().await.unwrap();
            if run["status"] != "InProgress" {
                return run;
            }
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} of {flow} did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every file under `dir`, as sorted paths relative to it.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The JSON Lines records of every data file of one run (manifest order).
pub fn run_records(lake: &Path, run: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for file in run["files"].as_array().unwrap() {
        let key = file["key"].as_str().unwrap();
        let text = std::fs::read_to_string(lake.join(key)).unwrap();
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    out
}

/// A Parquet file's rows as JSON objects (Arrow's JSON writer: null
/// values are left out, decimals are numbers).
pub fn parquet_rows(path: &Path) -> Vec<Value> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    let mut writer = arrow_json::LineDelimitedWriter::new(&mut out);
    for batch in reader {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.finish().unwrap();
    drop(writer);
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The Arrow schema of a Parquet file.
pub fn parquet_schema(path: &Path) -> arrow_schema::SchemaRef {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .schema()
        .clone()
}

/// A record as a Parquet row reads back: without null values and empty
/// objects.
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}
