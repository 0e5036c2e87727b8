//! Who may read a knowledge document: the document's access list and the reader's identity.
//! They live with storage because every search enforces them in its queries.

use serde::{Deserialize, Serialize};

/// A document's access list. A document without one is readable by everyone; an empty one
/// (`public: false`, no users, no groups) locks the document for every reader but the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acl {
    /// Readable by everyone, signed in or not.
    #[serde(default)]
    pub public: bool,
    /// User ids that may read it.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups whose members may read it.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Acl {
    /// Parses an ACL from JSON text, naming the problem on failure.
    pub fn parse(text: &str) -> Result<Acl, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid ACL: {e}"))
    }

    /// The ACL with blank entries dropped and duplicates removed (sorted).
    pub fn normalized(mut self) -> Acl {
        for list in [&mut self.users, &mut self.groups] {
            for entry in list.iter_mut() {
                *entry = entry.trim().to_string();
            }
            list.retain(|e| !e.is_empty());
            list.sort();
            list.dedup();
        }
        self
    }
}

/// The identity a retrieval runs for. Anonymous readers see only documents without an ACL or
/// with a public one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// The signed-in user's id, `None` when anonymous.
    pub user_id: Option<String>,
    /// The user's groups.
    pub groups: Vec<String>,
}

impl Access {
    /// An anonymous reader.
    pub fn anonymous() -> Access {
        Access::default()
    }

    /// Whether this reader may read a document with `acl`.
    pub fn may_read(&self, acl: Option<&Acl>) -> bool {
        let Some(acl) = acl else { return true };
        acl.public
            || self
                .user_id
                .as_ref()
                .is_some_and(|u| acl.users.iter().any(|a| a == u))
            || self.groups.iter().any(|g| acl.groups.contains(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let anon = Access::anonymous();
        let staff = Access {
            user_id: Some("u1".into()),
            groups: vec!["staff".into()],
        };
        assert!(anon.may_read(None));
        let restricted = Acl {
            public: false,
            users: vec![],
            groups: vec!["staff".into()],
        };
        assert!(!anon.may_read(Some(&restricted)));
        assert!(staff.may_read(Some(&restricted)));
        let locked = Acl::default();
        assert!(!anon.may_read(Some(&locked)));
        assert!(!staff.may_read(Some(&locked)));
        let by_user = Acl {
            users: vec!["u1".into()],
            ..Acl::default()
        };
        assert!(staff.may_read(Some(&by_user)));
        assert!(!anon.may_read(Some(&by_user)));
        assert!(anon.may_read(Some(&Acl {
            public: true,
            ..Acl::default()
        })));
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!(Acl::parse(r#"{"public": "yes"}"#).is_err());
        assert!(Acl::parse(r#"{"owners": []}"#).is_err());
        let acl = Acl::parse(r#"{"groups": [" b ", "a", "a", ""]}"#)
            .unwrap()
            .normalized();
        assert_eq!(acl.groups, vec!["a", "b"]);
        assert!(!acl.public);
    }
}
