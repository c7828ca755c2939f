//! Flow destinations: every format (JSON Lines, CSV, Parquet; gzip and
//! zstd) read back record for record, files split at a size, the manifest
//! written last, and an S3 destination against a real S3 API on 127.0.0.1
//! (moto's server, from pip).

mod common;

use common::flows::FlowDir;
use common::moto::moto;
use common::saas::Saas;
use serde_json::{json, Value};
use std::io::Read;
use std::path::Path;

const RECORDS: u64 = 23;

fn flow(saas: &Saas, destination: &str) -> String {
    format!(
        "allow_private_network: true
source:
  http:
    base_url: {}
    path: /generic/items
    records: items
    pagination: {{kind: offset, param: offset, size_param: limit, size: 10}}
tasks:
  - map: {{id: id, name: name, amount: amount, open: status, updated_at: updated_at}}
  - cast: {{field: open, to: string}}
  - arithmetic: {{into: double, left: amount, op: multiply, right: 2}}
destination:
{destination}",
        saas.url()
    )
}

/// What the tasks make of record `id` (see `Saas::insert`).
fn expected(saas: &Saas) -> Vec<Value> {
    saas.records()
        .iter()
        .map(|r| {
            json!({"id": r.id, "name": r.name, "amount": r.amount, "open": r.status,
                   "updated_at": r.rfc3339(), "double": r.amount * 2})
        })
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        Some("zst") => zstd::decode_all(&bytes[..]).unwrap(),
        _ => bytes,
    }
}

fn jsonl(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// CSV cells come back as text; numbers are parsed back where the
/// expected record has a number.
fn csv_records(bytes: &[u8]) -> Vec<Value> {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            let mut out = serde_json::Map::new();
            for (h, cell) in headers.iter().zip(row.iter()) {
                let value = cell
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(cell));
                out.insert(h.to_string(), value);
            }
            Value::Object(out)
        })
        .collect()
}

fn parquet_records(path: &Path) -> Vec<Value> {
    use arrow_array::{Array, Int64Array, StringArray};
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            let mut record = serde_json::Map::new();
            for (i, field) in schema.fields().iter().enumerate() {
                let column = batch.column(i);
                // Types are preserved: integers stay Int64, text Utf8.
                let value = if let Some(ints) = column.as_any().downcast_ref::<Int64Array>() {
                    Value::from(ints.value(row))
                } else if let Some(text) = column.as_any().downcast_ref::<StringArray>() {
                    Value::from(text.value(row))
                } else {
                    panic!("unexpected column type {:?}", field.data_type());
                };
                record.insert(field.name().clone(), value);
            }
            out.push(Value::Object(record));
        }
    }
    out
}

fn sorted(mut records: Vec<Value>) -> Vec<Value> {
    records.sort_by_key(|r| r["id"].as_u64());
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_lands_each_record_exactly_once() {
    let saas = Saas::start(RECORDS).await;
    let dir = FlowDir::new();
    let cases = [
        ("jsonl", "  format: jsonl\n", ".jsonl"),
        (
            "jsonl_gzip",
            "  format: jsonl\n  compression: gzip\n",
            ".jsonl.gz",
        ),
        ("csv", "  format: csv\n", ".csv"),
        (
            "csv_zstd",
            "  format: csv\n  compression: zstd\n",
            ".csv.zst",
        ),
        ("parquet", "  format: parquet\n", ".parquet"),
        // Split into files of about 1 KiB.
        (
            "split",
            "  format: jsonl\n  max_file_size: 1KiB\n",
            ".jsonl",
        ),
    ];
    for (name, destination, _) in &cases {
        dir.flow(name, &flow(&saas, destination));
    }
    for (name, _, extension) in cases {
        let run = dir.run(name);
        assert_eq!(run["status"], "Successful", "{name}: {run}");
        assert_eq!(run["records_written"], RECORDS, "{name}");
        let files = run["files"].as_array().unwrap();
        let mut records = Vec::new();
        let mut bytes = 0;
        for file in files {
            let key = file["key"].as_str().unwrap();
            assert!(key.ends_with(extension), "{name}: {key}");
            let path = dir.lake().join(key);
            bytes += std::fs::metadata(&path).unwrap().len();
            let got = match name {
                "parquet" => parquet_records(&path),
                "csv" | "csv_zstd" => csv_records(&read(&path)),
                _ => jsonl(&read(&path)),
            };
            assert_eq!(got.len() as u64, file["records"].as_u64().unwrap(), "{key}");
            records.extend(got);
        }
        assert_eq!(run["bytes_written"], bytes, "{name}");
        let want = expected(&saas);
        assert_eq!(sorted(records), want, "{name}");
        if name == "split" {
            assert!(files.len() >= 3, "{name}: {} files", files.len());
        } else {
            assert_eq!(files.len(), 1, "{name}");
        }
        // The manifest is there, listing exactly these files.
        let run_id = run["id"].as_str().unwrap();
        let folder = Path::new(files[0]["key"].as_str().unwrap())
            .parent()
            .unwrap()
            .to_path_buf();
        assert!(folder.to_string_lossy().contains(run_id));
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(dir.lake().join(&folder).join("_manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["run_id"], run_id);
        assert_eq!(manifest["records_written"], RECORDS);
        assert_eq!(manifest["files"].as_array().unwrap().len(), files.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_go_to_the_error_prefix_with_their_reason() {
    let saas = Saas::start(RECORDS).await;
    let dir = FlowDir::new();
    dir.flow(
        "checked",
        &format!(
            "{}tasks:\n  - validate: {{field: amount, check: non_negative}}\n",
            flow(&saas, "  format: jsonl\n")
                .split("tasks:")
                .next()
                .unwrap()
        ),
    );
    let run = dir.run("checked");
    assert_eq!(run["status"], "Successful", "{run}");
    let negative: Vec<u64> = saas
        .records()
        .iter()
        .filter(|r| r.amount < 0)
        .map(|r| r.id)
        .collect();
    assert!(!negative.is_empty());
    assert_eq!(run["records_invalid"], negative.len() as u64);
    assert_eq!(run["records_written"], RECORDS - negative.len() as u64);
    let errors: Vec<String> = common::flows::files_under(&dir.lake())
        .into_iter()
        .filter(|f| f.contains("_errors/"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let filed = jsonl(&std::fs::read(dir.lake().join(&errors[0])).unwrap());
    let ids: Vec<u64> = filed
        .iter()
        .map(|e| e["record"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, negative);
    assert!(
        filed[0]["reason"].as_str().unwrap().contains("amount"),
        "{}",
        filed[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_destinations_get_the_files_and_the_manifest() {
    gatehouse::tls::install_crypto();
    let saas = Saas::start(RECORDS).await;
    let s3 = moto().await;
    let client = reqwest::Client::new();
    let created = client.put(format!("{}/lake", s3.url)).send().await.unwrap();
    assert!(created.status().is_success(), "{:?}", created.text().await);
    let dir = FlowDir::new();
    dir.flow(
        "to_s3",
        &flow(
            &saas,
            &format!(
                "  url: s3://lake/raw\n  format: jsonl\n  s3:\n    endpoint: {}\n    region: us-east-1\n    access_key_id: test\n    secret_access_key: test\n    allow_http: true\n",
                s3.url
            ),
        ),
    );
    let run = dir.run("to_s3");
    assert_eq!(run["status"], "Successful", "{run}");
    // Read back with a signed S3 client (moto refuses anonymous reads).
    let bucket = s3.bucket("lake");
    let get = |key: String| {
        let bucket = &bucket;
        async move {
            use object_store::ObjectStoreExt;
            let path = object_store::path::Path::from(key.as_str());
            bucket.get(&path).await.unwrap().bytes().await.unwrap()
        }
    };
    let key = run["files"][0]["key"].as_str().unwrap().to_string();
    let records = jsonl(&get(format!("raw/{key}")).await);
    assert_eq!(sorted(records), expected(&saas));
    let folder = Path::new(&key)
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let manifest: Value =
        serde_json::from_slice(&get(format!("raw/{folder}/_manifest.json")).await).unwrap();
    assert_eq!(manifest["records_written"], RECORDS);
    assert_eq!(manifest["files"][0]["key"], key.as_str());

    // A second run of the same data goes under its own run id: nothing of
    // the first is overwritten or duplicated within a run's folder.
    let again = dir.run("to_s3");
    assert_eq!(again["status"], "Successful");
    assert_ne!(again["files"][0]["key"], run["files"][0]["key"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_parquet_schema_sets_the_column_types() {
    use arrow_array::{Array, Decimal128Array, Int64Array, TimestampMicrosecondArray};
    let saas = Saas::start(RECORDS).await;
    let dir = FlowDir::new();
    dir.flow(
        "typed",
        &flow(
            &saas,
            "  format: parquet\n  schema: {id: integer, amount: 'decimal(12,2)', updated_at: timestamp}\n",
        ),
    );
    let run = dir.run("typed");
    assert_eq!(run["status"], "Successful", "{run}");
    let path = dir.lake().join(run["files"][0]["key"].as_str().unwrap());
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(path).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut rows = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["amount", "id", "updated_at"]);
        let amount = batch
            .column(0)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        assert_eq!(amount.scale(), 2);
        let id = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let at = batch
            .column(2)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        for i in 0..batch.num_rows() {
            let r = &saas.records()[id.value(i) as usize - 1];
            assert_eq!(amount.value(i), r.amount as i128 * 100);
            assert_eq!(at.value(i), r.updated * 1_000_000);
        }
        rows += batch.num_rows();
    }
    assert_eq!(rows as u64, RECORDS);

    // `schema` is refused for other formats, with its position.
    dir.flow(
        "wrong",
        &flow(&saas, "  format: jsonl\n  schema: {id: integer}\n"),
    );
    let (ok, _, stderr) = dir.cli(&["validate"]);
    assert!(!ok);
    assert!(
        stderr
            .contains("flows/wrong.yaml:14:11: destination.schema: `schema` is for format parquet"),
        "{stderr}"
    );
}
