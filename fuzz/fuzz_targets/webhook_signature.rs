//! Standard Webhooks signatures as a receiver checks them (`bgops_client::verify_signature`
//! reads the timestamp and signature headers from the sender): `WebhookSecret::parse` on
//! arbitrary secrets, and `verify` with arbitrary timestamps, signature headers and tolerances.
//! A signature made with the secret always verifies within the tolerance.
#![no_main]

use arbitrary::Arbitrary;
use bgops_core::signing::WebhookSecret;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    secret: String,
    id: String,
    timestamp: i64,
    now: i64,
    tolerance: i64,
    body: Vec<u8>,
    header: String,
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fuzz_target!(|input: Input| {
    let _ = WebhookSecret::parse(&input.secret);
    let secret = WebhookSecret::parse(SECRET).expect("the published test secret");
    let _ = secret.verify(
        &input.id,
        input.timestamp,
        &input.body,
        &input.header,
        input.now,
        input.tolerance,
    );
    let signature = secret.sign(&input.id, input.timestamp, &input.body);
    let header = format!("{} {signature}", input.header);
    assert!(secret
        .verify(
            &input.id,
            input.timestamp,
            &input.body,
            &header,
            input.timestamp,
            0
        )
        .is_ok());
});
