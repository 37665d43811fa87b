//! The `build` section of a repository's `trainyard.yaml`: what image a commit becomes.
//! Other sections belong to the pipeline and are not read here.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A command: a list of words, or one string split on whitespace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Command {
    List(Vec<String>),
    Words(String),
}

impl Command {
    pub fn words(&self) -> Vec<String> {
        match self {
            Command::List(list) => list.clone(),
            Command::Words(text) => text.split_whitespace().map(String::from).collect(),
        }
    }
}

/// A scalar YAML value used as text (`EPOCHS: 3` is the string "3").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
}

impl Scalar {
    pub fn text(&self) -> String {
        match self {
            Scalar::Text(s) => s.clone(),
            Scalar::Integer(i) => i.to_string(),
            Scalar::Number(n) => n.to_string(),
            Scalar::Boolean(b) => b.to_string(),
        }
    }
}

fn default_context() -> String {
    ".".into()
}

fn default_working_dir() -> String {
    "/opt/program".into()
}

/// `build:` in trainyard.yaml.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// The build context, relative to the repository's root.
    #[serde(default = "default_context")]
    pub context: String,
    pub entrypoint: Option<Command>,
    pub cmd: Option<Command>,
    #[serde(default)]
    pub env: BTreeMap<String, Scalar>,
    #[serde(default = "default_working_dir")]
    pub working_dir: String,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    /// The registry repository (default: the source's name).
    pub repository: Option<String>,
}

#[derive(Deserialize)]
struct PipelineFile {
    build: Option<BuildSpec>,
}

/// The `build` section of `text`, if it has one; a malformed file is an error whose
/// message gives the line and column.
pub fn parse(text: &str) -> Result<Option<BuildSpec>, String> {
    let file: PipelineFile = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    let Some(spec) = file.build else { return Ok(None) };
    let relative = std::path::Path::new(&spec.context);
    if relative.is_absolute() || relative.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(format!("build.context {:?} must be a path inside the repository", spec.context));
    }
    if !spec.working_dir.starts_with('/') {
        return Err(format!("build.working_dir {:?} must be absolute", spec.working_dir));
    }
    Ok(Some(spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_section_reads_with_defaults() {
        let spec =
            parse("name: churn\nbuild:\n  entrypoint: python3 train.py\n  env:\n    EPOCHS: 3\n    FAST: true\n")
                .unwrap()
                .unwrap();
        assert_eq!(spec.context, ".");
        assert_eq!(spec.working_dir, "/opt/program");
        assert_eq!(spec.entrypoint.unwrap().words(), ["python3", "train.py"]);
        assert_eq!(spec.env["EPOCHS"].text(), "3");
        assert_eq!(spec.env["FAST"].text(), "true");
        let listed = parse("build:\n  entrypoint: [python3, -u, train.py]\n").unwrap().unwrap();
        assert_eq!(listed.entrypoint.unwrap().words(), ["python3", "-u", "train.py"]);
        assert_eq!(parse("name: only-a-name\n").unwrap(), None);
    }

    #[test]
    fn mistakes_name_their_line_or_field() {
        let error = parse("build:\n  context: .\n  entrypont: python3 train.py\n").unwrap_err();
        assert!(error.contains("line 3") && error.contains("entrypont"), "{error}");
        let error = parse("build:\n  context: ../elsewhere\n").unwrap_err();
        assert!(error.contains("inside the repository"), "{error}");
        let error = parse("build:\n  working_dir: app\n").unwrap_err();
        assert!(error.contains("absolute"), "{error}");
        assert!(parse("build: [unclosed\n").is_err());
    }
}
