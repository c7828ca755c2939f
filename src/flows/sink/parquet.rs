//! Parquet files: the Arrow schema is declared in the flow
//! (`destination.schema`) or inferred from the first page of (mapped)
//! records, so integers stay integers, decimals doubles, booleans booleans
//! and nested objects structs. A later record whose field does not
//! fit its column is returned to the caller, which files it under the error
//! prefix with the reason.

use crate::flows::error::FlowError;
use arrow_json::reader::{infer_json_schema_from_iterator, Decoder, ReaderBuilder};
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;
use std::sync::Arc;

/// Rows per row group: bounds the memory a file being written holds.
const ROW_GROUP_ROWS: usize = 64 * 1024;

#[derive(Default)]
pub struct ParquetEncoder {
    declared: Option<SchemaRef>,
    open: Option<(ArrowWriter<Vec<u8>>, SchemaRef)>,
}

/// `rows` sizes the decoder's buffers (it decodes whatever it is given).
fn decoder(schema: &SchemaRef, rows: usize) -> Result<Decoder, FlowError> {
    ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.max(1))
        .build_decoder()
        .map_err(FlowError::destination)
}

impl ParquetEncoder {
    pub fn new(declared: Option<SchemaRef>) -> ParquetEncoder {
        ParquetEncoder {
            declared,
            open: None,
        }
    }

    pub fn write(&mut self, records: Vec<Value>) -> Result<Vec<(Value, String)>, FlowError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        if self.open.is_none() {
            let schema: SchemaRef = match &self.declared {
                Some(schema) => schema.clone(),
                None => Arc::new(
                    infer_json_schema_from_iterator(records.iter().map(Ok)).map_err(|e| {
                        FlowError::Destination(format!("cannot infer a Parquet schema: {e}"))
                    })?,
                ),
            };
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .build();
            let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
                .map_err(FlowError::destination)?;
            self.open = Some((writer, schema));
        }
        let Some((writer, schema)) = self.open.as_mut() else {
            return Ok(Vec::new());
        };
        let mut whole = decoder(schema, records.len())?;
        let batch = whole.serialize(&records).and_then(|()| whole.flush());
        if let Ok(Some(batch)) = batch {
            writer.write(&batch).map_err(FlowError::destination)?;
            return Ok(Vec::new());
        }
        // Some record does not fit: find which, one at a time.
        let mut rejected = Vec::new();
        for record in records {
            let mut one = decoder(schema, 1)?;
            match one
                .serialize(std::slice::from_ref(&record))
                .and_then(|()| one.flush())
            {
                Ok(Some(batch)) => writer.write(&batch).map_err(FlowError::destination)?,
                Ok(None) => {}
                Err(e) => rejected.push((record, format!("does not fit the Parquet schema: {e}"))),
            }
        }
        Ok(rejected)
    }

    pub fn take(&mut self) -> Result<Vec<u8>, FlowError> {
        Ok(match self.open.as_mut() {
            // Only bytes the writer already wrote: its offsets are counted
            // separately, so taking them does not disturb the file.
            Some((writer, _)) => std::mem::take(writer.inner_mut()),
            None => Vec::new(),
        })
    }

    /// Writes the footer; returns the file's last bytes.
    pub fn finish(self) -> Result<Vec<u8>, FlowError> {
        match self.open {
            Some((mut writer, _)) => {
                writer.finish().map_err(FlowError::destination)?;
                Ok(std::mem::take(writer.inner_mut()))
            }
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Float64Array, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use serde_json::json;

    #[test]
    fn types_survive_and_misfits_are_returned() {
        let mut encoder = ParquetEncoder::default();
        let first = vec![
            json!({"id": 1, "total": 2.5, "name": "a"}),
            json!({"id": 2, "total": 3.0, "name": "b"}),
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
        assert_eq!(totals.value(0), 2.5);
        let names = b
            .column_by_name("name")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(names.value(1), "b");
        assert_eq!(ids.null_count(), 0);
    }
}
