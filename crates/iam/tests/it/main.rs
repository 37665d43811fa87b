//! Integration tests of the IAM evaluator: the documented-rule conformance cases
//! (`conformance.json`), the validation fixture (`validation.json`, with moto's
//! vectors), and property tests of the evaluator's invariants and the glob matcher.

mod conformance;
mod props;
mod validation;
