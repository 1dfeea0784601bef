//! Cases: inserting, reading, updating and deleting single rows.

use super::*;

/// An account with every column set reads back exactly (decimals as their exact text), with
/// the store's own columns set; so does a user with a GUID column. An unknown id reads as
/// nothing.
pub async fn insert_then_get_every_column_type(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    let user = UserId::new_random();
    let contact = Uuid::new_v4();
    let (id, mut values) = account("Contoso Ltd");
    values.extend([
        ("accountnumber", text("A-001")),
        ("telephone1", text("+1 555 0100")),
        ("emailaddress1", text("info@contoso.com")),
        ("websiteurl", text("https://contoso.com")),
        ("address1_line1", text("1 Main St")),
        ("address1_city", text("Redmond")),
        ("address1_postalcode", text("98052")),
        ("address1_country", text("USA")),
        ("description", text("héllo \"quoted\" 'x'\nline two")),
        ("revenue", dec("1234567.8900")),
        ("numberofemployees", Cell::Int(250)),
        ("creditlimit", dec("-0.05")),
        ("creditonhold", Cell::Bool(true)),
        ("industrycode", Cell::Int(7)),
        ("primarycontactid", Cell::Guid(contact)),
        ("statecode", Cell::Int(0)),
        ("statuscode", Cell::Int(1)),
    ]);
    let created = insert(store, &t, values.clone(), write(1_000, user)).await;
    let read = store.get_row(t.clone(), id).await.unwrap().expect("row");
    assert_eq!(created, read, "the insert returns the row as stored");
    let names: Vec<&str> = read.iter().map(|(n, _)| *n).collect();
    let expected: Vec<&str> = t.columns.iter().map(|c| c.logical_name).collect();
    assert_eq!(names, expected, "every column, in table order");
    for (name, value) in &values {
        assert_eq!(cell(&read, name), value, "{name}");
    }
    assert_eq!(cell(&read, "createdon"), &Cell::DateTime(at(1_000)));
    assert_eq!(cell(&read, "modifiedon"), &Cell::DateTime(at(1_000)));
    assert_eq!(cell(&read, "createdby"), &Cell::Guid(user.0));
    assert!(version(&read) > 0);

    // Unset columns are null.
    let (bare, values) = account("Bare");
    insert(store, &t, values, write(2_000, user)).await;
    let bare = store.get_row(t.clone(), bare).await.unwrap().unwrap();
    assert_eq!(cell(&bare, "revenue"), &Cell::Null);
    assert_eq!(cell(&bare, "creditonhold"), &Cell::Null);
    assert_eq!(cell(&bare, "primarycontactid"), &Cell::Null);

    // A GUID that is neither key nor lookup, and a boolean with its own labels.
    let users = table("systemuser");
    let su = Uuid::new_v4();
    let aad = Uuid::new_v4();
    let row = insert(
        store,
        &users,
        vec![
            ("systemuserid", Cell::Guid(su)),
            ("fullname", text("Ada Lovelace")),
            ("azureactivedirectoryobjectid", Cell::Guid(aad)),
            ("isdisabled", Cell::Bool(false)),
        ],
        write(3_000, user),
    )
    .await;
    assert_eq!(cell(&row, "azureactivedirectoryobjectid"), &Cell::Guid(aad));
    assert_eq!(cell(&row, "isdisabled"), &Cell::Bool(false));
    assert_eq!(cell(&row, "domainname"), &Cell::Null);

    assert_eq!(store.get_row(t, Uuid::new_v4()).await.unwrap(), None);
}

/// `contact.fullname` is computed from first and last name: read, filtered and sorted like any
/// column, recomputed on update, and a caller's value for it is ignored.
pub async fn contact_fullname_is_computed(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("contact");
    let user = UserId::new_random();
    let mk = |first: Option<&str>, last: &str| {
        let id = Uuid::new_v4();
        let mut row: Row = vec![("contactid", Cell::Guid(id)), ("lastname", text(last))];
        if let Some(f) = first {
            row.push(("firstname", text(f)));
        }
        (id, row)
    };
    let (ada, values) = mk(Some("Ada"), "Lovelace");
    let row = insert(store, &t, values, write(0, user)).await;
    assert_eq!(cell(&row, "fullname"), &text("Ada Lovelace"));
    let (grace, mut values) = mk(None, "Hopper");
    values.push(("fullname", text("ignored")));
    let row = insert(store, &t, values, write(1, user)).await;
    assert_eq!(cell(&row, "fullname"), &text("Hopper"));
    let (_, values) = mk(Some("alan"), "Turing");
    insert(store, &t, values, write(2, user)).await;

    let updated = store
        .update_row(
            t.clone(),
            grace,
            vec![("firstname", text("Grace"))],
            UpdateMode::MustExist,
            write(3, user),
        )
        .await
        .unwrap();
    let UpdateOutcome::Updated(row) = updated else {
        panic!("{updated:?}")
    };
    assert_eq!(cell(&row, "fullname"), &text("Grace Hopper"));

    let p = plan(
        &t,
        &["fullname"],
        Some(str_fn(&t, StrFn::StartsWith, "fullname", "ADA ")),
        &[],
    );
    let rows = all(store, &t, p).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(cell(&rows[0], "contactid"), &Cell::Guid(ada));

    let p = plan(&t, &["fullname"], None, &[("fullname", false)]);
    let sorted: Vec<Cell> = all(store, &t, p)
        .await
        .iter()
        .map(|r| cell(r, "fullname").clone())
        .collect();
    assert_eq!(
        sorted,
        [
            text("Ada Lovelace"),
            text("alan Turing"),
            text("Grace Hopper")
        ]
    );
}

/// A note keeps a long text (a 1 MiB body) exactly.
pub async fn annotation_keeps_long_text(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("annotation");
    let id = Uuid::new_v4();
    let body: String = (0..1_048_576)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let notetext = "é🙂\u{0}\u{7f}".repeat(10_000);
    let row = insert(
        store,
        &t,
        vec![
            ("annotationid", Cell::Guid(id)),
            ("subject", text("Report")),
            ("notetext", text(&notetext)),
            ("filename", text("report.txt")),
            ("mimetype", text("text/plain")),
            ("documentbody", text(&body)),
            ("filesize", Cell::Int(1_048_576)),
            ("isdocument", Cell::Bool(true)),
            ("objectid", Cell::Guid(Uuid::new_v4())),
            ("objecttypecode", text("account")),
        ],
        write(0, UserId::new_random()),
    )
    .await;
    assert_eq!(cell(&row, "documentbody"), &text(&body));
    let read = store.get_row(t, id).await.unwrap().unwrap();
    assert_eq!(cell(&read, "notetext"), &text(&notetext));
    assert_eq!(cell(&read, "documentbody"), &text(&body));
}

/// A second insert with the same primary key, or the same value in a unique column, is refused
/// and changes nothing.
pub async fn duplicate_insert_is_refused(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    let user = UserId::new_random();
    let (id, values) = account("First");
    let first = insert(store, &t, values, write(0, user)).await;
    let again = vec![("accountid", Cell::Guid(id)), ("name", text("Second"))];
    let outcome = store.insert_row(t.clone(), again, write(1, user)).await;
    assert!(
        matches!(outcome, Ok(InsertOutcome::Duplicate)),
        "{outcome:?}"
    );
    assert_eq!(store.get_row(t, id).await.unwrap(), Some(first));

    let apis = table("customapi");
    let api = |id: Uuid| {
        vec![
            ("customapiid", Cell::Guid(id)),
            ("uniquename", text("sample_Echo")),
            ("name", text("Echo")),
        ]
    };
    insert(store, &apis, api(Uuid::new_v4()), write(2, user)).await;
    let other = Uuid::new_v4();
    let outcome = store
        .insert_row(apis.clone(), api(other), write(3, user))
        .await;
    assert!(
        matches!(outcome, Ok(InsertOutcome::Duplicate)),
        "{outcome:?}"
    );
    assert_eq!(store.get_row(apis, other).await.unwrap(), None);
}

/// Upsert creates a missing row with the given id; `If-Match: *` on a missing row and a stale
/// version change nothing; a matching version updates. Columns not given keep their values, a
/// null clears one.
pub async fn update_modes(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    let user = UserId::new_random();
    let id = Uuid::new_v4();

    let missing = store
        .update_row(
            t.clone(),
            id,
            vec![("name", text("x"))],
            UpdateMode::MustExist,
            write(0, user),
        )
        .await
        .unwrap();
    assert_eq!(missing, UpdateOutcome::NotFound);
    let missing = store
        .update_row(
            t.clone(),
            id,
            vec![("name", text("x"))],
            UpdateMode::IfVersion(1),
            write(0, user),
        )
        .await
        .unwrap();
    assert_eq!(missing, UpdateOutcome::NotFound);
    assert_eq!(store.get_row(t.clone(), id).await.unwrap(), None);

    let created = store
        .update_row(
            t.clone(),
            id,
            vec![
                ("name", text("Upserted")),
                ("address1_city", text("Oslo")),
                ("numberofemployees", Cell::Int(5)),
            ],
            UpdateMode::Upsert,
            write(1_000, user),
        )
        .await
        .unwrap();
    let UpdateOutcome::Created(row) = created else {
        panic!("{created:?}")
    };
    assert_eq!(cell(&row, "accountid"), &Cell::Guid(id));
    assert_eq!(cell(&row, "name"), &text("Upserted"));
    assert_eq!(cell(&row, "createdon"), &Cell::DateTime(at(1_000)));
    assert_eq!(cell(&row, "createdby"), &Cell::Guid(user.0));
    let v1 = version(&row);

    let stale = store
        .update_row(
            t.clone(),
            id,
            vec![("name", text("Stale"))],
            UpdateMode::IfVersion(v1 + 1000),
            write(2_000, user),
        )
        .await
        .unwrap();
    assert_eq!(stale, UpdateOutcome::VersionMismatch);
    assert_eq!(
        store.get_row(t.clone(), id).await.unwrap(),
        Some(row.clone())
    );

    let matched = store
        .update_row(
            t.clone(),
            id,
            vec![("name", text("Renamed")), ("address1_city", Cell::Null)],
            UpdateMode::IfVersion(v1),
            write(3_000, user),
        )
        .await
        .unwrap();
    let UpdateOutcome::Updated(row) = matched else {
        panic!("{matched:?}")
    };
    assert_eq!(cell(&row, "name"), &text("Renamed"));
    assert_eq!(cell(&row, "address1_city"), &Cell::Null);
    assert_eq!(cell(&row, "numberofemployees"), &Cell::Int(5), "untouched");
    assert!(version(&row) > v1);

    let upsert_existing = store
        .update_row(
            t.clone(),
            id,
            vec![("numberofemployees", Cell::Int(6))],
            UpdateMode::Upsert,
            write(4_000, user),
        )
        .await
        .unwrap();
    assert!(
        matches!(&upsert_existing, UpdateOutcome::Updated(r) if cell(r, "numberofemployees") == &Cell::Int(6)),
        "{upsert_existing:?}"
    );
}

/// Every write gives the row a higher version and sets `modifiedon`; `createdon` and
/// `createdby` stay as the create set them, whoever updates.
pub async fn every_write_bumps_version_and_modifiedon(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    let creator = UserId::new_random();
    let editor = UserId::new_random();
    let (id, values) = account("Versioned");
    let mut last = insert(store, &t, values, write(0, creator)).await;
    for i in 1..=5 {
        let outcome = store
            .update_row(
                t.clone(),
                id,
                vec![("numberofemployees", Cell::Int(i))],
                UpdateMode::MustExist,
                write(i * 1_000, editor),
            )
            .await
            .unwrap();
        let UpdateOutcome::Updated(row) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(version(&row) > version(&last), "write {i}");
        assert_eq!(cell(&row, "modifiedon"), &Cell::DateTime(at(i * 1_000)));
        assert_eq!(cell(&row, "createdon"), &Cell::DateTime(at(0)));
        assert_eq!(cell(&row, "createdby"), &Cell::Guid(creator.0));
        last = row;
    }
    // Other rows' writes interleave; versions still only grow.
    let (other, values) = account("Other");
    let other_row = insert(store, &t, values, write(10_000, creator)).await;
    assert!(version(&other_row) > version(&last));
    let outcome = store
        .update_row(
            t.clone(),
            id,
            Vec::new(),
            UpdateMode::Upsert,
            write(11_000, editor),
        )
        .await
        .unwrap();
    let UpdateOutcome::Updated(row) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        version(&row) > version(&other_row),
        "an empty update still bumps"
    );
    assert_eq!(cell(&row, "modifiedon"), &Cell::DateTime(at(11_000)));
    let _ = other;
}

/// Delete: a missing row is not found, a stale version changes nothing, and both an unguarded
/// and a matching-version delete remove the row.
pub async fn delete_modes(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    let user = UserId::new_random();
    let ids = accounts(store, vec![("A", vec![]), ("B", vec![])]).await;
    let missing = store.delete_row(t.clone(), Uuid::new_v4(), None).await;
    assert_eq!(missing.unwrap(), DeleteOutcome::NotFound);
    let missing = store.delete_row(t.clone(), Uuid::new_v4(), Some(1)).await;
    assert_eq!(missing.unwrap(), DeleteOutcome::NotFound);

    let a = store.get_row(t.clone(), ids[0]).await.unwrap().unwrap();
    let stale = store
        .delete_row(t.clone(), ids[0], Some(version(&a) + 1))
        .await;
    assert_eq!(stale.unwrap(), DeleteOutcome::VersionMismatch);
    assert!(store.get_row(t.clone(), ids[0]).await.unwrap().is_some());
    let ok = store.delete_row(t.clone(), ids[0], Some(version(&a))).await;
    assert_eq!(ok.unwrap(), DeleteOutcome::Deleted);
    assert_eq!(store.get_row(t.clone(), ids[0]).await.unwrap(), None);

    let ok = store.delete_row(t.clone(), ids[1], None).await;
    assert_eq!(ok.unwrap(), DeleteOutcome::Deleted);
    let again = store.delete_row(t.clone(), ids[1], None).await;
    assert_eq!(again.unwrap(), DeleteOutcome::NotFound);
    assert_eq!(store.count_rows(t.clone(), None).await.unwrap(), 0);

    // The id is free again.
    let values = vec![("accountid", Cell::Guid(ids[1])), ("name", text("B again"))];
    insert(store, &t, values, write(5, user)).await;
}
