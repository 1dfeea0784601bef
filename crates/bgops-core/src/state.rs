//! The state machine of a background operation (SPEC §4): state and status codes, their labels,
//! and which transitions a cancel request makes.

use serde::{Deserialize, Serialize};

/// `backgroundoperationstatecode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationState {
    /// 0: waiting to run.
    Ready,
    /// 2: an attempt runs or a cancel is being applied.
    Locked,
    /// 3: terminal.
    Completed,
}

impl OperationState {
    /// The integer code on the wire and in storage.
    pub fn code(self) -> i32 {
        match self {
            Self::Ready => 0,
            Self::Locked => 2,
            Self::Completed => 3,
        }
    }

    /// The FormattedValue label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Locked => "Locked",
            Self::Completed => "Completed",
        }
    }

    /// The state for a code, if it is one.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(Self::Ready),
            2 => Some(Self::Locked),
            3 => Some(Self::Completed),
            _ => None,
        }
    }
}

/// `backgroundoperationstatuscode`; each status belongs to exactly one state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationStatus {
    /// 0 (Ready): queued, or waiting for a retry.
    WaitingForResources,
    /// 20 (Locked): an attempt runs.
    InProgress,
    /// 22 (Locked): cancellation requested.
    Canceling,
    /// 30 (Completed).
    Succeeded,
    /// 31 (Completed): retries spent, or a permanent error.
    Failed,
    /// 32 (Completed).
    Canceled,
}

impl OperationStatus {
    /// Every status, in code order.
    pub const ALL: [OperationStatus; 6] = [
        Self::WaitingForResources,
        Self::InProgress,
        Self::Canceling,
        Self::Succeeded,
        Self::Failed,
        Self::Canceled,
    ];

    /// The integer code on the wire and in storage.
    pub fn code(self) -> i32 {
        match self {
            Self::WaitingForResources => 0,
            Self::InProgress => 20,
            Self::Canceling => 22,
            Self::Succeeded => 30,
            Self::Failed => 31,
            Self::Canceled => 32,
        }
    }

    /// The FormattedValue label.
    pub fn label(self) -> &'static str {
        match self {
            Self::WaitingForResources => "Waiting For Resources",
            Self::InProgress => "In Progress",
            Self::Canceling => "Canceling",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
        }
    }

    /// The status for a code, if it is one.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| i64::from(s.code()) == code)
    }

    /// The state this status belongs to.
    pub fn state(self) -> OperationState {
        match self {
            Self::WaitingForResources => OperationState::Ready,
            Self::InProgress | Self::Canceling => OperationState::Locked,
            Self::Succeeded | Self::Failed | Self::Canceled => OperationState::Completed,
        }
    }

    /// Whether the operation has finished for good.
    pub fn is_terminal(self) -> bool {
        self.state() == OperationState::Completed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_pair_with_their_state() {
        for s in OperationStatus::ALL {
            assert_eq!(OperationStatus::from_code(s.code().into()), Some(s));
        }
        assert_eq!(OperationStatus::Canceling.state().code(), 2);
        assert_eq!(OperationStatus::Canceled.state().code(), 3);
        assert!(OperationStatus::Failed.is_terminal());
        assert!(!OperationStatus::Canceling.is_terminal());
        assert_eq!(OperationStatus::from_code(21), None);
    }
}
