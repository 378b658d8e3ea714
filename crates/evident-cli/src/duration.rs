//! Human durations on the command line: `90`, `90s`, `1500ms`, `5m`, `1h`.

use std::time::Duration;

/// The longest duration accepted: about 11 years, far beyond any recording, and short enough
/// that adding it to a clock reading cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100_000 * 3600);

/// Parses a duration; a bare number means seconds. Refuses, with one line, what is not a
/// duration and what is longer than [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration (try 30s, 5m, 1500ms)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit `{other}` in `{text}` (use ms, s, m or h)")),
    };
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        _ => Err(format!("`{text}` is longer than the longest duration evident takes (100000h)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("100000h").unwrap(), MAX_DURATION);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn a_huge_number_is_refused_not_a_panic() {
        for huge in ["99999999999999999999999h", "184467440737095516160s", "100001h", &"9".repeat(400)] {
            let error = parse_duration(huge).unwrap_err();
            assert!(error.contains("longer than the longest duration"), "{huge}: {error}");
        }
    }
}
