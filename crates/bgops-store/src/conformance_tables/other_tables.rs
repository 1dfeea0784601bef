//! Cases: tables other than the sample ones (background operations, seeded rows) and
//! malformed calls.

use super::*;

/// Background operations, stored by submissions, read through the same generic queries.
pub async fn backgroundoperation_rows_are_queryable(store: Arc<dyn Store>) {
    let t = table("backgroundoperation");
    let creator = UserId::new_random();
    let op = |i: i64, name: &str| NewOperation {
        id: OperationId::new_random(),
        name: name.to_owned(),
        display_name: format!("Operation {i}"),
        input_parameters: r#"[{"Key":"Text","Value":"hello"}]"#.to_owned(),
        run_as: creator,
        created_by: creator,
        priority: 0,
        ttl_seconds: 3600,
        max_retries: 3,
        created_on: at(i * 1_000),
        callback_url: None,
        location: None,
        trace_parent: None,
    };
    let ops = vec![
        op(1, "sample_Echo"),
        op(2, "sample_Echo"),
        op(3, "sample_Other"),
    ];
    store.insert_operations(ops.clone()).await.unwrap();

    let filter = eq(&t, "name", text("SAMPLE_ECHO"));
    assert_eq!(
        store
            .count_rows(t.clone(), Some(filter.clone()))
            .await
            .unwrap(),
        2
    );
    let p = plan(
        &t,
        &[
            "name",
            "backgroundoperationstatuscode",
            "createdon",
            "createdby",
            "runas",
        ],
        Some(filter),
        &[("createdon", true)],
    );
    let rows = all(&*store, &t, p).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        cell(&rows[0], "backgroundoperationid"),
        &Cell::Guid(ops[1].id.0)
    );
    assert_eq!(
        cell(&rows[1], "backgroundoperationid"),
        &Cell::Guid(ops[0].id.0)
    );
    assert_eq!(
        cell(&rows[0], "backgroundoperationstatuscode"),
        &Cell::Int(0)
    );
    assert_eq!(cell(&rows[0], "createdon"), &Cell::DateTime(at(2_000)));
    assert_eq!(cell(&rows[0], "createdby"), &Cell::Guid(creator.0));
    assert_eq!(cell(&rows[0], "runas"), &text(&creator.to_string()));

    let row = store
        .get_row(t.clone(), ops[2].id.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.len(), t.columns.len());
    assert_eq!(cell(&row, "backgroundoperationstatecode"), &Cell::Int(0));
    assert_eq!(cell(&row, "starttime"), &Cell::Null);
    assert_eq!(cell(&row, "ttlinseconds"), &Cell::Int(3600));
    assert!(version(&row) > 0);
}

/// Every installation has the OnBackgroundOperationComplete message and the two roles.
pub async fn seeded_rows_exist(store: Arc<dyn Store>) {
    let store = &*store;
    let messages = table("sdkmessage");
    let p = plan(
        &messages,
        &["name"],
        Some(eq(&messages, "name", text("OnBackgroundOperationComplete"))),
        &[],
    );
    let rows = all(store, &messages, p).await;
    assert_eq!(rows.len(), 1);
    let Cell::Guid(id) = cell(&rows[0], "sdkmessageid") else {
        panic!("{rows:?}")
    };
    let message = store.get_row(messages, *id).await.unwrap().expect("row");
    assert!(version(&message) > 0, "seeded rows carry a version");
    assert!(matches!(cell(&message, "createdon"), Cell::DateTime(_)));

    let roles = table("role");
    let p = plan(&roles, &["name"], None, &[("name", false)]);
    let names: Vec<Cell> = all(store, &roles, p)
        .await
        .iter()
        .map(|r| cell(r, "name").clone())
        .collect();
    assert_eq!(
        names,
        [
            text("Basic User"),
            text("Delegate"),
            text("System Administrator")
        ]
    );
}

/// A column of another table, a value of the wrong type, an insert without its key and a
/// keyset position of the wrong length are refused as malformed, not run.
pub async fn malformed_requests_are_refused(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    let contacts = table("contact");
    let user = UserId::new_random();
    accounts(store, vec![("a", vec![])]).await;
    let invalid = |r: Result<(), StoreError>| {
        assert!(matches!(r, Err(StoreError::InvalidRequest(_))), "{r:?}");
    };

    let foreign = eq(&contacts, "lastname", text("x"));
    invalid(store.count_rows(t.clone(), Some(foreign)).await.map(|_| ()));
    let wrong_type = eq(&t, "numberofemployees", text("1"));
    invalid(
        store
            .query_rows(
                t.clone(),
                plan(&t, &[], Some(wrong_type), &[]),
                PageRequest {
                    size: 10,
                    after: None,
                },
            )
            .await
            .map(|_| ()),
    );
    invalid(
        store
            .query_rows(
                t.clone(),
                plan(&t, &["name"], None, &[("name", false)]),
                PageRequest {
                    size: 10,
                    after: Some(vec![Cell::Guid(Uuid::new_v4())]),
                },
            )
            .await
            .map(|_| ()),
    );
    invalid(
        store
            .insert_row(t.clone(), vec![("name", text("no key"))], write(0, user))
            .await
            .map(|_| ()),
    );
    let (_, mut values) = account("bad column");
    values.push(("lastname", text("x")));
    invalid(
        store
            .insert_row(t.clone(), values, write(0, user))
            .await
            .map(|_| ()),
    );
    let (_, mut values) = account("bad value");
    values.push(("revenue", text("a lot")));
    invalid(
        store
            .insert_row(t.clone(), values, write(0, user))
            .await
            .map(|_| ()),
    );
    assert_eq!(
        store.count_rows(t, None).await.unwrap(),
        1,
        "nothing stored"
    );
}
