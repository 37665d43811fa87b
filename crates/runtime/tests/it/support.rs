//! Shared helpers: the Python the matrix needs and the generated matrix directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn python() -> Option<PathBuf> {
    match std::env::var_os("TRAINYARD_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            println!(
                "skipped: TRAINYARD_PYTHON is not set (CI sets it to a Python with the exporters and onnxruntime)"
            );
            None
        }
    }
}

pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// The correctness matrix, generated once per test run by `tests/runtime/make_matrix.py`.
pub fn matrix_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    DIR.get_or_init(|| {
        let python = python()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let script = repository_root().join("tests/runtime/make_matrix.py");
        let output = Command::new(python).arg(&script).arg(dir.path()).output().expect("run make_matrix.py");
        assert!(
            output.status.success(),
            "make_matrix.py failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Some(dir)
    })
    .as_ref()
    .map(|d| d.path())
}

/// Reads a CSV of features (no header; `NaN` allowed) as row-major `f32`.
pub fn read_csv(path: &Path) -> (Vec<f32>, usize) {
    let text = std::fs::read_to_string(path).expect("read input.csv");
    let mut values = Vec::new();
    let mut rows = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        rows += 1;
        for cell in line.split(',') {
            values
                .push(cell.trim().parse::<f32>().unwrap_or_else(|_| panic!("bad cell `{cell}` in {}", path.display())));
        }
    }
    (values, rows)
}
