//! Large payloads the SQS/SNS extended clients' way: a body too large for a
//! message is stored as an object, and the message carries a pointer,
//!
//! ```text
//! ["software.amazon.payloadoffloading.PayloadS3Pointer",
//!  {"s3BucketName": "BUCKET", "s3Key": "KEY"}]
//! ```
//!
//! with the `ExtendedPayloadSize` message attribute (the body's size), so
//! consumers using the extended client libraries read the whole body from
//! the bucket. Uploads stream (multipart, a few chunks in flight), so a
//! 2 GB body never sits in memory.

use super::message::AttributeValue;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde_json::Value;
use std::sync::Arc;

pub const POINTER_CLASS: &str = "software.amazon.payloadoffloading.PayloadS3Pointer";
/// The Java extended client's first pointer class, still read.
const LEGACY_POINTER_CLASS: &str = "com.amazon.sqs.javamessaging.MessageS3Pointer";
pub const SIZE_ATTRIBUTE: &str = "ExtendedPayloadSize";
/// What the first extended clients wrote; still read.
pub const LEGACY_SIZE_ATTRIBUTE: &str = "SQSLargePayloadSize";
/// Parts uploaded at once by a streaming upload: memory stays at about
/// this many chunks.
const PARTS_IN_FLIGHT: usize = 2;
const CHUNK: usize = 8 * 1024 * 1024;

pub struct Payloads {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    key_prefix: String,
    /// Bodies larger than this are offloaded.
    pub threshold: u64,
}

#[derive(Debug)]
pub struct PayloadError(pub String);

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn store_error(e: object_store::Error) -> PayloadError {
    PayloadError(format!("the payload store: {e}"))
}

/// A pointer's bucket and key.
#[derive(Debug, PartialEq, Eq)]
pub struct Pointer {
    pub bucket: String,
    pub key: String,
}

impl Payloads {
    /// `store` is the bucket's root: pointers carry whole keys.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        settings: &crate::config::model::LargePayloads,
    ) -> Payloads {
        Payloads {
            store,
            bucket: settings.bucket.clone(),
            key_prefix: settings.key_prefix.clone(),
            threshold: settings.threshold,
        }
    }

    fn new_key(&self) -> String {
        let id = uuid::Uuid::from_u128(fastrand::u128(..));
        format!("{}{id}", self.key_prefix)
    }

    /// The message body that points at `key`.
    pub fn pointer(&self, key: &str) -> String {
        serde_json::json!([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": key}]).to_string()
    }

    /// Stores a body held in memory; its key.
    pub async fn put(&self, body: Bytes) -> Result<String, PayloadError> {
        let key = self.new_key();
        self.store
            .put(&Path::from(key.as_str()), PutPayload::from(body))
            .await
            .map_err(store_error)?;
        Ok(key)
    }

    /// Starts a streaming upload.
    pub async fn upload(&self) -> Result<Upload, PayloadError> {
        let key = self.new_key();
        let multipart = self
            .store
            .put_multipart(&Path::from(key.as_str()))
            .await
            .map_err(store_error)?;
        Ok(Upload {
            key,
            writer: WriteMultipart::new_with_chunk_size(multipart, CHUNK),
            size: 0,
        })
    }

    /// The body a message points at, if it is a pointer into this store's
    /// bucket; refused past `max` bytes (the reader would hold it whole).
    pub async fn resolve(&self, pointer: &Pointer, max: u64) -> Result<Bytes, PayloadError> {
        if pointer.bucket != self.bucket {
            return Err(PayloadError(format!(
                "the payload is in bucket `{}`, not this server's `{}`",
                pointer.bucket, self.bucket
            )));
        }
        let path = Path::from(pointer.key.as_str());
        let meta = self.store.head(&path).await.map_err(store_error)?;
        if meta.size > max {
            return Err(PayloadError(format!(
                "the payload is {} bytes, over the {max} a reader takes",
                meta.size
            )));
        }
        let got = self.store.get(&path).await.map_err(store_error)?;
        got.bytes().await.map_err(store_error)
    }
}

/// The `ExtendedPayloadSize` attribute for a body of `size` bytes.
pub fn size_attribute(size: u64) -> AttributeValue {
    AttributeValue {
        data_type: "Number".into(),
        string_value: Some(size.to_string()),
        binary_value: None,
    }
}

/// The pointer a message body is, when the message says it carries one (an
/// `ExtendedPayloadSize` or `SQSLargePayloadSize` attribute) and the body
/// has the pointer's shape.
pub fn pointer_of(body: &str, attributes: &super::message::Attributes) -> Option<Pointer> {
    if !attributes.contains_key(SIZE_ATTRIBUTE) && !attributes.contains_key(LEGACY_SIZE_ATTRIBUTE) {
        return None;
    }
    let json: Value = serde_json::from_str(body).ok()?;
    let [class, place] = json.as_array()?.as_slice() else {
        return None;
    };
    if !matches!(class.as_str(), Some(POINTER_CLASS | LEGACY_POINTER_CLASS)) {
        return None;
    }
    Some(Pointer {
        bucket: place.get("s3BucketName")?.as_str()?.to_string(),
        key: place.get("s3Key")?.as_str()?.to_string(),
    })
}

/// A body being written as it arrives.
pub struct Upload {
    key: String,
    writer: WriteMultipart,
    size: u64,
}

impl Upload {
    /// Appends a chunk, waiting while too many parts are in flight (the
    /// sender is slowed to what the store takes).
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), PayloadError> {
        self.writer
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(store_error)?;
        self.size += chunk.len() as u64;
        self.writer.put(chunk);
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Completes the object; its key.
    pub async fn finish(self) -> Result<String, PayloadError> {
        self.writer.finish().await.map_err(store_error)?;
        Ok(self.key)
    }

    /// Drops what was uploaded (the request failed midway).
    pub async fn abort(self) {
        if let Err(e) = self.writer.abort().await {
            tracing::warn!(key = %self.key, error = %e, "an abandoned payload upload was not cleaned up");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::message::Attributes;

    fn payloads() -> Payloads {
        let settings = crate::config::model::LargePayloads {
            url: "memory://".into(),
            bucket: "payloads".into(),
            key_prefix: "big/".into(),
            threshold: 10,
            s3: Default::default(),
        };
        Payloads::new(Arc::new(object_store::memory::InMemory::new()), &settings)
    }

    #[tokio::test]
    async fn a_streamed_body_reads_back_through_its_pointer() {
        let p = payloads();
        let mut up = p.upload().await.unwrap();
        for part in ["hello ", "large ", "world"] {
            up.write(Bytes::from(part)).await.unwrap();
        }
        assert_eq!(up.size(), 17);
        let key = up.finish().await.unwrap();
        assert!(key.starts_with("big/"), "{key}");
        let mut attributes = Attributes::new();
        attributes.insert(SIZE_ATTRIBUTE.into(), size_attribute(17));
        let pointer = pointer_of(&p.pointer(&key), &attributes).unwrap();
        assert_eq!(pointer.bucket, "payloads");
        assert_eq!(p.resolve(&pointer, 100).await.unwrap(), "hello large world");
        assert!(p.resolve(&pointer, 16).await.is_err());
        let elsewhere = Pointer {
            bucket: "other".into(),
            key,
        };
        assert!(p.resolve(&elsewhere, 100).await.is_err());
        // Without the size attribute a body is only a body.
        assert_eq!(pointer_of(&p.pointer("k"), &Attributes::new()), None);
        assert_eq!(pointer_of("[1,2]", &attributes), None);
    }
}
