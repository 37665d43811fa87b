//! `model.json`: what the producer says about the model (DESIGN §6). Every field is optional;
//! fields this crate does not use are kept out of the way, not rejected, because any producer
//! may write one.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A class label: an integer or a string, as the model's producer named it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Label {
    Int(i64),
    Str(String),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Int(i) => write!(f, "{i}"),
            Label::Str(s) => f.write_str(s),
        }
    }
}

/// The parts of `model.json` the runtime reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_labels: Vec<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
}

impl Metadata {
    pub fn parse(bytes: &[u8]) -> Result<Metadata> {
        serde_json::from_slice(bytes).map_err(|e| Error::InvalidMetadata { reason: e.to_string() })
    }

    /// `Some(true)` for a classification problem, `Some(false)` for regression.
    pub fn is_classification(&self) -> Option<bool> {
        self.problem_type.as_deref().map(|p| p.contains("classification"))
    }
}
