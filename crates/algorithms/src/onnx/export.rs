//! ONNX-ML export of trained models: `TreeEnsembleClassifier`/`TreeEnsembleRegressor`
//! and `LinearClassifier`/`LinearRegressor` (domain `ai.onnx.ml`, opset 3; `ai.onnx`
//! opset 17), one input `input` (float `[N, F]`). Classifiers output `label` (int64 `[N]`)
//! and `probabilities` (float `[N, C]`, no ZipMap); regressors output `prediction`
//! (float `[N, 1]`). Field numbers are those of `onnx.proto`.

use super::protobuf::Message;
use crate::gbdt::{GbdtModel, Node};
use crate::linear::LinearModel;
use crate::model::Model;
use crate::task::ProblemType;

/// ONNX IR version 8 (ONNX 1.10+), enough for opset 17.
const IR_VERSION: i64 = 8;
const OPSET: i64 = 17;
const ML_OPSET: i64 = 3;
const ML_DOMAIN: &str = "ai.onnx.ml";

/// `TensorProto.DataType` values.
const FLOAT: i64 = 1;
const INT64: i64 = 7;

/// `AttributeProto.AttributeType` values.
const ATTR_INT: i64 = 2;
const ATTR_STRING: i64 = 3;
const ATTR_FLOATS: i64 = 6;
const ATTR_INTS: i64 = 7;
const ATTR_STRINGS: i64 = 8;

/// The input tensor's name.
pub const INPUT_NAME: &str = "input";

/// Serialises `model` as an ONNX `ModelProto`.
pub fn to_onnx(model: &Model) -> Vec<u8> {
    let (problem, n_features) = (model.task().problem, model.n_features());
    let node = match model {
        Model::Gbdt(m) => tree_node(m),
        Model::Linear(m) => linear_node(m),
    };
    let mut graph = Message::new();
    graph.message(1, &node).string(2, model.algorithm());
    graph.message(11, &value_info(INPUT_NAME, FLOAT, &[None, Some(n_features as i64)]));
    if problem.is_classification() {
        let classes = model.task().class_labels.len() as i64;
        graph.message(12, &value_info("label", INT64, &[None]));
        graph.message(12, &value_info("probabilities", FLOAT, &[None, Some(classes)]));
    } else {
        graph.message(12, &value_info("prediction", FLOAT, &[None, Some(1)]));
    }
    let mut proto = Message::new();
    proto
        .int(1, IR_VERSION)
        .string(2, model.producer())
        .string(3, env!("CARGO_PKG_VERSION"))
        .string(4, "ai.trainyard")
        .int(5, 1)
        .message(7, &graph)
        .message(8, Message::new().string(1, "").int(2, OPSET))
        .message(8, Message::new().string(1, ML_DOMAIN).int(2, ML_OPSET));
    proto.into_bytes()
}

/// The output names of a model of this problem type.
pub fn output_names(problem: ProblemType) -> Vec<&'static str> {
    if problem.is_classification() {
        vec!["label", "probabilities"]
    } else {
        vec!["prediction"]
    }
}

/// `ValueInfoProto` of a tensor; `None` dimensions are the symbolic batch size `N`.
fn value_info(name: &str, elem_type: i64, dims: &[Option<i64>]) -> Message {
    let mut shape = Message::new();
    for d in dims {
        let mut dim = Message::new();
        match d {
            Some(v) => dim.int(1, *v),
            None => dim.string(2, "N"),
        };
        shape.message(1, &dim);
    }
    let mut tensor = Message::new();
    tensor.int(1, elem_type).message(2, &shape);
    let mut ty = Message::new();
    ty.message(1, &tensor);
    let mut info = Message::new();
    info.string(1, name).message(2, &ty);
    info
}

/// Builds a `NodeProto` attribute by attribute.
struct NodeBuilder(Message);

impl NodeBuilder {
    fn new(op_type: &str, name: &str, outputs: &[&str]) -> Self {
        let mut m = Message::new();
        m.string(1, INPUT_NAME);
        for o in outputs {
            m.string(2, o);
        }
        m.string(3, name).string(4, op_type).string(7, ML_DOMAIN);
        NodeBuilder(m)
    }

    fn attr(&mut self, name: &str, kind: i64, fill: impl FnOnce(&mut Message)) -> &mut Self {
        let mut a = Message::new();
        a.string(1, name).int(20, kind);
        fill(&mut a);
        self.0.message(5, &a);
        self
    }

    fn int(&mut self, name: &str, v: i64) -> &mut Self {
        self.attr(name, ATTR_INT, |a| {
            a.int(3, v);
        })
    }

    fn string(&mut self, name: &str, v: &str) -> &mut Self {
        self.attr(name, ATTR_STRING, |a| {
            a.string(4, v);
        })
    }

    fn floats(&mut self, name: &str, v: &[f32]) -> &mut Self {
        self.attr(name, ATTR_FLOATS, |a| {
            a.packed_floats(7, v);
        })
    }

    fn ints(&mut self, name: &str, v: &[i64]) -> &mut Self {
        self.attr(name, ATTR_INTS, |a| {
            a.packed_ints(8, v);
        })
    }

    fn strings(&mut self, name: &str, v: &[&str]) -> &mut Self {
        self.attr(name, ATTR_STRINGS, |a| {
            v.iter().for_each(|s| {
                a.string(9, s);
            });
        })
    }

    fn done(&mut self) -> Message {
        std::mem::take(&mut self.0)
    }
}

/// `TreeEnsembleClassifier` / `TreeEnsembleRegressor` holding every tree.
fn tree_node(m: &GbdtModel) -> Message {
    let problem = m.task.problem;
    let k = m.width();
    let mut n = NodeAttrs::default();
    for (t, tree) in m.trees.iter().enumerate() {
        for (id, node) in tree.nodes.iter().enumerate() {
            n.tree_ids.push(t as i64);
            n.node_ids.push(id as i64);
            match *node {
                Node::Split { feature, threshold, left, right, .. } => {
                    n.features.push(feature as i64);
                    n.values.push(threshold);
                    n.modes.push("BRANCH_LEQ");
                    n.true_ids.push(left as i64);
                    n.false_ids.push(right as i64);
                }
                Node::Leaf { value } => {
                    n.features.push(0);
                    n.values.push(0.0);
                    n.modes.push("LEAF");
                    n.true_ids.push(0);
                    n.false_ids.push(0);
                    n.leaf_tree_ids.push(t as i64);
                    n.leaf_node_ids.push(id as i64);
                    // Binary: one score (class id 0) through LOGISTIC, as ONNX-ML converters emit.
                    n.leaf_targets.push((t % k) as i64);
                    n.leaf_weights.push(value);
                }
            }
        }
    }
    let outputs = output_names(problem);
    let (op, prefix) = if problem.is_classification() {
        ("TreeEnsembleClassifier", "class")
    } else {
        ("TreeEnsembleRegressor", "target")
    };
    let mut b = NodeBuilder::new(op, "trees", &outputs);
    b.ints("nodes_treeids", &n.tree_ids)
        .ints("nodes_nodeids", &n.node_ids)
        .ints("nodes_featureids", &n.features)
        .floats("nodes_values", &n.values)
        .strings("nodes_modes", &n.modes)
        .ints("nodes_truenodeids", &n.true_ids)
        .ints("nodes_falsenodeids", &n.false_ids)
        .ints(&format!("{prefix}_treeids"), &n.leaf_tree_ids)
        .ints(&format!("{prefix}_nodeids"), &n.leaf_node_ids)
        .ints(&format!("{prefix}_ids"), &n.leaf_targets)
        .floats(&format!("{prefix}_weights"), &n.leaf_weights)
        .floats("base_values", &m.base_scores);
    match problem {
        ProblemType::Regression => {
            b.int("n_targets", 1).string("aggregate_function", "SUM").string("post_transform", "NONE")
        }
        ProblemType::BinaryClassification => {
            b.ints("classlabels_int64s", &m.task.class_labels).string("post_transform", "LOGISTIC")
        }
        ProblemType::MulticlassClassification => {
            b.ints("classlabels_int64s", &m.task.class_labels).string("post_transform", "SOFTMAX")
        }
    };
    b.done()
}

#[derive(Default)]
struct NodeAttrs {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    features: Vec<i64>,
    values: Vec<f32>,
    modes: Vec<&'static str>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    leaf_tree_ids: Vec<i64>,
    leaf_node_ids: Vec<i64>,
    leaf_targets: Vec<i64>,
    leaf_weights: Vec<f32>,
}

/// `LinearClassifier` / `LinearRegressor`. A binary model is written as two classes with
/// scores `[0, w·x + b]` under SOFTMAX, which equals `[1 - σ(s), σ(s)]` exactly.
fn linear_node(m: &LinearModel) -> Message {
    let problem = m.task.problem;
    let outputs = output_names(problem);
    match problem {
        ProblemType::Regression => NodeBuilder::new("LinearRegressor", "linear", &outputs)
            .floats("coefficients", &m.coefficients)
            .floats("intercepts", &m.intercepts)
            .int("targets", 1)
            .string("post_transform", "NONE")
            .done(),
        _ => {
            let (coefficients, intercepts) = if problem == ProblemType::BinaryClassification {
                let mut c = vec![0.0; m.n_features];
                c.extend_from_slice(&m.coefficients);
                (c, vec![0.0, m.intercepts[0]])
            } else {
                (m.coefficients.clone(), m.intercepts.clone())
            };
            NodeBuilder::new("LinearClassifier", "linear", &outputs)
                .floats("coefficients", &coefficients)
                .floats("intercepts", &intercepts)
                .ints("classlabels_ints", &m.task.class_labels)
                .int("multi_class", 0)
                .string("post_transform", "SOFTMAX")
                .done()
        }
    }
}
