//! The training job state machine: SageMaker's `TrainingJobStatus` and
//! `SecondaryStatus`, and the transitions between them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;

/// `SecondaryStatus`; the primary status is derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Secondary {
    Starting,
    Downloading,
    Training,
    Uploading,
    Completed,
    Failed,
    Stopping,
    MaxRuntimeExceeded,
    Stopped,
}

impl Secondary {
    pub const ALL: [Secondary; 9] = [
        Secondary::Starting,
        Secondary::Downloading,
        Secondary::Training,
        Secondary::Uploading,
        Secondary::Completed,
        Secondary::Failed,
        Secondary::Stopping,
        Secondary::MaxRuntimeExceeded,
        Secondary::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Secondary::Starting => "Starting",
            Secondary::Downloading => "Downloading",
            Secondary::Training => "Training",
            Secondary::Uploading => "Uploading",
            Secondary::Completed => "Completed",
            Secondary::Failed => "Failed",
            Secondary::Stopping => "Stopping",
            Secondary::MaxRuntimeExceeded => "MaxRuntimeExceeded",
            Secondary::Stopped => "Stopped",
        }
    }

    pub fn parse(text: &str) -> Option<Secondary> {
        Secondary::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// `TrainingJobStatus` for this secondary status.
    pub fn primary(self) -> &'static str {
        match self {
            Secondary::Starting | Secondary::Downloading | Secondary::Training | Secondary::Uploading => "InProgress",
            Secondary::Stopping | Secondary::MaxRuntimeExceeded => "Stopping",
            Secondary::Completed => "Completed",
            Secondary::Failed => "Failed",
            Secondary::Stopped => "Stopped",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Secondary::Completed | Secondary::Failed | Secondary::Stopped)
    }

    /// Invariant: terminal states are never left; `Starting` is re-entered only by a
    /// platform-fault retry; a stop goes through `Stopping` (or `MaxRuntimeExceeded`).
    pub fn can_move_to(self, next: Secondary) -> bool {
        use Secondary::*;
        matches!(
            (self, next),
            (Starting, Starting | Downloading | Stopped | Failed)
                | (Downloading, Training | Stopping | Failed | Starting)
                | (Training, Uploading | Stopping | MaxRuntimeExceeded | Failed | Starting)
                | (Uploading, Completed | Failed | Starting)
                | (Stopping | MaxRuntimeExceeded, Stopped | Failed)
        )
    }
}

/// One entry of `SecondaryStatusTransitions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Transition {
    pub status: String,
    pub start_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
    pub status_message: String,
}

/// Moves `transitions` (whose last entry is the current state) to `next`.
pub fn advance(
    transitions: &mut Vec<Transition>,
    next: Secondary,
    now: DateTime<Utc>,
    message: &str,
) -> Result<(), Error> {
    let current = transitions.last().and_then(|t| Secondary::parse(&t.status)).unwrap_or(Secondary::Starting);
    if !transitions.is_empty() && !current.can_move_to(next) {
        return Err(Error::InvalidTransition { from: current.as_str(), to: next.as_str() });
    }
    if let Some(last) = transitions.last_mut() {
        last.end_time = Some(now);
    }
    let end_time = next.is_terminal().then_some(now);
    transitions.push(Transition {
        status: next.as_str().into(),
        start_time: now,
        end_time,
        status_message: message.into(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn secondary() -> impl Strategy<Value = Secondary> {
        proptest::sample::select(Secondary::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn transitions_respect_the_machine(moves in proptest::collection::vec(secondary(), 0..30)) {
            let mut transitions = Vec::new();
            advance(&mut transitions, Secondary::Starting, Utc::now(), "").unwrap();
            for next in moves {
                let before = transitions.clone();
                let current = Secondary::parse(&before.last().unwrap().status).unwrap();
                match advance(&mut transitions, next, Utc::now(), "") {
                    Ok(()) => {
                        prop_assert!(current.can_move_to(next));
                        prop_assert!(!current.is_terminal(), "left terminal state {current:?}");
                        prop_assert_eq!(transitions.len(), before.len() + 1);
                        prop_assert!(transitions[transitions.len() - 2].end_time.is_some());
                    }
                    Err(_) => {
                        prop_assert!(!current.can_move_to(next));
                        prop_assert_eq!(&transitions, &before, "a refused move changes nothing");
                    }
                }
            }
        }
    }

    #[test]
    fn the_happy_path_and_its_primaries() {
        let mut t = Vec::new();
        let path = [
            Secondary::Starting,
            Secondary::Downloading,
            Secondary::Training,
            Secondary::Uploading,
            Secondary::Completed,
        ];
        for s in path {
            advance(&mut t, s, Utc::now(), "").unwrap();
        }
        let primaries: Vec<&str> = path.iter().map(|s| s.primary()).collect();
        assert_eq!(primaries, ["InProgress", "InProgress", "InProgress", "InProgress", "Completed"]);
        assert!(advance(&mut t, Secondary::Training, Utc::now(), "").is_err());
        assert!(t.last().unwrap().end_time.is_some());
    }
}
