//! A loaded model: the compiled graph, its signature and how to read its outputs as labels,
//! probabilities or regression values, whatever the producer named them.

use std::path::Path;

use tract_onnx::pb::ModelProto;

use crate::artifact;
use crate::engine::{tract::TractEngine, Engine, Feed, GraphInput};
use crate::error::{Error, Result};
use crate::metadata::{Label, Metadata};
use crate::ml::{Array, Data};
use crate::proto::{self, Description, ZipMapLabels};

/// Which graph engine runs the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// ONNX Runtime when this build has it and `ORT_DYLIB_PATH` is set, else tract.
    #[default]
    Auto,
    Tract,
    OnnxRuntime,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "auto" => Ok(Backend::Auto),
            "tract" => Ok(Backend::Tract),
            "onnxruntime" | "ort" => Ok(Backend::OnnxRuntime),
            other => Err(format!("unknown backend `{other}`; expected auto, tract or onnxruntime")),
        }
    }
}

/// What the model predicts, decided once at load time.
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    /// `labels` is the label output if the graph has one (else the arg-max of the
    /// probabilities names the class); `classes` in probability-column order.
    Classification { labels: Option<usize>, probabilities: Option<usize>, classes: Vec<Label> },
    /// Values output and number of targets.
    Regression { values: usize, targets: usize },
}

/// Predictions for a batch of rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Predictions {
    /// One label per row; `probabilities` has `classes.len()` values per row when the model
    /// outputs them.
    Classification { labels: Vec<Label>, probabilities: Option<Vec<f32>>, classes: usize },
    /// `targets` values per row.
    Regression { values: Vec<f32>, targets: usize },
}

impl Predictions {
    pub fn rows(&self) -> usize {
        match self {
            Predictions::Classification { labels, .. } => labels.len(),
            Predictions::Regression { values, targets } => values.len() / (*targets).max(1),
        }
    }
}

/// A model ready to run; share it across threads behind an `Arc` (no lock is taken to run).
pub struct Model {
    engine: Box<dyn Engine>,
    backend: &'static str,
    inputs: Vec<GraphInput>,
    n_features: usize,
    task: Task,
    description: Description,
    metadata: Option<Metadata>,
    /// Batches of at least this many rows are split across threads (`usize::MAX`: never).
    split_rows: usize,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("backend", &self.backend).field("task", &self.task).finish_non_exhaustive()
    }
}

impl Model {
    /// Loads `model.onnx` (+ `model.json`) from a file, a directory or a `model.tar.gz`.
    pub fn load(path: &Path) -> Result<Model> {
        Model::load_with(path, Backend::Auto)
    }

    pub fn load_with(path: &Path, backend: Backend) -> Result<Model> {
        let artifact = artifact::load(path)?;
        let metadata = artifact.metadata.as_deref().map(Metadata::parse).transpose()?;
        let mut proto = proto::decode(&artifact.onnx, &artifact.origin)?;
        let description = proto::describe(&proto);
        let zipmap = proto::strip_zipmap(&mut proto);
        check_operators(&proto, backend)?;
        let inputs = proto::graph_inputs(&proto)?;
        if inputs.is_empty() {
            return Err(Error::InvalidModel { path: artifact.origin, reason: "the graph has no inputs".into() });
        }
        let (engine, backend_name) = compile(&proto, &inputs, backend)?;
        let n_features = inputs.iter().map(|i| i.dims.iter().product::<usize>()).sum();
        let mut model = Model {
            engine,
            backend: backend_name,
            inputs,
            n_features,
            task: Task::Regression { values: 0, targets: 1 },
            description,
            metadata,
            split_rows: usize::MAX,
        };
        // A trial run on one row of zeros proves the graph runs and shows its output types.
        let outputs = model.run_raw(&vec![0.0; n_features], 1)?;
        model.task = decide_task(&proto, &outputs, model.metadata.as_ref(), zipmap)?;
        model.split_rows = model.measure_split_rows();
        Ok(model)
    }

    /// Features per row: the sum of the graph inputs' widths, in input order.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn task(&self) -> &Task {
        &self.task
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    pub fn description(&self) -> &Description {
        &self.description
    }

    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }

    /// From a timed 256-row batch: the batch size at which one thread would spend about
    /// 50 µs, so that splitting pays for handing a part to a pooled thread (a few µs when
    /// it is awake, tens when it sleeps).
    fn measure_split_rows(&self) -> usize {
        const PROBE: usize = 256;
        let threads = crate::ml::threads();
        if threads < 2 {
            return usize::MAX;
        }
        let probe = vec![0.0; PROBE * self.n_features];
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let started = std::time::Instant::now();
            if self.run_whole(&probe, PROBE).is_err() {
                return usize::MAX;
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        let per_row = best / PROBE as f64;
        ((50e-6 / per_row.max(1e-12)) as usize).max(2 * threads)
    }

    /// Runs `rows` rows of `n_features()` features each (row-major) and returns the graph's
    /// outputs as they are. Large batches run as one part per core on the process's thread
    /// pool (rayon's: started once, so a batch never pays for starting threads),
    /// concatenated in order.
    pub fn run_raw(&self, features: &[f32], rows: usize) -> Result<Vec<Array>> {
        use rayon::prelude::*;
        if rows < self.split_rows || self.n_features == 0 || features.len() != rows * self.n_features {
            return self.run_whole(features, rows);
        }
        let threads = crate::ml::threads();
        let per = rows.div_ceil(threads);
        let parts: Vec<Result<Vec<Array>>> = features
            .par_chunks(per * self.n_features)
            .map(|part| self.run_whole(part, part.len() / self.n_features))
            .collect();
        let mut parts = parts.into_iter();
        let mut outputs = parts.next().expect("at least one part")?;
        for part in parts {
            for (whole, piece) in outputs.iter_mut().zip(part?) {
                whole.append_rows(piece).map_err(Error::inference)?;
            }
        }
        Ok(outputs)
    }

    fn run_whole(&self, features: &[f32], rows: usize) -> Result<Vec<Array>> {
        if features.len() != rows * self.n_features {
            return Err(Error::input(format!(
                "expected {rows} rows of {} features ({} values), got {} values",
                self.n_features,
                rows * self.n_features,
                features.len()
            )));
        }
        let mut graph_inputs = Vec::with_capacity(self.inputs.len());
        let mut offset = 0;
        for input in &self.inputs {
            let width: usize = input.dims.iter().product();
            let mut shape = vec![rows];
            shape.extend(&input.dims);
            let data = if self.inputs.len() == 1 {
                std::borrow::Cow::Borrowed(features)
            } else {
                let mut data = Vec::with_capacity(rows * width);
                for row in features.chunks(self.n_features.max(1)).take(rows) {
                    data.extend_from_slice(&row[offset..offset + width]);
                }
                std::borrow::Cow::Owned(data)
            };
            graph_inputs.push(Feed { shape, data });
            offset += width;
        }
        self.engine.run(graph_inputs)
    }

    /// Predicts a batch of rows.
    pub fn predict(&self, features: &[f32], rows: usize) -> Result<Predictions> {
        let outputs = self.run_raw(features, rows)?;
        interpret(&self.task, outputs, rows)
    }
}

/// Describes a model (signature, operators, producer) without compiling it, so a model
/// that cannot run can still be inspected.
pub fn inspect(path: &Path) -> Result<(Description, Option<Metadata>)> {
    let artifact = artifact::load(path)?;
    let metadata = artifact.metadata.as_deref().map(Metadata::parse).transpose()?;
    let proto = proto::decode(&artifact.onnx, &artifact.origin)?;
    Ok((proto::describe(&proto), metadata))
}

fn compile(proto: &ModelProto, inputs: &[GraphInput], backend: Backend) -> Result<(Box<dyn Engine>, &'static str)> {
    #[cfg(feature = "onnxruntime")]
    {
        let wanted = match backend {
            Backend::OnnxRuntime => true,
            Backend::Auto => std::env::var_os("ORT_DYLIB_PATH").is_some(),
            Backend::Tract => false,
        };
        if wanted {
            let bytes = prost::Message::encode_to_vec(proto);
            let engine = crate::engine::onnxruntime::OrtEngine::compile(&bytes, inputs)?;
            return Ok((Box::new(engine), "onnxruntime"));
        }
    }
    #[cfg(not(feature = "onnxruntime"))]
    if backend == Backend::OnnxRuntime {
        return Err(Error::BackendUnavailable {
            backend: "onnxruntime".into(),
            reason: "this build has no ONNX Runtime support (cargo feature `onnxruntime`)".into(),
        });
    }
    Ok((Box::new(TractEngine::compile(proto, inputs)?), "tract"))
}

/// Every ONNX-ML operator must be one this crate implements (tract handles the rest, and
/// names what it lacks when it compiles the graph).
fn check_operators(proto: &ModelProto, backend: Backend) -> Result<()> {
    if backend == Backend::OnnxRuntime {
        return Ok(());
    }
    let graph = proto.graph.as_ref().expect("decode checks the graph");
    for node in &graph.node {
        if node.domain == "ai.onnx.ml" && !crate::ml::OPERATORS.contains(&node.op_type.as_str()) {
            let hint = if node.op_type == "ZipMap" { " (export with zipmap=False)" } else { "" };
            return Err(Error::UnsupportedOperator {
                domain: node.domain.clone(),
                op_type: format!("{}{hint}", node.op_type),
                node: if node.name.is_empty() {
                    node.output.first().cloned().unwrap_or_default()
                } else {
                    node.name.clone()
                },
            });
        }
    }
    Ok(())
}

/// The class labels a classifier node of the graph names, in score-column order.
fn graph_class_labels(proto: &ModelProto) -> Option<Vec<Label>> {
    let graph = proto.graph.as_ref()?;
    graph.node.iter().rev().find_map(|node| {
        node.attribute.iter().find_map(|a| match a.name.as_str() {
            "classlabels_int64s" | "classlabels_ints" if !a.ints.is_empty() => {
                Some(a.ints.iter().map(|&i| Label::Int(i)).collect())
            }
            "classlabels_strings" if !a.strings.is_empty() => {
                Some(a.strings.iter().map(|s| Label::Str(String::from_utf8_lossy(s).into_owned())).collect())
            }
            _ => None,
        })
    })
}

fn decide_task(
    proto: &ModelProto,
    outputs: &[Array],
    metadata: Option<&Metadata>,
    zipmap: Option<ZipMapLabels>,
) -> Result<Task> {
    let label_output =
        outputs.iter().position(|o| matches!(o.data, Data::I64(_) | Data::Str(_)) && o.rows_and_width().1 == 1);
    let float_output = outputs.iter().position(|o| matches!(o.data, Data::F32(_)));
    let ends_in_softmax = || {
        let graph = proto.graph.as_ref();
        let name = float_output.and_then(|i| graph?.output.get(i)).map(|o| o.name.clone());
        graph
            .and_then(|g| g.node.iter().find(|n| Some(n.output.first()) == Some(name.as_ref())))
            .is_some_and(|n| n.op_type == "Softmax")
    };
    let classification = match metadata.and_then(Metadata::is_classification) {
        Some(c) => c,
        None => label_output.is_some() || ends_in_softmax(),
    };
    if !classification {
        let values =
            float_output.ok_or_else(|| Error::Prepare { reason: "the regression model has no float output".into() })?;
        return Ok(Task::Regression { values, targets: outputs[values].rows_and_width().1 });
    }
    let width = float_output.map(|i| outputs[i].rows_and_width().1);
    let classes = metadata
        .map(|m| m.class_labels.clone())
        .filter(|c| !c.is_empty())
        .or_else(|| match zipmap {
            Some(ZipMapLabels::Ints(v)) => Some(v.into_iter().map(Label::Int).collect()),
            Some(ZipMapLabels::Strings(v)) => Some(v.into_iter().map(Label::Str).collect()),
            None => None,
        })
        .or_else(|| graph_class_labels(proto))
        .unwrap_or_else(|| (0..width.unwrap_or(0) as i64).map(Label::Int).collect());
    let probabilities = float_output.filter(|&i| Some(i) != label_output && width == Some(classes.len()));
    if label_output.is_none() && probabilities.is_none() {
        return Err(Error::Prepare {
            reason: format!(
                "the classifier has neither a label output nor a {}-column probability output",
                classes.len()
            ),
        });
    }
    Ok(Task::Classification { labels: label_output, probabilities, classes })
}

fn interpret(task: &Task, outputs: Vec<Array>, rows: usize) -> Result<Predictions> {
    let take = |i: usize| outputs.get(i).ok_or_else(|| Error::inference(format!("the graph returned no output {i}")));
    match task {
        Task::Regression { values, targets } => {
            let array = take(*values)?;
            let values = array.to_f32().map_err(Error::inference)?.into_owned();
            if values.len() != rows * targets {
                return Err(Error::inference(format!("expected {} values, got {}", rows * targets, values.len())));
            }
            Ok(Predictions::Regression { values, targets: *targets })
        }
        Task::Classification { labels, probabilities, classes } => {
            let probabilities = probabilities
                .map(|i| take(i).and_then(|a| a.to_f32().map(|v| v.into_owned()).map_err(Error::inference)))
                .transpose()?;
            let labels = match labels.map(take).transpose()? {
                Some(Array { data: Data::I64(v), .. }) => v.iter().map(|&i| Label::Int(i)).collect(),
                Some(Array { data: Data::Str(v), .. }) => v.iter().map(|s| Label::Str(s.clone())).collect(),
                _ => {
                    let p = probabilities.as_ref().expect("decide_task requires labels or probabilities");
                    p.chunks(classes.len().max(1))
                        .map(|row| {
                            let best = (0..row.len()).fold(0, |b, k| if row[k] > row[b] { k } else { b });
                            classes[best].clone()
                        })
                        .collect()
                }
            };
            Ok(Predictions::Classification { labels, probabilities, classes: classes.len() })
        }
    }
}
