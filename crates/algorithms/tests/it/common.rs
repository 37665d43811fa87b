//! Shared helpers: temporary contract layouts, synthetic CSV data, metric parsing.

use std::path::PathBuf;

use serde_json::{Map, Value};
use trainyard_algorithms::{run_with, ContractPaths, Error, RunOutcome};

/// A temporary SageMaker-style directory tree for one run.
pub struct Layout {
    pub dir: tempfile::TempDir,
    pub paths: ContractPaths,
}

impl Layout {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let paths = ContractPaths {
            train: root.join("input/data/train"),
            validation: None,
            model_dir: root.join("model"),
            output_data_dir: root.join("output/data"),
            failure_file: root.join("output/failure"),
        };
        std::fs::create_dir_all(&paths.train).expect("mkdir");
        Layout { dir, paths }
    }

    /// Writes a file into the train channel.
    pub fn train_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.paths.train.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    /// Writes a file into the validation channel (creating and registering it).
    pub fn validation_file(&mut self, name: &str, text: &str) -> PathBuf {
        let dir = self.dir.path().join("input/data/validation");
        std::fs::create_dir_all(&dir).expect("mkdir");
        self.paths.validation = Some(dir.clone());
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    pub fn run(&self, algorithm: &str, hps: Value) -> (Result<RunOutcome, Error>, String) {
        let mut log = Vec::new();
        let result = run_with(algorithm, &self.paths, &object(hps), &mut log);
        (result, String::from_utf8(log).expect("utf-8 log"))
    }

    pub fn model_json(&self) -> Value {
        let text = std::fs::read_to_string(self.paths.model_dir.join("model.json")).expect("model.json");
        serde_json::from_str(&text).expect("json")
    }
}

pub fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Deterministic pseudo-random numbers in [0, 1).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// CSV rows (label first) of a 3-feature problem: `kind` is "binary", "multiclass" or "regression".
pub fn synthetic_csv(kind: &str, rows: usize, seed: u64) -> String {
    let mut rng = Lcg(seed);
    let mut out = String::new();
    for _ in 0..rows {
        let x: Vec<f64> = (0..3).map(|_| rng.next() * 4.0 - 2.0).collect();
        let noise = rng.next() - 0.5;
        let score = x[0] * 1.5 - x[1] + 0.3 * noise;
        let label = match kind {
            "binary" => format!("{}", (score > 0.0) as u8),
            "multiclass" => format!(
                "{}",
                if score < -1.0 {
                    0
                } else if score < 1.0 {
                    1
                } else {
                    2
                }
            ),
            _ => format!("{:.4}", score * 10.0 + x[2] * x[2]),
        };
        out.push_str(&format!("{label},{:.5},{:.5},{:.5}\n", x[0], x[1], x[2]));
    }
    out
}

/// Every `channel:metric=value` pair of a log line.
pub fn metric_pairs(line: &str) -> Vec<(String, f64)> {
    line.split(' ')
        .filter_map(|t| t.split_once('='))
        .filter(|(k, _)| k.contains(':'))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
        .collect()
}

pub fn final_metric(outcome: &RunOutcome, name: &str) -> f64 {
    outcome.final_metrics.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1
}
