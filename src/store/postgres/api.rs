//! What the PostgreSQL queues and topics share: store failures as the
//! SQS/SNS APIs answer them, and string maps (attributes, tags) as jsonb.

use super::db;
use crate::messaging::error::ApiError;
use crate::store::StoreError;
use std::collections::BTreeMap;

/// The store's failures as the APIs answer them: a database that cannot be
/// reached is `ServiceUnavailable` (the SDKs retry), anything else an
/// internal error.
pub fn api_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Unavailable(m) => ApiError::unavailable(format!(
            "The service is unavailable: the message store cannot be reached ({m})."
        )),
        other => ApiError::internal(format!("the message store failed: {other}")),
    }
}

pub fn pg_error(e: tokio_postgres::Error) -> ApiError {
    api_error(db(e))
}

pub fn map_of(value: serde_json::Value) -> BTreeMap<String, String> {
    serde_json::from_value(value).unwrap_or_default()
}

pub fn json_of(map: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::to_value(map).unwrap_or_else(|_| serde_json::json!({}))
}
