//! The opaque `$skiptoken` of keyset paging: the order-by values (primary key last) of the last
//! row of a page, so the next page starts strictly after it.
//!
//! A token is `version ‖ HMAC-SHA256 ‖ payload` in URL-safe base64 without padding, so it goes
//! into `@odata.nextLink` as is. The MAC covers the payload and a fingerprint of the query
//! (table, order, filter): a token cannot be forged, altered, or replayed against another query.
//! The payload is compact JSON of the values with a one-letter type tag each.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;
use crate::metadata::{Cell, Table};
use crate::odata::plan::{Filter, QueryPlan};

/// The format of the tokens this build writes; others are refused.
const VERSION: u8 = 1;
/// Length of an HMAC-SHA256 tag.
const MAC_LEN: usize = 32;
/// The longest token decoded, in bytes: bounds the work a hostile token can cause.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A cell on the wire: a one-letter type tag, so decoding gives back the exact variant.
#[derive(Serialize, Deserialize)]
enum Wire {
    N,
    S(String),
    I(i64),
    /// The bits of the float, so every value (even NaN) comes back exactly.
    F(u64),
    D(String),
    B(bool),
    G(uuid::Uuid),
    T(i64),
}

impl From<&Cell> for Wire {
    fn from(cell: &Cell) -> Self {
        match cell {
            Cell::Null => Wire::N,
            Cell::Text(s) => Wire::S(s.clone()),
            Cell::Int(i) => Wire::I(*i),
            Cell::Float(f) => Wire::F(f.to_bits()),
            Cell::Decimal(d) => Wire::D(d.clone()),
            Cell::Bool(b) => Wire::B(*b),
            Cell::Guid(g) => Wire::G(*g),
            Cell::DateTime(t) => Wire::T(t.0),
        }
    }
}

impl From<Wire> for Cell {
    fn from(wire: Wire) -> Self {
        match wire {
            Wire::N => Cell::Null,
            Wire::S(s) => Cell::Text(s),
            Wire::I(i) => Cell::Int(i),
            Wire::F(bits) => Cell::Float(f64::from_bits(bits)),
            Wire::D(d) => Cell::Decimal(d),
            Wire::B(b) => Cell::Bool(b),
            Wire::G(g) => Cell::Guid(g),
            Wire::T(t) => Cell::DateTime(crate::clock::Timestamp(t)),
        }
    }
}

/// Builds the `$skiptoken` for the page after the row whose order-by values (primary key last)
/// are `values`, bound to `key` (the server's secret) and to the query (see [`fingerprint`]).
pub fn encode(key: &[u8], query_fingerprint: &str, values: &[Cell]) -> String {
    let wire: Vec<Wire> = values.iter().map(Wire::from).collect();
    // Serializing strings, integers and booleans into a Vec cannot fail.
    let payload = serde_json::to_vec(&wire).unwrap_or_default();
    let tag = mac(key, query_fingerprint, &payload)
        .finalize()
        .into_bytes();
    let mut bytes = Vec::with_capacity(1 + MAC_LEN + payload.len());
    bytes.push(VERSION);
    bytes.extend_from_slice(&tag);
    bytes.extend_from_slice(&payload);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads a `$skiptoken` back into the order-by values it was built from. Anything that is not a
/// token this server wrote for this query with this key, byte for byte, is a 400
/// `The $skiptoken is not valid.`
pub fn decode(key: &[u8], query_fingerprint: &str, token: &str) -> Result<Vec<Cell>, ApiError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(invalid());
    };
    if version != VERSION || rest.len() < MAC_LEN {
        return Err(invalid());
    }
    let (tag, payload) = rest.split_at(MAC_LEN);
    mac(key, query_fingerprint, payload)
        .verify_slice(tag)
        .map_err(|_| invalid())?;
    let wire: Vec<Wire> = serde_json::from_slice(payload).map_err(|_| invalid())?;
    Ok(wire.into_iter().map(Cell::from).collect())
}

/// The fingerprint of a query for [`encode`] and [`decode`]: the table, the sort order and the
/// filter, which together decide what "the rows after this one" means. `$select`, `$top` and
/// `$count` do not change it.
pub fn fingerprint(table: &Table, plan: &QueryPlan) -> String {
    let mut out = format!("{};", table.logical_name);
    for (column, descending) in &plan.orderby {
        out.push_str(column.logical_name);
        out.push(if *descending { '-' } else { '+' });
        out.push(',');
    }
    out.push(';');
    if let Some(filter) = &plan.filter {
        render(filter, &mut out);
    }
    out
}

/// A canonical, unambiguous text of a filter (values in their JSON wire form).
fn render(filter: &Filter, out: &mut String) {
    let value = |cell: &Cell| serde_json::to_string(&Wire::from(cell)).unwrap_or_default();
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            out.push_str(if matches!(filter, Filter::And(..)) {
                "and("
            } else {
                "or("
            });
            render(a, out);
            out.push(',');
            render(b, out);
            out.push(')');
        }
        Filter::Not(a) => {
            out.push_str("not(");
            render(a, out);
            out.push(')');
        }
        Filter::Compare {
            column,
            op,
            value: v,
        } => {
            out.push_str(&format!("cmp({},{op:?},{})", column.logical_name, value(v)));
        }
        Filter::CompareColumns { left, op, right } => {
            out.push_str(&format!(
                "cols({},{op:?},{})",
                left.logical_name, right.logical_name
            ));
        }
        Filter::IsNull { column, negated } => {
            out.push_str(&format!("null({},{negated})", column.logical_name));
        }
        Filter::StrFunc {
            func,
            column,
            value: v,
        } => {
            let text = serde_json::to_string(v).unwrap_or_default();
            out.push_str(&format!("fn({func:?},{},{text})", column.logical_name));
        }
    }
}

fn mac(key: &[u8], query_fingerprint: &str, payload: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(&[VERSION]);
    mac.update(&(query_fingerprint.len() as u64).to_be_bytes());
    mac.update(query_fingerprint.as_bytes());
    mac.update(payload);
    mac
}

fn invalid() -> ApiError {
    ApiError::bad_syntax("The $skiptoken is not valid.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;
    use crate::clock::Timestamp;
    use crate::odata::parse::parse_options;
    use crate::odata::validate::plan;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const QUERY: &str = "account;name+,accountid+,;";

    fn every_kind() -> Vec<Cell> {
        vec![
            Cell::Null,
            Cell::Text("O'Bryan \"quoted\" é 日本 \u{0}".into()),
            Cell::Int(-42),
            Cell::Float(1.5),
            Cell::Float(f64::NEG_INFINITY),
            Cell::Decimal("123.4500".into()),
            Cell::Bool(true),
            Cell::Guid(uuid::Uuid::from_u128(
                0x110eaa68_db17_4115_ad74_d185823fc089,
            )),
            Cell::DateTime(Timestamp(1_700_000_000_123)),
        ]
    }

    fn is_invalid(r: Result<Vec<Cell>, ApiError>) -> bool {
        matches!(r, Err(e) if e.status == 400 && e.message.ends_with("The $skiptoken is not valid."))
    }

    #[test]
    fn round_trips_every_kind_of_value() {
        let values = every_kind();
        let token = encode(KEY, QUERY, &values);
        assert_eq!(decode(KEY, QUERY, &token).unwrap(), values);
        assert_eq!(
            decode(KEY, QUERY, &encode(KEY, QUERY, &[])).unwrap(),
            vec![]
        );
        let nan = decode(KEY, QUERY, &encode(KEY, QUERY, &[Cell::Float(f64::NAN)])).unwrap();
        assert!(matches!(nan[..], [Cell::Float(f)] if f.is_nan()));
    }

    #[test]
    fn tokens_go_into_urls_as_they_are() {
        let token = encode(KEY, QUERY, &every_kind());
        assert!(token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn any_changed_character_is_refused() {
        let token = encode(KEY, QUERY, &[Cell::Text("abc".into()), Cell::Int(7)]);
        let chars: Vec<char> = token.chars().collect();
        for i in 0..chars.len() {
            for replacement in ['A', 'f', '0', '_', '-'] {
                if chars[i] == replacement {
                    continue;
                }
                let mut changed = chars.clone();
                changed[i] = replacement;
                let changed: String = changed.into_iter().collect();
                assert!(
                    is_invalid(decode(KEY, QUERY, &changed)),
                    "{i} {replacement}"
                );
            }
        }
    }

    #[test]
    fn truncated_extended_and_garbage_tokens_are_refused() {
        let token = encode(KEY, QUERY, &[Cell::Int(7)]);
        for len in 0..token.len() {
            assert!(is_invalid(decode(KEY, QUERY, &token[..len])), "{len}");
        }
        for bad in [
            format!("{token}A"),
            format!("{token}="),
            format!("A{token}"),
            format!("{token} "),
            "".into(),
            "!!!!".into(),
            "é日本".into(),
            "a".repeat(100_000),
            URL_SAFE_NO_PAD.encode([VERSION]),
            URL_SAFE_NO_PAD.encode([2u8; 40]),
        ] {
            assert!(is_invalid(decode(KEY, QUERY, &bad)), "{bad}");
        }
    }

    #[test]
    fn a_forged_payload_with_a_valid_mac_layout_is_refused() {
        let mut bytes = vec![VERSION];
        bytes.extend_from_slice(&[0u8; MAC_LEN]);
        bytes.extend_from_slice(br#"[{"I":1}]"#);
        assert!(is_invalid(decode(
            KEY,
            QUERY,
            &URL_SAFE_NO_PAD.encode(bytes)
        )));
    }

    #[test]
    fn another_key_or_query_refuses_the_token() {
        let token = encode(KEY, QUERY, &[Cell::Int(7)]);
        assert!(is_invalid(decode(b"another key", QUERY, &token)));
        assert!(is_invalid(decode(
            KEY,
            "account;name-,accountid+,;",
            &token
        )));
        assert!(is_invalid(decode(KEY, "", &token)));
    }

    #[test]
    fn valid_mac_over_a_payload_that_is_not_cells_is_refused() {
        // Someone holding the key could still write nonsense: it is refused, not trusted.
        for payload in [&b"{}"[..], b"[1]", b"[{\"Q\":1}]", b"not json"] {
            let tag = mac(KEY, QUERY, payload).finalize().into_bytes();
            let mut bytes = vec![VERSION];
            bytes.extend_from_slice(&tag);
            bytes.extend_from_slice(payload);
            assert!(is_invalid(decode(
                KEY,
                QUERY,
                &URL_SAFE_NO_PAD.encode(bytes)
            )));
        }
    }

    #[test]
    fn fingerprints_follow_table_order_and_filter_only() {
        let catalogue = Catalogue::standard();
        let account = catalogue.by_logical_name("account").unwrap();
        let contact = catalogue.by_logical_name("contact").unwrap();
        let fp = |table: &Table, pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect();
            fingerprint(
                table,
                &plan(table, &parse_options(&pairs).unwrap()).unwrap(),
            )
        };
        let base = fp(
            &account,
            &[("$filter", "name eq 'a'"), ("$orderby", "name")],
        );
        assert_eq!(
            base,
            fp(
                &account,
                &[
                    ("$filter", "name eq @p"),
                    ("@p", "'a'"),
                    ("$orderby", "name asc"),
                    ("$select", "name"),
                    ("$top", "5"),
                    ("$count", "true"),
                ]
            )
        );
        for other in [
            fp(
                &account,
                &[("$filter", "name eq 'b'"), ("$orderby", "name")],
            ),
            fp(
                &account,
                &[("$filter", "name ne 'a'"), ("$orderby", "name")],
            ),
            fp(
                &account,
                &[("$filter", "name eq 'a'"), ("$orderby", "name desc")],
            ),
            fp(&account, &[("$filter", "name eq 'a'")]),
            fp(&account, &[("$orderby", "name")]),
            fp(
                &account,
                &[("$filter", "contains(name,'a')"), ("$orderby", "name")],
            ),
            fp(
                &account,
                &[("$filter", "not name eq 'a'"), ("$orderby", "name")],
            ),
            fp(
                &contact,
                &[("$filter", "fullname eq 'a'"), ("$orderby", "fullname")],
            ),
        ] {
            assert_ne!(base, other);
        }
        // Quotes in values cannot make two filters look alike.
        assert_ne!(
            fp(
                &account,
                &[("$filter", "name eq 'a),cmp(b' or name eq 'c'")]
            ),
            fp(
                &account,
                &[("$filter", "name eq 'a' or name eq 'b),cmp(c'")]
            ),
        );
    }
}
