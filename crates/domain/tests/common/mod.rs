//! Fixtures shared by the state-machine tests: the user names a run picks
//! from, and a user record as the store holds it once created.

use domain::{
    LifecycleState, OrgId, PermissionAssignment, Timestamp, User, UserId, UserKind, Username,
};

/// User names to pick from, each with the class of names it clashes with.
/// The classes are written by hand, so the models do not borrow the
/// domain's own notion of sameness: case and Unicode variants share one.
pub(crate) const NAMES: &[(&str, usize)] = &[
    ("Jane@x.io", 0),
    ("jane@x.io", 0),
    ("JANE@X.IO", 0),
    ("jos\u{e9}@x.io", 1),
    ("jose\u{301}@x.io", 1),
    ("JOS\u{c9}@x.io", 1),
    ("stra\u{df}e@x.de", 2),
    ("STRASSE@x.de", 2),
    ("bob@x.io", 3),
    ("jane@x.com", 4),
];

/// An active user of `org` named `NAMES[name]`, holding `assignments`, as
/// the store returns it: how a run's first admins start.
pub(crate) fn stored_user(
    id: &UserId,
    org: &OrgId,
    name: usize,
    assignments: Vec<PermissionAssignment>,
) -> User {
    User {
        id: id.clone(),
        org_id: org.clone(),
        kind: UserKind::CustomerEmployee,
        username: Username::parse(NAMES[name].0).expect("the names are valid"),
        credential_uuid: None,
        is_registered: false,
        is_service_account: false,
        is_sso_required: false,
        external_id: None,
        state: LifecycleState::Active,
        assignments,
        created_at: Timestamp::from_unix_millis(0),
        version: 0,
    }
}
