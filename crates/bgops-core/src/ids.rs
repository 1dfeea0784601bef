//! Identifiers: GUIDs in the lower-case, hyphenated form of SPEC §2.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Parses a GUID as Dataverse accepts it in URLs and bodies: hyphenated, optionally in braces.
fn parse_guid(s: &str) -> Option<Uuid> {
    let s = s.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(s);
    // Only the hyphenated 36-character form; `Uuid::parse_str` would also take 32 hex digits.
    if s.len() != 36 {
        return None;
    }
    Uuid::parse_str(s).ok()
}

macro_rules! guid_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh id: a UUID v7 (time-ordered, random below the millisecond), so new rows
            /// land at the end of the primary-key index instead of at random pages.
            pub fn new_random() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidGuid;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_guid(s).map(Self).ok_or_else(|| InvalidGuid(s.to_owned()))
            }
        }
    };
}

guid_newtype!(
    /// The id of a `backgroundoperation` row; also the status monitor's path segment.
    OperationId
);
guid_newtype!(
    /// The id of a `systemuser` row: who submitted (and runs as) an operation.
    UserId
);

/// A string that is not a GUID in the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid GUID")]
pub struct InvalidGuid(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_lower_case() {
        let id: OperationId = "110EAA68-DB17-4115-AD74-D185823FC089".parse().unwrap();
        assert_eq!(id.to_string(), "110eaa68-db17-4115-ad74-d185823fc089");
        let braced: OperationId = "{110eaa68-db17-4115-ad74-d185823fc089}".parse().unwrap();
        assert_eq!(id, braced);
    }

    #[test]
    fn refuses_malformed() {
        for s in [
            "",
            "abc",
            "110eaa68db174115ad74d185823fc089",
            "110eaa68-db17-4115-ad74-d185823fc08z",
        ] {
            assert!(s.parse::<OperationId>().is_err(), "{s}");
        }
    }
}
