//! `trainyard models`: evaluation with the serving runtime and the registration gate.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use trainyard_algorithms::CsvOptions;
use trainyard_models::gate::{decide, Condition};
use trainyard_models::{evaluate, EvaluationInput, Report};

use crate::args::ModelsCommand;
use crate::client::Error;

pub fn run(command: ModelsCommand) -> Result<(), Error> {
    match command {
        ModelsCommand::Evaluate { model, test, label_column, report, conditions, champion } => {
            let csv = CsvOptions { header: label_column.is_some(), label_column };
            let conditions =
                conditions.iter().map(|c| Condition::parse(c)).collect::<Result<Vec<_>, _>>().map_err(usage)?;
            let candidate = evaluate_one(&model, &test, &csv)?;
            let champion_report = champion.as_deref().map(|c| evaluate_one(c, &test, &csv)).transpose()?;
            let mut document = candidate.0.clone();
            if !conditions.is_empty() {
                let champion_name = champion.as_ref().map(|c| c.display().to_string());
                let decision = decide(&conditions, &candidate, champion_name.as_deref().zip(champion_report.as_ref()))
                    .map_err(usage)?;
                document = json!({"report": candidate.0, "decision": decision});
                if let Some(path) = &report {
                    write_atomically(path, &candidate)?;
                }
                println!("{}", serde_json::to_string_pretty(&document).unwrap_or_default());
                return if decision.passed { Ok(()) } else { Err(Error::Failure("the gate failed".into())) };
            }
            if let Some(path) = &report {
                write_atomically(path, &candidate)?;
            }
            println!("{}", serde_json::to_string_pretty(&document).unwrap_or_default());
            Ok(())
        }
    }
}

fn usage(e: trainyard_models::Error) -> Error {
    Error::Usage(e.to_string())
}

fn evaluate_one(model: &Path, test: &Path, csv: &CsvOptions) -> Result<Report, Error> {
    evaluate(&EvaluationInput { model, test, csv: csv.clone() }).map_err(usage)
}

/// Writes the report through a temporary file, fsync and rename.
fn write_atomically(path: &Path, report: &Report) -> Result<(), Error> {
    let failure = |e: std::io::Error| Error::Failure(format!("cannot write {}: {e}", path.display()));
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temporary = directory.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("report")));
    let mut file = std::fs::File::create(&temporary).map_err(failure)?;
    file.write_all(serde_json::to_string_pretty(&report.0).unwrap_or_default().as_bytes()).map_err(failure)?;
    file.sync_all().map_err(failure)?;
    std::fs::rename(&temporary, path).map_err(failure)
}
