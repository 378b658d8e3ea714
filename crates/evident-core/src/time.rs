//! Timestamps as the Kubernetes API writes them (RFC 3339, 1 s precision for most fields,
//! µs for `eventTime`), converted to nanoseconds since the Unix epoch.

use chrono::DateTime;

/// Parses an RFC 3339 timestamp into nanoseconds since the Unix epoch (UTC).
pub fn parse_rfc3339_ns(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok()?.timestamp_nanos_opt()
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with millisecond precision.
pub fn format_ns(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_micros() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00.000002Z"), Some(2_000));
        assert_eq!(parse_rfc3339_ns("not a time"), None);
        assert_eq!(format_ns(1_500_000_000), "1970-01-01T00:00:01.500Z");
    }
}
