//! The event model of trainyard: the EventBridge envelope, the event pattern language
//! (parsing, validation, a reference evaluator and the compiled many-rule matcher),
//! input transformers, schedule expressions and the retry policy arithmetic.
//!
//! This crate is pure domain logic. It must never do I/O: no sockets, no files, no
//! database, no clocks other than values handed in by the caller. (The matcher asks
//! the OS for huge pages for its largest arrays: a hint that changes no result.)

mod envelope;
mod error;
pub mod pattern;
mod retry;
mod schedule;
mod transform;

pub use envelope::{validate_put_entry, Event, PutEntry, MAX_ENTRIES_PER_PUT, MAX_ENTRY_BYTES};
pub use error::Error;
pub use pattern::{Matcher, Pattern};
pub use retry::RetryPolicy;
pub use schedule::Schedule;
pub use transform::InputShape;

/// Default region in ARNs and envelopes.
pub const DEFAULT_REGION: &str = "local";
/// Default account in ARNs and envelopes.
pub const DEFAULT_ACCOUNT: &str = "000000000000";

pub use envelope::ValidEntry;
pub use retry::backoff;
pub use transform::{InputTransformer, TargetContext};

mod names;
pub use names::validate_name;
