//! The security model of SPEC §10: typed privileges, the depth a role grants them at, the
//! scope a granted privilege gives a caller, and the principal a request acts as.
//!
//! Privileges are named as Dataverse names them (`prvReadaccount`,
//! `prvActOnBehalfOfAnotherUser`); [`Privilege`] builds those names from a verb and a table so
//! no caller writes them with `format!`. [`Principal::authorize`] is the one decision: a
//! missing privilege is the Dataverse 403, a held one a [`Scope`] the service applies.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::catalogue::Catalogue;
use crate::error::{ApiError, ErrorCode};
use crate::ids::UserId;

/// What a table privilege lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Create rows.
    Create,
    /// Read rows (collections, single rows, `$count`, the status monitor).
    Read,
    /// Change rows (updates; on `backgroundoperation`, submitting and cancelling).
    Write,
    /// Delete rows.
    Delete,
}

impl Verb {
    /// Every verb, in the order privileges are listed.
    pub const ALL: [Verb; 4] = [Verb::Create, Verb::Read, Verb::Write, Verb::Delete];

    /// The verb as it appears inside a privilege name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Create => "Create",
            Verb::Read => "Read",
            Verb::Write => "Write",
            Verb::Delete => "Delete",
        }
    }
}

/// A privilege: a verb on a table, or a named privilege that is not about one table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Privilege {
    /// `prv{Verb}{table}`, e.g. `prvReadbackgroundoperation`.
    Table {
        /// What it allows.
        verb: Verb,
        /// The table's logical name.
        table: String,
    },
    /// `prvActOnBehalfOfAnotherUser`: impersonation (`MSCRMCallerID`, `CallerObjectId`).
    ActOnBehalfOfAnotherUser,
    /// Any other privilege by name: a custom API's `executeprivilegename`.
    Named(String),
}

/// The name of the impersonation privilege.
pub const ACT_ON_BEHALF: &str = "prvActOnBehalfOfAnotherUser";

impl Privilege {
    /// `verb` on `table` (a logical name).
    pub fn table(verb: Verb, table: &str) -> Self {
        Privilege::Table {
            verb,
            table: table.to_owned(),
        }
    }

    /// The privilege called `name`, typed when it is a table privilege or impersonation.
    pub fn parse(name: &str) -> Self {
        if name == ACT_ON_BEHALF {
            return Privilege::ActOnBehalfOfAnotherUser;
        }
        for verb in Verb::ALL {
            if let Some(table) = name
                .strip_prefix("prv")
                .and_then(|rest| rest.strip_prefix(verb.as_str()))
            {
                if !table.is_empty() {
                    return Privilege::table(verb, table);
                }
            }
        }
        Privilege::Named(name.to_owned())
    }

    /// The table the privilege is about, for the denial message (`None` for others).
    pub fn entity(&self) -> Option<&str> {
        match self {
            Privilege::Table { table, .. } => Some(table),
            _ => None,
        }
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Privilege::Table { verb, table } => write!(f, "prv{}{table}", verb.as_str()),
            Privilege::ActOnBehalfOfAnotherUser => f.write_str(ACT_ON_BEHALF),
            Privilege::Named(n) => f.write_str(n),
        }
    }
}

/// Every privilege an installation knows: the four table verbs on every table of `catalogue`
/// and impersonation. Stored by the store at start-up, so roles can be given any of them.
pub fn standard_privileges(catalogue: &Catalogue) -> Vec<String> {
    let mut out: Vec<String> = catalogue
        .tables()
        .iter()
        .flat_map(|t| Verb::ALL.map(|v| Privilege::table(v, t.logical_name).to_string()))
        .collect();
    out.push(ACT_ON_BEHALF.to_owned());
    out
}

/// How far a privilege reaches, as a role grants it (Dataverse's `privilegedepthmask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Depth {
    /// The rows the user owns.
    Basic,
    /// Every row.
    Global,
}

impl Depth {
    /// Dataverse's mask value (`BASIC_MASK` 1, `GLOBAL_MASK` 8).
    pub fn mask(self) -> i64 {
        match self {
            Depth::Basic => 1,
            Depth::Global => 8,
        }
    }

    /// The depth of a stored mask: the widest bit set; `None` when no bit bgops knows is set.
    /// Local (2) and Deep (4) have no business units to reach in bgops and count as Global.
    pub fn from_mask(mask: i64) -> Option<Self> {
        if mask & (2 | 4 | 8) != 0 {
            Some(Depth::Global)
        } else if mask & 1 != 0 {
            Some(Depth::Basic)
        } else {
            None
        }
    }
}

/// Which rows a granted privilege reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Only rows this user owns (see [`owner_column`]).
    Own(UserId),
    /// Every row.
    All,
}

impl Scope {
    /// Whether a row owned by `owner` is inside the scope.
    pub fn reaches(self, owner: Option<UserId>) -> bool {
        match self {
            Scope::All => true,
            Scope::Own(user) => owner == Some(user),
        }
    }
}

/// The column that says who owns a row of `table`, for Basic depth: the user an operation runs
/// as (`runas`) on `backgroundoperation` (so a row submitted on someone's behalf is theirs), the
/// creator (`createdby`) elsewhere.
pub fn owner_column(table: &str) -> &'static str {
    match table {
        "backgroundoperation" => "runas",
        _ => "createdby",
    }
}

/// Tables that describe the service rather than hold business data: custom API definitions,
/// plug-in types, messages, webhooks and steps, and the security tables. Changing them needs the
/// System Administrator role whatever other roles grant.
pub const METADATA_TABLES: &[&str] = &[
    "customapi",
    "customapirequestparameter",
    "customapiresponseproperty",
    "plugintype",
    "sdkmessage",
    "serviceendpoint",
    "sdkmessageprocessingstep",
    "systemuser",
    "role",
    "privilege",
    "roleprivileges",
    "systemuserroles",
];

/// Whether changing `table` (a logical name) needs the System Administrator role.
pub fn is_metadata_table(table: &str) -> bool {
    METADATA_TABLES.contains(&table)
}

/// What the built-in roles hold, as `(role, privilege name, depth)`: System Administrator every
/// privilege of `privileges` at Global (and, beyond the table, any privilege at all), Basic User
/// read and write on `backgroundoperation` at Basic, Delegate impersonation.
pub fn builtin_grants(privileges: &[String]) -> Vec<(uuid::Uuid, String, Depth)> {
    let mut out: Vec<(uuid::Uuid, String, Depth)> = privileges
        .iter()
        .map(|p| (SYSTEM_ADMINISTRATOR_ROLE, p.clone(), Depth::Global))
        .collect();
    for verb in [Verb::Read, Verb::Write] {
        out.push((
            BASIC_USER_ROLE,
            Privilege::table(verb, "backgroundoperation").to_string(),
            Depth::Basic,
        ));
    }
    out.push((DELEGATE_ROLE, ACT_ON_BEHALF.to_owned(), Depth::Global));
    out
}

/// The fixed id of the built-in System Administrator role.
pub const SYSTEM_ADMINISTRATOR_ROLE: uuid::Uuid =
    uuid::uuid!("b353149e-4a9b-45fd-9b5b-091fc5e23947");
/// The fixed id of the built-in Basic User role.
pub const BASIC_USER_ROLE: uuid::Uuid = uuid::uuid!("99772695-2de3-4052-b2d4-b1bd2201509c");
/// The fixed id of the built-in Delegate role.
pub const DELEGATE_ROLE: uuid::Uuid = uuid::uuid!("6b1a2f6e-0d5c-4a8e-9a43-1f1d8b0c2d71");

/// The privileges a user holds through their roles, at the widest depth any role gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Whether the user holds the System Administrator role: every privilege, Global.
    pub system_administrator: bool,
    /// Privilege name → depth.
    pub privileges: HashMap<String, Depth>,
}

impl Grants {
    /// Grants from `(privilege name, depth mask)` pairs, keeping the widest depth of each.
    pub fn from_masks(
        system_administrator: bool,
        pairs: impl IntoIterator<Item = (String, i64)>,
    ) -> Self {
        let mut privileges: HashMap<String, Depth> = HashMap::new();
        for (name, mask) in pairs {
            if let Some(depth) = Depth::from_mask(mask) {
                let e = privileges.entry(name).or_insert(depth);
                *e = (*e).max(depth);
            }
        }
        Self {
            system_administrator,
            privileges,
        }
    }

    /// The depth at which `privilege` is held, if at all.
    pub fn depth(&self, privilege: &Privilege) -> Option<Depth> {
        if self.system_administrator {
            return Some(Depth::Global);
        }
        self.privileges.get(&privilege.to_string()).copied()
    }
}

/// Who a request acts as: a user and what their roles grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// `systemuserid`.
    pub id: UserId,
    /// `fullname`, for messages and the audit log.
    pub full_name: String,
    /// What the user's roles grant.
    pub grants: Arc<Grants>,
}

impl Principal {
    /// Whether the user holds the System Administrator role.
    pub fn is_system_administrator(&self) -> bool {
        self.grants.system_administrator
    }

    /// The scope at which the user holds `privilege`, or Dataverse's 403 naming the privilege
    /// and the user.
    pub fn authorize(&self, privilege: &Privilege) -> Result<Scope, ApiError> {
        match self.grants.depth(privilege) {
            Some(Depth::Global) => Ok(Scope::All),
            Some(Depth::Basic) => Ok(Scope::Own(self.id)),
            None => Err(self.denied(privilege)),
        }
    }

    /// Dataverse's 403 for `privilege`, naming it and the user.
    fn denied(&self, privilege: &Privilege) -> ApiError {
        match privilege.entity() {
            Some(entity) => ApiError::privilege_denied(self.id, &privilege.to_string(), entity),
            None => ApiError::privilege_missing(self.id, &privilege.to_string()),
        }
    }

    /// Checks that the user holds the System Administrator role (changing metadata tables,
    /// managing users, keys and roles); the denial names `privilege`.
    pub fn require_administrator(&self, privilege: &Privilege) -> Result<(), ApiError> {
        if self.is_system_administrator() {
            Ok(())
        } else {
            Err(self.denied(privilege))
        }
    }
}

/// `MSCRMCallerID` / `CallerObjectId` sent by a caller without `prvActOnBehalfOfAnotherUser`.
pub fn cannot_impersonate() -> ApiError {
    ApiError::new(
        403,
        ErrorCode::CANNOT_ACT_ON_BEHALF,
        "User does not have the privilege to act on behalf another user.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(admin: bool, grants: &[(&str, i64)]) -> Principal {
        Principal {
            id: UserId(uuid::Uuid::from_u128(7)),
            full_name: "Test".into(),
            grants: Arc::new(Grants::from_masks(
                admin,
                grants.iter().map(|(n, m)| ((*n).to_owned(), *m)),
            )),
        }
    }

    #[test]
    fn names_round_trip() {
        for name in [
            "prvReadbackgroundoperation",
            "prvWriteaccount",
            "prvCreatecustomapi",
            "prvDeleteannotation",
            ACT_ON_BEHALF,
            "prvCreatenew_myaction",
            "prvSomethingElse",
        ] {
            assert_eq!(Privilege::parse(name).to_string(), name);
        }
        assert_eq!(
            Privilege::parse("prvReadbackgroundoperation"),
            Privilege::table(Verb::Read, "backgroundoperation")
        );
        assert_eq!(
            Privilege::parse("prvSomethingElse"),
            Privilege::Named("prvSomethingElse".into())
        );
    }

    #[test]
    fn widest_depth_wins_and_scope_follows_it() {
        let p = principal(
            false,
            &[
                ("prvReadaccount", 1),
                ("prvReadaccount", 8),
                ("prvWriteaccount", 1),
            ],
        );
        assert_eq!(
            p.authorize(&Privilege::table(Verb::Read, "account")),
            Ok(Scope::All)
        );
        assert_eq!(
            p.authorize(&Privilege::table(Verb::Write, "account")),
            Ok(Scope::Own(p.id))
        );
        let denied = p
            .authorize(&Privilege::table(Verb::Delete, "account"))
            .unwrap_err();
        assert_eq!(denied.status, 403);
        assert_eq!(denied.code, ErrorCode::PRIVILEGE_DENIED);
        assert!(denied.message.contains("prvDeleteaccount"));
        assert!(denied.message.contains(&p.id.to_string()));
    }

    #[test]
    fn administrators_hold_everything_globally() {
        let p = principal(true, &[]);
        assert_eq!(
            p.authorize(&Privilege::Named("prvAnything".into())),
            Ok(Scope::All)
        );
        assert!(p
            .require_administrator(&Privilege::table(Verb::Create, "customapi"))
            .is_ok());
        assert!(principal(false, &[("prvCreatecustomapi", 8)])
            .require_administrator(&Privilege::table(Verb::Create, "customapi"))
            .is_err());
    }

    #[test]
    fn masks() {
        assert_eq!(Depth::from_mask(1), Some(Depth::Basic));
        assert_eq!(Depth::from_mask(8), Some(Depth::Global));
        assert_eq!(Depth::from_mask(4), Some(Depth::Global));
        assert_eq!(Depth::from_mask(0), None);
        let me = UserId(uuid::Uuid::from_u128(1));
        assert!(Scope::Own(me).reaches(Some(me)));
        assert!(!Scope::Own(me).reaches(Some(UserId(uuid::Uuid::from_u128(2)))));
        assert!(!Scope::Own(me).reaches(None));
        assert!(Scope::All.reaches(None));
    }
}
