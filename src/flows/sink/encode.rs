//! Records -> bytes for one file: JSON Lines or CSV (optionally gzip or
//! zstd), or Parquet (`parquet.rs`). Encoders write into memory; the sink
//! drains what they produced after every page, so a file of any size costs
//! one page of memory plus the compressor's window.

use super::parquet::ParquetEncoder;
use crate::config::flow_spec::{Compression, Format};
use crate::flows::error::FlowError;
use crate::flows::record;
use serde_json::Value;
use std::io::Write;

/// A byte sink whose output can be taken as it is produced.
pub enum Compressor {
    Plain(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zstd(zstd::Encoder<'static, Vec<u8>>),
}

impl Compressor {
    pub fn new(compression: Compression) -> Result<Compressor, FlowError> {
        Ok(match compression {
            Compression::None => Compressor::Plain(Vec::new()),
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )),
            Compression::Zstd => {
                Compressor::Zstd(zstd::Encoder::new(Vec::new(), 3).map_err(FlowError::destination)?)
            }
        })
    }

    /// The bytes produced so far, leaving the stream open.
    pub fn take(&mut self) -> Vec<u8> {
        let inner = match self {
            Compressor::Plain(v) => v,
            Compressor::Gzip(g) => g.get_mut(),
            Compressor::Zstd(z) => z.get_mut(),
        };
        std::mem::take(inner)
    }

    /// Ends the stream; returns its last bytes.
    pub fn finish(self) -> Result<Vec<u8>, FlowError> {
        match self {
            Compressor::Plain(v) => Ok(v),
            Compressor::Gzip(g) => g.finish().map_err(FlowError::destination),
            Compressor::Zstd(z) => z.finish().map_err(FlowError::destination),
        }
    }
}

impl Write for Compressor {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Compressor::Plain(v) => v.write(buf),
            Compressor::Gzip(g) => g.write(buf),
            Compressor::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub enum Encoder {
    JsonLines(Compressor),
    Csv {
        out: Compressor,
        /// The columns: the run's, when this file started (`start`).
        columns: Option<Vec<String>>,
    },
    Parquet(Box<ParquetEncoder>),
}

impl Encoder {
    pub fn new(
        format: Format,
        compression: Compression,
        schema: Option<arrow_schema::SchemaRef>,
    ) -> Result<Encoder, FlowError> {
        Ok(match format {
            Format::JsonLines => Encoder::JsonLines(Compressor::new(compression)?),
            Format::Csv => Encoder::Csv {
                out: Compressor::new(compression)?,
                columns: None,
            },
            Format::Parquet => {
                let schema = schema.ok_or_else(|| {
                    FlowError::Destination("a Parquet file needs a schema".into())
                })?;
                Encoder::Parquet(Box::new(ParquetEncoder::new(schema)?))
            }
        })
    }

    /// Encodes records; returns the ones that do not fit the file (Parquet:
    /// a type other than the column's), with the reason.
    pub fn write(&mut self, records: Vec<Value>) -> Result<Vec<(Value, String)>, FlowError> {
        match self {
            Encoder::JsonLines(out) => {
                for r in &records {
                    serde_json::to_writer(&mut *out, r).map_err(FlowError::destination)?;
                    out.write_all(b"\n").map_err(FlowError::destination)?;
                }
                Ok(Vec::new())
            }
            Encoder::Csv { out, columns } => {
                let columns = columns.get_or_insert_with(|| match records.first() {
                    Some(Value::Object(map)) => map.keys().cloned().collect(),
                    _ => vec!["value".to_string()],
                });
                let mut writer = csv::WriterBuilder::new().from_writer(&mut *out);
                for r in &records {
                    let row: Vec<String> = columns
                        .iter()
                        .map(|c| record::get(r, c).map(record::text).unwrap_or_default())
                        .collect();
                    writer.write_record(&row).map_err(FlowError::destination)?;
                }
                writer.flush().map_err(FlowError::destination)?;
                Ok(Vec::new())
            }
            Encoder::Parquet(p) => p.write(records),
        }
    }

    /// Writes the CSV header; called once per file before the first rows.
    pub fn start(&mut self, run_columns: &[String]) -> Result<(), FlowError> {
        if let Encoder::Csv { out, columns } = self {
            let cols: Vec<String> = if run_columns.is_empty() {
                vec!["value".to_string()]
            } else {
                run_columns.to_vec()
            };
            let mut writer = csv::WriterBuilder::new().from_writer(&mut *out);
            writer.write_record(&cols).map_err(FlowError::destination)?;
            writer.flush().map_err(FlowError::destination)?;
            *columns = Some(cols);
        }
        Ok(())
    }

    pub fn take(&mut self) -> Result<Vec<u8>, FlowError> {
        match self {
            Encoder::JsonLines(out) | Encoder::Csv { out, .. } => Ok(out.take()),
            Encoder::Parquet(p) => p.take(),
        }
    }

    pub fn finish(self) -> Result<Vec<u8>, FlowError> {
        match self {
            Encoder::JsonLines(out) | Encoder::Csv { out, .. } => out.finish(),
            Encoder::Parquet(p) => p.finish(),
        }
    }
}
