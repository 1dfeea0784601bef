//! JWK Sets: `KeyMap::parse` on arbitrary documents, as fetched from an issuer's `jwks_uri`
//! (outside input: the network) or read from `--jwt-jwks-file`; then key lookup by `kid`.
#![no_main]

use bgops_server::jwt::jwks::KeyMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(map) = KeyMap::parse(data, "fuzz") {
        // A token without `kid` may use the set's only key, and no other.
        assert_eq!(map.get(None).is_some(), map.len() == 1);
        let _ = map.get(Some(""));
    }
});
