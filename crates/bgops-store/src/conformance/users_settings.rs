//! The bootstrap administrator and its key, and settings created once from their defaults.

use bgops_core::UserId;

use super::{t, TestDatabase};
use crate::AdminKey;

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

/// `IfAbsent` creates the bootstrap administrator once and never replaces its key.
pub async fn bootstrap_admin_if_absent(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let find = |hash: &'static str| async move {
        store
            .find_user_by_key_hash(hash)
            .await
            .expect("find_user_by_key_hash")
    };
    assert_eq!(find("hash-1").await, None);
    let created = store
        .bootstrap_admin(AdminKey::IfAbsent("hash-1".to_owned()), t(1_000))
        .await
        .expect("bootstrap_admin");
    assert!(created);
    let admin = find("hash-1").await.expect("the administrator");
    assert!(admin.is_system_administrator);
    assert!(!admin.full_name.is_empty());
    let by_id = store.find_user(admin.id).await.expect("find_user");
    assert_eq!(by_id, Some(admin.clone()));

    let again = store
        .bootstrap_admin(AdminKey::IfAbsent("hash-2".to_owned()), t(2_000))
        .await
        .expect("bootstrap_admin");
    assert!(!again, "an existing administrator keeps its key");
    assert_eq!(find("hash-1").await, Some(admin));
    assert_eq!(find("hash-2").await, None);
    assert_eq!(
        store
            .find_user(UserId::new_random())
            .await
            .expect("find_user"),
        None
    );
}

/// `Set` creates the administrator if needed and otherwise replaces its key, keeping the user.
pub async fn bootstrap_admin_set_replaces_key(db: &dyn TestDatabase) {
    let store = db.open().await;
    let store = &*store;
    let find = |hash: &'static str| async move {
        store
            .find_user_by_key_hash(hash)
            .await
            .expect("find_user_by_key_hash")
    };
    let set = |hash: &'static str| async move {
        store
            .bootstrap_admin(AdminKey::Set(hash.to_owned()), t(1_000))
            .await
            .expect("bootstrap_admin")
    };
    assert!(set("hash-1").await, "creates on an empty store");
    let admin = find("hash-1").await.expect("the administrator");
    assert!(admin.is_system_administrator);

    assert!(set("hash-2").await);
    assert_eq!(find("hash-1").await, None, "the old key no longer works");
    assert_eq!(
        find("hash-2").await,
        Some(admin.clone()),
        "same user, new key"
    );

    let kept = store
        .bootstrap_admin(AdminKey::IfAbsent("hash-3".to_owned()), t(2_000))
        .await
        .expect("bootstrap_admin");
    assert!(!kept);
    assert_eq!(find("hash-2").await, Some(admin.clone()));
    assert_eq!(find("hash-3").await, None);

    // Locked out (disabled, the role taken away): `Set` is the way back in.
    assert!(store
        .set_user_disabled(admin.id, true, t(3_000))
        .await
        .unwrap());
    store
        .disassociate_role(admin.id, bgops_core::security::SYSTEM_ADMINISTRATOR_ROLE)
        .await
        .unwrap();
    assert_eq!(find("hash-2").await, None);
    assert!(set("hash-4").await);
    assert_eq!(
        find("hash-4").await,
        Some(admin),
        "enabled, administrator again"
    );
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/// A setting is created from its default once, kept across calls and reopening, and replaced
/// only by an explicit value.
pub async fn settings_are_created_once_and_kept(db: &dyn TestDatabase) {
    let store = db.open().await;
    let first = store
        .setting("webhook_secret", None, "a".into())
        .await
        .unwrap();
    assert_eq!(first, "a");
    let again = store
        .setting("webhook_secret", None, "b".into())
        .await
        .unwrap();
    assert_eq!(
        again, "a",
        "the default applies only when nothing is stored"
    );
    let set = store
        .setting("webhook_secret", Some("c".into()), "d".into())
        .await
        .unwrap();
    assert_eq!(set, "c");
    drop(store);
    let store = db.open().await;
    assert_eq!(
        store
            .setting("webhook_secret", None, "e".into())
            .await
            .unwrap(),
        "c"
    );
    assert_eq!(store.setting("other", None, "x".into()).await.unwrap(), "x");
}
