//! Cases: batches of row changes written all or none (`write_rows`), and the stamp that tells a
//! cache whether some tables changed (`tables_stamp`) — what custom API definitions rely on.

use super::*;
use crate::{RowChange, RowRefusal, TablesStamp, WriteRowsOutcome};

fn api_row(id: Uuid, name: &str) -> Row {
    vec![
        ("customapiid", Cell::Guid(id)),
        ("uniquename", text(name)),
        ("name", text(name)),
    ]
}

fn param_row(id: Uuid, api: Uuid, name: &str) -> Row {
    vec![
        ("customapirequestparameterid", Cell::Guid(id)),
        ("uniquename", text(name)),
        ("name", text(name)),
        ("type", Cell::Int(10)),
        ("customapiid", Cell::Guid(api)),
    ]
}

fn insert_change(t: &Arc<Table>, values: Row) -> RowChange {
    RowChange::Insert {
        table: t.clone(),
        values,
    }
}

async fn count(store: &dyn Store, t: &Arc<Table>) -> u64 {
    store.count_rows(t.clone(), None).await.unwrap()
}

/// A batch applies every change in order and returns the rows as stored; a refused change
/// (duplicate, missing row, other version) leaves nothing of its batch behind.
pub async fn write_rows_applies_all_or_nothing(store: Arc<dyn Store>) {
    let store = &*store;
    let apis = table("customapi");
    let params = table("customapirequestparameter");
    let ctx = write(1_000, UserId::new_random());
    let api = Uuid::new_v4();
    let (p1, p2) = (Uuid::new_v4(), Uuid::new_v4());
    let outcome = store
        .write_rows(
            vec![
                insert_change(&apis, api_row(api, "contoso_A")),
                insert_change(&params, param_row(p1, api, "One")),
                insert_change(&params, param_row(p2, api, "Two")),
            ],
            ctx,
        )
        .await
        .unwrap();
    let WriteRowsOutcome::Applied(rows) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(rows.len(), 3);
    let first = rows[0].as_ref().expect("the inserted row");
    assert_eq!(cell(first, "uniquename"), &text("contoso_A"));
    assert_eq!(cell(first, "createdon"), &Cell::DateTime(at(1_000)));
    let (v0, v2) = (version(first), version(rows[2].as_ref().unwrap()));
    assert!(v2 > v0, "versions follow the order of the batch");

    // A duplicate key in the middle: nothing of the batch is written.
    let other = Uuid::new_v4();
    let outcome = store
        .write_rows(
            vec![
                insert_change(&apis, api_row(other, "contoso_B")),
                insert_change(&params, param_row(p1, other, "Again")),
            ],
            ctx,
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        WriteRowsOutcome::Refused {
            index: 1,
            reason: RowRefusal::Duplicate
        }
    );
    assert!(store.get_row(apis.clone(), other).await.unwrap().is_none());
    // A unique index counts as a duplicate too.
    let outcome = store
        .write_rows(vec![insert_change(&apis, api_row(other, "contoso_A"))], ctx)
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            WriteRowsOutcome::Refused {
                index: 0,
                reason: RowRefusal::Duplicate
            }
        ),
        "{outcome:?}"
    );

    // Updates and deletes of missing rows or other versions refuse the batch.
    let missing = Uuid::new_v4();
    for (change, reason) in [
        (
            RowChange::Update {
                table: apis.clone(),
                id: missing,
                values: vec![("name", text("x"))],
                if_version: None,
            },
            RowRefusal::NotFound,
        ),
        (
            RowChange::Update {
                table: apis.clone(),
                id: api,
                values: vec![("name", text("x"))],
                if_version: Some(v0 + 1_000),
            },
            RowRefusal::VersionMismatch,
        ),
        (
            RowChange::Delete {
                table: apis.clone(),
                id: missing,
                if_version: None,
            },
            RowRefusal::NotFound,
        ),
        (
            RowChange::Delete {
                table: apis.clone(),
                id: api,
                if_version: Some(v0 + 1_000),
            },
            RowRefusal::VersionMismatch,
        ),
    ] {
        let batch = vec![
            RowChange::Update {
                table: apis.clone(),
                id: api,
                values: vec![("displayname", text("changed"))],
                if_version: Some(v0),
            },
            change,
        ];
        let outcome = store.write_rows(batch, ctx).await.unwrap();
        assert_eq!(outcome, WriteRowsOutcome::Refused { index: 1, reason });
        let row = store.get_row(apis.clone(), api).await.unwrap().unwrap();
        assert_eq!(cell(&row, "displayname"), &Cell::Null, "rolled back");
        assert_eq!(version(&row), v0);
    }

    // An update at the right version applies.
    let outcome = store
        .write_rows(
            vec![RowChange::Update {
                table: apis.clone(),
                id: api,
                values: vec![("displayname", text("changed"))],
                if_version: Some(v0),
            }],
            write(2_000, UserId::new_random()),
        )
        .await
        .unwrap();
    let WriteRowsOutcome::Applied(rows) = outcome else {
        panic!("{outcome:?}");
    };
    let row = rows[0].as_ref().unwrap();
    assert_eq!(cell(row, "displayname"), &text("changed"));
    assert_eq!(cell(row, "modifiedon"), &Cell::DateTime(at(2_000)));
    assert!(version(row) > v0);
}

/// `DeleteChildren` deletes the rows pointing at one parent and no others; with the parent's
/// `Delete` it removes a custom API with its parameters in one transaction.
pub async fn delete_children_removes_only_that_parents_rows(store: Arc<dyn Store>) {
    let store = &*store;
    let apis = table("customapi");
    let params = table("customapirequestparameter");
    let ctx = write(1_000, UserId::new_random());
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let outcome = store
        .write_rows(
            vec![
                insert_change(&apis, api_row(a, "contoso_A")),
                insert_change(&apis, api_row(b, "contoso_B")),
                insert_change(&params, param_row(Uuid::new_v4(), a, "One")),
                insert_change(&params, param_row(Uuid::new_v4(), a, "Two")),
                insert_change(&params, param_row(Uuid::new_v4(), b, "One")),
            ],
            ctx,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, WriteRowsOutcome::Applied(_)));
    let outcome = store
        .write_rows(
            vec![
                RowChange::DeleteChildren {
                    table: params.clone(),
                    column: "customapiid",
                    id: a,
                },
                RowChange::Delete {
                    table: apis.clone(),
                    id: a,
                    if_version: None,
                },
            ],
            ctx,
        )
        .await
        .unwrap();
    assert_eq!(outcome, WriteRowsOutcome::Applied(vec![None, None]));
    assert_eq!(count(store, &apis).await, 1);
    assert_eq!(count(store, &params).await, 1);
    // No children is fine; a column that is not a lookup is a malformed request.
    let outcome = store
        .write_rows(
            vec![RowChange::DeleteChildren {
                table: params.clone(),
                column: "customapiid",
                id: a,
            }],
            ctx,
        )
        .await
        .unwrap();
    assert_eq!(outcome, WriteRowsOutcome::Applied(vec![None]));
    let bad = store
        .write_rows(
            vec![RowChange::DeleteChildren {
                table: params.clone(),
                column: "uniquename",
                id: a,
            }],
            ctx,
        )
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidRequest(_))), "{bad:?}");
}

/// The stamp of some tables moves with every insert, update and delete of their rows (also a
/// delete followed by an insert), and not with reads, refused batches or other tables' writes.
pub async fn tables_stamp_moves_on_every_write(store: Arc<dyn Store>) {
    let store = &*store;
    let apis = table("customapi");
    let params = table("customapirequestparameter");
    let tables = vec![apis.clone(), params.clone()];
    let ctx = write(1_000, UserId::new_random());
    let stamp = || async { store.tables_stamp(tables.clone()).await.unwrap() };
    let empty = stamp().await;
    assert_eq!(empty, TablesStamp::default());

    let a = Uuid::new_v4();
    insert(store, &apis, api_row(a, "contoso_A"), ctx).await;
    let one = stamp().await;
    assert_ne!(one, empty);
    assert_eq!(one.rows, 1);
    assert_eq!(stamp().await, one, "reads change nothing");

    accounts(store, vec![("Unrelated", vec![])]).await;
    assert_eq!(stamp().await, one, "other tables do not count");

    let p = Uuid::new_v4();
    insert(store, &params, param_row(p, a, "One"), ctx).await;
    let two = stamp().await;
    assert_ne!(two, one);

    let outcome = store
        .update_row(
            params.clone(),
            p,
            vec![("name", text("Renamed"))],
            UpdateMode::MustExist,
            ctx,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, UpdateOutcome::Updated(_)));
    let updated = stamp().await;
    assert_ne!(updated, two);

    // Delete a row and insert another in one batch: same count, still a new stamp.
    let outcome = store
        .write_rows(
            vec![
                RowChange::Delete {
                    table: params.clone(),
                    id: p,
                    if_version: None,
                },
                insert_change(&params, param_row(Uuid::new_v4(), a, "Two")),
            ],
            ctx,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, WriteRowsOutcome::Applied(_)));
    let replaced = stamp().await;
    assert_eq!(replaced.rows, updated.rows);
    assert_ne!(replaced, updated);

    let refused = store
        .write_rows(vec![insert_change(&apis, api_row(a, "contoso_A"))], ctx)
        .await
        .unwrap();
    assert!(matches!(refused, WriteRowsOutcome::Refused { .. }));
    assert_eq!(stamp().await, replaced, "a refused batch changes nothing");

    assert_eq!(
        store.delete_row(apis.clone(), a, None).await.unwrap(),
        DeleteOutcome::Deleted
    );
    let deleted = stamp().await;
    assert_ne!(deleted, replaced);
    assert_eq!(deleted.rows, replaced.rows - 1);
}
