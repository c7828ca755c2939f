//! Durations (`30s`, `500ms`, `1h 30m`) and byte sizes (`16KiB`, `10MB`, `1024`)
//! as they are written in config files.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// A duration written the human way: `250ms`, `30s`, `5m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!("bad duration `{text}`: use a number and a unit, like `500ms`, `30s`, `5m` or `1h`")
    })
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "a duration such as 500ms, 30s, 5m or 1h",
            "pattern": "^\\s*[0-9]+\\s*[a-zµ]+(\\s*[0-9]+\\s*[a-zµ]+)*\\s*$"
        })
    }
}

/// A size in bytes: a plain number, or a number with `B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_byte_size(&text)
            .map(ByteSize)
            .map_err(serde::de::Error::custom)
    }
}

pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || format!("bad size `{text}`: use bytes or a unit, like `16KiB` or `10MB`");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "KiB" | "K" | "k" => 1024,
        "MB" => 1000 * 1000,
        "MiB" | "M" => 1024 * 1024,
        "GB" => 1000 * 1000 * 1000,
        "GiB" | "G" => 1024 * 1024 * 1024,
        _ => return Err(bad()),
    };
    n.checked_mul(multiplier).ok_or_else(bad)
}

impl JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["string", "integer"],
            "description": "a size in bytes, optionally with a unit: 16KiB, 10MB"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_byte_size("1024"), Ok(1024));
        assert_eq!(parse_byte_size("16KiB"), Ok(16384));
        assert_eq!(parse_byte_size("10MB"), Ok(10_000_000));
        assert!(parse_byte_size("ten").is_err());
        assert!(parse_byte_size("99999999999999GiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("30").is_err());
    }
}
