//! TLS to PostgreSQL through rustls: with `sslmode=verify-full` and the server's certificate as
//! `sslrootcert`, the store's connections are encrypted; without a root that vouches for the
//! server, `sslmode=require` is refused with the reason; `sslmode=disable` connects in clear.
//! Uses the test server (`BGOPS_TEST_POSTGRES`) as it is configured: Debian's cluster has TLS
//! on with its own certificate for `localhost`.

mod pg_fixture;

use bgops_store::postgres::PgStore;

async fn admin() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&pg_fixture::server_url(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test server");
    tokio::spawn(connection);
    client
}

/// `url` with `params` added to its query.
fn with(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_used_and_verified_as_sslmode_says() {
    let admin = admin().await;
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    let schema = pg_fixture::PgSchema::new().await;
    let local = schema.url.replacen("127.0.0.1", "localhost", 1);

    if ssl != "on" {
        // A server without TLS: insisting on it is refused, plainly.
        let Err(e) = PgStore::open(&with(&local, "sslmode=require")).await else {
            panic!("sslmode=require accepted by a server without TLS");
        };
        assert!(e.to_string().contains("TLS"), "{e}");
        return;
    }
    let cert: String = admin
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    let app = format!("bgops-tls-{}", schema.schema);

    // Verified against the server's own certificate (its name is localhost).
    let url = with(
        &local,
        &format!("sslmode=verify-full&sslrootcert={cert}&application_name={app}"),
    );
    let store = PgStore::open(&url)
        .await
        .unwrap_or_else(|e| panic!("TLS with the server's certificate as root: {e}"));
    let encrypted: i64 = admin
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1 AND s.ssl",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted > 0, "no encrypted connection of the store");
    drop(store);

    // Nothing vouches for a self-signed server certificate: refused, with the reason.
    let Err(e) = PgStore::open(&with(&local, "sslmode=require")).await else {
        panic!("an unverified certificate was accepted");
    };
    let text = e.to_string();
    assert!(
        text.to_lowercase().contains("certificate"),
        "the reason names the certificate: {text}"
    );

    // In clear when asked.
    let clear = format!("bgops-clear-{}", schema.schema);
    let _store = PgStore::open(&with(
        &local,
        &format!("sslmode=disable&application_name={clear}"),
    ))
    .await
    .expect("sslmode=disable");
    let encrypted: i64 = admin
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1 AND s.ssl",
            &[&clear],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(encrypted, 0);
}
