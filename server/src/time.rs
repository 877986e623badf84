//! Timestamps on the wire (the codec, SigV4 dates, the HTTP `Date` header): parsing the forms AWS clients send (ISO 8601, epoch seconds, the HTTP
//! date of RFC 7231) and printing the forms AWS services send. Values between the codec and the
//! engine are ISO 8601 strings with milliseconds, UTC: `2026-11-30T12:00:00.000Z`.
//!
//! Pure calendar arithmetic (Howard Hinnant's `days_from_civil`); this module must not read the
//! clock.

const MS_PER_DAY: i64 = 86_400_000;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Milliseconds since the epoch of a timestamp in any form a client sends: ISO 8601, epoch
/// seconds (`1764547200.5`) or an HTTP date (`Mon, 30 Nov 2026 12:00:00 GMT`). Years must be
/// 0001–9999 so that every accepted time prints back as ISO 8601.
pub(crate) fn parse(text: &str) -> Option<i64> {
    let text = text.trim();
    if is_decimal(text) {
        return text.parse::<f64>().ok().and_then(from_epoch_seconds);
    }
    parse_iso(text).or_else(|| parse_http_date(text))
}

/// Milliseconds since the epoch of an ISO 8601 date-time (`2026-11-30T12:00:00Z`,
/// `2026-11-30T12:00:00.123456+01:00`, or a bare date `2026-11-30`). Digits past milliseconds
/// are dropped.
pub(crate) fn parse_iso(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (digits(b, 5, 2)?, digits(b, 8, 2)?);
    if b.len() == 10 {
        return civil_millis(year, month, day, 0, 0, 0, 0);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let (hour, minute) = (digits(b, 11, 2)?, digits(b, 14, 2)?);
    if b.get(16) != Some(&b':') {
        return None;
    }
    let second = digits(b, 17, 2)?;
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        match i - start {
            0 => return None,
            1 => millis *= 100,
            2 => millis *= 10,
            _ => {}
        }
    }
    let offset_minutes = match &b[i..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [_, _] => (digits(rest, 0, 2)?, 0),
                [_, _, b':', _, _] => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                [_, _, _, _] => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let local = civil_millis(year, month, day, hour, minute, second, millis)?;
    in_range(local - offset_minutes * 60_000)
}

/// Milliseconds since the epoch of an HTTP date (`Mon, 30 Nov 2026 12:00:00 GMT`), the default
/// timestamp form of REST headers.
pub(crate) fn parse_http_date(text: &str) -> Option<i64> {
    let text = match text.split_once(", ") {
        Some((weekday, rest)) if weekday.len() == 3 => rest,
        _ => text,
    };
    let mut parts = text.split_ascii_whitespace();
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let time = parts.next()?;
    // `+0000`/`-0000` as Python's `formatdate` writes them.
    if !matches!(
        parts.next(),
        Some("GMT" | "UTC" | "UT" | "Z" | "+0000" | "-0000")
    ) || parts.next().is_some()
    {
        return None;
    }
    let day = if day.len() <= 2 {
        day.parse().ok()?
    } else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as i64 + 1;
    let year = digits(year.as_bytes(), 0, 4).filter(|_| year.len() == 4)?;
    let t = time.as_bytes();
    if t.len() != 8 || t[2] != b':' || t[5] != b':' {
        return None;
    }
    let (hour, minute, second) = (digits(t, 0, 2)?, digits(t, 3, 2)?, digits(t, 6, 2)?);
    civil_millis(year, month, day, hour, minute, second, 0)
}

/// Milliseconds since the epoch of epoch seconds, rounded to the millisecond.
pub(crate) fn from_epoch_seconds(seconds: f64) -> Option<i64> {
    if !seconds.is_finite() {
        return None;
    }
    let millis = (seconds * 1000.0).round();
    // The range check below is exact only for values an i64 holds.
    if millis.abs() > 1e15 {
        return None;
    }
    in_range(millis as i64)
}

/// `millis` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn iso(millis: i64) -> String {
    let (year, month, day, rest) = civil(millis);
    let (h, m, s, ms) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// `millis` as an HTTP date, `Mon, 30 Nov 2026 12:00:00 GMT` (whole seconds).
pub(crate) fn http_date(millis: i64) -> String {
    let (year, month, day, rest) = civil(millis);
    let weekday = WEEKDAYS[millis.div_euclid(MS_PER_DAY).rem_euclid(7) as usize];
    let month = MONTHS[(month - 1) as usize];
    let (h, m, s) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60);
    format!("{weekday}, {day:02} {month} {year:04} {h:02}:{m:02}:{s:02} GMT")
}

/// `millis` as epoch seconds with a fractional millisecond part, as awsJson services send
/// timestamps (`1764547200.123`).
pub(crate) fn epoch_seconds(millis: i64) -> f64 {
    millis as f64 / 1000.0
}

/// The ISO form of any timestamp a client may send.
pub(crate) fn normalize(text: &str) -> Option<String> {
    parse(text).map(iso)
}

/// `-?[0-9]+(\.[0-9]+)?`: epoch seconds, as opposed to a date (which also has digits and `-`).
fn is_decimal(text: &str) -> bool {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    match unsigned.split_once('.') {
        Some((int, frac)) => all_digits(int) && all_digits(frac),
        None => all_digits(unsigned),
    }
}

fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let field = b.get(at..at + len)?;
    field.iter().try_fold(0i64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

fn in_range(millis: i64) -> Option<i64> {
    // 0001-01-01T00:00:00.000Z ..= 9999-12-31T23:59:59.999Z
    const MIN: i64 = -62_135_596_800_000;
    const MAX: i64 = 253_402_300_799_999;
    (MIN..=MAX).contains(&millis).then_some(millis)
}

/// Milliseconds since the epoch of a calendar date and time, `None` unless it is a real date
/// in 0001–9999.
pub(crate) fn civil_millis(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let valid = (1..=12).contains(&month)
        && (1..=month_days[(month.clamp(1, 12) - 1) as usize]).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    in_range(days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day, milliseconds into the day) of `millis`.
pub(crate) fn civil(millis: i64) -> (i64, i64, i64, i64) {
    let days = millis.div_euclid(MS_PER_DAY);
    let rest = millis.rem_euclid(MS_PER_DAY);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-30T12:00:00Z, checked with `date -u -d 2026-11-30T12:00:00Z +%s`.
    const NOV30: i64 = 1_796_040_000_000;

    #[test]
    fn iso_forms() {
        assert_eq!(parse_iso("2026-11-30T12:00:00Z"), Some(NOV30));
        assert_eq!(parse_iso("2026-11-30T12:00:00.000Z"), Some(NOV30));
        assert_eq!(parse_iso("2026-11-30T12:00:00.1Z"), Some(NOV30 + 100));
        assert_eq!(parse_iso("2026-11-30T12:00:00.123456Z"), Some(NOV30 + 123));
        assert_eq!(parse_iso("2026-11-30T13:30:00+01:30"), Some(NOV30));
        assert_eq!(parse_iso("2026-11-30T10:00:00-0200"), Some(NOV30));
        assert_eq!(parse_iso("2026-11-30T12:00:00"), Some(NOV30));
        assert_eq!(parse_iso("2026-11-30"), Some(NOV30 - 12 * 3_600_000));
        for bad in [
            "2026-11-31T12:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-30T24:00:00Z",
            "2026-11-30T12:00:00.Z",
            "2026-11-30T12:00Z",
            "2026-11-30T12:00:00ZZ",
            "26-11-30",
            "",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
        assert_eq!(
            parse_iso("2024-02-29T00:00:00Z").map(iso).unwrap(),
            "2024-02-29T00:00:00.000Z"
        );
        assert_eq!(parse_iso("2023-02-29T00:00:00Z"), None);
    }

    #[test]
    fn printing() {
        assert_eq!(iso(NOV30 + 123), "2026-11-30T12:00:00.123Z");
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(http_date(NOV30), "Mon, 30 Nov 2026 12:00:00 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(epoch_seconds(NOV30 + 123), 1_796_040_000.123);
        assert_eq!(epoch_seconds(NOV30 + 123).to_string(), "1796040000.123");
    }

    #[test]
    fn any_form() {
        assert_eq!(parse("1796040000"), Some(NOV30));
        assert_eq!(parse("1796040000.123"), Some(NOV30 + 123));
        assert_eq!(parse("Mon, 30 Nov 2026 12:00:00 GMT"), Some(NOV30));
        assert_eq!(parse("30 Nov 2026 12:00:00 GMT"), Some(NOV30));
        assert_eq!(parse(" 2026-11-30T12:00:00Z "), Some(NOV30));
        assert_eq!(parse("1e3"), None);
        assert_eq!(parse("1-2"), None);
        assert_eq!(parse("tomorrow"), None);
        assert_eq!(
            normalize("1796040000.5").unwrap(),
            "2026-11-30T12:00:00.500Z"
        );
        assert_eq!(from_epoch_seconds(f64::NAN), None);
        assert_eq!(from_epoch_seconds(1e300), None);
        assert_eq!(
            parse("9999-12-31T23:59:59.999Z").map(iso).unwrap(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(parse("9999-12-31T23:59:59-01:00"), None);
    }

    #[test]
    fn calendar_round_trips() {
        let mut millis = -62_135_596_800_000;
        while millis < 253_402_300_799_999 {
            assert_eq!(parse_iso(&iso(millis)), Some(millis));
            millis += 86_399_999 * 37;
        }
    }
}
