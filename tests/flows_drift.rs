//! Flows while the source's shape drifts and its records change during a
//! run: fields null on whole pages, fields that first appear late, empty
//! objects, records inserted and updated between pages. Each test reads
//! the output back record by record and compares it with the source.

mod common;

use common::flows::{parquet_rows, parquet_schema, without_nulls, FlowDir};
use common::saas::Saas;
use serde_json::{json, Value};

fn flow(saas: &Saas, tasks: &str, destination: &str) -> String {
    format!(
        "allow_private_network: true
source:
  http:
    base_url: {}
    path: /generic/items
    records: items
    pagination: {{kind: offset, param: offset, size_param: limit, size: 10}}
{tasks}destination:
{destination}",
        saas.url()
    )
}

fn by_id(mut records: Vec<Value>) -> Vec<Value> {
    records.sort_by_key(|r| r["id"].as_u64());
    records
}

/// Page 1 (ids 1-10): `email` null and `metadata` empty everywhere;
/// page 2: `email` set, one `metadata` with a key, `tags`; page 3:
/// `edited` appears.
fn drifting(saas: &Saas) {
    for id in 1..=25u64 {
        let extra = match id {
            1..=10 => json!({"email": null, "metadata": {}}),
            11..=20 => json!({
                "email": format!("c{id}@example.test"),
                "metadata": if id == 13 { json!({"plan": "gold"}) } else { json!({}) },
                "tags": if id % 2 == 0 { json!(["a", "b"]) } else { json!([]) },
            }),
            _ => json!({
                "email": format!("c{id}@example.test"),
                "edited": {"user": "U1", "ts": format!("{id}.000200")},
            }),
        };
        saas.set_extra(id, extra);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_widens_its_schema_as_pages_bring_types_and_fields() {
    let saas = Saas::start(25).await;
    drifting(&saas);
    let dir = FlowDir::new();
    dir.flow("drift", &flow(&saas, "", "  format: parquet\n"));
    let run = dir.run("drift");
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(run["records_invalid"], 0, "{run}");
    assert_eq!(run["records_written"], 25);

    let files: Vec<_> = run["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| dir.lake().join(f["key"].as_str().unwrap()))
        .collect();
    // Page 2 typed `email` and brought `tags`, page 3 brought `edited`:
    // each widening starts a part.
    assert_eq!(files.len(), 3, "{run}");
    let mut rows = Vec::new();
    for (file, entry) in files.iter().zip(run["files"].as_array().unwrap()) {
        let got = parquet_rows(file);
        assert_eq!(got.len() as u64, entry["records"].as_u64().unwrap());
        rows.extend(got);
    }
    let expected: Vec<Value> = saas
        .records()
        .iter()
        .map(|r| without_nulls(&r.json()))
        .collect();
    assert_eq!(by_id(rows), expected);

    let first = parquet_schema(&files[0]);
    assert_eq!(
        first.field_with_name("email").unwrap().data_type(),
        &arrow_schema::DataType::Null
    );
    let last = parquet_schema(&files[2]);
    assert_eq!(
        last.field_with_name("email").unwrap().data_type(),
        &arrow_schema::DataType::Utf8
    );
    assert!(matches!(
        last.field_with_name("edited").unwrap().data_type(),
        arrow_schema::DataType::Struct(_)
    ));
    assert!(matches!(
        last.field_with_name("tags").unwrap().data_type(),
        arrow_schema::DataType::List(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_schema_takes_lists_structs_json_and_exact_decimals() {
    use arrow_array::{Array, Decimal128Array};
    let saas = Saas::start(25).await;
    drifting(&saas);
    // A list where text is declared cannot be written: that one record
    // goes to the error prefix, the run goes on.
    saas.set_extra(25, json!({"tags": "oops"}));
    let dir = FlowDir::new();
    dir.flow(
        "typed",
        &flow(
            &saas,
            "tasks:\n  - arithmetic: {into: price, left: amount, op: divide, right: 8}\n",
            "  format: parquet
  schema:
    id: integer
    price: decimal(12,3)
    metadata: json
    tags: list<string>
    edited: {user: string, ts: string}
    extras: 'list<struct<k: string, v: json>>'
",
        ),
    );
    let run = dir.run("typed");
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(run["records_written"], 24, "{run}");
    assert_eq!(run["records_invalid"], 1, "{run}");
    let warnings = run["warnings"].as_array().unwrap();
    assert_eq!(
        warnings,
        &[json!("fields not in the declared Parquet schema were left out: amount, email, name, status, updated, updated_at")],
    );

    let file = dir.lake().join(run["files"][0]["key"].as_str().unwrap());
    assert_eq!(
        run["files"].as_array().unwrap().len(),
        1,
        "a declared schema never widens"
    );
    let rows = by_id(parquet_rows(&file));
    let source = saas.records();
    for row in &rows {
        let r = &source[row["id"].as_u64().unwrap() as usize - 1];
        let want = r.json();
        // JSON columns hold the value's JSON text; `{}` stays `{}`.
        match &want["metadata"] {
            Value::Null => assert!(row.get("metadata").is_none(), "{row}"),
            m => assert_eq!(row["metadata"], json!(m.to_string()), "{row}"),
        }
        assert_eq!(row.get("tags"), want.get("tags"), "{row}");
        assert_eq!(row.get("edited"), want.get("edited"), "{row}");
    }
    assert_eq!(rows.len(), 24);
    // Exact decimals: amount / 8 to three places.
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    for batch in reader {
        let batch = batch.unwrap();
        let ids = batch.column_by_name("id").unwrap();
        let ids = ids
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        let price = batch.column_by_name("price").unwrap();
        let price = price.as_any().downcast_ref::<Decimal128Array>().unwrap();
        for i in 0..batch.num_rows() {
            let amount = source[ids.value(i) as usize - 1].amount as i128;
            assert_eq!(price.value(i), amount * 1000 / 8, "id {}", ids.value(i));
        }
    }

    // The error file says why record 25 was refused.
    let error_file = common::flows::files_under(&dir.lake())
        .into_iter()
        .find(|f| f.starts_with("_errors/"))
        .expect("an error file");
    let errors = std::fs::read_to_string(dir.lake().join(error_file)).unwrap();
    assert!(
        errors.contains("does not fit the Parquet schema"),
        "{errors}"
    );
}

/// A value as a CSV cell holds it: text as is, anything else as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// CSV rows as header -> cell maps.
fn csv_rows(bytes: &[u8]) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|row| {
            headers
                .iter()
                .zip(row.unwrap().iter())
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drifting_records_land_whole_in_s3_as_parquet_and_csv() {
    gatehouse::tls::install_crypto();
    let saas = Saas::start(25).await;
    drifting(&saas);
    let s3 = common::moto::moto().await;
    s3.create_bucket("lake").await;
    let dir = FlowDir::new();
    for format in ["parquet", "csv"] {
        dir.flow(
            format,
            &flow(
                &saas,
                "",
                &format!(
                    "  url: s3://lake/{format}\n  format: {format}\n{}",
                    s3.destination_options()
                ),
            ),
        );
    }
    let source: Vec<Value> = saas.records().iter().map(|r| r.json()).collect();

    let run = dir.run("parquet");
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(run["records_invalid"], 0);
    let mut rows = Vec::new();
    let scratch = tempfile::tempdir().unwrap();
    for (i, file) in run["files"].as_array().unwrap().iter().enumerate() {
        let key = format!("parquet/{}", file["key"].as_str().unwrap());
        let path = scratch.path().join(format!("{i}.parquet"));
        std::fs::write(&path, s3.get("lake", &key).await).unwrap();
        rows.extend(parquet_rows(&path));
    }
    let expected: Vec<Value> = source.iter().map(without_nulls).collect();
    assert_eq!(by_id(rows), expected);

    let run = dir.run("csv");
    assert_eq!(run["status"], "Successful", "{run}");
    let mut rows = Vec::new();
    for file in run["files"].as_array().unwrap() {
        let key = format!("csv/{}", file["key"].as_str().unwrap());
        rows.extend(csv_rows(&s3.get("lake", &key).await));
    }
    assert_eq!(rows.len(), source.len());
    rows.sort_by_key(|r| r["id"].parse::<u64>().unwrap());
    for (row, record) in rows.iter().zip(&source) {
        let Value::Object(fields) = record else {
            unreachable!()
        };
        for (name, value) in fields {
            assert_eq!(
                row.get(name).map(String::as_str).unwrap_or(""),
                cell(value),
                "record {}: `{name}`",
                record["id"]
            );
        }
    }
}
