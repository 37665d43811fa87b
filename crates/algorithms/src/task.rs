//! Problem types, class labels and predictions shared by all algorithms.

use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// What a model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    Regression,
    BinaryClassification,
    MulticlassClassification,
}

impl ProblemType {
    /// The `problem_type` string of `model.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemType::Regression => "regression",
            ProblemType::BinaryClassification => "binary_classification",
            ProblemType::MulticlassClassification => "multiclass_classification",
        }
    }

    pub fn is_classification(self) -> bool {
        self != ProblemType::Regression
    }
}

/// A problem type plus its class labels (original label values, ascending; empty for regression).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub problem: ProblemType,
    pub class_labels: Vec<i64>,
}

impl Task {
    /// Derives the classes from the training labels.
    ///
    /// `num_classes` (under the hyperparameter name `names[0]`) must match: labels all in
    /// `0..num_classes` give exactly those classes (a class may be absent from the data);
    /// otherwise the distinct labels must number `num_classes`. Binary problems have two
    /// classes: `{0, 1}` when the labels are a subset of it, else exactly two distinct labels.
    pub fn from_training_labels(
        problem: ProblemType,
        train: &Dataset,
        num_classes: Option<usize>,
        names: [&str; 2],
    ) -> Result<Self> {
        let param = if problem == ProblemType::BinaryClassification { names[1] } else { names[0] };
        let distinct = match problem {
            ProblemType::Regression => return Ok(Task { problem, class_labels: Vec::new() }),
            _ => train.distinct_labels(),
        };
        let wanted = match problem {
            ProblemType::BinaryClassification => 2,
            _ => num_classes.ok_or_else(|| Error::hp(names[0], "is required for multi-class classification"))?,
        };
        if let Some(n) = num_classes {
            if n != wanted {
                return Err(Error::hp(names[0], format!("is {n}, but a binary classifier has 2 classes")));
            }
        }
        let in_range = distinct.iter().all(|&l| l >= 0 && (l as usize) < wanted);
        let class_labels = if in_range {
            (0..wanted as i64).collect()
        } else if distinct.len() == wanted {
            distinct
        } else {
            let shown: Vec<i64> = distinct.iter().copied().take(20).collect();
            return Err(Error::hp(
                param,
                format!(
                    "expects {wanted} classes, but the train channel has {} distinct labels ({shown:?}{}), \
                     not all in 0..{wanted}",
                    distinct.len(),
                    if distinct.len() > 20 { ", ..." } else { "" }
                ),
            ));
        };
        Ok(Task { problem, class_labels })
    }

    /// Checks that every label of a classifier's data set is one of the classes.
    pub fn check(&self, ds: &Dataset, channel: &str) -> Result<()> {
        if !self.problem.is_classification() {
            return Ok(());
        }
        for (i, &l) in ds.labels.iter().enumerate() {
            if l.fract() != 0.0 || self.class_labels.binary_search(&(l as i64)).is_err() {
                return Err(Error::data(format!(
                    "{channel} row {i}: label {l} is not one of the classes {:?}",
                    self.class_labels
                )));
            }
        }
        Ok(())
    }

    /// Number of model outputs per row: classes for multi-class, else 1.
    pub fn width(&self) -> usize {
        match self.problem {
            ProblemType::MulticlassClassification => self.class_labels.len(),
            _ => 1,
        }
    }

    /// Class index of every label (`0` for regression). Labels were validated on load.
    pub fn encode(&self, ds: &Dataset) -> Vec<u32> {
        if !self.problem.is_classification() {
            return vec![0; ds.n_rows];
        }
        ds.labels.iter().map(|&l| self.class_labels.binary_search(&(l as i64)).unwrap_or(0) as u32).collect()
    }
}

/// Predictions of a model for `n_rows` rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    pub problem: ProblemType,
    pub n_rows: usize,
    /// Regression: one value per row. Classification: `n_rows × classes` probabilities, row-major.
    pub values: Vec<f32>,
    /// Classification: the predicted original class label of each row (empty for regression).
    pub labels: Vec<i64>,
}

impl Predictions {
    /// Builds classifier predictions from probabilities (`n × classes`); ties go to the lower class.
    pub(crate) fn classes(problem: ProblemType, class_labels: &[i64], probabilities: Vec<f32>) -> Self {
        let k = class_labels.len().max(1);
        let labels = probabilities
            .chunks(k)
            .map(|row| {
                let best = row.iter().enumerate().fold(0, |best, (j, &p)| if p > row[best] { j } else { best });
                class_labels.get(best).copied().unwrap_or_default()
            })
            .collect::<Vec<_>>();
        Predictions { problem, n_rows: labels.len(), values: probabilities, labels }
    }

    /// Probability of the positive (second) class, for binary problems.
    pub fn positive_probabilities(&self) -> Vec<f64> {
        self.values.chunks(2).map(|r| r.get(1).copied().unwrap_or_default() as f64).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(labels: &[f64]) -> Dataset {
        Dataset::new(vec![0.0; labels.len()], 1, labels.to_vec()).unwrap()
    }

    #[test]
    fn binary_classes() {
        let t =
            Task::from_training_labels(ProblemType::BinaryClassification, &ds(&[1.0, 0.0]), None, ["n", "p"]).unwrap();
        assert_eq!(t.class_labels, vec![0, 1]);
        let t =
            Task::from_training_labels(ProblemType::BinaryClassification, &ds(&[4.0, 7.0]), None, ["n", "p"]).unwrap();
        assert_eq!(t.class_labels, vec![4, 7]);
        assert_eq!(t.encode(&ds(&[7.0, 4.0])), vec![1, 0]);
        let e = Task::from_training_labels(ProblemType::BinaryClassification, &ds(&[1.0, 2.0, 3.0]), None, ["n", "p"]);
        assert!(e.unwrap_err().to_string().starts_with("hyperparameter `p`: expects 2 classes"));
    }

    #[test]
    fn multiclass_count_must_match() {
        let p = ProblemType::MulticlassClassification;
        let t = Task::from_training_labels(p, &ds(&[0.0, 2.0]), Some(3), ["num_classes", "p"]).unwrap();
        assert_eq!(t.class_labels, vec![0, 1, 2]);
        let t = Task::from_training_labels(p, &ds(&[10.0, 20.0, 30.0]), Some(3), ["num_classes", "p"]).unwrap();
        assert_eq!(t.class_labels, vec![10, 20, 30]);
        let e = Task::from_training_labels(p, &ds(&[0.0, 1.0, 5.0]), Some(2), ["num_classes", "p"]).unwrap_err();
        assert!(e.to_string().starts_with("hyperparameter `num_classes`: expects 2 classes"), "{e}");
        let e = Task::from_training_labels(p, &ds(&[0.0]), None, ["num_class", "p"]).unwrap_err();
        assert!(e.to_string().contains("`num_class`: is required"), "{e}");
    }

    #[test]
    fn argmax_labels() {
        let p =
            Predictions::classes(ProblemType::MulticlassClassification, &[5, 6, 7], vec![0.2, 0.5, 0.3, 0.4, 0.4, 0.2]);
        assert_eq!(p.labels, vec![6, 5]);
    }
}
