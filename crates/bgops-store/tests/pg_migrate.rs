//! The PostgreSQL schema at start-up: nodes starting together on an empty database migrate it
//! once (the schema the URL names is created too); a database migrated by a newer bgops is
//! refused with a clear error instead of being used.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_create_and_migrate_the_schema_once() {
    let name = format!("bgops_t_{}", uuid::Uuid::new_v4().simple());
    let server = pg_fixture::server_url();
    let sep = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{sep}options=-c%20search_path%3D{name}");

    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::open(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().expect("every node starts"));
    }
    let admin = admin().await;
    let rows = admin
        .query(
            &format!(
                "SELECT version, COUNT(*) FROM {name}.bgops_schema_migrations \
                 GROUP BY version ORDER BY version"
            ),
            &[],
        )
        .await
        .expect("migrations table");
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(
            r.get::<_, i64>(1),
            1,
            "version {} applied once",
            r.get::<_, i64>(0)
        );
    }
    drop(stores);
    admin
        .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
        .await
        .expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_newer_than_this_build_is_refused() {
    let schema = pg_fixture::PgSchema::new().await;
    drop(PgStore::open(&schema.url).await.expect("first start"));
    admin()
        .await
        .batch_execute(&format!(
            "INSERT INTO {}.bgops_schema_migrations (version) VALUES (999)",
            schema.schema
        ))
        .await
        .expect("pretend a newer bgops migrated it");
    let Err(e) = PgStore::open(&schema.url).await else {
        panic!("a newer schema was used");
    };
    let text = e.to_string();
    assert!(text.contains("999") && text.contains("newer"), "{text}");
}
