//! Login tokens: EdDSA-signed JWTs.
