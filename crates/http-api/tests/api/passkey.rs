//! A software WebAuthn authenticator behind a WebAuthn client, driven as
//! the official SDK's WebAuthn signer drives a browser.
//!
//! The client and authenticator are 1Password's `passkey-client` and
//! `passkey-authenticator`, with aws-lc-rs for their cryptography: a real
//! implementation of the WebAuthn and CTAP2 specifications, not bytes the
//! tests assemble. The SDK's signer hands the browser the challenge
//! string's UTF-8 bytes as the challenge and the user id's bytes as the
//! user handle; so does [`SoftAuthenticator`].

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passkey_authenticator::{Authenticator, MemoryStore, UiHint, UserCheck, UserValidationMethod};
use passkey_client::{Client, DefaultClientData};
use passkey_crypto::aws_lc_rs::AwsLcRsBackend;
use passkey_crypto::iana;
use passkey_types::Passkey;
use passkey_types::ctap2::{Aaguid, Ctap2Error};
use passkey_types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use serde_json::{Value, json};
use url::Url;

/// The person at the authenticator: always present, verified when the
/// authenticator can verify.
struct Person {
    can_verify: bool,
}

#[async_trait]
impl UserValidationMethod for Person {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        _verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck { presence, verification: self.can_verify })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(self.can_verify)
    }
}

/// A passkey authenticator on a page of one origin. Cloning it copies its
/// keys and counters, as a cloned security key would.
#[derive(Clone)]
pub(crate) struct SoftAuthenticator {
    origin: Url,
    keys: MemoryStore,
    algorithms: Vec<iana::Algorithm>,
    counter: bool,
    can_verify: bool,
    /// The user verification the page asks for, whatever the server said.
    verification: Option<&'static str>,
}

impl SoftAuthenticator {
    /// An authenticator used from pages of `origin`, making ES256 keys with
    /// no signature counter and verifying its user.
    pub(crate) fn new(origin: &str) -> SoftAuthenticator {
        SoftAuthenticator {
            origin: Url::parse(origin).unwrap(),
            keys: MemoryStore::new(),
            algorithms: vec![iana::Algorithm::ES256],
            counter: false,
            can_verify: true,
            verification: None,
        }
    }

    /// The same, making keys of `algorithm` only.
    pub(crate) fn with_algorithm(mut self, algorithm: iana::Algorithm) -> SoftAuthenticator {
        self.algorithms = vec![algorithm];
        self
    }

    /// The same, keeping a signature counter for the keys it makes.
    pub(crate) fn with_counter(mut self) -> SoftAuthenticator {
        self.counter = true;
        self
    }

    /// The same, without a way to verify its user, used by a page that
    /// asks for no verification.
    pub(crate) fn without_verification(mut self) -> SoftAuthenticator {
        self.can_verify = false;
        self.verification = Some("discouraged");
        self
    }

    fn client(
        &self,
    ) -> Client<MemoryStore, Person, AwsLcRsBackend, public_suffix::PublicSuffixList, ()> {
        let mut authenticator = Authenticator::new(
            Aaguid::new_empty(),
            self.keys.clone(),
            Person { can_verify: self.can_verify },
            AwsLcRsBackend,
        );
        authenticator.set_make_credentials_with_signature_counter(self.counter);
        authenticator.set_algorithms(&self.algorithms).unwrap();
        Client::new(authenticator).allows_insecure_localhost(true)
    }

    /// `navigator.credentials.create` on the options of a `Fido2`
    /// registration challenge: the `credentialInfo` the SDK sends.
    pub(crate) async fn register(&mut self, challenge: &Value) -> Value {
        let verification = self
            .verification
            .unwrap_or(challenge["authenticatorSelection"]["userVerification"].as_str().unwrap());
        let options = json!({
            "publicKey": {
                "challenge": utf8_base64url(&challenge["challenge"]),
                "rp": challenge["rp"],
                "user": {
                    "id": utf8_base64url(&challenge["user"]["id"]),
                    "name": challenge["user"]["name"],
                    "displayName": challenge["user"]["displayName"],
                },
                "pubKeyCredParams": challenge["pubKeyCredParams"],
                "excludeCredentials": challenge["excludeCredentials"],
                "authenticatorSelection": {
                    "residentKey": challenge["authenticatorSelection"]["residentKey"],
                    "requireResidentKey":
                        challenge["authenticatorSelection"]["requireResidentKey"],
                    "userVerification": verification,
                },
                "attestation": challenge["attestation"],
            }
        });
        let options: CredentialCreationOptions = serde_json::from_value(options).unwrap();
        let mut client = self.client();
        let created = client.register(&self.origin, options, DefaultClientData).await.unwrap();
        self.keys = client.authenticator().store().clone();
        json!({
            "credId": created.id,
            "clientData": URL_SAFE_NO_PAD.encode(created.response.client_data_json.as_slice()),
            "attestationData": URL_SAFE_NO_PAD.encode(created.response.attestation_object.as_slice()),
        })
    }

    /// `navigator.credentials.get` on a login or user-action challenge:
    /// the `Fido2` first factor the SDK sends.
    pub(crate) async fn answer(&mut self, challenge: &Value) -> Value {
        let verification =
            self.verification.unwrap_or(challenge["userVerification"].as_str().unwrap());
        let options = json!({
            "publicKey": {
                "challenge": utf8_base64url(&challenge["challenge"]),
                "rpId": challenge["rp"]["id"],
                "allowCredentials": challenge["allowCredentials"]["webauthn"],
                "userVerification": verification,
            }
        });
        let options: CredentialRequestOptions = serde_json::from_value(options).unwrap();
        let mut client = self.client();
        let asserted = client.authenticate(&self.origin, options, DefaultClientData).await.unwrap();
        self.keys = client.authenticator().store().clone();
        json!({
            "kind": "Fido2",
            "credentialAssertion": {
                "credId": asserted.id,
                "clientData": URL_SAFE_NO_PAD.encode(asserted.response.client_data_json.as_slice()),
                "authenticatorData":
                    URL_SAFE_NO_PAD.encode(asserted.response.authenticator_data.as_slice()),
                "signature": URL_SAFE_NO_PAD.encode(asserted.response.signature.as_slice()),
                "userHandle": asserted.response.user_handle.map(|h| URL_SAFE_NO_PAD.encode(h.as_slice())),
            }
        })
    }
}

/// base64url of a JSON string's UTF-8 bytes, as `Buffer.from(string)`
/// hands them to the browser.
fn utf8_base64url(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.as_str().unwrap())
}
