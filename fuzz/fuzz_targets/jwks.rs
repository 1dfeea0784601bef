//! JWK Sets: `KeyMap::parse` on arbitrary documents, as fetched from an issuer's `jwks_uri`
//! (outside input: the network) or read from `--jwt-jwks-file`; then key lookup by `kid`.
#![no_main]

use bgops_server::jwt::jwks::KeyMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(map) = KeyMap::parse(data, "fuzz") {
        let _ = map.get(None);
        let _ = map.get(Some(""));
        assert_eq!(map.is_empty(), map.len() == 0);
    }
});
