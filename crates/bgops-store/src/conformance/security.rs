//! The directory of SPEC §10: API keys (expiry, revocation, last use), disabled users, roles and
//! the privileges they grant at a depth.

use bgops_core::security::{
    Depth, Privilege, Verb, BASIC_USER_ROLE, DELEGATE_ROLE, SYSTEM_ADMINISTRATOR_ROLE,
};
use bgops_core::UserId;
use uuid::Uuid;

use super::{t, TestDatabase};
use crate::{
    AdminKey, CreateUserOutcome, ExternalUser, NewApiKey, NewUser, RoleGrant, RoleLink, Store,
};

fn model() -> (Vec<String>, Vec<RoleGrant>) {
    let privileges = vec![
        "prvReadbackgroundoperation".to_owned(),
        "prvWritebackgroundoperation".to_owned(),
        "prvReadaccount".to_owned(),
        "prvActOnBehalfOfAnotherUser".to_owned(),
    ];
    let grants = vec![
        RoleGrant {
            role: BASIC_USER_ROLE,
            privilege: "prvReadbackgroundoperation".into(),
            depth_mask: 1,
        },
        RoleGrant {
            role: BASIC_USER_ROLE,
            privilege: "prvWritebackgroundoperation".into(),
            depth_mask: 1,
        },
        RoleGrant {
            role: DELEGATE_ROLE,
            privilege: "prvActOnBehalfOfAnotherUser".into(),
            depth_mask: 8,
        },
        RoleGrant {
            role: SYSTEM_ADMINISTRATOR_ROLE,
            privilege: "prvReadaccount".into(),
            depth_mask: 8,
        },
    ];
    (privileges, grants)
}

async fn user(store: &dyn Store, name: &str, roles: Vec<Uuid>) -> UserId {
    let id = UserId::new_random();
    let outcome = store
        .create_user(
            NewUser {
                id,
                full_name: name.to_owned(),
                email: Some(format!("{name}@example.com")),
                object_id: None,
                roles,
            },
            None,
            t(1_000),
        )
        .await
        .expect("create_user");
    assert_eq!(outcome, CreateUserOutcome::Created);
    id
}

fn key(user: UserId, name: &str, hash: &str, expires: Option<i64>) -> NewApiKey {
    NewApiKey {
        id: Uuid::new_v4(),
        user,
        name: name.to_owned(),
        hash: hash.to_owned(),
        expires: expires.map(t),
    }
}

/// Several keys per user; each authenticates until it expires or is revoked; listings never
/// show a hash; last use is recorded.
pub async fn api_keys_expire_and_revoke(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let alice = user(store, "alice", vec![BASIC_USER_ROLE]).await;
    let laptop = key(alice, "laptop", "hash-laptop", None);
    let ci = key(alice, "ci", "hash-ci", Some(5_000));
    assert!(store.create_key(laptop.clone(), t(1_000)).await.unwrap());
    assert!(store.create_key(ci.clone(), t(1_001)).await.unwrap());
    assert!(
        !store
            .create_key(key(UserId::new_random(), "x", "hash-x", None), t(1_002))
            .await
            .unwrap(),
        "a key for no user is refused"
    );

    let login = store
        .authenticate_key("hash-ci", t(4_999))
        .await
        .unwrap()
        .expect("an unexpired key works");
    assert_eq!(login.user.id, alice);
    assert_eq!(login.key_id, ci.id);
    assert!(!login.user.is_system_administrator);
    assert_eq!(login.last_used, None);
    assert_eq!(
        store.authenticate_key("hash-ci", t(5_000)).await.unwrap(),
        None,
        "a key stops working at its expiry"
    );
    assert_eq!(
        store.authenticate_key("nope", t(1_000)).await.unwrap(),
        None
    );

    store.touch_key(laptop.id, t(2_000)).await.unwrap();
    let login = store
        .authenticate_key("hash-laptop", t(2_500))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(login.last_used, Some(t(2_000)));

    assert!(store.revoke_key(laptop.id, t(3_000)).await.unwrap());
    assert!(
        !store.revoke_key(laptop.id, t(3_001)).await.unwrap(),
        "revoking twice"
    );
    assert_eq!(
        store
            .authenticate_key("hash-laptop", t(3_000))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.find_user_by_key_hash("hash-laptop").await.unwrap(),
        None
    );

    let keys = store.list_keys(Some(alice)).await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["laptop", "ci"]
    );
    assert_eq!(keys[0].revoked, Some(t(3_000)));
    assert_eq!(keys[0].last_used, Some(t(2_000)));
    assert_eq!(keys[1].expires, Some(t(5_000)));
    assert_eq!(keys[1].revoked, None);
    assert!(store
        .list_keys(Some(UserId::new_random()))
        .await
        .unwrap()
        .is_empty());
}

/// A disabled user's keys stop working; enabling them again restores them.
pub async fn disabled_users_cannot_authenticate(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let bob = user(store, "bob", vec![BASIC_USER_ROLE]).await;
    store
        .create_key(key(bob, "k", "hash-bob", None), t(1_000))
        .await
        .unwrap();
    assert!(store
        .authenticate_key("hash-bob", t(1_000))
        .await
        .unwrap()
        .is_some());
    assert!(store.set_user_disabled(bob, true, t(2_000)).await.unwrap());
    assert_eq!(
        store.authenticate_key("hash-bob", t(2_000)).await.unwrap(),
        None
    );
    assert_eq!(store.find_enabled_user(bob).await.unwrap(), None);
    assert!(
        store.find_user(bob).await.unwrap().is_some(),
        "the row stays"
    );
    let listed = store.list_users().await.unwrap();
    let row = listed.iter().find(|u| u.id == bob).expect("listed");
    assert!(row.disabled);
    assert_eq!(row.roles, ["Basic User"]);
    assert!(store.set_user_disabled(bob, false, t(3_000)).await.unwrap());
    assert!(store
        .authenticate_key("hash-bob", t(3_000))
        .await
        .unwrap()
        .is_some());
    assert!(!store
        .set_user_disabled(UserId::new_random(), true, t(3_000))
        .await
        .unwrap());
}

/// Roles grant privileges at their depth, the widest across roles wins, and the bootstrap
/// administrator holds the System Administrator role; `$ref` associations change roles.
pub async fn roles_grant_privileges_at_depth(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let (privileges, grants) = model();
    store
        .ensure_security_model(privileges.clone(), grants.clone(), t(500))
        .await
        .unwrap();
    // Idempotent: a second start (or node) adds nothing and fails on nothing.
    store
        .ensure_security_model(privileges, grants, t(600))
        .await
        .unwrap();

    let carol = user(store, "carol", vec![BASIC_USER_ROLE]).await;
    let g = store.user_grants(carol).await.unwrap();
    assert!(!g.system_administrator);
    assert_eq!(
        g.depth(&Privilege::table(Verb::Read, "backgroundoperation")),
        Some(Depth::Basic)
    );
    assert_eq!(g.depth(&Privilege::ActOnBehalfOfAnotherUser), None);

    assert_eq!(
        store
            .associate_role(carol, DELEGATE_ROLE, None, t(2_000))
            .await
            .unwrap(),
        RoleLink::Changed
    );
    assert_eq!(
        store
            .associate_role(carol, DELEGATE_ROLE, None, t(2_001))
            .await
            .unwrap(),
        RoleLink::Unchanged
    );
    let g = store.user_grants(carol).await.unwrap();
    assert_eq!(
        g.depth(&Privilege::ActOnBehalfOfAnotherUser),
        Some(Depth::Global)
    );
    assert_eq!(
        store
            .associate_role(UserId::new_random(), DELEGATE_ROLE, None, t(2_002))
            .await
            .unwrap(),
        RoleLink::NoUser
    );
    assert_eq!(
        store
            .associate_role(carol, Uuid::new_v4(), None, t(2_002))
            .await
            .unwrap(),
        RoleLink::NoRole
    );
    assert_eq!(
        store.disassociate_role(carol, DELEGATE_ROLE).await.unwrap(),
        RoleLink::Changed
    );
    assert_eq!(
        store.disassociate_role(carol, DELEGATE_ROLE).await.unwrap(),
        RoleLink::Unchanged
    );
    assert_eq!(
        store
            .user_grants(carol)
            .await
            .unwrap()
            .depth(&Privilege::ActOnBehalfOfAnotherUser),
        None
    );

    assert_eq!(
        store.find_role("system administrator").await.unwrap(),
        Some(SYSTEM_ADMINISTRATOR_ROLE)
    );
    assert_eq!(
        store.find_role("Delegate").await.unwrap(),
        Some(DELEGATE_ROLE)
    );
    assert_eq!(store.find_role("nobody").await.unwrap(), None);

    store
        .bootstrap_admin(AdminKey::Set("hash-admin".into()), t(3_000))
        .await
        .unwrap();
    let admin = store
        .authenticate_key("hash-admin", t(3_000))
        .await
        .unwrap()
        .expect("the administrator's key");
    assert!(admin.user.is_system_administrator);
    assert!(
        store
            .user_grants(admin.user.id)
            .await
            .unwrap()
            .system_administrator
    );
}

/// Users are unique by id and by Entra object id; a user with an unknown role is not created;
/// the object id finds the user for `CallerObjectId`.
pub async fn users_are_unique_and_found_by_object_id(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let oid = Uuid::new_v4();
    let id = UserId::new_random();
    let new = |id: UserId, roles: Vec<Uuid>| NewUser {
        id,
        full_name: "dave".into(),
        email: None,
        object_id: Some(oid),
        roles,
    };
    assert_eq!(
        store
            .create_user(new(id, vec![BASIC_USER_ROLE]), None, t(1_000))
            .await
            .unwrap(),
        CreateUserOutcome::Created
    );
    assert_eq!(
        store
            .create_user(new(UserId::new_random(), vec![]), None, t(1_001))
            .await
            .unwrap(),
        CreateUserOutcome::Duplicate,
        "the same object id"
    );
    let missing = Uuid::new_v4();
    let other = UserId::new_random();
    assert_eq!(
        store
            .create_user(
                NewUser {
                    object_id: None,
                    ..new(other, vec![missing])
                },
                None,
                t(1_002)
            )
            .await
            .unwrap(),
        CreateUserOutcome::UnknownRole(missing)
    );
    assert_eq!(store.find_user(other).await.unwrap(), None);
    let oid = oid.to_string();
    match store.find_external_user(None, &oid).await.unwrap() {
        Some(ExternalUser::Enabled(found)) => assert_eq!(found.id, id),
        other => panic!("by object id: {other:?}"),
    }
    store.set_user_disabled(id, true, t(2_000)).await.unwrap();
    assert_eq!(
        store.find_external_user(None, &oid).await.unwrap(),
        Some(ExternalUser::Disabled(id))
    );
}
