//! SageMaker's `ProcessingJobStatus` and the moves between its values.

/// `ProcessingJobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Stopping,
    Completed,
    Failed,
    Stopped,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::InProgress, Status::Stopping, Status::Completed, Status::Failed, Status::Stopped];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "InProgress",
            Status::Stopping => "Stopping",
            Status::Completed => "Completed",
            Status::Failed => "Failed",
            Status::Stopped => "Stopped",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Stopped)
    }

    /// Invariant: terminal states are never left, and a job asked to stop ends
    /// `Stopped` (or `Failed` when the platform fails it), never `Completed`.
    pub fn can_move_to(self, next: Status) -> bool {
        use Status::*;
        matches!((self, next), (InProgress, Stopping | Completed | Failed | Stopped) | (Stopping, Stopped | Failed))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn no_walk_leaves_a_terminal_state(moves in proptest::collection::vec(proptest::sample::select(Status::ALL.to_vec()), 0..20)) {
            let mut current = Status::InProgress;
            let mut stop_asked = false;
            for next in moves {
                if current.can_move_to(next) {
                    prop_assert!(!current.is_terminal());
                    prop_assert!(!(stop_asked && next == Status::Completed));
                    stop_asked |= next == Status::Stopping;
                    current = next;
                }
            }
            prop_assert_eq!(Status::parse(current.as_str()), Some(current));
        }
    }
}
