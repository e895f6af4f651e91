//! Times for people: RFC 3339 plus a relative form ("expires in 59m", "5m ago"), as kubectl prints ages.

use k8s_openapi::jiff::Timestamp;

/// `2030-01-01T00:00:00Z (in 59m)` or `... (5m ago)`.
pub fn absolute_and_relative(unix_seconds: i64, now: Timestamp) -> String {
    format!(
        "{} ({})",
        rfc3339(unix_seconds),
        relative(unix_seconds - now.as_second())
    )
}

/// `2030-01-01T00:00:00Z (expires in 59m)` or `... (expired 5m ago)`.
pub fn expiry(unix_seconds: i64, now: Timestamp) -> String {
    let offset = unix_seconds - now.as_second();
    let verb = if offset > 0 { "expires" } else { "expired" };
    format!("{} ({verb} {})", rfc3339(unix_seconds), relative(offset))
}

/// RFC 3339 in UTC, or the raw number when it is not a representable time.
pub fn rfc3339(unix_seconds: i64) -> String {
    Timestamp::from_second(unix_seconds).map_or_else(|_| format!("{unix_seconds} (out of range)"), |t| t.to_string())
}

/// `in 59m` for a positive offset, `5m ago` for a negative one, `now` within a second.
pub fn relative(offset_seconds: i64) -> String {
    match offset_seconds {
        0 => "now".to_owned(),
        s if s > 0 => format!("in {}", short_duration(s.unsigned_abs())),
        s => format!("{} ago", short_duration(s.unsigned_abs())),
    }
}

/// At most two units, largest first: `45s`, `59m`, `1h5m`, `364d23h`.
pub fn short_duration(seconds: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let two = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    match seconds {
        s if s < MINUTE => format!("{s}s"),
        s if s < HOUR => two(s / MINUTE, "m", s % MINUTE, "s"),
        s if s < DAY => two(s / HOUR, "h", s % HOUR / MINUTE, "m"),
        s => two(s / DAY, "d", s % DAY / HOUR, "h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl_ages() {
        assert_eq!(short_duration(45), "45s");
        assert_eq!(short_duration(59 * 60), "59m");
        assert_eq!(short_duration(3607), "1h");
        assert_eq!(short_duration(3900), "1h5m");
        assert_eq!(short_duration(365 * 86_400 - 3600), "364d23h");
        assert_eq!(relative(3540), "in 59m");
        assert_eq!(relative(-300), "5m ago");
        assert_eq!(relative(0), "now");
    }

    #[test]
    fn absolute_is_rfc3339() {
        let now = Timestamp::from_second(1_900_000_000).unwrap();
        assert_eq!(
            absolute_and_relative(1_900_003_540, now),
            "2030-03-17T18:45:40Z (in 59m)"
        );
        assert_eq!(expiry(1_899_999_700, now), "2030-03-17T17:41:40Z (expired 5m ago)");
    }
}
