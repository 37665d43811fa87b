//! Schedule expressions: EventBridge's `rate(...)` and six-field `cron(...)`.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};

use crate::Error;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `rate(N unit)`: every N minutes/hours/days.
    Rate { every: Duration },
    /// `cron(minutes hours day-of-month month day-of-week year)`, in UTC.
    Cron(Box<Cron>),
}

/// One cron expression, each field expanded to the set of values it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    days_of_month: DayOfMonth,
    months: BTreeSet<u32>,
    days_of_week: DayOfWeek,
    years: Option<BTreeSet<i32>>,
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfMonth {
    Any,
    Days(BTreeSet<u32>),
    Last,
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfWeek {
    Any,
    /// 1 = Sunday … 7 = Saturday, as AWS counts.
    Days(BTreeSet<u32>),
    /// `D#N`: the N-th weekday D of the month.
    Nth {
        day: u32,
        nth: u32,
    },
}

impl Schedule {
    pub fn parse(expression: &str) -> Result<Schedule, Error> {
        let fail =
            |message: &str| Error::InvalidSchedule { expression: expression.to_string(), message: message.to_string() };
        let text = expression.trim();
        if let Some(inner) = text.strip_prefix("rate(").and_then(|t| t.strip_suffix(')')) {
            let mut parts = inner.split_whitespace();
            let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(fail("expected rate(<value> <unit>)"));
            };
            let value: i64 = value.parse().map_err(|_| fail("the value must be a positive integer"))?;
            if value <= 0 {
                return Err(fail("the value must be a positive integer"));
            }
            let singular = value == 1;
            let every = match (unit, singular) {
                ("minute", true) | ("minutes", false) => Duration::minutes(value),
                ("hour", true) | ("hours", false) => Duration::hours(value),
                ("day", true) | ("days", false) => Duration::days(value),
                ("minute" | "hour" | "day", false) => return Err(fail("use the plural unit for values above 1")),
                ("minutes" | "hours" | "days", true) => return Err(fail("use the singular unit for the value 1")),
                _ => return Err(fail("the unit must be minute(s), hour(s) or day(s)")),
            };
            return Ok(Schedule::Rate { every });
        }
        if let Some(inner) = text.strip_prefix("cron(").and_then(|t| t.strip_suffix(')')) {
            return Cron::parse(inner).map(|c| Schedule::Cron(Box::new(c))).map_err(|m| fail(&m));
        }
        Err(fail("expected rate(...) or cron(...)"))
    }

    /// The first firing time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Rate { every } => Some(after + *every),
            Schedule::Cron(cron) => cron.next_after(after),
        }
    }
}

impl Cron {
    fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "cron needs six fields (minutes hours day-of-month month day-of-week year), got {}",
                fields.len()
            ));
        }
        let (dom, dow) = (fields[2], fields[4]);
        if (dom == "?") == (dow == "?") {
            return Err("exactly one of day-of-month and day-of-week must be '?'".into());
        }
        let days_of_month = match dom {
            "?" => DayOfMonth::Any,
            "L" => DayOfMonth::Last,
            _ => DayOfMonth::Days(field(dom, 1, 31, &[], "day-of-month")?),
        };
        const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        let days_of_week = match dow {
            "?" => DayOfWeek::Any,
            _ if dow.contains('#') => {
                let (day, nth) = dow.split_once('#').unwrap_or_default();
                let day = value(day, 1, 7, DAYS, "day-of-week")?;
                let nth = nth.parse::<u32>().ok().filter(|n| (1..=5).contains(n));
                let nth = nth.ok_or("day-of-week D#N needs N in 1-5")?;
                DayOfWeek::Nth { day, nth }
            }
            _ => DayOfWeek::Days(field(dow, 1, 7, DAYS, "day-of-week")?),
        };
        const MONTHS: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
        let years = match fields[5] {
            "*" => None,
            y => Some(field(y, 1970, 2199, &[], "year")?.into_iter().map(|y| y as i32).collect()),
        };
        Ok(Cron {
            minutes: field(fields[0], 0, 59, &[], "minutes")?,
            hours: field(fields[1], 0, 23, &[], "hours")?,
            days_of_month,
            months: field(fields[3], 1, 12, MONTHS, "month")?,
            days_of_week,
            years,
        })
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        if !self.months.contains(&date.month()) {
            return false;
        }
        if let Some(years) = &self.years {
            if !years.contains(&date.year()) {
                return false;
            }
        }
        let weekday = date.weekday().num_days_from_sunday() + 1;
        let dom_ok = match &self.days_of_month {
            DayOfMonth::Any => true,
            DayOfMonth::Days(days) => days.contains(&date.day()),
            DayOfMonth::Last => date.succ_opt().is_some_and(|next| next.month() != date.month()),
        };
        let dow_ok = match &self.days_of_week {
            DayOfWeek::Any => true,
            DayOfWeek::Days(days) => days.contains(&weekday),
            DayOfWeek::Nth { day, nth } => *day == weekday && (date.day() - 1) / 7 + 1 == *nth,
        };
        dom_ok && dow_ok
    }

    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let mut date = start.date_naive();
        // Invariant: the search is bounded (about 30 years), so a cron that never fires ends.
        for _ in 0..(366 * 30) {
            if self.day_matches(date) {
                for &hour in &self.hours {
                    for &minute in &self.minutes {
                        let candidate = Utc.from_utc_datetime(&date.and_hms_opt(hour, minute, 0)?);
                        if candidate >= start {
                            return Some(candidate);
                        }
                    }
                }
            }
            date = date.succ_opt()?;
        }
        None
    }
}

fn value(text: &str, min: u32, max: u32, names: &[&str], what: &str) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(index) = names.iter().position(|n| *n == upper) {
        return Ok(min + index as u32);
    }
    match text.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("{what} value {text:?} is not in {min}-{max}")),
    }
}

fn field(text: &str, min: u32, max: u32, names: &[&str], what: &str) -> Result<BTreeSet<u32>, String> {
    let mut set = BTreeSet::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step = s.parse::<u32>().ok().filter(|s| *s > 0);
                (r, step.ok_or_else(|| format!("{what} step {s:?} must be a positive integer"))?)
            }
            None => (part, 1),
        };
        let (low, high) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a, min, max, names, what)?, value(b, min, max, names, what)?),
                None if part.contains('/') => (value(range, min, max, names, what)?, max),
                None => {
                    let v = value(range, min, max, names, what)?;
                    (v, v)
                }
            },
        };
        if low > high {
            return Err(format!("{what} range {range:?} runs backwards"));
        }
        set.extend((low..=high).step_by(step as usize));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn rates() {
        let s = Schedule::parse("rate(5 minutes)").unwrap();
        assert_eq!(s.next_after(at("2026-01-01T00:00:00Z")), Some(at("2026-01-01T00:05:00Z")));
        assert!(Schedule::parse("rate(1 minute)").is_ok());
        assert!(Schedule::parse("rate(1 minutes)").is_err());
        assert!(Schedule::parse("rate(2 hour)").is_err());
        assert!(Schedule::parse("rate(0 days)").is_err());
        assert!(Schedule::parse("rate(5 weeks)").is_err());
    }

    #[test]
    fn cron_every_fifteen_minutes() {
        let s = Schedule::parse("cron(0/15 * * * ? *)").unwrap();
        assert_eq!(s.next_after(at("2026-01-01T10:07:30Z")), Some(at("2026-01-01T10:15:00Z")));
        assert_eq!(s.next_after(at("2026-01-01T10:45:00Z")), Some(at("2026-01-01T11:00:00Z")));
    }

    #[test]
    fn cron_weekdays_and_names() {
        // 10:15 on Monday to Friday; 2026-01-03 is a Saturday.
        let s = Schedule::parse("cron(15 10 ? * MON-FRI *)").unwrap();
        assert_eq!(s.next_after(at("2026-01-03T00:00:00Z")), Some(at("2026-01-05T10:15:00Z")));
    }

    #[test]
    fn cron_last_day_and_nth_weekday() {
        let s = Schedule::parse("cron(0 18 L * ? *)").unwrap();
        assert_eq!(s.next_after(at("2026-02-03T00:00:00Z")), Some(at("2026-02-28T18:00:00Z")));
        // The first Monday of the month.
        let s = Schedule::parse("cron(0 9 ? * 2#1 *)").unwrap();
        assert_eq!(s.next_after(at("2026-03-03T00:00:00Z")), Some(at("2026-04-06T09:00:00Z")));
    }

    #[test]
    fn cron_errors_say_what_is_wrong() {
        for (expr, needle) in [
            ("cron(0 10 * * * *)", "'?'"),
            ("cron(0 10 * *)", "six fields"),
            ("cron(61 10 * * ? *)", "minutes"),
            ("cron(0 10 ? * 9 *)", "day-of-week"),
            ("every day", "rate(...) or cron(...)"),
        ] {
            let err = Schedule::parse(expr).unwrap_err().to_string();
            assert!(err.contains(needle), "{expr}: {err}");
        }
    }

    #[test]
    fn cron_in_a_past_year_never_fires() {
        let s = Schedule::parse("cron(0 0 1 1 ? 2020)").unwrap();
        assert_eq!(s.next_after(at("2026-01-01T00:00:00Z")), None);
    }
}
