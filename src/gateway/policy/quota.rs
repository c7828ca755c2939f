//! Quota periods in UTC: a day, a week from Monday 00:00, a calendar month.

use crate::config::model::QuotaPeriod;

const DAY: i64 = 86_400;

/// Start and end (unix seconds) of the period containing `now`.
pub fn period_bounds(period: QuotaPeriod, now: i64) -> (i64, i64) {
    let days = now.div_euclid(DAY);
    match period {
        QuotaPeriod::Day => (days * DAY, (days + 1) * DAY),
        QuotaPeriod::Week => {
            // 1970-01-01 was a Thursday: three days after a Monday.
            let monday = days - (days + 3).rem_euclid(7);
            (monday * DAY, (monday + 7) * DAY)
        }
        QuotaPeriod::Month => {
            use chrono::Datelike;
            let start_of = |y: i32, m: u32| {
                chrono::NaiveDate::from_ymd_opt(y, m, 1).map_or(0, |d| {
                    d.and_hms_opt(0, 0, 0)
                        .unwrap_or_default()
                        .and_utc()
                        .timestamp()
                })
            };
            let today = chrono::DateTime::from_timestamp(days * DAY, 0).unwrap_or_default();
            let (y, m) = (today.year(), today.month());
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (start_of(y, m), start_of(ny, nm))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        // 2026-11-24 13:00:00 UTC, a Tuesday.
        let now = 1_795_525_200;
        assert_eq!(
            period_bounds(QuotaPeriod::Day, now),
            (1_795_478_400, 1_795_564_800)
        );
        // Monday 2026-11-23 to Monday 2026-11-30.
        assert_eq!(
            period_bounds(QuotaPeriod::Week, now),
            (1_795_392_000, 1_795_996_800)
        );
        // 2026-11-01 to 2026-12-01.
        assert_eq!(
            period_bounds(QuotaPeriod::Month, now),
            (1_793_491_200, 1_796_083_200)
        );
        // December rolls into January: 2026-12-31 -> 2026-12-01 .. 2027-01-01.
        assert_eq!(
            period_bounds(QuotaPeriod::Month, 1_798_675_200),
            (1_796_083_200, 1_798_761_600)
        );
    }
}
