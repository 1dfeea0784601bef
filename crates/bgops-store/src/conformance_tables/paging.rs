//! Cases: ordering, selected columns, keyset pages and counts.

use super::*;

/// Ascending puts nulls first, descending last; text sorts without case; the primary key
/// breaks ties.
pub async fn ordering_puts_nulls_first_ascending_last_descending(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    let ids = accounts(
        store,
        vec![
            ("1", vec![("address1_city", text("berlin"))]),
            ("2", vec![("address1_city", text("Amsterdam"))]),
            ("3", vec![]),
            ("4", vec![("address1_city", text("Copenhagen"))]),
            ("5", vec![("address1_city", text("BERLIN"))]),
            ("6", vec![]),
        ],
    )
    .await;
    let by_id = |a: usize, b: usize| {
        if ids[a] < ids[b] {
            [a, b]
        } else {
            [b, a]
        }
    };
    let ids = &ids;
    let nulls = by_id(2, 5);
    let berlins = by_id(0, 4);
    let order = |desc: bool| {
        let t = t.clone();
        async move {
            let p = plan(&t, &["name"], None, &[("address1_city", desc)]);
            all(store, &t, p)
                .await
                .iter()
                .map(|r| match cell(r, "accountid") {
                    Cell::Guid(id) => ids.iter().position(|x| x == id).unwrap(),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        }
    };
    let asc = [nulls[0], nulls[1], 1, berlins[0], berlins[1], 3];
    assert_eq!(order(false).await, asc);
    let desc = [3, berlins[0], berlins[1], 1, nulls[0], nulls[1]];
    assert_eq!(order(true).await, desc, "ties still by ascending key");
}

/// A page carries the selected columns in table order (not the order-by columns it was not
/// asked for) and, per row, its keyset position: the order-by values, primary key last.
pub async fn selected_columns_in_table_order_with_keys(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    let ids = accounts(
        store,
        vec![("b", vec![("address1_city", text("X"))]), ("a", vec![])],
    )
    .await;
    let p = plan(
        &t,
        &["numberofemployees", "name"],
        None,
        &[("address1_city", true)],
    );
    let page = store
        .query_rows(
            t.clone(),
            p,
            PageRequest {
                size: 1,
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(page.more);
    assert_eq!(
        page.rows,
        [vec![
            ("accountid", Cell::Guid(ids[0])),
            ("name", text("b")),
            ("numberofemployees", Cell::Null),
        ]]
    );
    assert_eq!(page.keys, [vec![text("X"), Cell::Guid(ids[0])]]);
}

/// 12,000 accounts read in pages of 5,000: every row exactly once, in order, by key alone, by a
/// nullable repeated text column descending, by a decimal, and under a filter.
pub async fn keyset_paging_through_12000_rows(store: Arc<dyn Store>) {
    const N: usize = 12_000;
    let t = table("account");
    let user = UserId::new_random();
    let cities = ["Paris", "paris", "Berlin", "Amsterdam", "zurich", "Oslo"];
    let mut tasks = Vec::with_capacity(N);
    for i in 0..N {
        let store = store.clone();
        let t = t.clone();
        let (id, mut values) = account(&format!("account {i:05}"));
        if i % 7 != 0 {
            values.push(("address1_city", text(cities[i % cities.len()])));
        }
        if i % 5 != 0 {
            values.push(("revenue", dec(&format!("{}.{:02}", i % 1000, i % 100))));
        }
        values.push(("numberofemployees", Cell::Int((i % 3) as i64)));
        tasks.push(tokio::spawn(async move {
            insert(&*store, &t, values, write(i as i64, user)).await;
            id
        }));
    }
    let mut all_ids = HashSet::with_capacity(N);
    for task in tasks {
        all_ids.insert(task.await.expect("insert task"));
    }
    assert_eq!(store.count_rows(t.clone(), None).await.unwrap(), N as u64);

    let orders: [&[(&str, bool)]; 4] = [
        &[],
        &[("address1_city", true)],
        &[("address1_city", false), ("name", true)],
        &[("revenue", false)],
    ];
    for orderby in orders {
        let p = plan(&t, &["name"], None, orderby);
        let read = pages(&*store, &t, &p, 5_000).await;
        assert_eq!(
            read.iter().map(|p| p.rows.len()).collect::<Vec<_>>(),
            [5_000, 5_000, 2_000],
            "{orderby:?}"
        );
        let keys: Vec<Vec<Cell>> = read.iter().flat_map(|p| p.keys.clone()).collect();
        let mut descending: Vec<bool> = orderby.iter().map(|(_, d)| *d).collect();
        descending.push(false);
        assert_strictly_ordered(&keys, &descending);
        let seen: HashSet<Uuid> = read
            .iter()
            .flat_map(|p| &p.rows)
            .map(|r| match cell(r, "accountid") {
                Cell::Guid(id) => *id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(seen, all_ids, "every row exactly once ({orderby:?})");
    }

    let filter = eq(&t, "numberofemployees", Cell::Int(1));
    let p = plan(
        &t,
        &["name"],
        Some(filter.clone()),
        &[("address1_city", true)],
    );
    let read = pages(&*store, &t, &p, 1_000).await;
    let rows: usize = read.iter().map(|p| p.rows.len()).sum();
    assert_eq!(rows, N / 3);
    assert_eq!(
        store.count_rows(t, Some(filter)).await.unwrap(),
        (N / 3) as u64
    );
}

/// Small pages over every direction combination of two columns with nulls and case-only
/// differences give the same rows, in the same order, as one big page.
pub async fn keyset_paging_across_mixed_orders(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    let cities = [None, Some("a"), Some("A"), Some("b")];
    let employees = [None, Some(1), Some(2)];
    let mut rows = Vec::new();
    for (i, city) in cities.iter().enumerate() {
        for (j, n) in employees.iter().enumerate() {
            for k in 0..2 {
                let mut extra = Vec::new();
                if let Some(c) = city {
                    extra.push(("address1_city", text(c)));
                }
                if let Some(n) = n {
                    extra.push(("numberofemployees", Cell::Int(*n)));
                }
                rows.push((format!("{i}{j}{k}"), extra));
            }
        }
    }
    let rows: Vec<(&str, Row)> = rows.iter().map(|(n, e)| (n.as_str(), e.clone())).collect();
    accounts(store, rows).await;
    for city_desc in [false, true] {
        for n_desc in [false, true] {
            let orderby = [("address1_city", city_desc), ("numberofemployees", n_desc)];
            let p = plan(&t, &["name"], None, &orderby);
            let whole = all(store, &t, p.clone()).await;
            for size in [1, 2, 5] {
                let paged: Vec<Row> = pages(store, &t, &p, size)
                    .await
                    .into_iter()
                    .flat_map(|p| p.rows)
                    .collect();
                assert_eq!(paged, whole, "{orderby:?} in pages of {size}");
            }
            let keys: Vec<Vec<Cell>> = pages(store, &t, &p, 100)
                .await
                .into_iter()
                .flat_map(|p| p.keys)
                .collect();
            assert_strictly_ordered(&keys, &[city_desc, n_desc, false]);
        }
    }
}

/// `count_rows` counts the rows a filter matches, all rows without one.
pub async fn count_rows_counts_matches(store: Arc<dyn Store>) {
    let store = &*store;
    let t = table("account");
    assert_eq!(store.count_rows(t.clone(), None).await.unwrap(), 0);
    accounts(
        store,
        vec![
            ("a", vec![("creditonhold", Cell::Bool(true))]),
            ("b", vec![("creditonhold", Cell::Bool(false))]),
            ("c", vec![]),
        ],
    )
    .await;
    assert_eq!(store.count_rows(t.clone(), None).await.unwrap(), 3);
    let on_hold = eq(&t, "creditonhold", Cell::Bool(true));
    assert_eq!(store.count_rows(t.clone(), Some(on_hold)).await.unwrap(), 1);
    let none = eq(&t, "name", text("zzz"));
    assert_eq!(store.count_rows(t, Some(none)).await.unwrap(), 0);
}
