//! Wall-clock time in unix milliseconds: message timestamps are wall-clock
//! because they are stored and compared across restarts.

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// ISO 8601 with milliseconds, as SNS writes timestamps.
pub fn iso8601(ms: i64) -> String {
    utc(ms.div_euclid(1000), ms.rem_euclid(1000))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// `20240102T030405Z`, the form SigV4's X-Amz-Date takes.
pub fn amz_date(secs: i64) -> String {
    utc(secs, 0).format("%Y%m%dT%H%M%SZ").to_string()
}

/// `20240102T030405Z` as unix seconds.
pub fn parse_amz_date(text: &str) -> Option<i64> {
    if text.len() != 16 {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// Out-of-range times (beyond year 262,000) read as the epoch: nothing here
/// comes near them.
fn utc(secs: i64, millis: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(secs, (millis * 1_000_000) as u32).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::iso8601(951_868_800_123), "2000-03-01T00:00:00.123Z");
        assert_eq!(super::amz_date(951_868_800 + 3_723), "20000301T010203Z");
        assert_eq!(
            super::parse_amz_date("20000301T010203Z"),
            Some(951_868_800 + 3_723)
        );
        assert_eq!(super::parse_amz_date("20001301T010203Z"), None);
        assert_eq!(super::parse_amz_date("2000-03-01T01:02"), None);
    }
}
