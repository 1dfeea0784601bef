//! The directory of SPEC §10 as the store keeps it: users, their API keys (hashes only), roles,
//! the privileges roles grant at a depth, and which users hold which roles. Every backend
//! implements [`SecurityStore`]; the conformance cases in `conformance/security.rs` hold them to
//! the same behaviour.

use async_trait::async_trait;
use bgops_core::security::Grants;
use bgops_core::{Timestamp, UserId};
use uuid::Uuid;

use crate::store::SystemUser;
use crate::StoreError;

/// A user and the key that authenticated them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLogin {
    /// The key's owner (enabled).
    pub user: SystemUser,
    /// `bgops_apikeyid`.
    pub key_id: Uuid,
    /// When the key was last recorded as used, so the caller can throttle that write.
    pub last_used: Option<Timestamp>,
}

/// A user to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    /// `systemuserid`.
    pub id: UserId,
    /// `fullname`.
    pub full_name: String,
    /// `internalemailaddress`.
    pub email: Option<String>,
    /// `azureactivedirectoryobjectid`: the Entra object id `CallerObjectId` and tokens name.
    pub object_id: Option<Uuid>,
    /// Roles to give the user (ids).
    pub roles: Vec<Uuid>,
}

/// What [`SecurityStore::create_user`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateUserOutcome {
    /// The user exists now.
    Created,
    /// A user with this id or Entra object id exists already; nothing was written.
    Duplicate,
    /// A role named does not exist; nothing was written.
    UnknownRole(Uuid),
}

/// A user as listings show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSummary {
    /// `systemuserid`.
    pub id: UserId,
    /// `fullname`.
    pub full_name: String,
    /// `internalemailaddress`.
    pub email: Option<String>,
    /// `azureactivedirectoryobjectid`.
    pub object_id: Option<Uuid>,
    /// `isdisabled`.
    pub disabled: bool,
    /// The names of the user's roles, sorted.
    pub roles: Vec<String>,
}

/// An API key to store; its secret never reaches the store, only `hash`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApiKey {
    /// `bgops_apikeyid`.
    pub id: Uuid,
    /// The owner.
    pub user: UserId,
    /// A name to tell keys apart (`ci`, `laptop`).
    pub name: String,
    /// Hex SHA-256 of the key.
    pub hash: String,
    /// When it stops working, if ever.
    pub expires: Option<Timestamp>,
}

/// An API key as listings show it (never its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// `bgops_apikeyid`.
    pub id: Uuid,
    /// The owner.
    pub user: UserId,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created: Timestamp,
    /// When it stops working, if ever.
    pub expires: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked: Option<Timestamp>,
    /// When it was last used (kept at most once a minute).
    pub last_used: Option<Timestamp>,
}

/// A privilege a role holds at a depth, as the built-in roles are seeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleGrant {
    /// The role.
    pub role: Uuid,
    /// The privilege's name.
    pub privilege: String,
    /// Dataverse's `privilegedepthmask` (1 Basic, 8 Global).
    pub depth_mask: i64,
}

/// What a change of a user's roles did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleLink {
    /// The association was added or removed.
    Changed,
    /// It was already so; nothing was written.
    Unchanged,
    /// No such user.
    NoUser,
    /// No such role.
    NoRole,
}

/// The directory: users, keys, roles and privileges.
#[async_trait]
pub trait SecurityStore: Send + Sync {
    /// Stores every privilege in `privileges` (ids derived from the names, so every node and
    /// backend agrees) and the built-in roles' `grants`, adding what is missing and changing
    /// nothing that exists. Called at every start.
    async fn ensure_security_model(
        &self,
        privileges: Vec<String>,
        grants: Vec<RoleGrant>,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// The enabled user whose unrevoked, unexpired (at `now`) API key hashes to `key_hash`.
    async fn authenticate_key(
        &self,
        key_hash: &str,
        now: Timestamp,
    ) -> Result<Option<KeyLogin>, StoreError>;

    /// Records that a key was used at `now` (callers write this at most once a minute).
    async fn touch_key(&self, key: Uuid, now: Timestamp) -> Result<(), StoreError>;

    /// What the roles of `user` grant (empty for an unknown user).
    async fn user_grants(&self, user: UserId) -> Result<Grants, StoreError>;

    /// The enabled user with this id.
    async fn find_enabled_user(&self, id: UserId) -> Result<Option<SystemUser>, StoreError>;

    /// Creates a user holding `user.roles`, all or nothing.
    async fn create_user(
        &self,
        user: NewUser,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<CreateUserOutcome, StoreError>;

    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<UserSummary>, StoreError>;

    /// Disables (or enables) a user; returns whether the user exists. A disabled user's keys and
    /// tokens stop working.
    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Stores a key; returns false (storing nothing) when its user does not exist.
    async fn create_key(&self, key: NewApiKey, now: Timestamp) -> Result<bool, StoreError>;

    /// The keys of `user`, or of every user, oldest first.
    async fn list_keys(&self, user: Option<UserId>) -> Result<Vec<ApiKeyInfo>, StoreError>;

    /// Revokes a key at `now`; returns whether an unrevoked key with this id existed.
    async fn revoke_key(&self, id: Uuid, now: Timestamp) -> Result<bool, StoreError>;

    /// The role called `name` (case-insensitive in ASCII).
    async fn find_role(&self, name: &str) -> Result<Option<Uuid>, StoreError>;

    /// Gives `user` the role (`systemuserroles_association`).
    async fn associate_role(
        &self,
        user: UserId,
        role: Uuid,
        by: Option<UserId>,
        now: Timestamp,
    ) -> Result<RoleLink, StoreError>;

    /// Takes the role from `user`.
    async fn disassociate_role(&self, user: UserId, role: Uuid) -> Result<RoleLink, StoreError>;
}

/// The id of a privilege: derived from its name, so every node and backend agrees.
pub fn privilege_id(name: &str) -> Uuid {
    Uuid::new_v5(&PRIVILEGE_NAMESPACE, name.as_bytes())
}

/// The namespace of privilege ids.
const PRIVILEGE_NAMESPACE: Uuid = uuid::uuid!("2f0f5b8e-3c1d-4f7a-8a1e-5d6b7c8d9e0f");

/// The id of a built-in role's grant: derived from the role and the privilege.
pub fn role_grant_id(role: Uuid, privilege: &str) -> Uuid {
    Uuid::new_v5(&role, privilege.as_bytes())
}
