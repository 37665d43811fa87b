//! Integration tests of evaluation and the gate on real exports (needs `TRAINYARD_PYTHON`
//! with scikit-learn and the exporters; without it the tests print that they are skipped and
//! pass — CI always sets it).

mod sklearn;
