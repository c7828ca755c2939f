//! Parquet files: the Arrow schema is inferred from the first page of
//! (mapped) records, so integers stay integers, decimals doubles, booleans
//! booleans and nested objects structs. A later record whose field does not
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
    open: Option<(ArrowWriter<Vec<u8>>, SchemaRef)>,
}

fn decoder(schema: &SchemaRef) -> Result<Decoder, FlowError> {
    ReaderBuilder::new(schema.clone())
        .with_batch_size(usize::MAX / 2)
        .build_decoder()
        .map_err(FlowError::destination)
}

impl ParquetEncoder {
    pub fn write(&mut self, records: Vec<Value>) -> Result<Vec<(Value, String)>, FlowError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        if self.open.is_none() {
            let schema = infer_json_schema_from_iterator(records.iter().map(Ok)).map_err(|e| {
                FlowError::Destination(format!("cannot infer a Parquet schema: {e}"))
            })?;
            let schema: SchemaRef = Arc::new(schema);
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
        let mut whole = decoder(schema)?;
        let batch = whole.serialize(&records).and_then(|()| whole.flush());
        if let Ok(Some(batch)) = batch {
            writer.write(&batch).map_err(FlowError::destination)?;
            return Ok(Vec::new());
        }
        // Some record does not fit: find which, one at a time.
        let mut rejected = Vec::new();
        for record in records {
            let mut one = decoder(schema)?;
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
