//! Process trees that die whole. A command spawned through [`contain`] runs as the second
//! process of a new PID namespace (user namespace too when not root), under a minimal
//! init: when the command exits, is killed, or the server that started it dies (even by
//! kill -9), the kernel kills every process left in the namespace, including those that
//! left the process group (`setsid`) and kept its pipes open. Where namespaces are not
//! available the command runs as before, in its own process group, and [`kill_tree`]
//! finds its descendants through `/proc`.
//!
//! This crate must never run anything itself, allocate between `fork` and `exec`, or
//! leave a process of a contained tree running after its top process is gone.

mod contain;
mod tree;

pub use contain::{contain, namespaces_available};
pub use tree::{descendants, kill_tree};
