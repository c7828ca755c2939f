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
/// (or the body itself), one object as one record. An empty array, or one
/// holding anything but objects, is refused: the sender hears of it (400)
/// rather than getting an empty or "filtered" run.
pub fn from_payload(body: &[u8], records: Option<&str>) -> Result<Vec<Value>, FlowError> {
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| FlowError::Payload(format!("the body is not JSON: {e}")))?;
    let found = record::take(&mut value, records.unwrap_or(".")).ok_or_else(|| {
        FlowError::Payload(format!("the body has no `{}`", records.unwrap_or(".")))
    })?;
    match found {
        Value::Array(items) if items.is_empty() => Err(FlowError::Payload(
            "the body holds no records: send a JSON array of objects or one object".into(),
        )),
        Value::Array(items) => match items.iter().position(|r| !r.is_object()) {
            Some(i) => Err(FlowError::Payload(format!(
                "record {i} is not a JSON object: send a JSON array of objects or one object"
            ))),
            None => Ok(items),
        },
        Value::Object(_) => Ok(vec![found]),
        _ => Err(FlowError::Payload(
            "the records must be a JSON array of objects or one object".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_hold_objects() {
        assert_eq!(
            from_payload(br#"[{"a":1},{"b":2}]"#, None).unwrap().len(),
            2
        );
        assert_eq!(from_payload(br#"{"a":1}"#, None).unwrap().len(), 1);
        let nested = from_payload(br#"{"data":{"items":[{"a":1}]}}"#, Some("data.items"));
        assert_eq!(nested.unwrap().len(), 1);
        for (body, why) in [
            (&b"[]"[..], "holds no records"),
            (&br#"[1, "x", null]"#[..], "record 0 is not a JSON object"),
            (&br#"[{"a":1}, 2]"#[..], "record 1 is not a JSON object"),
            (&b"42"[..], "must be a JSON array of objects"),
            (&b"{"[..], "not JSON"),
        ] {
            let e = from_payload(body, None).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
