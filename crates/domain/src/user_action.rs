//! User actions: the one-time token a signed challenge earns, and the
//! binding between that token and the request that spends it.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{CredentialUuid, Duration, OrgId, Timestamp, UserId};

/// How long a user-action token can be spent after it was issued.
pub const USER_ACTION_LIFETIME: Duration = Duration::from_seconds(5 * 60);

/// How many random bytes make a user-action token.
pub const USER_ACTION_RANDOM_BYTES: usize = 32;

/// The HTTP method a user action was signed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `GET`
    Get,
}

/// Occurs when a method is not one a user action can be signed for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown HTTP method {0:?}")]
pub struct UnknownHttpMethod(pub String);

impl HttpMethod {
    /// The method's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Get => "GET",
        }
    }
}

impl FromStr for HttpMethod {
    type Err = UnknownHttpMethod;

    fn from_str(name: &str) -> Result<HttpMethod, UnknownHttpMethod> {
        match name {
            "POST" => Ok(HttpMethod::Post),
            "PUT" => Ok(HttpMethod::Put),
            "DELETE" => Ok(HttpMethod::Delete),
            "GET" => Ok(HttpMethod::Get),
            other => Err(UnknownHttpMethod(other.to_owned())),
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The request a user action is signed for.
///
/// A client names it in `POST /auth/action/init`, where
/// [`UserActionRequest::parse`] reads it; the request that spends the
/// user action is captured as it arrived, and only compared with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserActionRequest {
    /// The method.
    pub method: HttpMethod,
    /// The path as sent on the wire, without the query string.
    pub path: String,
    /// The body, byte for byte.
    pub payload: String,
}

/// Occurs when a client names a request that no user action can be
/// signed for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserActionRequestError {
    /// Occurs when the path does not start with `/`.
    #[error("userActionHttpPath must start with /")]
    PathNotAbsolute,
    /// Occurs when the path has white space or a control character, which
    /// no request line can carry.
    #[error("userActionHttpPath must not contain white space or control characters")]
    PathForbiddenCharacter,
    /// Occurs when the payload has a NUL character.
    #[error("userActionPayload must not contain NUL characters")]
    PayloadNul,
}

impl UserActionRequest {
    /// Parses the request a client asks to sign: its path must be one an
    /// HTTP request could be sent to, and its payload must not hold a NUL.
    ///
    /// A request with such a path or payload could never spend the user
    /// action, and the challenge that binds it is stored as text, where
    /// not every database can keep a NUL.
    pub fn parse(
        method: HttpMethod,
        path: String,
        payload: String,
    ) -> Result<UserActionRequest, UserActionRequestError> {
        if !path.starts_with('/') {
            return Err(UserActionRequestError::PathNotAbsolute);
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UserActionRequestError::PathForbiddenCharacter);
        }
        if payload.contains('\0') {
            return Err(UserActionRequestError::PayloadNul);
        }
        Ok(UserActionRequest { method, path, payload })
    }
}

/// The opaque token a client sends in `X-DFNS-USERACTION`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserActionToken(String);

impl UserActionToken {
    /// A new token from random bytes drawn from a cryptographic generator.
    pub fn from_random(random: &[u8; USER_ACTION_RANDOM_BYTES]) -> UserActionToken {
        UserActionToken(URL_SAFE_NO_PAD.encode(random))
    }

    /// Wraps a token as a client sent it; unknown tokens are not found.
    pub fn from_wire(token: &str) -> UserActionToken {
        UserActionToken(token.to_owned())
    }

    /// The token as it travels on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user-action token allows: one request, by one caller, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserActionGrant {
    /// The token.
    pub token: UserActionToken,
    /// The caller's org.
    pub org_id: OrgId,
    /// The caller who signed.
    pub user_id: UserId,
    /// The credential that signed.
    pub credential_uuid: CredentialUuid,
    /// The request it was signed for.
    pub request: UserActionRequest,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it was spent, if it was.
    pub used_at: Option<Timestamp>,
}

/// Occurs when a request's user action does not authorise it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserActionError {
    /// Occurs when the token is missing, unknown, expired, or was signed for
    /// another caller, org, method, path or body.
    #[error("user action signature is missing or invalid")]
    MissingOrInvalid,
    /// Occurs when the token was already spent.
    #[error("user action has already been used")]
    AlreadyUsed,
}

impl UserActionGrant {
    /// Succeeds when this grant authorises `request` by `caller` of `org`
    /// now. The grant must still be spent, atomically, before the change.
    pub fn authorizes(
        &self,
        now: Timestamp,
        caller: &UserId,
        org: &OrgId,
        request: &UserActionRequest,
    ) -> Result<(), UserActionError> {
        if self.used_at.is_some() {
            return Err(UserActionError::AlreadyUsed);
        }
        let fresh =
            !self.issued_at.is_older_than(USER_ACTION_LIFETIME, now) && now >= self.issued_at;
        let bound = &self.user_id == caller && &self.org_id == org && &self.request == request;
        if fresh && bound { Ok(()) } else { Err(UserActionError::MissingOrInvalid) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: HttpMethod, path: &str, payload: &str) -> UserActionRequest {
        UserActionRequest { method, path: path.to_owned(), payload: payload.to_owned() }
    }

    fn grant(now: Timestamp) -> UserActionGrant {
        UserActionGrant {
            token: UserActionToken::from_random(&[3; 32]),
            org_id: OrgId::from_random(&[1; 26]),
            user_id: UserId::from_random(&[2; 26]),
            credential_uuid: CredentialUuid::from_random(&[4; 26]),
            request: request(HttpMethod::Delete, "/auth/users/us-a", "{}"),
            issued_at: now,
            used_at: None,
        }
    }

    #[test]
    fn a_request_to_sign_parses_with_any_payload_but_a_nul() {
        let parsed = UserActionRequest::parse(
            HttpMethod::Post,
            "/auth/users".to_owned(),
            "{\n  \"email\": \"a\tb\"\n}".to_owned(),
        );
        assert_eq!(parsed.unwrap().path, "/auth/users");
        assert_eq!(
            UserActionRequest::parse(HttpMethod::Post, "/".to_owned(), "{\"a\":\"\0\"}".to_owned()),
            Err(UserActionRequestError::PayloadNul)
        );
    }

    #[test]
    fn a_request_to_sign_needs_a_path_a_request_line_can_carry() {
        let parse =
            |path: &str| UserActionRequest::parse(HttpMethod::Get, path.to_owned(), "".into());
        assert_eq!(parse("auth/users"), Err(UserActionRequestError::PathNotAbsolute));
        assert_eq!(parse(""), Err(UserActionRequestError::PathNotAbsolute));
        for path in ["/auth/us ers", "/auth/\0", "/auth/\tx", "/a\u{85}", "/a\u{3000}", "/a\r\n"] {
            assert_eq!(
                parse(path),
                Err(UserActionRequestError::PathForbiddenCharacter),
                "{path:?}"
            );
        }
        assert!(parse("/auth/users/us-a%20b").is_ok());
    }

    #[test]
    fn authorises_exactly_the_signed_request() {
        let now = Timestamp::from_unix_millis(10);
        let g = grant(now);
        assert_eq!(g.authorizes(now, &g.user_id, &g.org_id, &g.request), Ok(()));
    }

    #[test]
    fn any_difference_is_refused() {
        let now = Timestamp::from_unix_millis(10);
        let g = grant(now);
        let other_user = UserId::from_random(&[5; 26]);
        let other_org = OrgId::from_random(&[6; 26]);
        let refused = [
            (
                g.user_id.clone(),
                g.org_id.clone(),
                request(HttpMethod::Delete, "/auth/users/us-a", ""),
            ),
            (
                g.user_id.clone(),
                g.org_id.clone(),
                request(HttpMethod::Put, "/auth/users/us-a", "{}"),
            ),
            (
                g.user_id.clone(),
                g.org_id.clone(),
                request(HttpMethod::Delete, "/auth/users/us-b", "{}"),
            ),
            (other_user, g.org_id.clone(), g.request.clone()),
            (g.user_id.clone(), other_org, g.request.clone()),
        ];
        for (user, org, req) in refused {
            assert_eq!(
                g.authorizes(now, &user, &org, &req),
                Err(UserActionError::MissingOrInvalid)
            );
        }
    }

    #[test]
    fn a_grant_expires_and_is_spent_once() {
        let now = Timestamp::from_unix_millis(10);
        let g = grant(now);
        let later = now.plus(USER_ACTION_LIFETIME);
        assert_eq!(
            g.authorizes(later, &g.user_id, &g.org_id, &g.request),
            Err(UserActionError::MissingOrInvalid)
        );
        let spent = UserActionGrant { used_at: Some(now), ..g.clone() };
        assert_eq!(
            spent.authorizes(now, &g.user_id, &g.org_id, &g.request),
            Err(UserActionError::AlreadyUsed)
        );
    }
}
