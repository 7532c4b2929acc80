//! Calendar dates as days since 1970-01-01 (Arrow's `Date32`), proleptic Gregorian, without a
//! date library: the conversions are Howard Hinnant's `days_from_civil` / `civil_from_days`.

/// Days since 1970-01-01 of `year-month-day` (month 1–12, day 1–31; not validated).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `(year, month, day)` of a day number.
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD`.
pub fn format(days: i32) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses `YYYY-MM-DD` or Athena's `YYYYMMDD` (a time part after the date, as in
/// `2020-01-31 00:00:00`, is ignored). `None` when it is not a real calendar date.
pub fn parse(text: &str) -> Option<i32> {
    let t = text.trim();
    let t = t.split([' ', 'T']).next().unwrap_or(t);
    let (y, m, d) = if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        (&t[0..4], &t[4..6], &t[6..8])
    } else {
        let mut parts = t.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        (y, m, d)
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y) && digits(m) && digits(d)) {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2099, 12, 31), 47_481);
        assert_eq!(parse("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        assert_eq!(parse("20240229"), Some(days_from_civil(2024, 2, 29)));
        assert_eq!(parse("2023-02-29"), None);
        assert_eq!(parse("2021-13-45"), None);
        assert_eq!(parse("1/2/2020"), None);
        assert_eq!(
            parse("2020-01-31 00:00:00"),
            Some(days_from_civil(2020, 1, 31))
        );
        assert_eq!(format(days_from_civil(1899, 12, 31)), "1899-12-31");
    }

    proptest! {
        #[test]
        fn round_trip(z in -800_000i32..800_000) {
            let (y, m, d) = civil_from_days(z);
            prop_assert_eq!(days_from_civil(y, m, d), z);
            if (1000..=9999).contains(&y) {
                prop_assert_eq!(parse(&format(z)), Some(z));
            }
        }
    }
}
