//! One Parquet file: records decoded into Arrow batches of the file's
//! schema (declared, or the run's shape when the file started; see
//! `layout.rs`) and written with snappy. A record that does not fit the
//! schema is returned to the caller, which files it under the error prefix
//! with the reason.

use crate::flows::error::FlowError;
use arrow_json::reader::{Decoder, ReaderBuilder};
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;

/// Rows per row group: bounds the memory a file being written holds.
const ROW_GROUP_ROWS: usize = 64 * 1024;

pub struct ParquetEncoder {
    writer: ArrowWriter<Vec<u8>>,
    schema: SchemaRef,
}

/// `rows` sizes the decoder's buffers (it decodes whatever it is given).
/// Numbers and booleans in a text column are written as text.
fn decoder(schema: &SchemaRef, rows: usize) -> Result<Decoder, FlowError> {
    ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.max(1))
        .with_coerce_primitive(true)
        .build_decoder()
        .map_err(FlowError::destination)
}

impl ParquetEncoder {
    pub fn new(schema: SchemaRef) -> Result<ParquetEncoder, FlowError> {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
            .map_err(FlowError::destination)?;
        Ok(ParquetEncoder { writer, schema })
    }

    pub fn write(&mut self, records: Vec<Value>) -> Result<Vec<(Value, String)>, FlowError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut whole = decoder(&self.schema, records.len())?;
        let batch = whole.serialize(&records).and_then(|()| whole.flush());
        if let Ok(Some(batch)) = batch {
            self.writer.write(&batch).map_err(FlowError::destination)?;
            return Ok(Vec::new());
        }
        // Some record does not fit: find which, one at a time.
        let mut rejected = Vec::new();
        for record in records {
            let mut one = decoder(&self.schema, 1)?;
            match one
                .serialize(std::slice::from_ref(&record))
                .and_then(|()| one.flush())
            {
                Ok(Some(batch)) => self.writer.write(&batch).map_err(FlowError::destination)?,
                Ok(None) => {}
                Err(e) => rejected.push((record, format!("does not fit the Parquet schema: {e}"))),
            }
        }
        Ok(rejected)
    }

    pub fn take(&mut self) -> Result<Vec<u8>, FlowError> {
        // Only bytes the writer already wrote: its offsets are counted
        // separately, so taking them does not disturb the file.
        Ok(std::mem::take(self.writer.inner_mut()))
    }

    /// Writes the footer; returns the file's last bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, FlowError> {
        self.writer.finish().map_err(FlowError::destination)?;
        Ok(std::mem::take(self.writer.inner_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Float64Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn types_survive_and_misfits_are_returned() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("total", DataType::Float64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("gone", DataType::Null, true),
        ]));
        let mut encoder = ParquetEncoder::new(schema).unwrap();
        let first = vec![
            json!({"id": 1, "total": 2.5, "name": "a"}),
            json!({"id": 2, "total": 3, "name": 7}),
        ];
        assert!(encoder.write(first).unwrap().is_empty());
        let mut bytes = encoder.take().unwrap();
        let rejected = encoder
            .write(vec![
                json!({"id": 3, "total": 1.0, "name": "c"}),
                json!({"id": {"x": 1}, "total": 1.0, "name": "d"}),
            ])
            .unwrap();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].0["name"], "d");
        assert!(
            rejected[0].1.contains("does not fit the Parquet schema"),
            "{}",
            rejected[0].1
        );
        bytes.extend(encoder.take().unwrap());
        bytes.extend(encoder.finish().unwrap());

        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 3);
        let b = &batches[0];
        let ids = b
            .column_by_name("id")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(ids.value(0), 1);
        let totals = b
            .column_by_name("total")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(totals.value(1), 3.0);
        let names = b
            .column_by_name("name")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        // A number in a text column is written as text.
        assert_eq!(names.value(1), "7");
        assert_eq!(ids.null_count(), 0);
        assert_eq!(b.column_by_name("gone").unwrap().logical_null_count(), rows);
    }
}
