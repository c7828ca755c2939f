//! Destination URLs -> object stores: `file://` (the data dir's `lake/`),
//! `file:///abs/path`, `s3://bucket/prefix` (any S3 API), `memory://name`
//! (a process-wide in-memory store, for tests).

use crate::flows::error::FlowError;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

pub fn open(
    url: &str,
    data_dir: &Path,
    s3: &BTreeMap<String, String>,
) -> Result<Arc<dyn ObjectStore>, FlowError> {
    if url == "file://" || url == "file:" {
        return local(&data_dir.join("lake"));
    }
    if let Some(path) = url.strip_prefix("file://") {
        return local(Path::new(path));
    }
    if let Some(name) = url.strip_prefix("memory://") {
        static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
        let mut stores = STORES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let store = stores.entry(name.to_string()).or_default().clone();
        return Ok(store);
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        crate::tls::install_crypto();
        let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
        // Checked when the config loaded (config/s3_options.rs).
        for (key, value) in s3 {
            let key = AmazonS3ConfigKey::from_str(key)
                .map_err(|e| FlowError::Destination(format!("s3 option: {e}")))?;
            builder = builder.with_config(key, value);
        }
        let store = builder
            .build()
            .map_err(|e| FlowError::Destination(format!("cannot configure s3://{bucket}: {e}")))?;
        let prefix = prefix.trim_matches('/');
        return Ok(if prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        });
    }
    Err(FlowError::Destination(format!(
        "unsupported destination URL {url}: use file://, s3:// or memory://"
    )))
}

fn local(dir: &Path) -> Result<Arc<dyn ObjectStore>, FlowError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| FlowError::Destination(format!("cannot create {}: {e}", dir.display())))?;
    let store = LocalFileSystem::new_with_prefix(dir).map_err(FlowError::destination)?;
    Ok(Arc::new(store))
}
