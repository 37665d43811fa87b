//! Functions run for real: Lambda handlers in warm execution environments, over the
//! Runtime API, with a real Python.

mod lambda;
