//! The built-in evaluator of processing jobs (`trainyard evaluator`): evaluates the
//! model, and the champion on the same test data when one is given, decides the gate, and
//! writes `evaluation.json` (the model-quality report), `champion-evaluation.json` and
//! `decision.json` into the output directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use trainyard_algorithms::CsvOptions;

use crate::error::Error;
use crate::evaluate::{evaluate, EvaluationInput};
use crate::gate::{decide, Condition, Decision};
use crate::metrics::Report;

pub const REPORT_FILE: &str = "evaluation.json";
pub const CHAMPION_REPORT_FILE: &str = "champion-evaluation.json";
pub const DECISION_FILE: &str = "decision.json";

/// One evaluation run.
#[derive(Debug, Clone)]
pub struct EvaluatorOptions {
    /// A model file or archive, or a directory holding one (an input channel).
    pub model: PathBuf,
    pub test: PathBuf,
    pub champion: Option<PathBuf>,
    /// The champion's version, recorded in the decision.
    pub champion_version: Option<String>,
    pub output: PathBuf,
    pub csv: CsvOptions,
    pub conditions: Vec<String>,
}

/// What the run found.
#[derive(Debug, Clone)]
pub struct EvaluatorOutcome {
    pub report: Report,
    pub champion: Option<Report>,
    pub decision: Option<Decision>,
}

/// The model inside an input channel: the directory itself when it holds `model.onnx`,
/// else its one `*.tar.gz`, `*.tgz` or `*.onnx` file.
pub fn locate_model(path: &Path) -> Result<PathBuf, Error> {
    if !path.is_dir() || path.join("model.onnx").is_file() {
        return Ok(path.to_path_buf());
    }
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().map_err(io)?.is_file() && [".tar.gz", ".tgz", ".onnx"].iter().any(|s| name.ends_with(s)) {
            found.push(entry.path());
        }
    }
    match <[PathBuf; 1]>::try_from(found) {
        Ok([one]) => Ok(one),
        Err(found) => Err(Error::Mismatch {
            reason: format!(
                "{} must hold model.onnx or exactly one model archive; it holds {}",
                path.display(),
                if found.is_empty() { "none".to_string() } else { format!("{} candidates", found.len()) }
            ),
        }),
    }
}

/// Runs the evaluation and writes its files (each atomically).
pub fn run(options: &EvaluatorOptions) -> Result<EvaluatorOutcome, Error> {
    let conditions = options.conditions.iter().map(|c| Condition::parse(c)).collect::<Result<Vec<_>, _>>()?;
    let one = |model: &Path| -> Result<Report, Error> {
        let model = locate_model(model)?;
        evaluate(&EvaluationInput { model: &model, test: &options.test, csv: options.csv.clone() })
    };
    let report = one(&options.model)?;
    let champion = options.champion.as_deref().map(one).transpose()?;
    let decision = if conditions.is_empty() {
        None
    } else {
        let version = options.champion_version.clone().unwrap_or_else(|| "champion".into());
        Some(decide(&conditions, &report, champion.as_ref().map(|r| (version.as_str(), r)))?)
    };
    std::fs::create_dir_all(&options.output)
        .map_err(|source| Error::Io { path: options.output.display().to_string(), source })?;
    write_atomically(&options.output.join(REPORT_FILE), &report.0)?;
    if let Some(champion) = &champion {
        write_atomically(&options.output.join(CHAMPION_REPORT_FILE), &champion.0)?;
    }
    if let Some(decision) = &decision {
        write_atomically(&options.output.join(DECISION_FILE), &serde_json::to_value(decision).unwrap_or_default())?;
    }
    Ok(EvaluatorOutcome { report, champion, decision })
}

/// Writes JSON through a temporary file, fsync and rename.
pub fn write_atomically(path: &Path, value: &Value) -> Result<(), Error> {
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("report");
    let temporary = directory.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(serde_json::to_string_pretty(value).unwrap_or_default().as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}
