//! `trainyard runtime`: offline model tools over the runtime crate — `inspect` a model,
//! `predict` a CSV of feature rows, `bench` single-row and batch latency.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};
use trainyard_runtime::{Backend, Label, Model, Predictions};

use crate::args::{Output, PredictFormat, RuntimeCommand};
use crate::client::Error;

pub fn run(out: Output, command: RuntimeCommand) -> Result<(), Error> {
    match command {
        RuntimeCommand::Inspect { path, backend } => inspect(out, &path, parse_backend(&backend)?),
        RuntimeCommand::Predict { model, input, format, backend, batch_size } => {
            let format = match (format, out) {
                (Some(f), _) => f,
                (None, Output::Csv) => PredictFormat::Csv,
                (None, _) => PredictFormat::Jsonl,
            };
            predict(&model, &input, format, parse_backend(&backend)?, batch_size.max(1))
        }
        RuntimeCommand::Bench { model, input, rows, seconds, backend, json } => {
            bench(&model, &input, rows.max(1), seconds, parse_backend(&backend)?, json || out == Output::Json)
        }
    }
}

fn parse_backend(text: &str) -> Result<Backend, Error> {
    text.parse().map_err(|e: String| Error::Usage(e))
}

/// Maps runtime errors to exit codes: the model or the input is the user's (2), a failure
/// while running is ours (1).
fn runtime_error(e: trainyard_runtime::Error) -> Error {
    use trainyard_runtime::Error as E;
    match e {
        E::Inference { .. } => Error::Failure(e.to_string()),
        _ => Error::Usage(e.to_string()),
    }
}

fn load(path: &Path, backend: Backend) -> Result<Model, Error> {
    Model::load_with(path, backend).map_err(runtime_error)
}

fn inspect(out: Output, path: &Path, backend: Backend) -> Result<(), Error> {
    let (description, metadata) = trainyard_runtime::inspect(path).map_err(runtime_error)?;
    let loaded = Model::load_with(path, backend);
    let status = match &loaded {
        Ok(model) => {
            json!({"runs": true, "backend": model.backend(), "features": model.n_features(), "task": task_json(model)})
        }
        Err(e) => json!({"runs": false, "error": e.to_string()}),
    };
    if matches!(out, Output::Json | Output::Jsonl) {
        let mut doc = serde_json::to_value(&description).unwrap_or(Value::Null);
        doc["runtime"] = status;
        if let Some(m) = metadata {
            doc["metadata"] = serde_json::to_value(m).unwrap_or(Value::Null);
        }
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        let shape = |s: &[Option<i64>]| {
            s.iter().map(|d| d.map_or("N".to_string(), |d| d.to_string())).collect::<Vec<_>>().join(" × ")
        };
        println!("producer:  {} {}", description.producer, description.producer_version);
        let opsets: Vec<String> = description
            .opsets
            .iter()
            .map(|(d, v)| format!("{}={v}", if d.is_empty() { "ai.onnx" } else { d }))
            .collect();
        println!("opsets:    {}", opsets.join(", "));
        for i in &description.inputs {
            println!("input:     {} {} [{}]", i.name, i.element_type, shape(&i.shape));
        }
        for o in &description.outputs {
            println!("output:    {} {} [{}]", o.name, o.element_type, shape(&o.shape));
        }
        let operators: Vec<String> = description.operators.iter().map(|(op, n)| format!("{op} ×{n}")).collect();
        println!("operators: {}", operators.join(", "));
        match &loaded {
            Ok(model) => println!(
                "runtime:   runs on {} ({} features; {})",
                model.backend(),
                model.n_features(),
                task_json(model)
            ),
            Err(e) => println!("runtime:   cannot run: {e}"),
        }
    }
    loaded.map(|_| ()).map_err(runtime_error)
}

fn task_json(model: &Model) -> Value {
    match model.task() {
        trainyard_runtime::Task::Classification { classes, .. } => {
            json!({"type": "classification", "classes": classes})
        }
        trainyard_runtime::Task::Regression { targets, .. } => json!({"type": "regression", "targets": targets}),
    }
}

/// Reads CSV feature rows (no header) in batches; calls `each` with a batch.
fn read_batches(
    input: &Path,
    width: usize,
    batch_size: usize,
    mut each: impl FnMut(&[f32], usize) -> Result<(), Error>,
) -> Result<(), Error> {
    let reader: Box<dyn BufRead> = if input == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let file =
            std::fs::File::open(input).map_err(|e| Error::Usage(format!("cannot read {}: {e}", input.display())))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut batch = Vec::with_capacity(batch_size.min(4096) * width);
    let mut rows = 0;
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::Usage(format!("cannot read {}: {e}", input.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let start = batch.len();
        for (column, cell) in line.split(',').enumerate() {
            let value = parse_cell(cell.trim()).ok_or_else(|| {
                Error::Usage(format!(
                    "{} line {}, column {}: `{cell}` is not a number",
                    input.display(),
                    number + 1,
                    column + 1
                ))
            })?;
            batch.push(value);
        }
        if batch.len() - start != width {
            return Err(Error::Usage(format!(
                "{} line {}: expected {width} features, got {}",
                input.display(),
                number + 1,
                batch.len() - start
            )));
        }
        rows += 1;
        if rows == batch_size {
            each(&batch, rows)?;
            batch.clear();
            rows = 0;
        }
    }
    if rows > 0 {
        each(&batch, rows)?;
    }
    Ok(())
}

/// A number; empty cells and NaN spellings are missing values (NaN), as the model defines them.
fn parse_cell(cell: &str) -> Option<f32> {
    match cell {
        "" | "NaN" | "nan" | "NA" => Some(f32::NAN),
        _ => cell.parse().ok(),
    }
}

fn predict(
    model_path: &Path,
    input: &Path,
    format: PredictFormat,
    backend: Backend,
    batch_size: usize,
) -> Result<(), Error> {
    let model = load(model_path, backend)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut reader_gone = false;
    let mut write_error = |e: std::io::Error| {
        // A reader that stops early (`| head`) is not an error.
        reader_gone = e.kind() == std::io::ErrorKind::BrokenPipe;
        Error::Failure(format!("cannot write the predictions: {e}"))
    };
    let result = read_batches(input, model.n_features(), batch_size, |features, rows| {
        let predictions = model.predict(features, rows).map_err(runtime_error)?;
        write_predictions(&mut out, &predictions, format).map_err(&mut write_error)
    })
    .and_then(|()| out.flush().map_err(&mut write_error));
    match result {
        Err(_) if reader_gone => Ok(()),
        other => other,
    }
}

fn label_json(label: &Label) -> Value {
    match label {
        Label::Int(i) => json!(i),
        Label::Str(s) => json!(s),
    }
}

fn write_predictions(out: &mut impl Write, predictions: &Predictions, format: PredictFormat) -> std::io::Result<()> {
    match predictions {
        Predictions::Classification { labels, probabilities, classes } => {
            for (row, label) in labels.iter().enumerate() {
                let p = probabilities.as_ref().map(|p| &p[row * classes..(row + 1) * classes]);
                match format {
                    PredictFormat::Jsonl => {
                        let mut line = json!({"label": label_json(label)});
                        if let Some(p) = p {
                            line["probabilities"] = json!(p);
                        }
                        writeln!(out, "{line}")?;
                    }
                    PredictFormat::Csv => {
                        write!(out, "{}", csv_cell(&label.to_string()))?;
                        for v in p.into_iter().flatten() {
                            write!(out, ",{v}")?;
                        }
                        writeln!(out)?;
                    }
                }
            }
        }
        Predictions::Regression { values, targets } => {
            for row in values.chunks((*targets).max(1)) {
                match format {
                    PredictFormat::Jsonl if row.len() == 1 => writeln!(out, "{}", json!({"value": row[0]}))?,
                    PredictFormat::Jsonl => writeln!(out, "{}", json!({"value": row}))?,
                    PredictFormat::Csv => {
                        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                        writeln!(out, "{}", cells.join(","))?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Latency statistics in microseconds.
fn stats(mut samples: Vec<f64>) -> Value {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    json!({"median": at(0.5), "p99": at(0.99), "samples": samples.len()})
}

fn bench(
    model_path: &Path,
    input: &Path,
    batch_rows: usize,
    seconds: f64,
    backend: Backend,
    as_json: bool,
) -> Result<(), Error> {
    let model = load(model_path, backend)?;
    let width = model.n_features();
    let mut all = Vec::new();
    read_batches(input, width, usize::MAX, |features, _| {
        all.extend_from_slice(features);
        Ok(())
    })?;
    let available = all.len() / width.max(1);
    if available == 0 {
        return Err(Error::Usage(format!("{} has no rows", input.display())));
    }
    // The batch: the file's rows, repeated if the file is shorter than the batch.
    let batch: Vec<f32> = all.iter().copied().cycle().take(batch_rows * width).collect();
    let time = |features: &[f32], rows: usize| -> Result<f64, Error> {
        let started = Instant::now();
        let p = model.predict(features, rows).map_err(runtime_error)?;
        std::hint::black_box(p);
        Ok(started.elapsed().as_secs_f64() * 1e6)
    };
    // Warm up, then sample each shape for half the time budget (at least 20 samples).
    for r in 0..50.min(available) {
        time(&all[r * width..(r + 1) * width], 1)?;
    }
    time(&batch, batch_rows)?;
    let measure = |features: &dyn Fn(usize) -> (usize, usize), rows: usize| -> Result<Vec<f64>, Error> {
        let deadline = Instant::now() + std::time::Duration::from_secs_f64(seconds / 2.0);
        let mut samples = Vec::new();
        while samples.len() < 20 || Instant::now() < deadline {
            let (start, end) = features(samples.len());
            samples.push(time(&(if rows == 1 { &all } else { &batch })[start..end], rows)?);
        }
        Ok(samples)
    };
    let single = measure(&|i| ((i % available) * width, (i % available + 1) * width), 1)?;
    let batched = measure(&|_| (0, batch_rows * width), batch_rows)?;
    let result = json!({
        "model": model_path.display().to_string(),
        "backend": model.backend(),
        "single_row_us": stats(single),
        "batch_rows": batch_rows,
        "batch_us": stats(batched),
    });
    if as_json {
        println!("{result}");
    } else {
        println!(
            "{} on {}: single row median {:.1} µs (p99 {:.1}); {batch_rows}-row batch median {:.1} µs (p99 {:.1})",
            model_path.display(),
            model.backend(),
            result["single_row_us"]["median"].as_f64().unwrap_or(0.0),
            result["single_row_us"]["p99"].as_f64().unwrap_or(0.0),
            result["batch_us"]["median"].as_f64().unwrap_or(0.0),
            result["batch_us"]["p99"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(())
}
