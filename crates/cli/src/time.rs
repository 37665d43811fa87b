//! Durations and times as people type them.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::Error;

/// `30s`, `5m`, `2h`, `1d`, or plain seconds.
pub fn duration(text: &str) -> Result<Duration, Error> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| Error::Usage(format!("duration {text:?}: expected a number and a unit, e.g. 30s, 5m, 2h, 1d")))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => return Ok(Duration::from_millis(number)),
        "m" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        _ => return Err(Error::Usage(format!("duration {text:?}: unknown unit {unit:?} (use ms, s, m, h or d)"))),
    };
    Ok(Duration::from_secs(seconds))
}

/// An RFC 3339 time, or a duration before now.
pub fn instant(text: &str) -> Result<DateTime<Utc>, Error> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let ago = duration(text).map_err(|_| {
        Error::Usage(format!("time {text:?}: expected RFC 3339 (2026-01-02T03:04:05Z) or a duration ago (5m)"))
    })?;
    Ok(Utc::now() - chrono::Duration::from_std(ago).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(duration("90").unwrap(), Duration::from_secs(90));
        assert!(duration("5 weeks").is_err());
        assert!(duration("m").is_err());
    }

    #[test]
    fn instants() {
        assert_eq!(instant("2026-01-02T03:04:05Z").unwrap().to_rfc3339(), "2026-01-02T03:04:05+00:00");
        assert!(instant("1h").unwrap() < Utc::now());
        assert!(instant("yesterday").is_err());
    }
}
