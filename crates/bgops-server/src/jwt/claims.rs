//! The claims bgops reads from a verified token, and who they name: a user is the pair
//! (tenant, object id), Entra ID's `tid` and `oid`.

use bgops_store::{ExternalIdentity, NewExternalUser};
use serde::Deserialize;
use uuid::Uuid;

/// The claims of an access token that bgops uses. `exp`, `nbf` and `aud` are checked by
/// `jsonwebtoken`; `exp` is kept to bound how long a verified token is cached.
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    /// The issuer, one of `--jwt-issuer`.
    pub iss: String,
    /// Expiry, Unix seconds.
    #[serde(default)]
    pub exp: Option<f64>,
    /// The subject (per application in Entra ID; the user elsewhere).
    #[serde(default)]
    pub sub: Option<String>,
    /// Entra ID's object id of the user or service principal.
    #[serde(default)]
    pub oid: Option<String>,
    /// Entra ID's tenant id.
    #[serde(default)]
    pub tid: Option<String>,
    /// A display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Entra ID v1's user principal name.
    #[serde(default)]
    pub upn: Option<String>,
    /// Entra ID v2's and OpenID Connect's user name.
    #[serde(default)]
    pub preferred_username: Option<String>,
}

/// Namespace of the object ids made for issuers whose subjects are not GUIDs.
const SUBJECT_NAMESPACE: Uuid = Uuid::from_u128(0x6f0b_2d6c_8e1a_4c55_9a43_52d1_f0e7_b3a1);

impl Claims {
    /// The user the token speaks for: `tid` and `oid` when they are GUIDs (Entra ID); otherwise
    /// the issuer as tenant and a GUID derived from the issuer and `sub` (a name-based UUID, so
    /// the same subject is always the same user), since `azureactivedirectoryobjectid` holds
    /// GUIDs. `None` when the token has neither `oid` nor `sub`.
    pub fn identity(&self) -> Option<ExternalIdentity> {
        let tenant = match self.tid.as_deref().and_then(guid) {
            Some(tid) => tid,
            None => self.iss.clone(),
        };
        let object_id = match self.oid.as_deref().and_then(guid) {
            Some(oid) => oid,
            None => {
                let sub = self.sub.as_deref().filter(|s| !s.is_empty())?;
                Uuid::new_v5(
                    &SUBJECT_NAMESPACE,
                    format!("{}\n{sub}", self.iss).as_bytes(),
                )
                .to_string()
            }
        };
        Some(ExternalIdentity { tenant, object_id })
    }

    /// What a first sign-in creates: `fullname` from `name` (else the user name, else the
    /// object id), `domainname` from `upn` or `preferred_username`.
    pub fn new_user(&self, identity: &ExternalIdentity) -> NewExternalUser {
        let domain_name = self
            .upn
            .clone()
            .or_else(|| self.preferred_username.clone())
            .filter(|s| !s.is_empty())
            .map(|s| clip(&s, 1024));
        let full_name = self
            .name
            .clone()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| domain_name.clone())
            .unwrap_or_else(|| identity.object_id.clone());
        NewExternalUser {
            full_name: clip(&full_name, 200),
            domain_name,
        }
    }
}

/// `s` as a lower-case hyphenated GUID, if it is one.
fn guid(s: &str) -> Option<String> {
    Uuid::parse_str(s).ok().map(|u| u.hyphenated().to_string())
}

/// At most `max` characters of `s` (the column's length).
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: serde_json::Value) -> Claims {
        serde_json::from_value(json).expect("claims")
    }

    #[test]
    fn entra_tokens_name_tenant_and_object_id() {
        let c = claims(serde_json::json!({
            "iss": "https://sts.windows.net/72F988BF-86F1-41AF-91AB-2D7CD011DB47/",
            "tid": "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
            "oid": "2A4B1C0E-5D3F-4E6A-8B7C-9D0E1F2A3B4C",
            "sub": "per-app", "name": "Ada Lovelace", "upn": "ada@contoso.example"
        }));
        let id = c.identity().expect("identity");
        assert_eq!(id.tenant, "72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert_eq!(id.object_id, "2a4b1c0e-5d3f-4e6a-8b7c-9d0e1f2a3b4c");
        let new = c.new_user(&id);
        assert_eq!(new.full_name, "Ada Lovelace");
        assert_eq!(new.domain_name.as_deref(), Some("ada@contoso.example"));
    }

    #[test]
    fn other_issuers_map_their_subject_to_a_stable_guid() {
        let a = claims(serde_json::json!({"iss": "https://idp.example/realms/x", "sub": "alice"}));
        let b = claims(serde_json::json!({"iss": "https://idp.example/realms/y", "sub": "alice"}));
        let ia = a.identity().expect("identity");
        assert_eq!(ia.tenant, "https://idp.example/realms/x");
        assert!(Uuid::parse_str(&ia.object_id).is_ok());
        assert_eq!(ia, a.identity().expect("again"), "stable");
        assert_ne!(ia.object_id, b.identity().expect("b").object_id);
        assert_eq!(a.new_user(&ia).full_name, ia.object_id);
        let none = claims(serde_json::json!({"iss": "https://idp.example"}));
        assert_eq!(none.identity(), None);
    }
}
