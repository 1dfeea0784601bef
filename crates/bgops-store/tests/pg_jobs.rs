//! The system job conformance suite against [`PgStore`](bgops_store::postgres::PgStore), each
//! case on a fresh schema of the test server (`BGOPS_TEST_POSTGRES`).

mod pg_fixture;

bgops_store::store_job_conformance_tests!(pg_fixture::fresh_store);
