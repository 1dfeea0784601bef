//! TLS to PostgreSQL through rustls, with libpq's `sslmode` meanings: `prefer` (the default) and
//! `require` encrypt without checking the certificate; `verify-ca` checks the chain,
//! `verify-full` the chain and the host name, against the Mozilla roots and `sslrootcert`;
//! `disable` connects in clear. Uses the test server (`BGOPS_TEST_POSTGRES`) as configured:
//! Debian's cluster has TLS on with its own certificate for `localhost`.

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
    let mut n = 0;
    let mut opens = |params: String| {
        n += 1;
        let app = format!("bgops-tls{n}-{}", &schema.schema[9..17]);
        (
            with(&local, &format!("{params}&application_name={app}")),
            app,
        )
    };
    let encrypted = |app: String| {
        let admin = &admin;
        async move {
            admin
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                     WHERE a.application_name = $1 AND s.ssl",
                    &[&app],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };

    // Encrypted, the certificate unchecked: the default, and `require`.
    for params in ["sslmode=prefer".to_owned(), "sslmode=require".to_owned()] {
        let (url, app) = opens(params.clone());
        let _store = PgStore::open(&url)
            .await
            .unwrap_or_else(|e| panic!("{params}: {e}"));
        assert!(encrypted(app).await > 0, "{params}: not encrypted");
    }
    // Checked against the server's own certificate, whose name is localhost.
    let (url, app) = opens(format!("sslmode=verify-full&sslrootcert={cert}"));
    let _store = PgStore::open(&url)
        .await
        .unwrap_or_else(|e| panic!("verify-full with the server's certificate as root: {e}"));
    assert!(encrypted(app).await > 0);
    // Nothing vouches for a self-signed certificate: refused, naming the certificate.
    let (url, _) = opens("sslmode=verify-full".to_owned());
    let Err(e) = PgStore::open(&url).await else {
        panic!("an unverified certificate was accepted by verify-full");
    };
    assert!(
        e.to_string().to_lowercase().contains("certificate"),
        "the reason names the certificate: {e}"
    );
    // By address, the name does not match: verify-full refuses, verify-ca (chain only) accepts.
    let by_ip = schema.url.replacen("localhost", "127.0.0.1", 1);
    let url = with(&by_ip, &format!("sslmode=verify-full&sslrootcert={cert}"));
    assert!(
        PgStore::open(&url).await.is_err(),
        "a name mismatch passed verify-full"
    );
    let url = with(&by_ip, &format!("sslmode=verify-ca&sslrootcert={cert}"));
    PgStore::open(&url)
        .await
        .unwrap_or_else(|e| panic!("verify-ca: {e}"));
    // In clear when asked.
    let (url, app) = opens("sslmode=disable".to_owned());
    let _clear = PgStore::open(&url).await.expect("sslmode=disable");
    assert_eq!(encrypted(app).await, 0);
}
