//! W3C Trace Context (`traceparent`, <https://www.w3.org/TR/trace-context/>): the header a
//! client sends to put its submission into its own trace, which bgops stores with the
//! operation so the attempt (on any node, later) and the calls it makes join that trace.

use std::fmt;

/// A valid `traceparent` value: version, trace id, parent span id and flags. It can only exist
/// once parsed, so whatever holds one may send it on as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// 16 bytes, never all zero.
    trace_id: [u8; 16],
    /// 8 bytes, never all zero.
    span_id: [u8; 8],
    /// Trace flags; bit 0 is `sampled`.
    flags: u8,
}

/// Why a `traceparent` value was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'traceparent' is not a W3C trace context ({0}); expected 00-<32 hex>-<16 hex>-<2 hex>")]
pub struct TraceParentError(&'static str);

impl TraceParent {
    /// A trace context from its parts; `None` when an id is all zero (invalid by the standard).
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Option<Self> {
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// Parses a header value. Version `00` must have exactly four fields; a later version may
    /// append fields after the flags, which are ignored (as the standard asks); version `ff`
    /// is invalid. Hex must be lower-case.
    pub fn parse(value: &str) -> Result<Self, TraceParentError> {
        let value = value.trim_matches([' ', '\t']);
        let mut parts = value.split('-');
        let version = parts.next().ok_or(TraceParentError("empty"))?;
        let version = hex_exact::<1>(version).ok_or(TraceParentError("bad version"))?[0];
        if version == 0xff {
            return Err(TraceParentError("version ff is invalid"));
        }
        let trace_id = parts
            .next()
            .and_then(hex_exact::<16>)
            .ok_or(TraceParentError("bad trace id"))?;
        let span_id = parts
            .next()
            .and_then(hex_exact::<8>)
            .ok_or(TraceParentError("bad parent id"))?;
        let flags = parts
            .next()
            .and_then(hex_exact::<1>)
            .ok_or(TraceParentError("bad flags"))?[0];
        if version == 0 && parts.next().is_some() {
            return Err(TraceParentError("version 00 has four fields"));
        }
        Self::new(trace_id, span_id, flags).ok_or(TraceParentError("an all-zero id"))
    }

    /// The trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The parent span id.
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The trace id as 32 lower-case hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// The same trace with another parent span (the span that sends the header on).
    pub fn with_span(&self, span_id: [u8; 8]) -> Option<Self> {
        Self::new(self.trace_id, span_id, self.flags)
    }
}

impl fmt::Display for TraceParent {
    /// The version `00` header value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.span_id),
            self.flags
        )
    }
}

/// Exactly `2 × N` lower-case hex digits.
fn hex_exact<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the W3C recommendation, §3.2.
    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_prints_the_standard_example() {
        let tp = TraceParent::parse(EXAMPLE).unwrap();
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.flags(), 1);
        assert_eq!(tp.to_string(), EXAMPLE);
    }

    #[test]
    fn refuses_what_the_standard_refuses() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let tp = TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what")
            .unwrap();
        assert_eq!(tp.to_string(), EXAMPLE);
    }
}
