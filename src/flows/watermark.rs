//! Incremental sync: where the last run got to. The stored watermark is the
//! largest value of the incremental field among the records a successful
//! run read; a run asks the source for records from (watermark - lookback),
//! or from (now - first_run) the first time. It is stored only after the
//! destination committed (see design.md).

use super::record;
use super::tasks::transform::parse_time;
use crate::config::flow_spec::{Incremental, Lookback, TimeFormat, WatermarkKind};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// A watermark value, comparable within its kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    Time(DateTime<Utc>),
    Integer(i64),
}

impl Mark {
    /// How it is stored in run history: RFC 3339 or the integer.
    pub fn stored(&self) -> String {
        match self {
            Mark::Time(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            Mark::Integer(i) => i.to_string(),
        }
    }

    pub fn parse_stored(kind: WatermarkKind, text: &str) -> Option<Mark> {
        match kind {
            WatermarkKind::DateTime => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| Mark::Time(t.to_utc())),
            WatermarkKind::Integer => text.parse().ok().map(Mark::Integer),
        }
    }

    /// The field's value in a record, if it has one of the right kind.
    pub fn of(spec: &Incremental, record: &Value) -> Option<Mark> {
        Mark::read(spec, record).ok()
    }

    /// The field's value in a record, or why there is none.
    pub fn read(spec: &Incremental, record: &Value) -> Result<Mark, Unread> {
        let value = match record::get(record, &spec.field) {
            None | Some(Value::Null) => return Err(Unread::Missing),
            Some(value) => value,
        };
        let mark = match spec.kind {
            WatermarkKind::DateTime => read_time(value, &spec.format).map(Mark::Time),
            WatermarkKind::Integer => record::number(value).map(|n| Mark::Integer(n as i64)),
        };
        mark.ok_or_else(|| Unread::Unreadable(value.clone()))
    }

    /// Where a first run that reads everything starts, for a source that
    /// must be given a value (`inject: template`): the Unix epoch, or 0.
    pub fn floor(kind: WatermarkKind) -> Mark {
        match kind {
            WatermarkKind::DateTime => Mark::Time(DateTime::UNIX_EPOCH),
            WatermarkKind::Integer => Mark::Integer(0),
        }
    }

    /// As the source expects it in a request.
    pub fn formatted(&self, format: &TimeFormat) -> String {
        match (self, format) {
            (Mark::Integer(i), _) => i.to_string(),
            (Mark::Time(t), TimeFormat::Rfc3339) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
            (Mark::Time(t), TimeFormat::Unix) => t.timestamp().to_string(),
            (Mark::Time(t), TimeFormat::UnixMillis) => t.timestamp_millis().to_string(),
            (Mark::Time(t), TimeFormat::UnixFloat) => {
                format!("{}.{:06}", t.timestamp(), t.timestamp_subsec_micros())
            }
            (Mark::Time(t), TimeFormat::Pattern(p)) => t.format(p).to_string(),
        }
    }
}

/// Why a record's watermark field gave no watermark.
#[derive(Debug, Clone, PartialEq)]
pub enum Unread {
    Missing,
    Unreadable(Value),
}

/// A time from a record: text in the flow's pattern, a number or numeric
/// text as Unix time in the flow's unit (seconds, with any fraction kept to
/// the nanosecond, or milliseconds for `unix_ms`), RFC 3339, or a date.
fn read_time(value: &Value, format: &TimeFormat) -> Option<DateTime<Utc>> {
    if let TimeFormat::Pattern(pattern) = format {
        if let Some(t) = parse_time(value, Some(pattern)) {
            return Some(t);
        }
    }
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    if let Some((whole, fraction)) = unix_parts(&text) {
        return match format {
            TimeFormat::UnixMillis => DateTime::from_timestamp_millis(whole),
            _ => DateTime::from_timestamp(whole, fraction),
        };
    }
    parse_time(value, None)
}

/// `1700000000.000200` -> (1700000000, 200000 ns); None unless the text is
/// a plain decimal number.
fn unix_parts(text: &str) -> Option<(i64, u32)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut nanos = String::from(fraction);
    nanos.truncate(9);
    while nanos.len() < 9 {
        nanos.push('0');
    }
    Some((whole.parse().ok()?, nanos.parse().ok()?))
}

/// Where this run starts reading: None reads everything (an integer
/// watermark's first run).
pub fn start(spec: &Incremental, stored: Option<&Mark>, now: DateTime<Utc>) -> Option<Mark> {
    match (stored, spec.kind) {
        (Some(Mark::Time(t)), _) => {
            let back = match spec.lookback {
                Lookback::Time(d) => chrono::Duration::from_std(d).unwrap_or_default(),
                Lookback::Count(_) => chrono::Duration::zero(),
            };
            Some(Mark::Time(*t - back))
        }
        (Some(Mark::Integer(i)), _) => {
            let back = match spec.lookback {
                Lookback::Count(n) => n,
                Lookback::Time(_) => 0,
            };
            Some(Mark::Integer(i - back))
        }
        (None, WatermarkKind::DateTime) => spec
            .first_run
            .map(|back| Mark::Time(now - chrono::Duration::from_std(back).unwrap_or_default())),
        (None, WatermarkKind::Integer) => None,
    }
}

/// How far before the run's start a time watermark may reach at most.
pub const SAFETY_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The watermark to store after a run that read up to `highest`. A time
/// watermark is capped at the run's start minus `SAFETY_MARGIN`: a record
/// changed at the source while the run was paging (behind pages already
/// read) has a later time than the run's start, and the next run must read
/// it; the highest value seen could be past it and lose it forever. Never
/// below the stored one. An integer watermark (an id or a sequence) is the
/// highest value read: its source must assign them in commit order.
pub fn to_store(
    highest: Option<Mark>,
    stored: Option<&Mark>,
    started: DateTime<Utc>,
) -> Option<Mark> {
    let cap = Mark::Time(started - chrono::Duration::from_std(SAFETY_MARGIN).unwrap_or_default());
    let capped = match highest {
        Some(Mark::Time(t)) if Mark::Time(t) > cap => Some(cap),
        other => other,
    };
    match (capped, stored) {
        (Some(c), Some(s)) if &c < s => Some(s.clone()),
        (c, _) => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::flow_spec::Inject;
    use serde_json::json;
    use std::time::Duration;

    fn spec(kind: WatermarkKind, lookback: Lookback) -> Incremental {
        Incremental {
            field: "updated_at".into(),
            kind,
            inject: Inject::Query("since".into()),
            format: TimeFormat::Rfc3339,
            first_run: Some(Duration::from_secs(30 * 86_400)),
            lookback,
        }
    }

    #[test]
    fn start_points() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc();
        let s = spec(
            WatermarkKind::DateTime,
            Lookback::Time(Duration::from_secs(300)),
        );
        assert_eq!(
            start(&s, None, now).unwrap().stored(),
            "2026-10-25T12:00:00Z"
        );
        let mark = Mark::parse_stored(WatermarkKind::DateTime, "2026-11-24T10:00:00Z").unwrap();
        assert_eq!(
            start(&s, Some(&mark), now).unwrap().stored(),
            "2026-11-24T09:55:00Z"
        );
        assert_eq!(mark.formatted(&TimeFormat::Unix), "1795514400");
        assert_eq!(
            mark.formatted(&TimeFormat::Pattern("%Y%m%d".into())),
            "20261124"
        );
        // `first_run: all`: the first run reads everything.
        let all = Incremental {
            first_run: None,
            ..s.clone()
        };
        assert_eq!(start(&all, None, now), None);
        let s = spec(WatermarkKind::Integer, Lookback::Count(10));
        assert_eq!(start(&s, None, now), None);
        assert_eq!(
            start(&s, Some(&Mark::Integer(100)), now),
            Some(Mark::Integer(90))
        );
        assert_eq!(
            Mark::of(&s, &json!({"updated_at": "42"})),
            Some(Mark::Integer(42))
        );
        assert_eq!(Mark::of(&s, &json!({"other": 1})), None);
        assert!(Mark::Integer(2) > Mark::Integer(1));
    }

    #[test]
    fn times_are_read_in_the_flows_unit() {
        let spec = |format: TimeFormat| Incremental {
            field: "ts".into(),
            format,
            ..spec(WatermarkKind::DateTime, Lookback::Time(Duration::ZERO))
        };
        let slack = spec(TimeFormat::UnixFloat);
        let mark = Mark::read(&slack, &json!({"ts": "1795514400.000200"})).unwrap();
        assert_eq!(mark.stored(), "2026-11-24T10:00:00.000200Z");
        assert_eq!(mark.formatted(&TimeFormat::UnixFloat), "1795514400.000200");
        assert_eq!(
            Mark::read(&slack, &json!({"ts": 1795514400.5}))
                .unwrap()
                .stored(),
            "2026-11-24T10:00:00.500Z"
        );
        let ms = spec(TimeFormat::UnixMillis);
        assert_eq!(
            Mark::read(&ms, &json!({"ts": "1795514400123"}))
                .unwrap()
                .stored(),
            "2026-11-24T10:00:00.123Z"
        );
        // RFC 3339 text reads whatever the format; so do plain seconds.
        let rfc = spec(TimeFormat::Rfc3339);
        assert_eq!(
            Mark::read(&rfc, &json!({"ts": "2026-11-24T10:00:00Z"})).unwrap(),
            Mark::read(&rfc, &json!({"ts": 1795514400})).unwrap()
        );
        assert_eq!(Mark::read(&rfc, &json!({})), Err(Unread::Missing));
        assert_eq!(
            Mark::read(&rfc, &json!({"ts": "yesterday"})),
            Err(Unread::Unreadable(json!("yesterday")))
        );
        let pattern = spec(TimeFormat::Pattern("%Y%m%d".into()));
        assert_eq!(
            Mark::read(&pattern, &json!({"ts": "20261124"}))
                .unwrap()
                .stored(),
            "2026-11-24T00:00:00Z"
        );
    }

    #[test]
    fn stored_time_watermarks_stop_before_the_run_started() {
        let at = |t: &str| Mark::parse_stored(WatermarkKind::DateTime, t).unwrap();
        let started = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc();
        // A record updated during the run (12:00:30) does not move the
        // watermark past the run's start: the next run reads from there.
        let seen = Some(at("2026-11-24T12:00:30Z"));
        assert_eq!(
            to_store(seen, Some(&at("2026-11-24T11:00:00Z")), started),
            Some(at("2026-11-24T11:59:55Z"))
        );
        // Below the cap: the highest value read.
        let seen = Some(at("2026-11-24T11:30:00Z"));
        assert_eq!(to_store(seen.clone(), None, started), seen);
        // Never backwards.
        let stored = at("2026-11-24T11:59:58Z");
        assert_eq!(
            to_store(Some(at("2026-11-24T12:00:10Z")), Some(&stored), started),
            Some(stored)
        );
        // Integers are the highest read.
        assert_eq!(
            to_store(Some(Mark::Integer(900)), Some(&Mark::Integer(10)), started),
            Some(Mark::Integer(900))
        );
    }
}
