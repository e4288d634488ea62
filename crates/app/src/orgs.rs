//! Orgs and their first admin.

use domain::{
    AssignmentId, AuditEvent, AuditKind, CredId, Credential, CredentialKind, CredentialUuid,
    LifecycleState, Org, OrgId, OrgName, Permission, PermissionAssignment, PermissionId, User,
    UserId, UserKind, Username,
};
use ports::{Clock, PublicKeyError, SignatureVerifier, StoreError, UserRepository};

use crate::{Ports, Service};

/// An org just created, and how its first admin logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedOrg {
    /// The org.
    pub org: Org,
    /// Its first admin, holding the immutable `OrgAdmin` permission.
    pub admin: User,
    /// The id of the admin's `Key` credential.
    pub cred_id: CredId,
}

/// Occurs when an org cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateOrgError {
    /// Occurs when the admin's public key cannot be used.
    #[error(transparent)]
    PublicKey(#[from] PublicKeyError),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<P: Ports> Service<P> {
    /// Creates an org and its first admin, who holds every operation through
    /// the immutable `OrgAdmin` permission and logs in with the private key
    /// of `admin_public_key_pem`.
    #[tracing::instrument(name = "create_org", skip_all, fields(org_name = name.as_str()))]
    pub async fn create_org(
        &self,
        name: OrgName,
        admin_username: Username,
        admin_public_key_pem: String,
    ) -> Result<CreatedOrg, CreateOrgError> {
        self.verifier.check_public_key(&admin_public_key_pem).await?;
        let now = self.clock.now();
        let org = Org { id: OrgId::from_random(&self.id_bytes()), name, created_at: now };
        let permission =
            Permission::org_admin(PermissionId::from_random(&self.id_bytes()), org.id.clone(), now);
        let admin_id = UserId::from_random(&self.id_bytes());
        let credential = Credential {
            uuid: CredentialUuid::from_random(&self.id_bytes()),
            cred_id: self.new_cred_id(),
            user_id: admin_id.clone(),
            org_id: org.id.clone(),
            kind: CredentialKind::Key,
            name: String::new(),
            sign_count: 0,
            relying_party_id: None,
            origin: None,
            public_key_pem: admin_public_key_pem,
            is_active: true,
            created_at: now,
        };
        let assignment = PermissionAssignment {
            assignment_id: AssignmentId::from_random(&self.id_bytes()),
            permission_id: permission.id.clone(),
            permission_name: permission.name.as_str().to_owned(),
            operations: permission.operations.clone(),
        };
        let admin = User {
            id: admin_id.clone(),
            org_id: org.id.clone(),
            kind: UserKind::CustomerEmployee,
            username: admin_username,
            credential_uuid: Some(credential.uuid.clone()),
            is_registered: true,
            is_service_account: false,
            is_sso_required: false,
            external_id: None,
            state: LifecycleState::Active,
            assignments: vec![assignment],
            created_at: now,
            version: 0,
        };
        let event = AuditEvent {
            kind: AuditKind::UserCreated,
            org_id: org.id.clone(),
            user_id: admin_id.clone(),
            permission_id: None,
            actor: admin_id,
            at: now,
        };

        self.users.create_org(&org, &permission, &admin, &credential, &event).await?;
        tracing::info!(org_id = %org.id, user_id = %admin.id, "org created");
        Ok(CreatedOrg { org, admin, cred_id: credential.cred_id })
    }

    fn id_bytes(&self) -> [u8; domain::ID_RANDOM_BYTES] {
        ports::random_array(&self.random)
    }
}
