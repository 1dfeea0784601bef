//! Cases: `$filter` conditions of every kind.

use super::*;

/// Every operator on integer, choice, boolean, date, lookup and text columns.
pub async fn compare_every_column_type(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("contact");
    let user = UserId::new_random();
    let parent = Uuid::new_v4();
    for (i, last) in ["A", "B", "C", "D"].iter().enumerate() {
        let i = i as i64;
        let mut row: Row = vec![
            ("contactid", Cell::Guid(Uuid::new_v4())),
            ("lastname", text(last)),
            ("birthdate", Cell::DateTime(at(i * 86_400_000))),
            ("donotemail", Cell::Bool(i % 2 == 0)),
            ("statecode", Cell::Int(i % 2)),
        ];
        if i < 2 {
            row.push(("parentcustomerid", Cell::Guid(parent)));
        }
        insert(store, &t, row, write(i, user)).await;
    }
    let last_names = |f: Filter| {
        let t = t.clone();
        async move {
            let p = plan(&t, &["lastname"], Some(f), &[("lastname", false)]);
            all(store, &t, p)
                .await
                .iter()
                .map(|r| match cell(r, "lastname") {
                    Cell::Text(s) => s.clone(),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("")
        }
    };
    let day = |d: i64| Cell::DateTime(at(d * 86_400_000));
    let cases = [
        (cmp(&t, "birthdate", CmpOp::Eq, day(1)), "B"),
        (cmp(&t, "birthdate", CmpOp::Ne, day(1)), "ACD"),
        (cmp(&t, "birthdate", CmpOp::Gt, day(1)), "CD"),
        (cmp(&t, "birthdate", CmpOp::Ge, day(1)), "BCD"),
        (cmp(&t, "birthdate", CmpOp::Lt, day(1)), "A"),
        (cmp(&t, "birthdate", CmpOp::Le, day(1)), "AB"),
        (eq(&t, "donotemail", Cell::Bool(true)), "AC"),
        (cmp(&t, "donotemail", CmpOp::Ne, Cell::Bool(true)), "BD"),
        (eq(&t, "statecode", Cell::Int(1)), "BD"),
        (cmp(&t, "statecode", CmpOp::Lt, Cell::Int(1)), "AC"),
        (eq(&t, "parentcustomerid", Cell::Guid(parent)), "AB"),
        (eq(&t, "parentcustomerid", Cell::Guid(Uuid::new_v4())), ""),
        (cmp(&t, "lastname", CmpOp::Gt, text("b")), "CD"),
        (cmp(&t, "lastname", CmpOp::Le, text("c")), "ABC"),
    ];
    for (f, expected) in cases {
        assert_eq!(last_names(f.clone()).await, expected, "{f:?}");
    }
}

/// Text equality and ordering comparisons ignore case, like Dataverse.
pub async fn text_comparisons_ignore_case(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    accounts(store, vec![("Contoso", vec![]), ("Fabrikam", vec![])]).await;
    assert_eq!(
        names(store, eq(&t, "name", text("CONTOSO"))).await,
        ["Contoso"]
    );
    assert_eq!(
        names(store, eq(&t, "name", text("contoso"))).await,
        ["Contoso"]
    );
    assert_eq!(
        names(store, cmp(&t, "name", CmpOp::Ne, text("CONTOSO"))).await,
        ["Fabrikam"]
    );
    assert_eq!(
        names(store, cmp(&t, "name", CmpOp::Gt, text("d"))).await,
        ["Fabrikam"]
    );
    for (func, s) in [
        (StrFn::Contains, "NTOS"),
        (StrFn::StartsWith, "cont"),
        (StrFn::EndsWith, "OSO"),
    ] {
        assert_eq!(
            names(store, str_fn(&t, func, "name", s)).await,
            ["Contoso"],
            "{func:?}"
        );
    }
}

/// Case is ignored for every letter, not only ASCII (as Dataverse does): both sides are
/// lower-cased with Unicode's full mapping, then compared code point by code point, so accents
/// still count and non-ASCII text sorts after ASCII (not in a language's order).
pub async fn text_comparisons_fold_every_letter(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    accounts(
        store,
        vec![
            ("Äpfel", vec![]),
            ("École", vec![]),
            ("ÖL", vec![]),
            ("zebra", vec![]),
            ("ΟΔΟΣ", vec![]),
        ],
    )
    .await;
    for (value, expected) in [
        ("äpfel", &["Äpfel"][..]),
        ("ÄPFEL", &["Äpfel"]),
        ("école", &["École"]),
        ("ÉCOLE", &["École"]),
        ("ECOLE", &[]),
        ("öl", &["ÖL"]),
        ("οδος", &["ΟΔΟΣ"]),
    ] {
        assert_eq!(
            names(store, eq(&t, "name", text(value))).await,
            expected,
            "eq {value}"
        );
    }
    assert_eq!(
        names(store, cmp(&t, "name", CmpOp::Ne, text("äPFEL"))).await,
        ["zebra", "École", "ÖL", "ΟΔΟΣ"],
        "code point order after lower-casing"
    );
    assert_eq!(
        names(store, cmp(&t, "name", CmpOp::Gt, text("Z"))).await,
        ["zebra", "Äpfel", "École", "ÖL", "ΟΔΟΣ"]
    );
    assert_eq!(
        names(store, cmp(&t, "name", CmpOp::Lt, text("ö"))).await,
        ["zebra", "Äpfel", "École"]
    );
    for (func, s, expected) in [
        (StrFn::Contains, "PF", &["Äpfel"][..]),
        (StrFn::StartsWith, "é", &["École"]),
        (StrFn::StartsWith, "äP", &["Äpfel"]),
        (StrFn::EndsWith, "öl", &["ÖL"]),
        (StrFn::Contains, "ΔΟ", &["ΟΔΟΣ"]),
        (StrFn::Contains, "e", &["zebra", "Äpfel", "École"]),
    ] {
        assert_eq!(
            names(store, str_fn(&t, func, "name", s)).await,
            expected,
            "{func:?} {s}"
        );
    }
}

/// `%`, `_` and `\` in a contains/startswith/endswith text are matched literally.
pub async fn text_functions_match_literally(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    accounts(
        store,
        vec![
            ("500", vec![]),
            ("50% off", vec![]),
            ("a_b", vec![]),
            ("axb", vec![]),
            ("back\\slash", vec![]),
            ("backslash", vec![]),
        ],
    )
    .await;
    let cases: [(StrFn, &str, &[&str]); 7] = [
        (StrFn::Contains, "50%", &["50% off"]),
        (StrFn::StartsWith, "50%", &["50% off"]),
        (StrFn::Contains, "%", &["50% off"]),
        (StrFn::Contains, "_", &["a_b"]),
        (StrFn::EndsWith, "_b", &["a_b"]),
        (StrFn::Contains, "k\\s", &["back\\slash"]),
        (
            StrFn::Contains,
            "",
            &["50% off", "500", "a_b", "axb", "back\\slash", "backslash"],
        ),
    ];
    for (func, s, expected) in cases {
        assert_eq!(
            names(store, str_fn(&t, func, "name", s)).await,
            expected,
            "{func:?} {s}"
        );
    }
}

/// Quotes, comment markers and SQL in values are stored and matched as plain data.
pub async fn quotes_and_sql_in_values_are_data(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    let evil = "x' OR 1=1 --";
    let drop = "'); DROP TABLE account; --";
    accounts(
        store,
        vec![
            ("x", vec![]),
            (evil, vec![]),
            (drop, vec![]),
            ("O'Brien", vec![]),
        ],
    )
    .await;
    assert_eq!(names(store, eq(&t, "name", text(evil))).await, [evil]);
    assert_eq!(names(store, eq(&t, "name", text(drop))).await, [drop]);
    assert_eq!(
        names(store, str_fn(&t, StrFn::Contains, "name", "' OR '1'='1")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(store, str_fn(&t, StrFn::StartsWith, "name", "o'b")).await,
        ["O'Brien"]
    );
    assert_eq!(store.count_rows(t, None).await.unwrap(), 4);
}

/// `eq null`/`ne null` test for null; `ne value`, `not (eq value)` and ordering comparisons
/// never match a null column (SQL's rule).
pub async fn null_semantics(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    accounts(
        store,
        vec![
            ("Has city", vec![("address1_city", text("Oslo"))]),
            ("Other city", vec![("address1_city", text("Rome"))]),
            ("No city", vec![]),
        ],
    )
    .await;
    assert_eq!(
        names(store, is_null(&t, "address1_city", false)).await,
        ["No city"]
    );
    assert_eq!(
        names(store, is_null(&t, "address1_city", true)).await,
        ["Has city", "Other city"]
    );
    assert_eq!(
        names(store, cmp(&t, "address1_city", CmpOp::Ne, text("Oslo"))).await,
        ["Other city"]
    );
    assert_eq!(
        names(store, not(eq(&t, "address1_city", text("Oslo")))).await,
        ["Other city"]
    );
    assert_eq!(
        names(store, cmp(&t, "address1_city", CmpOp::Lt, text("zzz"))).await,
        ["Has city", "Other city"]
    );
    assert_eq!(
        names(
            store,
            or(
                is_null(&t, "address1_city", false),
                eq(&t, "address1_city", text("rome"))
            )
        )
        .await,
        ["No city", "Other city"]
    );
}

/// Money and decimal columns compare as numbers, whatever their text looks like.
pub async fn decimals_compare_as_numbers(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    accounts(
        store,
        vec![
            ("nine", vec![("revenue", dec("9.75"))]),
            ("ten", vec![("revenue", dec("10.50"))]),
            ("hundred", vec![("revenue", dec("100"))]),
            ("negative", vec![("revenue", dec("-2.5"))]),
            ("none", vec![]),
        ],
    )
    .await;
    let r = |op, v: &str| cmp(&t, "revenue", op, dec(v));
    assert_eq!(names(store, r(CmpOp::Eq, "10.5")).await, ["ten"]);
    assert_eq!(names(store, r(CmpOp::Eq, "1.05e1")).await, ["ten"]);
    assert_eq!(names(store, r(CmpOp::Gt, "9.8")).await, ["hundred", "ten"]);
    assert_eq!(
        names(store, r(CmpOp::Ge, "9.75")).await,
        ["hundred", "nine", "ten"]
    );
    assert_eq!(names(store, r(CmpOp::Lt, "0")).await, ["negative"]);
    assert_eq!(
        names(store, r(CmpOp::Ne, "100")).await,
        ["negative", "nine", "ten"]
    );
    let integer = cmp(&t, "revenue", CmpOp::Le, Cell::Int(10));
    assert_eq!(names(store, integer).await, ["negative", "nine"]);

    let p = plan(&t, &["name", "revenue"], None, &[("revenue", true)]);
    let ordered: Vec<Cell> = all(store, &t, p)
        .await
        .iter()
        .map(|r| cell(r, "revenue").clone())
        .collect();
    assert_eq!(
        ordered,
        [
            dec("100"),
            dec("10.50"),
            dec("9.75"),
            dec("-2.5"),
            Cell::Null
        ],
        "numeric order, exact text kept"
    );
}

/// `and`, `or`, `not` nest as written; two columns of a row compare with each other (text
/// without case, decimals as numbers).
pub async fn and_or_not_and_column_comparisons(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    accounts(
        store,
        vec![
            (
                "a",
                vec![
                    ("numberofemployees", Cell::Int(1)),
                    ("address1_city", text("Oslo")),
                    ("address1_country", text("OSLO")),
                    ("revenue", dec("5")),
                    ("creditlimit", dec("10")),
                ],
            ),
            (
                "b",
                vec![
                    ("numberofemployees", Cell::Int(2)),
                    ("address1_city", text("Rome")),
                    ("address1_country", text("Italy")),
                    ("revenue", dec("20")),
                    ("creditlimit", dec("3")),
                ],
            ),
            ("c", vec![("numberofemployees", Cell::Int(3))]),
        ],
    )
    .await;
    let n = |op, v| cmp(&t, "numberofemployees", op, Cell::Int(v));
    assert_eq!(
        names(store, and(n(CmpOp::Ge, 2), n(CmpOp::Le, 2))).await,
        ["b"]
    );
    assert_eq!(
        names(store, or(n(CmpOp::Eq, 1), n(CmpOp::Eq, 3))).await,
        ["a", "c"]
    );
    assert_eq!(names(store, not(n(CmpOp::Eq, 2))).await, ["a", "c"]);
    // a and (b or c) differs from (a and b) or c.
    let grouped = and(n(CmpOp::Eq, 1), or(n(CmpOp::Eq, 2), n(CmpOp::Eq, 3)));
    assert_eq!(names(store, grouped).await, Vec::<String>::new());
    let grouped = or(and(n(CmpOp::Eq, 1), n(CmpOp::Eq, 2)), n(CmpOp::Eq, 3));
    assert_eq!(names(store, grouped).await, ["c"]);
    let nested = not(or(n(CmpOp::Eq, 1), not(n(CmpOp::Lt, 3))));
    assert_eq!(names(store, nested).await, ["b"]);

    let columns = |left: &str, op, right: &str| Filter::CompareColumns {
        left: col(&t, left),
        op,
        right: col(&t, right),
    };
    assert_eq!(
        names(
            store,
            columns("address1_city", CmpOp::Eq, "address1_country")
        )
        .await,
        ["a"]
    );
    assert_eq!(
        names(
            store,
            columns("address1_city", CmpOp::Ne, "address1_country")
        )
        .await,
        ["b"]
    );
    assert_eq!(
        names(store, columns("creditlimit", CmpOp::Gt, "revenue")).await,
        ["a"],
        "10 > 5 as numbers, though '10' < '5' as text"
    );
}
