//! `TreeEnsembleClassifier` and `TreeEnsembleRegressor` over the native [`Ensemble`]
//! kernel, with onnxruntime's rules for base values, binary classifiers and labels.

use super::attributes::Attributes;
use super::post_transform::{logistic, probit, PostTransform};
use super::tree::{Aggregate, Ensemble, EnsembleSpec};
use super::{numeric_rows, rows_and_width, width_of, Array, ElementType, Kernel};
use crate::error::Error;

/// Class labels, integers or strings.
#[derive(Debug, Clone)]
pub enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

impl Labels {
    pub fn parse(a: &Attributes, ints: &str, strings: &str) -> Result<Labels, Error> {
        let int_labels = a.ints(ints);
        let string_labels = a.strings(strings)?;
        match (int_labels.is_empty(), string_labels.is_empty()) {
            (false, true) => Ok(Labels::Ints(int_labels)),
            (true, false) => Ok(Labels::Strings(string_labels)),
            (true, true) => Err(a.error(format!("needs {ints} or {strings}"))),
            (false, false) => Err(a.error(format!("has both {ints} and {strings}"))),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Labels::Ints(v) => v.len(),
            Labels::Strings(v) => v.len(),
        }
    }

    pub fn element_type(&self) -> ElementType {
        match self {
            Labels::Ints(_) => ElementType::I64,
            Labels::Strings(_) => ElementType::Str,
        }
    }

    /// The label array for chosen class indices.
    pub fn pick(&self, chosen: &[usize]) -> Array {
        match self {
            Labels::Ints(v) => Array::i64(vec![chosen.len()], chosen.iter().map(|&i| v[i]).collect()),
            Labels::Strings(v) => Array::strings(vec![chosen.len()], chosen.iter().map(|&i| v[i].clone()).collect()),
        }
    }
}

fn spec(a: &Attributes, weights_prefix: &str, n_targets: usize, aggregate: Aggregate) -> Result<EnsembleSpec, Error> {
    let weight_targets = if weights_prefix == "class" { "class_ids" } else { "target_ids" };
    let spec = EnsembleSpec {
        tree_ids: a.ints("nodes_treeids"),
        node_ids: a.ints("nodes_nodeids"),
        feature_ids: a.ints("nodes_featureids"),
        values: a.floats_or_tensor("nodes_values")?.unwrap_or_default(),
        modes: a.strings("nodes_modes")?,
        true_node_ids: a.ints("nodes_truenodeids"),
        false_node_ids: a.ints("nodes_falsenodeids"),
        missing_tracks_true: a.ints("nodes_missing_value_tracks_true"),
        weight_tree_ids: a.ints(&format!("{weights_prefix}_treeids")),
        weight_node_ids: a.ints(&format!("{weights_prefix}_nodeids")),
        weight_targets: a.ints(weight_targets),
        weight_values: a.floats_or_tensor(&format!("{weights_prefix}_weights"))?.unwrap_or_default(),
        n_targets,
        aggregate,
    };
    Ok(spec)
}

fn check_width(ensemble: &Ensemble, width: usize) -> Result<(), String> {
    if width < ensemble.min_width {
        Err(format!("the trees read feature {}, the input has {width} features", ensemble.min_width - 1))
    } else {
        Ok(())
    }
}

/// `TreeEnsembleClassifier`: outputs labels `[N]` and scores `[N, classes]`.
#[derive(Debug)]
pub struct Classifier {
    ensemble: Ensemble,
    labels: Labels,
    base_values: Vec<f32>,
    post_transform: PostTransform,
    /// Two classes and leaf weights for only one of them (onnxruntime's "binary case").
    binary_case: bool,
    weights_all_positive: bool,
}

impl Classifier {
    pub fn parse(a: &Attributes) -> Result<Classifier, Error> {
        let labels = Labels::parse(a, "classlabels_int64s", "classlabels_strings")?;
        let ensemble = Ensemble::build(&spec(a, "class", labels.len(), Aggregate::Sum)?).map_err(|e| a.error(e))?;
        let post_transform = PostTransform::parse(&a.string_or("post_transform", "NONE")?).map_err(|e| a.error(e))?;
        let base_values: Vec<f32> =
            a.floats_or_tensor("base_values")?.unwrap_or_default().into_iter().map(|v| v as f32).collect();
        if !base_values.is_empty()
            && base_values.len() != labels.len()
            && !(labels.len() == 2 && base_values.len() == 1)
        {
            return Err(a.error(format!("{} base values for {} classes", base_values.len(), labels.len())));
        }
        let binary_case = labels.len() == 2 && ensemble.weighted_targets().len() == 1;
        let weights_all_positive = ensemble.weights_all_non_negative();
        Ok(Classifier { ensemble, labels, base_values, post_transform, binary_case, weights_all_positive })
    }

    /// The chosen label and final scores of one row: onnxruntime's `FinalizeScores`, quirks
    /// included (see docs/runtime.md), so labels are identical to its labels.
    fn finalize(&self, raw: &[f32], has: &[bool], out: &mut Vec<f32>) -> Chosen {
        let classes = self.labels.len();
        if classes != 2 {
            let mut scores = raw.to_vec();
            let mut has_score = has.to_vec();
            for (k, &b) in self.base_values.iter().enumerate() {
                scores[k] = if has_score[k] { scores[k] + b } else { b };
                has_score[k] = true;
            }
            // The label comes from the raw scores, among classes that have one; ties go low.
            let mut best: Option<usize> = None;
            for k in 0..classes {
                if has_score[k] && best.is_none_or(|b| scores[k] > scores[b]) {
                    best = Some(k);
                }
            }
            for k in 0..classes {
                if !has_score[k] {
                    scores[k] = 0.0;
                }
            }
            self.post_transform.apply(&mut scores);
            out.extend_from_slice(&scores);
            return Chosen::Index(best.unwrap_or(0));
        }
        let (mut s0, mut s1, h0, mut h1) = (raw[0], raw[1], has[0], has[1]);
        let mut additional = Additional::Missing;
        let two_scores = match self.base_values.len() {
            2 if h1 => {
                // onnxruntime drops the class-1 sum here; kept for agreement.
                s1 = self.base_values[1] + s0;
                s0 = -s1;
                h1 = true;
                true
            }
            2 => {
                s0 += self.base_values[0];
                s1 += self.base_values[1];
                true
            }
            1 => {
                s0 += self.base_values[0];
                h1
            }
            _ => {
                additional = Additional::Negated;
                h1
            }
        };
        let positive = if two_scores && h1 {
            s1
        } else if h0 {
            s0
        } else {
            0.0
        };
        let chosen = if self.binary_case {
            if self.weights_all_positive {
                additional = Additional::Complement;
                Chosen::Index(usize::from(positive > 0.5))
            } else {
                additional = Additional::Negated;
                Chosen::Index(usize::from(positive > 0.0))
            }
        } else {
            // Not argmax: onnxruntime labels by the sign of the positive score, and with
            // integer labels writes the literal 0 or 1.
            match self.labels {
                Labels::Ints(_) => Chosen::Literal(i64::from(positive > 0.0)),
                Labels::Strings(_) => Chosen::Index(usize::from(positive > 0.0)),
            }
        };
        if two_scores {
            let mut z = [if h0 { s0 } else { 0.0 }, if h1 { s1 } else { 0.0 }];
            self.post_transform.apply(&mut z);
            out.extend_from_slice(&z);
        } else {
            let s = s0;
            out.extend_from_slice(&match (self.post_transform, additional) {
                (PostTransform::Probit, _) => [probit(s), 0.0],
                (PostTransform::Logistic, _) => [logistic(-s), logistic(s)],
                (_, Additional::Complement) => [1.0 - s, s],
                (_, Additional::Negated) => [-s, s],
                (_, Additional::Missing) => [s, 0.0],
            });
        }
        chosen
    }
}

/// How onnxruntime fills the second score of a binary classifier with one score.
#[derive(Clone, Copy)]
enum Additional {
    Complement,
    Negated,
    Missing,
}

/// A row's label: a class index, or a literal integer label.
#[derive(Clone, Copy)]
enum Chosen {
    Index(usize),
    Literal(i64),
}

impl Kernel for Classifier {
    fn op_type(&self) -> &'static str {
        "TreeEnsembleClassifier"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![self.labels.element_type(), ElementType::F32]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        check_width(&self.ensemble, width_of(&inputs[0]))?;
        Ok(vec![vec![], vec![self.labels.len()]])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let (x, _, _) = numeric_rows(inputs, "TreeEnsembleClassifier")?;
        self.eval_numeric(&x, &inputs[0].shape)
    }
    fn eval_numeric(&self, x: &[f32], shape: &[usize]) -> Result<Vec<Array>, String> {
        let (rows, width) = rows_and_width(shape);
        check_width(&self.ensemble, width)?;
        let raw = self.ensemble.score(x, rows, width);
        let classes = self.labels.len();
        let mut scores = Vec::with_capacity(rows * classes);
        let mut chosen = Vec::with_capacity(rows);
        for r in 0..rows {
            let range = r * classes..(r + 1) * classes;
            chosen.push(self.finalize(&raw.values[range.clone()], &raw.has_score[range], &mut scores));
        }
        let labels = match &self.labels {
            Labels::Ints(v) => Array::i64(
                vec![rows],
                chosen
                    .iter()
                    .map(|c| match *c {
                        Chosen::Index(i) => v[i],
                        Chosen::Literal(l) => l,
                    })
                    .collect(),
            ),
            Labels::Strings(v) => Array::strings(
                vec![rows],
                chosen
                    .iter()
                    .map(|c| match *c {
                        Chosen::Index(i) => v[i].clone(),
                        Chosen::Literal(l) => v[l as usize].clone(),
                    })
                    .collect(),
            ),
        };
        Ok(vec![labels, Array::f32(vec![rows, classes], scores)])
    }
}

/// `TreeEnsembleRegressor`: outputs `[N, n_targets]`.
#[derive(Debug)]
pub struct Regressor {
    ensemble: Ensemble,
    base_values: Vec<f32>,
    post_transform: PostTransform,
}

impl Regressor {
    pub fn parse(a: &Attributes) -> Result<Regressor, Error> {
        let n_targets = a.int("n_targets").unwrap_or(1);
        let n_targets =
            usize::try_from(n_targets).ok().filter(|&n| n > 0).ok_or_else(|| a.error("n_targets must be positive"))?;
        let aggregate = Aggregate::parse(&a.string_or("aggregate_function", "SUM")?).map_err(|e| a.error(e))?;
        let ensemble = Ensemble::build(&spec(a, "target", n_targets, aggregate)?).map_err(|e| a.error(e))?;
        let post_transform = PostTransform::parse(&a.string_or("post_transform", "NONE")?).map_err(|e| a.error(e))?;
        let base_values: Vec<f32> =
            a.floats_or_tensor("base_values")?.unwrap_or_default().into_iter().map(|v| v as f32).collect();
        if !base_values.is_empty() && base_values.len() != n_targets {
            return Err(a.error(format!("{} base values for {n_targets} targets", base_values.len())));
        }
        Ok(Regressor { ensemble, base_values, post_transform })
    }
}

impl Kernel for Regressor {
    fn op_type(&self) -> &'static str {
        "TreeEnsembleRegressor"
    }
    fn output_types(&self) -> Vec<ElementType> {
        vec![ElementType::F32]
    }
    fn output_dims(&self, inputs: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        check_width(&self.ensemble, width_of(&inputs[0]))?;
        Ok(vec![vec![self.ensemble.n_targets()]])
    }
    fn eval(&self, inputs: &[Array]) -> Result<Vec<Array>, String> {
        let (x, _, _) = numeric_rows(inputs, "TreeEnsembleRegressor")?;
        self.eval_numeric(&x, &inputs[0].shape)
    }
    fn eval_numeric(&self, x: &[f32], shape: &[usize]) -> Result<Vec<Array>, String> {
        let (rows, width) = rows_and_width(shape);
        check_width(&self.ensemble, width)?;
        let raw = self.ensemble.score(x, rows, width);
        let t = self.ensemble.n_targets();
        let mut out: Vec<f32> = Vec::with_capacity(rows * t);
        for (r, row) in raw.values.chunks(t).enumerate() {
            let start = out.len();
            for (k, &v) in row.iter().enumerate() {
                let v = v + self.base_values.get(k).copied().unwrap_or(0.0);
                // A target no reached leaf voted for is 0, base value included (as onnxruntime).
                out.push(if raw.has_score[r * t + k] || t == 1 { v } else { 0.0 });
            }
            match self.post_transform {
                // With one target onnxruntime applies PROBIT only.
                PostTransform::Probit => self.post_transform.apply(&mut out[start..]),
                _ if t == 1 => {}
                transform => transform.apply(&mut out[start..]),
            }
        }
        Ok(vec![Array::f32(vec![rows, t], out)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{AttributeProto, NodeProto};

    fn ints(name: &str, ints: Vec<i64>) -> AttributeProto {
        AttributeProto { name: name.into(), ints, ..Default::default() }
    }

    fn floats(name: &str, floats: Vec<f32>) -> AttributeProto {
        AttributeProto { name: name.into(), floats, ..Default::default() }
    }

    /// A random forest of stumps as skl2onnx writes one: tree `t` is `x0 <= 0.5`, its true
    /// leaf a pure leaf of class `votes[t]`, its false leaf one of class 0; each leaf weighs
    /// its class fractions times `1/n_trees` as float32, and with two classes only class 1's
    /// weight is written (under class id 0).
    fn forest(votes: &[usize], classes: usize) -> Classifier {
        let n = votes.len() as i64;
        let (mut tree, mut node, mut true_id, mut false_id, mut modes) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut weight_tree, mut weight_node, mut weight_class, mut weight) = (vec![], vec![], vec![], vec![]);
        for (t, &vote) in (0..).zip(votes) {
            for (id, mode, yes, no) in [(0, "BRANCH_LEQ", 1, 2), (1, "LEAF", 0, 0), (2, "LEAF", 0, 0)] {
                tree.push(t);
                node.push(id);
                true_id.push(yes);
                false_id.push(no);
                modes.push(mode.as_bytes().to_vec());
            }
            for (leaf, class) in [(1, vote), (2, 0)] {
                let written = if classes == 2 { 1..2 } else { 0..classes };
                for (k, c) in (0..).zip(written) {
                    weight_tree.push(t);
                    weight_node.push(leaf);
                    weight_class.push(k);
                    weight.push((if c == class { 1.0 / n as f64 } else { 0.0 }) as f32);
                }
            }
        }
        let nodes = tree.len();
        let attribute = vec![
            ints("nodes_treeids", tree),
            ints("nodes_nodeids", node),
            ints("nodes_featureids", vec![0; nodes]),
            ints("nodes_truenodeids", true_id),
            ints("nodes_falsenodeids", false_id),
            floats("nodes_values", vec![0.5; nodes]),
            AttributeProto { name: "nodes_modes".into(), strings: modes, ..Default::default() },
            ints("class_treeids", weight_tree),
            ints("class_nodeids", weight_node),
            ints("class_ids", weight_class),
            floats("class_weights", weight),
            ints("classlabels_int64s", (0..classes as i64).collect()),
        ];
        let node = NodeProto { op_type: "TreeEnsembleClassifier".into(), attribute, ..Default::default() };
        Classifier::parse(&Attributes::new(&node)).unwrap()
    }

    /// The label and probabilities of one row that every tree votes on (`x0 = 0`).
    fn answer(classifier: &Classifier) -> (i64, Vec<f32>) {
        let out = classifier.eval_numeric(&[0.0], &[1, 1]).unwrap();
        match (&out[0].data, &out[1].data) {
            (crate::ml::Data::I64(label), crate::ml::Data::F32(p)) => (label[0], p.clone()),
            other => panic!("unexpected outputs {other:?}"),
        }
    }

    fn bits(p: &[f32]) -> Vec<u32> {
        p.iter().map(|v| v.to_bits()).collect()
    }

    /// Onnxruntime 1.32 on one thread (and on one row at any thread count) sums the trees'
    /// float32 weights in tree order: 10 of 20 votes make `0.50000006`, class 1; 5 of 10
    /// make exactly 0.5, class 0 (`> 0.5`); 50 of 100 make `0.4999998`, class 0.
    #[test]
    fn an_even_forest_split_evenly_answers_as_onnxruntime_does() {
        let split = |n: usize| -> Vec<usize> { (0..n).map(|t| t % 2).collect() };
        let cases = [
            (2, 0, [0x3f00_0000, 0x3f00_0000]),   // 0.5, 0.5
            (10, 0, [0x3f00_0000, 0x3f00_0000]),  // 0.5, 0.5
            (20, 1, [0x3eff_fffe, 0x3f00_0001]),  // 0.49999994, 0.50000006
            (100, 0, [0x3f00_0004, 0x3eff_fff9]), // 0.5000002, 0.4999998
        ];
        for (n, label, probabilities) in cases {
            let (got_label, got) = answer(&forest(&split(n), 2));
            assert_eq!((got_label, bits(&got)), (label, probabilities.to_vec()), "{n} trees: {got:?}");
        }
        // Which trees vote does not matter (sequential sums of equal weights and zeros).
        assert_eq!(answer(&forest(&[[1; 10], [0; 10]].concat(), 2)).0, 1);
    }

    /// Equal class scores: the first class in class order wins, whichever reached it first.
    #[test]
    fn exact_multiclass_ties_go_to_the_first_class() {
        for votes in [vec![1, 2, 2, 1], vec![2, 2, 1, 1]] {
            let (label, p) = answer(&forest(&votes, 3));
            assert_eq!((label, p), (1, vec![0.0, 0.5, 0.5]), "votes {votes:?}");
        }
        let (label, p) = answer(&forest(&(0..20).map(|t| 2 - t % 2).collect::<Vec<_>>(), 3));
        assert_eq!((label, bits(&p)), (1, vec![0, 0x3f00_0001, 0x3f00_0001]));
    }
}
