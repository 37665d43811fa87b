//! Per-variant request statistics, lock-free on the request path: counts, errors and
//! latency histograms (model time and overhead apart). A deployment compares two
//! snapshots to judge the new fleet over a bake; `/metrics` renders them for Prometheus.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (the last bucket is +Inf).
pub const BUCKETS: [f64; 16] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn record(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let index = BUCKETS.iter().position(|&b| seconds <= b).unwrap_or(BUCKETS.len());
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(elapsed.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> [u64; BUCKETS.len() + 1] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let counts = self.snapshot();
        let mut cumulative = 0;
        for (i, count) in counts.iter().enumerate() {
            cumulative += count;
            let bound = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// One variant's statistics since it was loaded.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    errors: AtomicU64,
    /// Time in the model.
    pub model_latency: Histogram,
    /// Everything else: parsing, routing, rendering.
    pub overhead_latency: Histogram,
    total_latency: Histogram,
}

/// What happened between two snapshots.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub requests: u64,
    pub errors: u64,
    /// Total-latency bucket counts.
    pub buckets: Vec<u64>,
}

impl Window {
    /// Quantile `q` of the window's latencies, interpolated linearly inside its bucket (as
    /// Prometheus' `histogram_quantile`); past the last bound it is that bound.
    pub fn latency_quantile(&self, q: f64) -> f64 {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = (q * total as f64).ceil().max(1.0);
        let mut seen = 0u64;
        for (i, &count) in self.buckets.iter().enumerate() {
            if count > 0 && (seen + count) as f64 >= rank {
                let lower = if i == 0 { 0.0 } else { BUCKETS[i - 1] };
                let Some(&upper) = BUCKETS.get(i) else { return lower };
                return lower + (upper - lower) * (rank - seen as f64) / count as f64;
            }
            seen += count;
        }
        BUCKETS[BUCKETS.len() - 1]
    }

    /// `self - earlier`.
    pub fn since(&self, earlier: &Window) -> Window {
        Window {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            buckets: self
                .buckets
                .iter()
                .enumerate()
                .map(|(i, c)| c.saturating_sub(earlier.buckets.get(i).copied().unwrap_or(0)))
                .collect(),
        }
    }
}

impl Stats {
    /// Records one answered request; `model` is the time spent in the model.
    pub fn record(&self, model: Duration, total: Duration, failed: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.model_latency.record(model);
        self.overhead_latency.record(total.saturating_sub(model));
        self.total_latency.record(total);
    }

    pub fn snapshot(&self) -> Window {
        Window {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            buckets: self.total_latency.snapshot().to_vec(),
        }
    }

    /// Prometheus text for this variant.
    pub fn render(&self, out: &mut String, endpoint: &str, variant: &str, config: &str) {
        let (endpoint, variant, config) = (escape(endpoint), escape(variant), escape(config));
        let labels = format!("endpoint=\"{endpoint}\",variant=\"{variant}\",config=\"{config}\"");
        let _ =
            writeln!(out, "trainyard_endpoint_requests_total{{{labels}}} {}", self.requests.load(Ordering::Relaxed));
        let _ = writeln!(out, "trainyard_endpoint_errors_total{{{labels}}} {}", self.errors.load(Ordering::Relaxed));
        self.model_latency.render(out, "trainyard_endpoint_model_latency_seconds", &labels);
        self.overhead_latency.render(out, "trainyard_endpoint_overhead_latency_seconds", &labels);
    }
}

/// The `# HELP`/`# TYPE` lines of the families `Stats::render` writes.
pub const PROMETHEUS_HEADER: &str = "\
# HELP trainyard_endpoint_requests_total Invocations answered by the variant.
# TYPE trainyard_endpoint_requests_total counter
# HELP trainyard_endpoint_errors_total Invocations the variant failed (model errors, input that does not fit the model).
# TYPE trainyard_endpoint_errors_total counter
# HELP trainyard_endpoint_model_latency_seconds Time spent in the model.
# TYPE trainyard_endpoint_model_latency_seconds histogram
# HELP trainyard_endpoint_overhead_latency_seconds Time spent outside the model: parsing, routing, rendering.
# TYPE trainyard_endpoint_overhead_latency_seconds histogram
";

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_quantiles() {
        let stats = Stats::default();
        let before = stats.snapshot();
        for _ in 0..98 {
            stats.record(Duration::from_micros(200), Duration::from_micros(300), false);
        }
        stats.record(Duration::from_millis(30), Duration::from_millis(40), true);
        stats.record(Duration::from_millis(30), Duration::from_millis(40), true);
        let window = stats.snapshot().since(&before);
        assert_eq!((window.requests, window.errors), (100, 2));
        // 98 requests in (250 µs, 500 µs], 2 in (25 ms, 50 ms].
        assert!((window.latency_quantile(0.5) - (0.00025 + 0.00025 * 50.0 / 98.0)).abs() < 1e-12);
        assert!((window.latency_quantile(0.99) - 0.0375).abs() < 1e-12);
        let mut text = String::new();
        stats.render(&mut text, "e", "v\"1", "c");
        assert!(
            text.contains("trainyard_endpoint_requests_total{endpoint=\"e\",variant=\"v\\\"1\",config=\"c\"} 100"),
            "{text}"
        );
        assert!(text.contains(
            "trainyard_endpoint_model_latency_seconds_bucket{endpoint=\"e\",variant=\"v\\\"1\",config=\"c\",le=\"+Inf\"} 100"
        ));
    }
}
