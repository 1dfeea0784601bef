//! Users signed in by an identity provider: found and provisioned by (tenant, object id).

use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::Cell;
use bgops_core::UserId;

use super::{t, TestDatabase};
use crate::{
    ExternalIdentity, ExternalUser, InsertOutcome, NewExternalUser, UpdateMode, UpdateOutcome,
    WriteContext,
};

fn identity(tenant: &str, object_id: &str) -> ExternalIdentity {
    ExternalIdentity {
        tenant: tenant.to_owned(),
        object_id: object_id.to_owned(),
    }
}

fn new_user(name: &str) -> NewExternalUser {
    NewExternalUser {
        full_name: name.to_owned(),
        domain_name: Some(format!("{name}@contoso.example")),
    }
}

const TENANT_A: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TENANT_B: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
const OID_1: &str = "2a4b1c0e-5d3f-4e6a-8b7c-9d0e1f2a3b4c";
const OID_2: &str = "6e5d4c3b-2a19-4807-b6a5-f4e3d2c1b0a9";

/// A first sign-in creates one non-administrator; later ones find it; the same object id in
/// another tenant is another user; a user disabled stays disabled and is not created anew; a
/// row an administrator made with only the object id is found from any tenant, after the
/// rows of the tenant itself.
pub async fn external_users_are_found_and_provisioned_by_tenant_and_object_id(
    db: &dyn TestDatabase,
) {
    let store = db.open().await;
    let a1 = identity(TENANT_A, OID_1);
    assert_eq!(
        store
            .find_external_user(Some(TENANT_A), OID_1)
            .await
            .expect("find"),
        None
    );

    let created = match store
        .provision_external_user(&a1, new_user("Ada"), t(1_000))
        .await
        .expect("provision")
    {
        ExternalUser::Enabled(user) => user,
        other => panic!("a new user is enabled: {other:?}"),
    };
    assert_eq!(created.full_name, "Ada");
    assert!(!created.is_system_administrator);
    assert_eq!(
        store.find_user(created.id).await.expect("find_user"),
        Some(created.clone())
    );
    assert_eq!(
        store
            .find_external_user(Some(TENANT_A), OID_1)
            .await
            .expect("find"),
        Some(ExternalUser::Enabled(created.clone()))
    );
    let again = store
        .provision_external_user(&a1, new_user("Someone Else"), t(2_000))
        .await
        .expect("provision again");
    assert_eq!(
        again,
        ExternalUser::Enabled(created.clone()),
        "one user per identity"
    );

    // The same object id in another tenant is another user.
    let b1 = identity(TENANT_B, OID_1);
    assert_eq!(
        store
            .find_external_user(Some(TENANT_B), OID_1)
            .await
            .expect("find"),
        None
    );
    let other = match store
        .provision_external_user(&b1, new_user("Bob"), t(3_000))
        .await
        .expect("provision")
    {
        ExternalUser::Enabled(user) => user,
        other => panic!("{other:?}"),
    };
    assert_ne!(other.id, created.id);

    // Disabled: found as disabled, and provisioning does not make a new user.
    let table = Catalogue::standard()
        .by_logical_name("systemuser")
        .expect("systemuser table");
    let ctx = WriteContext {
        now: t(4_000),
        user: created.id,
    };
    let updated = store
        .update_row(
            table.clone(),
            created.id.0,
            vec![("isdisabled", Cell::Bool(true))],
            UpdateMode::MustExist,
            ctx,
        )
        .await
        .expect("disable");
    assert!(matches!(updated, UpdateOutcome::Updated(_)), "{updated:?}");
    assert_eq!(
        store
            .find_external_user(Some(TENANT_A), OID_1)
            .await
            .expect("find"),
        Some(ExternalUser::Disabled(created.id))
    );
    assert_eq!(
        store
            .provision_external_user(&a1, new_user("Ada"), t(5_000))
            .await
            .expect("provision"),
        ExternalUser::Disabled(created.id)
    );

    // A row made by an administrator with only the object id matches it from any tenant.
    let made_id = UserId::new_random();
    let made = store
        .insert_row(
            table,
            vec![
                ("systemuserid", Cell::Guid(made_id.0)),
                ("fullname", Cell::Text("Made By Admin".into())),
                (
                    "azureactivedirectoryobjectid",
                    Cell::guid(OID_2).expect("guid"),
                ),
            ],
            ctx,
        )
        .await
        .expect("insert");
    assert!(matches!(made, InsertOutcome::Created(_)), "{made:?}");
    for tenant in [TENANT_A, TENANT_B] {
        match store
            .provision_external_user(&identity(tenant, OID_2), new_user("Eve"), t(6_000))
            .await
            .expect("provision")
        {
            ExternalUser::Enabled(user) => {
                assert_eq!(user.id, made_id);
                assert_eq!(user.full_name, "Made By Admin");
            }
            other => panic!("{other:?}"),
        }
    }
}
