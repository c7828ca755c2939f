//! Which records a run lets through to its tasks, and how far its
//! watermark got.
//!
//! Exactly once within a run: when the source changes while it is read,
//! pages shift and a record can come twice (a record updated mid-run moves
//! behind the cursor; one inserted before it pushes the next page's first
//! record back onto it). With the record's id known (`source.http.id`,
//! which every preset sets) a record whose id this run already let through
//! is not let through again; the first version is written, and a later
//! version, changed after the run started, is read by the next run (the
//! watermark stops before the run's start, `watermark::to_store`). Without
//! an id, only exact copies re-read from the lookback overlap are held
//! back.
//!
//! Ids are kept as 128-bit hashes: 16 bytes a record whatever the id's
//! length, with no realistic chance of two ids colliding (64 bits would
//! collide once in some hundred thousand runs of ten million records, and
//! a collision would hold back a record that is new). They are spread over
//! 256 sets, so growing one set copies 1/256 of them: the peak stays close
//! to the sets' size (about 27 bytes a record) instead of doubling it.

use super::record;
use super::watermark::{self, Mark, Unread};
use crate::config::flow_spec::{Incremental, WatermarkKind};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

/// The sets' keys are hashes already: their low bits index the table.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub struct Admission {
    incremental: Option<Incremental>,
    /// The watermark the run started from.
    stored: Option<Mark>,
    highest: Option<Mark>,
    id: Option<String>,
    ids: Vec<HashSet<u128, BuildHasherDefault<Prehashed>>>,
    hashers: (RandomState, RandomState),
    /// Without an id: digests of records at or below the stored watermark.
    overlap: HashSet<[u8; 32]>,
    read: u64,
    repeats: u64,
    missing: u64,
    unreadable: u64,
    example: Option<Value>,
}

impl Admission {
    pub fn new(
        incremental: Option<Incremental>,
        stored: Option<Mark>,
        id: Option<String>,
    ) -> Admission {
        Admission {
            highest: stored.clone(),
            incremental,
            stored,
            id,
            ids: (0..256).map(|_| HashSet::default()).collect(),
            hashers: (RandomState::new(), RandomState::new()),
            overlap: HashSet::new(),
            read: 0,
            repeats: 0,
            missing: 0,
            unreadable: 0,
            example: None,
        }
    }

    /// False when this run already let the record through.
    pub fn admit(&mut self, record: &Value) -> bool {
        self.read += 1;
        let mark = match &self.incremental {
            None => None,
            Some(inc) => match Mark::read(inc, record) {
                Ok(mark) => Some(mark),
                Err(Unread::Missing) => {
                    self.missing += 1;
                    None
                }
                Err(Unread::Unreadable(value)) => {
                    self.unreadable += 1;
                    self.example.get_or_insert(value);
                    None
                }
            },
        };
        let fresh = match &self.id {
            Some(field) => match record::get(record, field) {
                Some(id) if !id.is_null() => {
                    let text = record::text(id);
                    let key = (u128::from(self.hashers.0.hash_one(&text)) << 64)
                        | u128::from(self.hashers.1.hash_one(&text));
                    self.ids[(key >> 120) as usize].insert(key)
                }
                // No id: nothing to hold it back by.
                _ => true,
            },
            None => {
                let overlapped = matches!((&mark, &self.stored), (Some(m), Some(s)) if m <= s);
                !overlapped || {
                    let digest =
                        ring::digest::digest(&ring::digest::SHA256, record.to_string().as_bytes());
                    let mut key = [0u8; 32];
                    key.copy_from_slice(digest.as_ref());
                    self.overlap.insert(key)
                }
            }
        };
        if !fresh {
            self.repeats += 1;
            return false;
        }
        if let Some(mark) = mark {
            if self.highest.as_ref().is_none_or(|h| &mark > h) {
                self.highest = Some(mark);
            }
        }
        true
    }

    /// The watermark to store after the run (see `watermark::to_store`).
    pub fn mark(&self, started: DateTime<Utc>) -> Option<Mark> {
        self.incremental.as_ref()?;
        watermark::to_store(self.highest.clone(), self.stored.as_ref(), started)
    }

    /// What the run should tell its operator.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.repeats > 0 {
            let by = match &self.id {
                Some(field) => format!("by their `{field}`"),
                None => "as exact copies from the lookback overlap".to_string(),
            };
            out.push(format!(
                "{} records came more than once in this run and were written once ({by})",
                self.repeats
            ));
        }
        let Some(inc) = &self.incremental else {
            return out;
        };
        if self.unreadable > 0 {
            let kind = match inc.kind {
                WatermarkKind::DateTime => {
                    "a time (set incremental.format: rfc3339, unix, unix_ms, unix_float or a strftime pattern)"
                }
                WatermarkKind::Integer => "an integer",
            };
            let example = self
                .example
                .as_ref()
                .map(|v| {
                    let text = v.to_string();
                    text.chars().take(60).collect::<String>()
                })
                .unwrap_or_default();
            out.push(format!(
                "{} records have a `{}` that cannot be read as {kind}, e.g. {example}; they did not move the watermark",
                self.unreadable, inc.field
            ));
        }
        if self.missing > 0 {
            out.push(if self.missing == self.read {
                format!("no record has `{}`: the watermark did not move", inc.field)
            } else {
                format!(
                    "{} records have no `{}`; they did not move the watermark",
                    self.missing, inc.field
                )
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::flow_spec::{Inject, Lookback, TimeFormat};
    use serde_json::json;

    fn incremental() -> Incremental {
        Incremental {
            field: "ts".into(),
            kind: WatermarkKind::DateTime,
            inject: Inject::Query("oldest".into()),
            format: TimeFormat::Rfc3339,
            first_run: None,
            lookback: Lookback::Time(std::time::Duration::ZERO),
        }
    }

    #[test]
    fn ids_pass_once_per_run() {
        let mut a = Admission::new(None, None, Some("id".into()));
        assert!(a.admit(&json!({"id": 1, "v": "a"})));
        assert!(a.admit(&json!({"id": "2"})));
        assert!(!a.admit(&json!({"id": 1, "v": "changed"})));
        assert!(!a.admit(&json!({"id": "1"})), "ids compare as text");
        assert!(a.admit(&json!({"v": "no id"})));
        assert!(a.admit(&json!({"v": "no id"})));
        assert_eq!(
            a.warnings(),
            ["2 records came more than once in this run and were written once (by their `id`)"]
        );
    }

    #[test]
    fn unreadable_watermarks_are_reported() {
        let mut a = Admission::new(Some(incremental()), None, None);
        assert!(a.admit(&json!({"ts": "1700000000.000200"})));
        assert!(a.admit(&json!({"ts": "not a time"})));
        assert!(a.admit(&json!({})));
        let warnings = a.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("1 records have a `ts` that cannot be read as a time"));
        assert!(warnings[0].contains("\"not a time\""));
        assert_eq!(
            warnings[1],
            "1 records have no `ts`; they did not move the watermark"
        );
        // A plain number is Unix seconds: that one was read.
        assert_eq!(
            a.highest.as_ref().map(Mark::stored).as_deref(),
            Some("2023-11-14T22:13:20.000200Z")
        );

        let mut none = Admission::new(Some(incremental()), None, None);
        none.admit(&json!({"x": 1}));
        assert_eq!(
            none.warnings(),
            ["no record has `ts`: the watermark did not move"]
        );
    }
}
