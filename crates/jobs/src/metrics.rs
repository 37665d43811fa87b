//! `MetricDefinitions`: regexes applied to every output line; capture group 1 is
//! the value.

use chrono::{DateTime, Utc};
use regex::Regex;
use trainyard_store::MetricPoint;

use crate::request::MetricDefinition;

/// Compiled metric definitions.
pub struct MetricParser {
    definitions: Vec<(String, Regex)>,
}

impl MetricParser {
    /// Compiles definitions; invalid ones were refused when the job was created.
    pub fn new(definitions: &[MetricDefinition]) -> MetricParser {
        MetricParser {
            definitions: definitions
                .iter()
                .filter_map(|d| Regex::new(&d.regex).ok().map(|r| (d.name.clone(), r)))
                .collect(),
        }
    }

    /// Every metric value on one line.
    pub fn parse(&self, line: &str, now: DateTime<Utc>) -> Vec<MetricPoint> {
        self.definitions
            .iter()
            .filter_map(|(name, regex)| {
                let value = regex.captures(line)?.get(1)?.as_str().trim().parse::<f64>().ok()?;
                value.is_finite().then(|| MetricPoint { metric_name: name.clone(), value, timestamp: now })
            })
            .collect()
    }
}

/// `FinalMetricDataList`: the last value of each metric, in first-seen order.
pub fn final_metrics(points: &[MetricPoint]) -> Vec<MetricPoint> {
    let mut last: Vec<MetricPoint> = Vec::new();
    for point in points {
        match last.iter_mut().find(|p| p.metric_name == point.metric_name) {
            Some(existing) => *existing = point.clone(),
            None => last.push(point.clone()),
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_group_one_is_the_value_and_the_last_one_wins() {
        let parser = MetricParser::new(&[
            MetricDefinition { name: "validation:auc".into(), regex: r"validation:auc=([0-9.]+)".into() },
            MetricDefinition { name: "loss".into(), regex: r"loss: (\S+)".into() },
        ]);
        let now = Utc::now();
        let mut points = parser.parse("round 1 validation:auc=0.91 loss: 0.5", now);
        assert_eq!(points.len(), 2);
        points.extend(parser.parse("validation:auc=0.95", now));
        points.extend(parser.parse("loss: nan", now));
        points.extend(parser.parse("no metrics here", now));
        let last = final_metrics(&points);
        assert_eq!(last.len(), 2);
        assert_eq!((last[0].metric_name.as_str(), last[0].value), ("validation:auc", 0.95));
        assert_eq!((last[1].metric_name.as_str(), last[1].value), ("loss", 0.5));
    }
}
