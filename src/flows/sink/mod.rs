//! The destination: an object store (a local folder, any S3 API, memory)
//! and the files of one run in it.
//!
//! Keys are rendered from the flow's template with the run's id and start
//! time, so they are the same whenever that run is written: a retried run
//! overwrites its own files. Each file is a multipart upload (a staged file
//! renamed into place on a local disk), so a reader never sees half a file,
//! and `_manifest.json` is written last: a run folder without one is not
//! complete.

pub mod declared;
pub mod encode;
pub mod keys;
pub mod layout;
pub mod parquet;
pub mod shape;
pub mod stores;

use super::error::FlowError;
use crate::config::flow_spec::{Compression, Destination, Format};
pub use crate::store::flows::FileEntry;
use encode::Encoder;
use keys::KeyContext;
pub use layout::columns_of;
use layout::Layout;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use serde_json::{json, Value};
use std::sync::Arc;

/// Bytes per multipart chunk (S3's minimum part size is 5 MiB).
const CHUNK: usize = 5 * 1024 * 1024;

/// One run's output: data files, error files, and at the end the manifest.
pub struct RunWriter {
    store: Arc<dyn ObjectStore>,
    context: KeyContext,
    data: PartStream,
    errors: PartStream,
}

impl RunWriter {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        destination: &Destination,
        context: KeyContext,
    ) -> RunWriter {
        let layout = match (destination.format, &destination.schema) {
            (Format::Csv, _) => Layout::Csv(Vec::new()),
            (Format::Parquet, Some(schema)) => {
                Layout::Declared(Box::new(declared::Declared::new(schema.clone())))
            }
            (Format::Parquet, None) => Layout::Inferred(Default::default()),
            (Format::JsonLines, _) => Layout::Free,
        };
        let data = PartStream::new(
            destination.key.clone(),
            destination.format,
            destination.compression,
            destination.max_file_size,
            layout,
        );
        let errors = PartStream::new(
            format!("_errors/{}", destination.key),
            Format::JsonLines,
            Compression::None,
            destination.max_file_size,
            Layout::Free,
        );
        RunWriter {
            store,
            context,
            data,
            errors,
        }
    }

    /// CSV: the columns every file starts with (a `map`'s targets, in map
    /// order).
    pub fn with_columns(mut self, columns: Vec<String>) -> RunWriter {
        if let Layout::Csv(c) = &mut self.data.layout {
            *c = columns;
        }
        self
    }

    /// What the run should report about its files (fields left out).
    pub fn notes(&self) -> Vec<String> {
        self.data.layout.note().into_iter().collect()
    }

    /// Writes a page of records; those the format refuses are filed as
    /// errors and counted in the return value.
    pub async fn write(&mut self, records: Vec<Value>) -> Result<u64, FlowError> {
        let rejected = self.data.write(&self.store, &self.context, records).await?;
        let count = rejected.len() as u64;
        if count > 0 {
            self.write_errors(rejected).await?;
        }
        Ok(count)
    }

    /// Files invalid records with the reason each was refused.
    pub async fn write_errors(&mut self, invalid: Vec<(Value, String)>) -> Result<(), FlowError> {
        let lines = invalid
            .into_iter()
            .map(|(record, reason)| json!({"reason": reason, "record": record}))
            .collect();
        self.errors.write(&self.store, &self.context, lines).await?;
        Ok(())
    }

    /// Closes the last files and writes the manifest; returns the data
    /// files, then the error files.
    pub async fn commit(
        self,
        summary: Value,
    ) -> Result<(Vec<FileEntry>, Vec<FileEntry>), FlowError> {
        let template = self.data.template.clone();
        let data = self.data.close().await?;
        let errors = self.errors.close().await?;
        let mut manifest = summary;
        manifest["files"] = serde_json::to_value(&data).unwrap_or_default();
        manifest["error_files"] = serde_json::to_value(&errors).unwrap_or_default();
        let key = Path::from(self.context.manifest_key(&template));
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(FlowError::destination)?;
        self.store
            .put(&key, PutPayload::from(bytes))
            .await
            .map_err(FlowError::destination)?;
        Ok((data, errors))
    }

    /// Gives up: aborts the open uploads (finished files stay, and the
    /// missing manifest says the run is incomplete).
    pub async fn abort(self) {
        self.data.abort().await;
        self.errors.abort().await;
    }
}

struct OpenFile {
    key: String,
    upload: WriteMultipart,
    encoder: Encoder,
    records: u64,
    bytes: u64,
}

/// The files of one kind (data or errors), one part after another.
struct PartStream {
    template: String,
    format: Format,
    compression: Compression,
    /// The columns files start with; they only widen during a run.
    layout: Layout,
    max_size: u64,
    next_part: u32,
    open: Option<OpenFile>,
    done: Vec<FileEntry>,
}

impl PartStream {
    fn new(
        template: String,
        format: Format,
        compression: Compression,
        max_size: u64,
        layout: Layout,
    ) -> PartStream {
        PartStream {
            template,
            format,
            compression,
            layout,
            max_size,
            next_part: 0,
            open: None,
            done: Vec::new(),
        }
    }

    async fn write(
        &mut self,
        store: &Arc<dyn ObjectStore>,
        context: &KeyContext,
        records: Vec<Value>,
    ) -> Result<Vec<(Value, String)>, FlowError> {
        let fitted = self.layout.fit(records);
        let (records, mut rejected) = (fitted.records, fitted.rejected);
        if fitted.widened {
            // The open file's header or schema lacks what the page brought:
            // the next part carries it.
            self.finish_file().await?;
        }
        if records.is_empty() {
            return Ok(rejected);
        }
        if self.open.is_none() {
            let key = context.render(
                &self.template,
                self.next_part,
                self.format.extension(self.compression),
            );
            self.next_part += 1;
            let upload = store
                .put_multipart(&Path::from(key.as_str()))
                .await
                .map_err(FlowError::destination)?;
            let mut encoder = Encoder::new(self.format, self.compression, self.layout.schema())?;
            encoder.start(self.layout.columns())?;
            self.open = Some(OpenFile {
                key,
                upload: WriteMultipart::new_with_chunk_size(upload, CHUNK),
                encoder,
                records: 0,
                bytes: 0,
            });
        }
        let Some(file) = self.open.as_mut() else {
            return Ok(rejected);
        };
        let count = records.len() as u64;
        let misfits = file.encoder.write(records)?;
        file.records += count - misfits.len() as u64;
        rejected.extend(misfits);
        let bytes = file.encoder.take()?;
        file.bytes += bytes.len() as u64;
        file.upload.write(&bytes);
        // At most two chunks in flight: memory stays bounded on a slow store.
        file.upload
            .wait_for_capacity(2)
            .await
            .map_err(FlowError::destination)?;
        if file.bytes >= self.max_size {
            self.finish_file().await?;
        }
        Ok(rejected)
    }

    async fn finish_file(&mut self) -> Result<(), FlowError> {
        let Some(mut file) = self.open.take() else {
            return Ok(());
        };
        let tail = file.encoder.finish()?;
        file.bytes += tail.len() as u64;
        file.upload.write(&tail);
        file.upload.finish().await.map_err(FlowError::destination)?;
        self.done.push(FileEntry {
            key: file.key,
            records: file.records,
            bytes: file.bytes,
        });
        Ok(())
    }

    async fn close(mut self) -> Result<Vec<FileEntry>, FlowError> {
        self.finish_file().await?;
        Ok(self.done)
    }

    async fn abort(self) {
        if let Some(file) = self.open {
            let _ = file.upload.abort().await;
        }
    }
}

#[cfg(test)]
mod column_tests {
    use super::*;
    use serde_json::json;

    fn destination() -> Destination {
        Destination {
            url: "memory://".into(),
            format: Format::Csv,
            compression: Compression::None,
            key: "out/{run_id}/part-{part}".into(),
            max_file_size: 1 << 30,
            s3: Default::default(),
            schema: None,
        }
    }

    async fn files(store: &Arc<dyn ObjectStore>, entries: &[FileEntry]) -> Vec<String> {
        let mut out = Vec::new();
        for e in entries {
            let got = store.get(&Path::from(e.key.as_str())).await.unwrap();
            out.push(String::from_utf8(got.bytes().await.unwrap().to_vec()).unwrap());
        }
        out
    }

    fn context() -> KeyContext {
        KeyContext {
            flow: "f".into(),
            run_id: "r1".into(),
            started: chrono::Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_field_first_seen_on_a_later_page_starts_a_wider_part() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let mut w = RunWriter::new(store.clone(), &destination(), context());
        // Page 1: `email` null or absent everywhere; page 2 brings it.
        w.write(vec![
            json!({"id": 1, "name": "a"}),
            json!({"id": 2, "name": null}),
        ])
        .await
        .unwrap();
        w.write(vec![json!({"id": 3, "name": "c", "email": "c@x"})])
            .await
            .unwrap();
        let (data, _) = w.commit(json!({})).await.unwrap();
        assert_eq!(
            files(&store, &data).await,
            ["id,name\n1,a\n2,\n", "id,name,email\n3,c,c@x\n"]
        );
    }

    #[tokio::test]
    async fn a_map_fixes_the_columns_in_map_order() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let columns = vec![
            "z_last".to_string(),
            "buyer.name".to_string(),
            "a_first".to_string(),
        ];
        let mut w = RunWriter::new(store.clone(), &destination(), context()).with_columns(columns);
        w.write(vec![
            json!({"z_last": 1, "buyer": {"name": null}, "a_first": "x"}),
            json!({"z_last": 2, "buyer": {"name": "Ann"}, "a_first": "y"}),
        ])
        .await
        .unwrap();
        let (data, _) = w.commit(json!({})).await.unwrap();
        assert_eq!(
            files(&store, &data).await,
            ["z_last,buyer.name,a_first\n1,,x\n2,Ann,y\n"]
        );
    }
}
