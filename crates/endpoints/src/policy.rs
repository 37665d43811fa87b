//! How a deployment shifts traffic and when it rolls back: SageMaker's
//! `BlueGreenUpdatePolicy` (all at once, canary, linear; wait intervals, termination
//! wait, maximum execution time) and rollback conditions on the new fleet's error rate
//! and latency percentiles.

use std::time::Duration;

use serde_json::{json, Value};

use crate::stats::Window;
use crate::Error;

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidRequest { field: field.into(), reason: reason.into() }
}

/// How traffic moves to the new fleet.
#[derive(Debug, Clone, PartialEq)]
pub enum Traffic {
    AllAtOnce {
        bake: Duration,
    },
    /// `percent` of traffic for `bake`, then the rest (baked again).
    Canary {
        percent: f64,
        bake: Duration,
    },
    /// `step` percent more every `interval` (each step baked) until all of it.
    Linear {
        step: f64,
        interval: Duration,
    },
}

/// One condition that rolls a deployment back, e.g. `error_rate>1%` or `p99>50ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub text: String,
    pub metric: AlarmMetric,
    pub threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlarmMetric {
    /// Failed invocations over all invocations, as a fraction.
    ErrorRate,
    /// A latency quantile (0..1), threshold in seconds.
    Latency(f64),
}

/// Parses a duration: `30s`, `500ms`, `2m`, `1h`, or plain seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.find(|c: char| c.is_ascii_alphabetic()).map_or((text, "s"), |i| text.split_at(i));
    let value: f64 = number.trim().parse().map_err(|_| format!("{text:?} is not a duration (30s, 500ms, 2m, 1h)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if !(0.0..=30.0 * 86400.0).contains(&seconds) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn percent(text: &str, what: &str) -> Result<f64, String> {
    let value: f64 =
        text.trim().trim_end_matches('%').parse().map_err(|_| format!("{what} {text:?} is not a percentage"))?;
    if value > 0.0 && value <= 100.0 {
        Ok(value)
    } else {
        Err(format!("{what} {value} must be in (0, 100]"))
    }
}

/// A linear step moves at least 1 % of traffic (at most 100 steps).
fn linear_step(percent: f64) -> Result<f64, String> {
    if percent >= 1.0 {
        Ok(percent)
    } else {
        Err(format!("the linear step {percent} must be at least 1 (percent)"))
    }
}

/// The fewest requests a window needs before an alarm may judge it: one stray request is
/// not a failure rate.
pub const MIN_REQUESTS: u64 = 10;

impl Traffic {
    /// `all-at-once[:BAKE]`, `canary:PCT:BAKE` or `linear:STEP_PCT:INTERVAL`.
    pub fn parse(text: &str) -> Result<Traffic, Error> {
        let parts: Vec<&str> = text.split(':').collect();
        let fail = |reason: String| invalid("strategy", reason);
        match parts.as_slice() {
            ["all-at-once"] => Ok(Traffic::AllAtOnce { bake: Duration::ZERO }),
            ["all-at-once", bake] => Ok(Traffic::AllAtOnce { bake: duration(bake).map_err(fail)? }),
            ["canary", p, bake] => Ok(Traffic::Canary {
                percent: percent(p, "canary size").map_err(fail)?,
                bake: duration(bake).map_err(fail)?,
            }),
            ["linear", step, interval] => Ok(Traffic::Linear {
                step: linear_step(percent(step, "linear step").map_err(fail)?).map_err(fail)?,
                interval: duration(interval).map_err(fail)?,
            }),
            _ => Err(fail(format!(
                "{text:?}: expected all-at-once[:BAKE], canary:PERCENT:BAKE or linear:STEP_PERCENT:INTERVAL"
            ))),
        }
    }

    /// The share of traffic on the new fleet at each step, and how long each bakes.
    pub fn steps(&self) -> Vec<(f64, Duration)> {
        match *self {
            Traffic::AllAtOnce { bake } => vec![(1.0, bake)],
            Traffic::Canary { percent, bake } => {
                if percent >= 100.0 {
                    vec![(1.0, bake)]
                } else {
                    vec![(percent / 100.0, bake), (1.0, bake)]
                }
            }
            Traffic::Linear { step, interval } => {
                let count = (100.0 / step).ceil() as usize;
                (1..=count).map(|i| ((i as f64 * step / 100.0).min(1.0), interval)).collect()
            }
        }
    }

    /// SageMaker's `TrafficRoutingConfiguration`.
    pub fn to_sagemaker(&self) -> Value {
        match *self {
            Traffic::AllAtOnce { bake } => json!({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": bake.as_secs_f64()}),
            Traffic::Canary { percent, bake } => json!({"Type": "CANARY", "WaitIntervalInSeconds": bake.as_secs_f64(),
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": percent}}),
            Traffic::Linear { step, interval } => {
                json!({"Type": "LINEAR", "WaitIntervalInSeconds": interval.as_secs_f64(),
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": step}})
            }
        }
    }

    /// From SageMaker's `TrafficRoutingConfiguration`.
    pub fn from_sagemaker(value: &Value) -> Result<Traffic, Error> {
        let bake = Duration::from_secs_f64(value["WaitIntervalInSeconds"].as_f64().unwrap_or(0.0).clamp(0.0, 3600.0));
        let size = |key: &str| -> Result<f64, Error> {
            let size = &value[key];
            if size["Type"] != "CAPACITY_PERCENT" {
                return Err(invalid(key, "only CAPACITY_PERCENT sizes (in-process workers have no instance count)"));
            }
            percent(&size["Value"].to_string(), key).map_err(|e| invalid(key, e))
        };
        match value["Type"].as_str() {
            Some("ALL_AT_ONCE") => Ok(Traffic::AllAtOnce { bake }),
            Some("CANARY") => Ok(Traffic::Canary { percent: size("CanarySize")?, bake }),
            Some("LINEAR") => Ok(Traffic::Linear {
                step: linear_step(size("LinearStepSize")?).map_err(|e| invalid("LinearStepSize", e))?,
                interval: bake,
            }),
            _ => Err(invalid("TrafficRoutingConfiguration.Type", "must be ALL_AT_ONCE, CANARY or LINEAR")),
        }
    }
}

impl Alarm {
    /// `error_rate>1%` or `pNN>DURATION` (`p50`, `p90`, `p99`, `p99.9`).
    pub fn parse(text: &str) -> Result<Alarm, Error> {
        let fail = |reason: String| invalid("rollback condition", format!("{text:?}: {reason}"));
        let (name, value) =
            text.split_once('>').ok_or_else(|| fail("expected error_rate>PCT or pNN>DURATION".into()))?;
        let (name, value) = (name.trim(), value.trim());
        let (metric, threshold) = if name == "error_rate" {
            let p: f64 =
                value.trim_end_matches('%').parse().map_err(|_| fail(format!("{value:?} is not a percentage")))?;
            if !(0.0..100.0).contains(&p) {
                return Err(fail("the error rate must be in [0, 100)".into()));
            }
            (AlarmMetric::ErrorRate, p / 100.0)
        } else if let Some(q) = name.strip_prefix('p') {
            let q: f64 = q.parse().map_err(|_| fail(format!("{name:?} is not a percentile such as p99")))?;
            if !(0.0 < q && q < 100.0) {
                return Err(fail("the percentile must be in (0, 100)".into()));
            }
            (AlarmMetric::Latency(q / 100.0), duration(value).map_err(fail)?.as_secs_f64())
        } else {
            return Err(fail(format!("unknown metric {name:?} (error_rate, p50, p90, p99, ...)")));
        };
        Ok(Alarm { text: format!("{name}>{value}"), metric, threshold })
    }

    /// A comma-separated list.
    pub fn parse_list(text: &str) -> Result<Vec<Alarm>, Error> {
        text.split(',').filter(|s| !s.trim().is_empty()).map(Alarm::parse).collect()
    }

    /// Why the alarm fires on `window`, if it does. No traffic fires nothing.
    pub fn check(&self, window: &Window) -> Option<String> {
        if window.requests < MIN_REQUESTS {
            return None;
        }
        match self.metric {
            AlarmMetric::ErrorRate => {
                let rate = window.errors as f64 / window.requests as f64;
                (rate > self.threshold).then(|| {
                    format!(
                        "{}: {} of {} requests failed ({:.1}%)",
                        self.text,
                        window.errors,
                        window.requests,
                        rate * 100.0
                    )
                })
            }
            AlarmMetric::Latency(q) => {
                let seconds = window.latency_quantile(q);
                (seconds > self.threshold).then(|| format!("{}: {:.1}ms", self.text, seconds * 1000.0))
            }
        }
    }
}

/// A deployment's whole policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub traffic: Traffic,
    pub alarms: Vec<Alarm>,
    /// How long the old fleet is kept after the new one takes all traffic.
    pub termination_wait: Duration,
    /// The whole deployment's limit; past it, it rolls back.
    pub maximum_execution: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            traffic: Traffic::AllAtOnce { bake: Duration::ZERO },
            alarms: Vec::new(),
            termination_wait: Duration::ZERO,
            maximum_execution: Duration::from_secs(3600),
        }
    }
}

impl Policy {
    /// SageMaker's `DeploymentConfig` (with `AutoRollbackConfiguration.Alarms[].AlarmName`
    /// holding rollback conditions such as `error_rate>1%`).
    pub fn to_sagemaker(&self) -> Value {
        json!({
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": self.traffic.to_sagemaker(),
                "TerminationWaitInSeconds": self.termination_wait.as_secs_f64(),
                "MaximumExecutionTimeoutInSeconds": self.maximum_execution.as_secs_f64(),
            },
            "AutoRollbackConfiguration": {"Alarms": self.alarms.iter().map(|a| json!({"AlarmName": a.text})).collect::<Vec<_>>()},
        })
    }

    pub fn from_sagemaker(value: &Value) -> Result<Policy, Error> {
        let mut policy = Policy::default();
        if value.is_null() {
            return Ok(policy);
        }
        let blue_green = &value["BlueGreenUpdatePolicy"];
        if !blue_green["TrafficRoutingConfiguration"].is_null() {
            policy.traffic = Traffic::from_sagemaker(&blue_green["TrafficRoutingConfiguration"])?;
        }
        if let Some(wait) = blue_green["TerminationWaitInSeconds"].as_f64() {
            if !(0.0..=3600.0).contains(&wait) {
                return Err(invalid("TerminationWaitInSeconds", "must be 0-3600"));
            }
            policy.termination_wait = Duration::from_secs_f64(wait);
        }
        if let Some(limit) = blue_green["MaximumExecutionTimeoutInSeconds"].as_f64() {
            if !(1.0..=28800.0).contains(&limit) {
                return Err(invalid("MaximumExecutionTimeoutInSeconds", "must be 1-28800"));
            }
            policy.maximum_execution = Duration::from_secs_f64(limit);
        }
        if let Some(alarms) = value["AutoRollbackConfiguration"]["Alarms"].as_array() {
            policy.alarms = alarms
                .iter()
                .map(|a| Alarm::parse(a["AlarmName"].as_str().unwrap_or_default()))
                .collect::<Result<_, _>>()?;
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_become_steps() {
        assert_eq!(Traffic::parse("all-at-once").unwrap().steps(), [(1.0, Duration::ZERO)]);
        let canary = Traffic::parse("canary:10:2s").unwrap();
        assert_eq!(canary.steps(), [(0.1, Duration::from_secs(2)), (1.0, Duration::from_secs(2))]);
        let linear = Traffic::parse("linear:30:500ms").unwrap().steps();
        let shares: Vec<f64> = linear.iter().map(|s| s.0).collect();
        assert_eq!(shares.len(), 4);
        assert!((shares[0] - 0.3).abs() < 1e-9 && shares[3] == 1.0, "{shares:?}");
        for bad in
            ["canary:0:1s", "canary:10", "linear:150:1s", "linear:0.5:1s", "linear:1e-300:0s", "blue", "canary:10:1x"]
        {
            assert!(Traffic::parse(bad).is_err(), "{bad}");
        }
        let round = Policy { traffic: canary, ..Policy::default() };
        assert_eq!(Policy::from_sagemaker(&round.to_sagemaker()).unwrap(), round);
    }

    #[test]
    fn alarms_fire_on_their_window() {
        let alarms = Alarm::parse_list("error_rate>1%, p99>50ms").unwrap();
        let mut window = Window { requests: 200, errors: 1, ..Window::default() };
        assert_eq!(alarms[0].check(&window), None, "0.5% is under 1%");
        window.errors = 5;
        assert!(alarms[0].check(&window).unwrap().contains("5 of 200"));
        assert_eq!(alarms[1].check(&Window::default()), None, "no traffic fires nothing");
        let few = Window { requests: MIN_REQUESTS - 1, errors: MIN_REQUESTS - 1, ..Window::default() };
        assert_eq!(alarms[0].check(&few), None, "too few requests to judge");
        for bad in ["error_rate>x", "p100>1s", "latency>1s", "p99<1s", "error_rate>100%"] {
            assert!(Alarm::parse(bad).is_err(), "{bad}");
        }
    }
}
