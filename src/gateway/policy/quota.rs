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
            let (y, m, _) = civil_from_days(days);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (
                days_from_civil(y, m, 1) * DAY,
                days_from_civil(ny, nm, 1) * DAY,
            )
        }
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 -> (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = y - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        // 2026-11-24 13:00:00 UTC, a Tuesday.
        let now = 1_795_525_200;
        assert_eq!(civil_from_days(now / DAY), (2026, 11, 24));
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
        // December rolls into January.
        let dec = days_from_civil(2026, 12, 31) * DAY;
        assert_eq!(
            period_bounds(QuotaPeriod::Month, dec).1,
            days_from_civil(2027, 1, 1) * DAY
        );
        for days in [-800_000, -1, 0, 59, 60, 11_000, 20_000, 800_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
