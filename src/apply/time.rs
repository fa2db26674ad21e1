//! UTC timestamps (RFC 3339): written by hand (the hot path of every run), read with jiff.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now as `2026-11-27T10:00:00.123456Z`.
pub(crate) fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_rfc3339(d.as_secs() as i64, d.subsec_micros())
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (micros omitted when 0).
pub(crate) fn format_rfc3339(secs: i64, micros: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if micros == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{micros:06}Z")
    }
}

/// The latest instant a `--at TIME` names: an RFC 3339 time (any offset, fractional
/// seconds), or a prefix of a UTC one down to the year, which names the end of its period
/// (`2026-11-27T10`: up to 10:59:59.999999999Z). Anything else is an error naming it.
pub(crate) fn parse_at(text: &str) -> Result<jiff::Timestamp, String> {
    use jiff::ToSpan;
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let bad = || {
        format!(
            "{text:?} is not an RFC 3339 time (2026-11-27T10:00:00Z, 2026-11-27T12:00:00+02:00) \
             or a prefix of one (2026-11-27, 2026-11-27T10)"
        )
    };
    const FULL: &str = "0000-01-01T00:00:00";
    let period = match text.len() {
        4 => 1.year(),
        7 => 1.month(),
        10 => 1.day(),
        13 => 1.hour(),
        16 => 1.minute(),
        19 => 1.second(),
        _ => return Err(bad()),
    };
    // The separators where a full time has them, digits elsewhere.
    let shaped = text.bytes().zip(FULL.bytes()).all(|(a, f)| {
        if f.is_ascii_digit() {
            a.is_ascii_digit()
        } else {
            a == f
        }
    });
    if !shaped {
        return Err(bad());
    }
    let start: jiff::civil::DateTime = format!("{text}{}", &FULL[text.len()..])
        .parse()
        .map_err(|_| bad())?;
    start
        .checked_add(period)
        .and_then(|end| jiff::tz::TimeZone::UTC.to_timestamp(end))
        .and_then(|end| end.checked_sub(1.nanosecond()))
        .map_err(|_| bad())
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_773_600, 0), "2026-11-27T10:00:00Z");
        assert_eq!(
            format_rfc3339(951_782_400, 5),
            "2000-02-29T00:00:00.000005Z"
        );
    }

    #[test]
    fn at_times_parse_and_garbage_does_not() {
        let at = |s: &str| parse_at(s).map(|t| t.to_string());
        assert_eq!(
            at("2026-11-27T12:00:00+02:00").unwrap(),
            "2026-11-27T10:00:00Z"
        );
        assert_eq!(
            at("2026-11-27T10:00:00.5Z").unwrap(),
            "2026-11-27T10:00:00.5Z"
        );
        assert_eq!(
            at("2026-11-27T10").unwrap(),
            "2026-11-27T10:59:59.999999999Z"
        );
        assert_eq!(at("2026-11").unwrap(), "2026-11-30T23:59:59.999999999Z");
        assert_eq!(at("2026").unwrap(), "2026-12-31T23:59:59.999999999Z");
        for bad in [
            "garbage",
            "",
            "2026-13",
            "2026-11-31",
            "2026-11-27 10",
            "yesterday",
            "2026-1",
        ] {
            let e = parse_at(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
