//! Where records come from. Every source hands out pages of records until it
//! is done; the runner never holds more than one page.
//!
//! - `http`: a REST API, page after page (`pagination`), with `auth`,
//!   retries and a rate limit; `crate::outbound::guard` keeps it away from internal addresses
//! - webhook: the records are the triggering request's body (`from_payload`)
//! - `queue`: a Gatehouse queue's messages, deleted after the commit

pub mod auth;
pub mod http;
pub mod pagination;
pub mod queue;

use super::error::FlowError;
use super::record;
use serde_json::Value;

/// The records in a webhook body or topic message: the array at `records`
/// (or the body itself), one object as one record.
pub fn from_payload(body: &[u8], records: Option<&str>) -> Result<Vec<Value>, FlowError> {
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| FlowError::Payload(format!("the body is not JSON: {e}")))?;
    let found = record::take(&mut value, records.unwrap_or(".")).ok_or_else(|| {
        FlowError::Payload(format!("the body has no `{}`", records.unwrap_or(".")))
    })?;
    match found {
        Value::Array(items) => Ok(items),
        Value::Object(_) => Ok(vec![found]),
        _ => Err(FlowError::Payload(
            "the records must be a JSON array of objects or one object".into(),
        )),
    }
}
