//! In-memory training data: a dense row-major `f32` feature matrix plus labels, loaded
//! from a channel directory (every regular file, sorted by name, streamed line by line).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::csv::{self, CsvOptions, LabelRule, Layout};
use crate::error::{Error, Result};

/// A dense data set: `n_rows × n_features` features (row-major) and one label per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub n_rows: usize,
    pub n_features: usize,
    /// Row-major: feature `j` of row `i` is `features[i * n_features + j]`.
    pub features: Vec<f32>,
    pub labels: Vec<f64>,
    pub feature_names: Vec<String>,
}

impl Dataset {
    /// Builds a data set from memory; feature names default to `f0, f1, ...`.
    pub fn new(features: Vec<f32>, n_features: usize, labels: Vec<f64>) -> Result<Self> {
        if n_features == 0 {
            return Err(Error::data("a data set needs at least one feature"));
        }
        if features.len() != labels.len() * n_features {
            return Err(Error::data(format!(
                "{} feature values do not form {} rows of {n_features} features",
                features.len(),
                labels.len()
            )));
        }
        if let Some(i) = features.iter().position(|v| !v.is_finite()) {
            return Err(Error::data(format!("feature {} of row {} is not finite", i % n_features, i / n_features)));
        }
        if let Some(i) = labels.iter().position(|v| !v.is_finite()) {
            return Err(Error::data(format!("label of row {i} is not finite")));
        }
        let feature_names = default_feature_names(n_features);
        Ok(Dataset { n_rows: labels.len(), n_features, features, labels, feature_names })
    }

    /// Row `i` as a slice of `n_features` values.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.n_features..(i + 1) * self.n_features]
    }

    /// Loads every regular, non-hidden file of `dir` (sorted by name) as CSV.
    ///
    /// `channel` only names the channel in error messages.
    pub fn load_channel(channel: &str, dir: &Path, options: &CsvOptions, rule: &LabelRule) -> Result<Self> {
        let channel_err = |reason: String| Error::Channel { channel: channel.into(), dir: dir.into(), reason };
        let files = channel_files(dir).map_err(|e| channel_err(format!("cannot list the directory: {e}")))?;
        if files.is_empty() {
            return Err(channel_err("no data files".into()));
        }
        let mut loader = Loader { options, rule, layout: None, features: Vec::new(), labels: Vec::new() };
        for file in &files {
            loader.load_file(file)?;
        }
        let Some(layout) = loader.layout else {
            return Err(channel_err("the files hold no data rows".into()));
        };
        if loader.labels.is_empty() {
            return Err(channel_err("the files hold no data rows".into()));
        }
        let n_features = layout.n_columns - 1;
        let feature_names = layout.feature_names.unwrap_or_else(|| default_feature_names(n_features));
        Ok(Dataset {
            n_rows: loader.labels.len(),
            n_features,
            features: loader.features,
            labels: loader.labels,
            feature_names,
        })
    }

    /// Sorted distinct labels, as integers (callers ensure labels are integral).
    pub(crate) fn distinct_labels(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// `f0, f1, ...`
pub(crate) fn default_feature_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("f{i}")).collect()
}

/// Regular files of `dir` whose names do not start with `.`, sorted by name.
fn channel_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        // `metadata` follows symlinks, so a link to a regular file counts as one.
        if !hidden && std::fs::metadata(entry.path())?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

struct Loader<'a> {
    options: &'a CsvOptions,
    rule: &'a LabelRule,
    /// Fixed by the first file; every later file must agree.
    layout: Option<Layout>,
    features: Vec<f32>,
    labels: Vec<f64>,
}

impl Loader<'_> {
    fn load_file(&mut self, file: &Path) -> Result<()> {
        let handle = File::open(file).map_err(|e| Error::io("cannot open", file, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, handle);
        let mut line = String::new();
        let mut line_no = 0;
        let mut header_seen = false;
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(|e| Error::io("cannot read", file, e))?;
            if n == 0 {
                return Ok(());
            }
            line_no += 1;
            let text = line.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            if self.options.header && !header_seen {
                header_seen = true;
                self.check_layout(text, file, line_no)?;
                continue;
            }
            if self.layout.is_none() {
                self.check_layout(text, file, line_no)?;
            }
            // Invariant: check_layout has set the layout.
            let Some(layout) = &self.layout else { continue };
            let label = csv::parse_row(text, layout, self.rule, file, line_no, &mut self.features)?;
            self.labels.push(label);
        }
    }

    /// Sets the layout from the first file, or checks a later file's header against it.
    fn check_layout(&mut self, text: &str, file: &Path, line_no: usize) -> Result<()> {
        let layout = csv::layout_from_first_line(text, self.options, file).map_err(|e| match e {
            Error::Csv { file, column, reason, .. } => Error::Csv { file, line: line_no, column, reason },
            other => other,
        })?;
        match &self.layout {
            None => self.layout = Some(layout),
            Some(first) if self.options.header && *first != layout => {
                return Err(Error::Csv {
                    file: file.to_path_buf(),
                    line: line_no,
                    column: 1,
                    reason: "header differs from the first file's header".into(),
                });
            }
            Some(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn loads_all_files_sorted_and_skips_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.csv", "1,3,4\n");
        write(dir.path(), "a.csv", "0,1,2\n\n");
        write(dir.path(), ".hidden", "garbage");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let ds = Dataset::load_channel("train", dir.path(), &CsvOptions::default(), &LabelRule::Any).unwrap();
        assert_eq!((ds.n_rows, ds.n_features), (2, 2));
        assert_eq!(ds.labels, vec![0.0, 1.0]);
        assert_eq!(ds.features, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(ds.feature_names, vec!["f0", "f1"]);
    }

    #[test]
    fn header_with_named_label_column() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.csv", "x1,target,x2\n1,0,2\n3,1,4\n");
        write(dir.path(), "b.csv", "x1,target,x2\n5,1,6\n");
        let options = CsvOptions { header: true, label_column: Some("target".into()) };
        let ds = Dataset::load_channel("train", dir.path(), &options, &LabelRule::Integer).unwrap();
        assert_eq!(ds.labels, vec![0.0, 1.0, 1.0]);
        assert_eq!(ds.features, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(ds.feature_names, vec!["x1", "x2"]);
        assert_eq!(ds.distinct_labels(), vec![0, 1]);
    }

    #[test]
    fn mismatched_headers_and_ragged_files_fail_with_location() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.csv", "x,y\n1,2\n");
        write(dir.path(), "b.csv", "x,z\n1,2\n");
        let options = CsvOptions { header: true, label_column: None };
        let err = Dataset::load_channel("train", dir.path(), &options, &LabelRule::Any).unwrap_err();
        assert!(err.to_string().contains("b.csv, line 1, column 1: header differs"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.csv", "1,2,3\n1,2,3\n");
        write(dir.path(), "b.csv", "1,2,3\n\n1,2\n");
        let err = Dataset::load_channel("train", dir.path(), &CsvOptions::default(), &LabelRule::Any).unwrap_err();
        assert!(err.to_string().contains("b.csv, line 3, column 3: row has 2 columns"), "{err}");
    }

    #[test]
    fn empty_channels_fail() {
        let dir = tempfile::tempdir().unwrap();
        let err = Dataset::load_channel("train", dir.path(), &CsvOptions::default(), &LabelRule::Any).unwrap_err();
        assert!(err.to_string().contains("channel `train`") && err.to_string().contains("no data files"), "{err}");
        write(dir.path(), "a.csv", "\n\n");
        let err = Dataset::load_channel("train", dir.path(), &CsvOptions::default(), &LabelRule::Any).unwrap_err();
        assert!(err.to_string().contains("no data rows"), "{err}");
        let missing = dir.path().join("nope");
        assert!(Dataset::load_channel("train", &missing, &CsvOptions::default(), &LabelRule::Any).is_err());
    }

    #[test]
    fn new_validates_shape() {
        assert!(Dataset::new(vec![1.0, 2.0, 3.0], 2, vec![0.0, 1.0]).is_err());
        assert!(Dataset::new(vec![f32::NAN, 2.0], 2, vec![0.0]).is_err());
        let ds = Dataset::new(vec![1.0, 2.0], 2, vec![0.0]).unwrap();
        assert_eq!(ds.row(0), &[1.0, 2.0]);
    }
}
