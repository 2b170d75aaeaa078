//! ISO-8601 date-times as users type them, to Kafka timestamps (ms since the epoch).
//!
//! Accepted: `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z` or an offset `±HH:MM` (or
//! `±HHMM`). A time without a zone is refused rather than guessed: the same command
//! would otherwise reset offsets to different places on machines in different zones.

/// Milliseconds since 1970-01-01T00:00:00Z of `text`.
pub fn parse_timestamp_ms(text: &str) -> Result<i64, String> {
    let mut cursor = Cursor {
        text: text.trim(),
        at: 0,
    };
    let invalid =
        |what: &str| format!("'{text}' is not a date-time like 2024-05-01T12:00:00Z: {what}");
    let year = cursor
        .number(4)
        .ok_or_else(|| invalid("expected a 4-digit year"))?;
    cursor
        .expect(b'-')
        .ok_or_else(|| invalid("expected '-' after the year"))?;
    let month = cursor
        .number(2)
        .ok_or_else(|| invalid("expected a 2-digit month"))?;
    cursor
        .expect(b'-')
        .ok_or_else(|| invalid("expected '-' after the month"))?;
    let day = cursor
        .number(2)
        .ok_or_else(|| invalid("expected a 2-digit day"))?;
    if !(1..=12).contains(&month) {
        return Err(invalid("the month must be 01 to 12"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(invalid("the day does not exist in that month"));
    }
    if cursor
        .expect(b'T')
        .or_else(|| cursor.expect(b't'))
        .is_none()
    {
        return Err(invalid("expected 'T' and a time after the date"));
    }
    let hour = cursor
        .number(2)
        .ok_or_else(|| invalid("expected a 2-digit hour"))?;
    cursor
        .expect(b':')
        .ok_or_else(|| invalid("expected ':' after the hour"))?;
    let minute = cursor
        .number(2)
        .ok_or_else(|| invalid("expected 2-digit minutes"))?;
    let mut second = 0;
    let mut millisecond = 0;
    if cursor.expect(b':').is_some() {
        second = cursor
            .number(2)
            .ok_or_else(|| invalid("expected 2-digit seconds"))?;
        if cursor
            .expect(b'.')
            .or_else(|| cursor.expect(b','))
            .is_some()
        {
            millisecond = cursor
                .fraction_ms()
                .ok_or_else(|| invalid("expected 1 to 9 digits of a fraction of a second"))?;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(invalid("the time of day is out of range"));
    }
    let offset_minutes = match cursor.next() {
        None => {
            return Err(format!(
                "'{text}' has no time zone: add Z for UTC or an offset such as +02:00"
            ));
        }
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = cursor.number(2).ok_or_else(|| invalid("expected ±HH:MM"))?;
            cursor.expect(b':');
            let minutes = cursor.number(2).ok_or_else(|| invalid("expected ±HH:MM"))?;
            if hours > 23 || minutes > 59 {
                return Err(invalid("the zone offset is out of range"));
            }
            let offset = hours * 60 + minutes;
            if sign == b'-' { -offset } else { offset }
        }
        Some(_) => return Err(invalid("expected Z or ±HH:MM after the time")),
    };
    if cursor.next().is_some() {
        return Err(invalid("unexpected text after the time zone"));
    }
    let days = days_from_civil(year, month, day);
    let ms = days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1_000 + millisecond
        - offset_minutes * 60_000;
    if ms < 0 {
        // Kafka gives negative timestamps special meanings (-1 latest, -2 earliest).
        return Err(format!("'{text}' is before 1970-01-01T00:00:00Z"));
    }
    Ok(ms)
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl Cursor<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.text.as_bytes().get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, wanted: u8) -> Option<()> {
        if self.text.as_bytes().get(self.at) == Some(&wanted) {
            self.at += 1;
            Some(())
        } else {
            None
        }
    }

    /// Exactly `digits` decimal digits.
    fn number(&mut self, digits: usize) -> Option<i64> {
        let slice = self.text.as_bytes().get(self.at..self.at + digits)?;
        let mut value = 0;
        for &byte in slice {
            if !byte.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(byte - b'0');
        }
        self.at += digits;
        Some(value)
    }

    /// 1 to 9 digits of a fraction of a second, truncated to milliseconds.
    fn fraction_ms(&mut self) -> Option<i64> {
        let rest = &self.text.as_bytes()[self.at..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        let mut ms = 0;
        for i in 0..3 {
            ms = ms * 10
                + rest
                    .get(i)
                    .filter(|_| i < digits)
                    .map_or(0, |b| i64::from(b - b'0'));
        }
        self.at += digits;
        Some(ms)
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12; // March is 0
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_offsets() {
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_timestamp_ms("2024-05-01T12:00:00Z"),
            Ok(1_714_564_800_000)
        );
        assert_eq!(
            parse_timestamp_ms("2024-05-01T14:00:00+02:00"),
            Ok(1_714_564_800_000)
        );
        assert_eq!(
            parse_timestamp_ms("2024-05-01T07:30:00-0430"),
            Ok(1_714_564_800_000)
        );
        assert_eq!(
            parse_timestamp_ms("2024-05-01T12:00Z"),
            Ok(1_714_564_800_000)
        );
        assert_eq!(
            parse_timestamp_ms("2024-05-01t12:00:00z"),
            Ok(1_714_564_800_000)
        );
    }

    #[test]
    fn fractions_are_truncated_to_milliseconds() {
        assert_eq!(
            parse_timestamp_ms("2024-05-01T12:00:00.5Z"),
            Ok(1_714_564_800_500)
        );
        assert_eq!(
            parse_timestamp_ms("2024-05-01T12:00:00.123Z"),
            Ok(1_714_564_800_123)
        );
        assert_eq!(
            parse_timestamp_ms("2024-05-01T12:00:00,123456789Z"),
            Ok(1_714_564_800_123)
        );
        assert!(parse_timestamp_ms("2024-05-01T12:00:00.Z").is_err());
        assert!(parse_timestamp_ms("2024-05-01T12:00:00.1234567890Z").is_err());
    }

    #[test]
    fn calendar_edges() {
        assert_eq!(
            parse_timestamp_ms("2000-02-29T00:00:00Z"),
            Ok(951_782_400_000)
        );
        assert_eq!(
            parse_timestamp_ms("2100-03-01T00:00:00Z"),
            Ok(4_107_542_400_000)
        );
        assert!(parse_timestamp_ms("2023-02-29T00:00:00Z").is_err());
        assert!(parse_timestamp_ms("2100-02-29T00:00:00Z").is_err());
        assert!(parse_timestamp_ms("2024-04-31T00:00:00Z").is_err());
        assert!(parse_timestamp_ms("2024-13-01T00:00:00Z").is_err());
        assert!(parse_timestamp_ms("2024-00-01T00:00:00Z").is_err());
        assert!(parse_timestamp_ms("2024-05-01T24:00:00Z").is_err());
        assert!(parse_timestamp_ms("2024-05-01T12:60:00Z").is_err());
        assert!(parse_timestamp_ms("2024-05-01T12:00:60Z").is_err());
    }

    #[test]
    fn a_missing_zone_is_refused_with_advice() {
        let error = parse_timestamp_ms("2024-05-01T12:00:00").unwrap_err();
        assert!(error.contains("no time zone"), "{error}");
        assert!(error.contains("+02:00"), "{error}");
    }

    #[test]
    fn malformed_text_is_refused() {
        for text in [
            "",
            "yesterday",
            "2024-5-1T12:00:00Z",
            "2024-05-01",
            "2024-05-01 12:00:00Z",
            "2024-05-01T12Z",
            "2024-05-01T12:00:00+2",
            "2024-05-01T12:00:00+24:00",
            "2024-05-01T12:00:00Zjunk",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse_timestamp_ms(text).is_err(), "{text:?}");
        }
    }
}
