//! The retry policy of a target: how many attempts, for how long, with what delay.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// EventBridge's `RetryPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RetryPolicy {
    #[serde(default = "default_attempts")]
    pub maximum_retry_attempts: u32,
    #[serde(default = "default_age")]
    pub maximum_event_age_in_seconds: u32,
}

fn default_attempts() -> u32 {
    185
}
fn default_age() -> u32 {
    86_400
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { maximum_retry_attempts: default_attempts(), maximum_event_age_in_seconds: default_age() }
    }
}

impl RetryPolicy {
    /// Checks EventBridge's limits: 0–185 retries, 60–86 400 seconds.
    pub fn validate(&self) -> Result<(), Error> {
        if self.maximum_retry_attempts > 185 {
            return Err(Error::InvalidRetryPolicy {
                message: format!("MaximumRetryAttempts is {}; it must be 0-185", self.maximum_retry_attempts),
            });
        }
        if !(60..=86_400).contains(&self.maximum_event_age_in_seconds) {
            return Err(Error::InvalidRetryPolicy {
                message: format!(
                    "MaximumEventAgeInSeconds is {}; it must be 60-86400",
                    self.maximum_event_age_in_seconds
                ),
            });
        }
        Ok(())
    }

    /// Whether another attempt may be made after `attempts_made` attempts, for an event
    /// that is `event_age` old.
    pub fn may_retry(&self, attempts_made: u32, event_age: Duration) -> bool {
        // Invariant: attempts = 1 first try + at most MaximumRetryAttempts retries.
        attempts_made <= self.maximum_retry_attempts
            && event_age < Duration::from_secs(u64::from(self.maximum_event_age_in_seconds))
    }
}

/// Exponential backoff with jitter: the delay before retry number `attempt` (1-based)
/// lies in `[d/2, d]` where `d = min(cap, base * 2^(attempt-1))`. `unit` in `[0, 1)`
/// is the random draw, handed in so that the arithmetic stays deterministic.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exponent).min(cap);
    let half = full / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_eventbridges() {
        let p: RetryPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, RetryPolicy { maximum_retry_attempts: 185, maximum_event_age_in_seconds: 86_400 });
    }

    #[test]
    fn limits_are_checked() {
        assert!(RetryPolicy { maximum_retry_attempts: 186, ..Default::default() }.validate().is_err());
        assert!(RetryPolicy { maximum_event_age_in_seconds: 59, ..Default::default() }.validate().is_err());
        assert!(RetryPolicy { maximum_retry_attempts: 0, maximum_event_age_in_seconds: 60 }.validate().is_ok());
    }

    #[test]
    fn retries_stop_at_the_limits() {
        let p = RetryPolicy { maximum_retry_attempts: 2, maximum_event_age_in_seconds: 60 };
        assert!(p.may_retry(1, Duration::from_secs(1)));
        assert!(p.may_retry(2, Duration::from_secs(1)));
        assert!(!p.may_retry(3, Duration::from_secs(1)));
        assert!(!p.may_retry(1, Duration::from_secs(60)));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        assert_eq!(backoff(1, base, cap, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(2, base, cap, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(2, base, cap, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(40, base, cap, 1.0), cap);
    }
}
