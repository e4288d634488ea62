//! A user's own credentials: registering one more, and listing them.
//!
//! Registration is a ceremony of two requests. The first issues a
//! challenge for one kind of credential. The second, a user action signed
//! with a credential the user already has, brings the new credential's
//! answer: a `Key` signs the challenge with its private key, a `Fido2`
//! authenticator attests a new key pair over the challenge. Only then is
//! the credential stored, in the transaction that marks the user
//! registered.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{
    AttestationObject, AuthenticatorData, Caller, Challenge, ChallengeError, ChallengePurpose,
    ClientData, ClientDataError, ClientDataKind, CredId, Credential, CredentialKind,
    CredentialUuid, RegisterCredentialError, User, WebAuthnError,
};
use ports::{
    AddCredentialError, Clock, OneTimeStore, PublicKeyError, SignatureVerifier, StoreError,
    UserRepository,
};
use serde::Deserialize;

use crate::{AccessError, Attempt, Contended, Ports, Service, SignedRequest, retry_on_conflict};

/// A registration challenge as handed to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRegistration {
    /// The challenge the new credential answers.
    pub challenge: Challenge,
    /// The kind of credential it registers.
    pub kind: CredentialKind,
    /// The user the credential will belong to.
    pub user: User,
    /// The user's credentials of that kind, which an authenticator that
    /// already holds one of them should not register again.
    pub existing: Vec<CredId>,
}

/// What a client sends to register a credential, decoded from base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCredentialRequest {
    /// The `challengeIdentifier` of the registration challenge.
    pub challenge_id: String,
    /// The kind of credential, which must be the kind the challenge is for.
    pub kind: CredentialKind,
    /// The name the user gives the credential.
    pub name: String,
    /// The credential's public id, as the client will present it.
    pub cred_id: String,
    /// The client data the new credential signed.
    pub client_data: Vec<u8>,
    /// For `Key`, the JSON `{"publicKey", "signature"}`; for `Fido2`, the
    /// CBOR attestation object.
    pub attestation_data: Vec<u8>,
}

/// Occurs when a registration challenge cannot be issued.
#[derive(Debug, thiserror::Error)]
pub enum CredentialInitError {
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when a credential cannot be registered.
#[derive(Debug, thiserror::Error)]
pub enum CreateCredentialError {
    /// Occurs when the request's user action does not authorise it.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Occurs when the challenge is unknown, expired, reused, issued to
    /// someone else, or for another kind of credential.
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    /// Occurs when the credential id is not base64url.
    #[error("credentialInfo.credId is not a valid credential id")]
    InvalidCredId,
    /// Occurs when the client data is not JSON with `type` and `challenge`.
    #[error(transparent)]
    MalformedClientData(ClientDataError),
    /// Occurs when the attestation data cannot be read; the text says why.
    #[error("{0}")]
    MalformedAttestation(String),
    /// Occurs when the new credential's public key cannot be used.
    #[error(transparent)]
    PublicKey(#[from] PublicKeyError),
    /// Occurs when a `Fido2` attestation breaks a rule of the relying
    /// party, or names another credential id than `credId`.
    #[error(transparent)]
    WebAuthn(#[from] WebAuthnError),
    /// Occurs when the client data or the signature does not prove that
    /// the new credential answered this challenge.
    #[error("invalid signature")]
    InvalidSignature,
    /// Occurs when the name is refused or the credential id is taken.
    #[error(transparent)]
    Refused(#[from] RegisterCredentialError),
    /// Occurs when the caller was deactivated or archived meanwhile.
    #[error("user not found")]
    UserNotFound,
    /// Occurs when other changes kept landing first.
    #[error(transparent)]
    Contended(#[from] Contended),
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Occurs when credentials cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListCredentialsError {
    /// Occurs when the store fails.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A `Key` credential's attestation data: its public key, and its
/// signature over the registration message, in hex as the SDKs send it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyAttestation {
    public_key: String,
    signature: String,
}

/// What a verified registration proved: the key, and what WebAuthn adds.
struct Attested {
    public_key_pem: String,
    sign_count: u32,
    relying_party_id: Option<String>,
}

impl<P: Ports> Service<P> {
    /// Issues a challenge that registers a new credential of `kind` to the
    /// caller.
    #[tracing::instrument(name = "credential_init", skip_all, fields(caller = %caller.id()))]
    pub async fn credential_init(
        &self,
        caller: &Caller,
        kind: CredentialKind,
    ) -> Result<IssuedRegistration, CredentialInitError> {
        let existing = self
            .users
            .list_credentials(caller.id())
            .await?
            .into_iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.cred_id)
            .collect();
        let purpose = ChallengePurpose::Registration {
            org_id: caller.org_id().clone(),
            user_id: caller.id().clone(),
            kind,
        };
        let challenge = self.issue_challenge(purpose);
        self.one_time.insert_challenge(&challenge).await?;
        Ok(IssuedRegistration { challenge, kind, user: caller.user().clone(), existing })
    }

    /// Registers a new credential to the caller, with a user action signed
    /// by a credential the caller already has.
    #[tracing::instrument(name = "create_credential", skip_all, fields(caller = %caller.id()))]
    pub async fn create_credential(
        &self,
        caller: &Caller,
        signed: &SignedRequest,
        request: CreateCredentialRequest,
    ) -> Result<Credential, CreateCredentialError> {
        self.spend_user_action(caller, signed).await?;
        let challenge = self
            .take_challenge::<CreateCredentialError>(&request.challenge_id, Some(caller.id()))
            .await?;
        let ChallengePurpose::Registration { kind, .. } = challenge.purpose else {
            return Err(ChallengeError::NotValid.into());
        };
        if kind != request.kind {
            return Err(ChallengeError::NotValid.into());
        }
        let cred_id =
            CredId::parse(&request.cred_id).ok_or(CreateCredentialError::InvalidCredId)?;
        let client_data = ClientData::parse(&request.client_data)
            .map_err(CreateCredentialError::MalformedClientData)?;
        let attested = match kind {
            CredentialKind::Key => self.attest_key(&challenge, &client_data, &request).await?,
            CredentialKind::Fido2 => {
                self.attest_fido2(&challenge, &client_data, &cred_id, &request).await?
            }
        };

        let now = self.clock.now();
        let credential = Credential {
            uuid: CredentialUuid::from_random(&ports::random_array(&self.random)),
            cred_id,
            user_id: caller.id().clone(),
            org_id: caller.org_id().clone(),
            kind,
            name: request.name,
            public_key_pem: attested.public_key_pem,
            sign_count: attested.sign_count,
            relying_party_id: attested.relying_party_id,
            origin: client_data.origin,
            is_active: true,
            created_at: now,
        };
        retry_on_conflict::<_, _, (), CreateCredentialError>(|_| async {
            // The caller's record as it is now: a credential is added to a
            // user that is still active, and marks it registered.
            let user = self.users.find_user(caller.id()).await?;
            let caller = user
                .and_then(|user| Caller::from_token_subject(user, caller.org_id()))
                .ok_or(CreateCredentialError::UserNotFound)?;
            let (user, event) = domain::register_credential(&caller, &credential, now)?;
            match self.users.add_credential(&user, &credential, &event).await {
                Ok(()) => Ok(Attempt::Done(())),
                Err(AddCredentialError::Conflict) => Ok(Attempt::Conflict),
                Err(AddCredentialError::CredIdTaken) => {
                    Err(RegisterCredentialError::CredIdTaken.into())
                }
                Err(AddCredentialError::Store(e)) => Err(e.into()),
            }
        })
        .await?;
        tracing::info!(credential = %credential.uuid, kind = %kind, "credential registered");
        Ok(credential)
    }

    /// The caller's active credentials, oldest first.
    #[tracing::instrument(name = "list_credentials", skip_all, fields(caller = %caller.id()))]
    pub async fn list_credentials(
        &self,
        caller: &Caller,
    ) -> Result<Vec<Credential>, ListCredentialsError> {
        Ok(self.users.list_credentials(caller.id()).await?)
    }

    /// Checks a `Key` registration: the key signed the registration
    /// message over exactly this client data.
    async fn attest_key(
        &self,
        challenge: &Challenge,
        client_data: &ClientData,
        request: &CreateCredentialRequest,
    ) -> Result<Attested, CreateCredentialError> {
        client_data
            .answers(ClientDataKind::KeyCreate, challenge)
            .map_err(|_| CreateCredentialError::InvalidSignature)?;
        // Read as a JSON object first: serde would also read the struct
        // from an array of its members.
        let attestation = serde_json::from_slice::<serde_json::Value>(&request.attestation_data)
            .ok()
            .filter(serde_json::Value::is_object)
            .and_then(|object| serde_json::from_value::<KeyAttestation>(object).ok())
            .ok_or_else(|| {
                CreateCredentialError::MalformedAttestation(
                    "credentialInfo.attestationData is not JSON with publicKey and signature"
                        .to_owned(),
                )
            })?;
        let signature = hex::decode(&attestation.signature).map_err(|_| {
            CreateCredentialError::MalformedAttestation(
                "credentialInfo.attestationData signature is not hex".to_owned(),
            )
        })?;
        self.verifier.check_public_key(&attestation.public_key).await?;
        let message =
            domain::key_registration_message(&request.client_data, &attestation.public_key);
        self.verifier
            .verify(&attestation.public_key, &message, &signature)
            .await
            .map_err(|_| CreateCredentialError::InvalidSignature)?;
        Ok(Attested {
            public_key_pem: attestation.public_key,
            sign_count: 0,
            relying_party_id: None,
        })
    }

    /// Checks a `Fido2` registration: an authenticator of this relying
    /// party, on an allowed origin, with the user present and verified,
    /// attested a new credential with this id over exactly this client
    /// data. The attestation statement itself is not evaluated.
    async fn attest_fido2(
        &self,
        challenge: &Challenge,
        client_data: &ClientData,
        cred_id: &CredId,
        request: &CreateCredentialRequest,
    ) -> Result<Attested, CreateCredentialError> {
        client_data
            .answers(ClientDataKind::WebAuthnCreate, challenge)
            .map_err(|_| CreateCredentialError::InvalidSignature)?;
        client_data.check_origin(&self.relying_party)?;
        let object = AttestationObject::parse(&request.attestation_data)?;
        let data = AuthenticatorData::parse(&object.authenticator_data)?;
        let attested = data.check_registration(&self.relying_party)?;
        if URL_SAFE_NO_PAD.encode(&attested.credential_id) != cred_id.as_str() {
            return Err(CreateCredentialError::MalformedAttestation(
                "credentialInfo.credId is not the id of the attested credential".to_owned(),
            ));
        }
        let public_key_pem = self.verifier.public_key_from_cose(&attested.public_key_cose).await?;
        Ok(Attested {
            public_key_pem,
            sign_count: data.sign_count,
            relying_party_id: Some(self.relying_party.id().to_owned()),
        })
    }
}
