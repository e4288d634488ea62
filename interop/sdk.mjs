// What the interop tests do with the official SDK again and again: sign
// with a key, log in, open a client, and check an error answer.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import { DfnsApiClient, DfnsAuthenticator, DfnsError } from '@dfns/sdk';
import { AsymmetricKeySigner } from '@dfns/sdk-keysigner';

// AsymmetricKeySigner signs with `crypto.sign(algorithm || undefined,
// clientData, privateKey)` and sends no `algorithm` field of its own.
// Left undefined, Node 20 (OpenSSL 3) already gives EC and RSA keys
// SHA-256; we still name it so that the digest never rests on OpenSSL's
// per-key default. Ed25519 must leave it undefined: OpenSSL refuses a
// digest for it.
const SIGNING_DIGEST = { ec: 'SHA256', rsa: 'SHA256', ed25519: undefined };

/** The key kinds a `Key` credential can have, as node makes them. */
export const KEY_KINDS = {
  'P-256': () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  secp256k1: () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }),
  Ed25519: () => generateKeyPairSync('ed25519'),
  'RSA-2048': () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
};

/** A signer for a known credential id. */
export function keySigner(credId, privateKey) {
  const algorithm = SIGNING_DIGEST[privateKey.asymmetricKeyType ?? 'ec'];
  return new AsymmetricKeySigner({ credId, privateKey, algorithm });
}

// A user created with a public key gets a credential id chosen by the
// server; a challenge's allowed credentials are where a client learns it.
export function challengeKeySigner(privateKey) {
  return {
    sign: (challenge) => {
      const credId = challenge.allowCredentials.key[0]?.id;
      return keySigner(credId, privateKey).sign(challenge);
    },
  };
}

/** Logs in and answers the login token. */
export async function login(server, { username, orgId, signer }) {
  const authenticator = new DfnsAuthenticator({ baseUrl: server.baseUrl, signer });
  const { token } = await authenticator.login({ username, orgId });
  return token;
}

/** A client acting as the holder of `token`, signing with `signer`. */
export function apiClient(server, token, signer) {
  return new DfnsApiClient({
    baseUrl: server.baseUrl,
    orgId: server.admin.orgId,
    authToken: token,
    signer,
  });
}

/** The bootstrapped admin, logged in: `{ client, token, signer }`. */
export async function adminSession(server) {
  const { orgId, username, credId, privateKey } = server.admin;
  const signer = keySigner(credId, privateKey);
  const token = await login(server, { username, orgId, signer });
  return { client: apiClient(server, token, signer), token, signer };
}

/** A fresh email address no other test uses. */
export function freshEmail(prefix = 'interop') {
  return `${prefix}-${randomBytes(6).toString('hex')}@example.com`;
}

/**
 * Creates a user with a new key of `kind` and logs it in: answers
 * `{ user, key, email, token, signer, client }`.
 */
export async function createUserSession(server, adminClient, kind = 'P-256') {
  const key = KEY_KINDS[kind]();
  const email = freshEmail(kind.toLowerCase().replace(/[^a-z0-9]/g, ''));
  const publicKey = key.publicKey.export({ type: 'spki', format: 'pem' });
  const user = await adminClient.auth.createUser({
    body: { email, kind: 'CustomerEmployee', publicKey },
  });
  const signer = challengeKeySigner(key.privateKey);
  const token = await login(server, { username: email, orgId: server.admin.orgId, signer });
  return { user, key, email, token, signer, client: apiClient(server, token, signer) };
}

// Checks that `promise` rejects with the DfnsError the SDK builds from an
// error answer of the server.
export async function assertDfnsError(promise, httpStatus, message) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof DfnsError, `not a DfnsError: ${error}`);
    assert.equal(error.httpStatus, httpStatus, `${error}`);
    if (message !== undefined) assert.equal(error.message, message);
    return true;
  });
}
