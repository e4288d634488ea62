// Registering a second credential through the official TypeScript SDK:
// `auth.createCredentialChallenge` and `auth.createCredential`, with the
// `Key` attestation the SDKs' key signers make, then a login with the new
// key; and a passkey challenge in the shape a browser's WebAuthn call takes.

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { adminSession, assertDfnsError, keySigner, login } from './sdk.mjs';
import { startServer } from './server.mjs';

const base64url = (bytes) => Buffer.from(bytes).toString('base64url');

// What the SDKs' key signers send to register a key: they sign
// `{"clientDataHash": hex SHA-256 of the client data, "publicKey": PEM}`
// over the client data `{"type": "key.create", "challenge"}`.
function keyAttestation(challenge, credId, key) {
  const publicKey = key.publicKey.export({ type: 'spki', format: 'pem' });
  const clientData = JSON.stringify({ type: 'key.create', challenge: challenge.challenge });
  const clientDataHash = createHash('sha256').update(clientData).digest('hex');
  const fingerprint = JSON.stringify({ clientDataHash, publicKey });
  const signature = sign('SHA256', Buffer.from(fingerprint), key.privateKey).toString('hex');
  return {
    credentialKind: 'Key',
    credentialInfo: {
      credId,
      clientData: base64url(clientData),
      attestationData: base64url(JSON.stringify({ publicKey, signature })),
    },
  };
}

describe('credentials through the official TypeScript SDK', () => {
  let server;
  let admin;

  before(async () => {
    server = await startServer();
    admin = await adminSession(server);
  });

  after(async () => {
    await server?.stop();
  });

  it('registers a second key, which then logs in', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const credId = base64url(randomBytes(16));
    const challenge = await admin.client.auth.createCredentialChallenge({
      body: { kind: 'Key' },
    });
    assert.equal(challenge.kind, 'Key');
    assert.equal(challenge.user.name, server.admin.username);

    const credential = await admin.client.auth.createCredential({
      body: {
        ...keyAttestation(challenge, credId, key),
        credentialName: 'backup key',
        challengeIdentifier: challenge.challengeIdentifier,
      },
    });
    assert.equal(credential.kind, 'Key');
    assert.equal(credential.credentialId, credId);
    assert.equal(credential.name, 'backup key');
    assert.equal(credential.isActive, true);

    const { items } = await admin.client.auth.listCredentials();
    assert.deepEqual(
      items.map((c) => c.credentialId),
      [server.admin.credId, credId],
    );

    const token = await login(server, {
      username: server.admin.username,
      orgId: server.admin.orgId,
      signer: keySigner(credId, key.privateKey),
    });
    assert.equal(token.split('.').length, 3);
  });

  it('refuses a registration signed by another key, and its replay', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const impostor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const challenge = await admin.client.auth.createCredentialChallenge({
      body: { kind: 'Key' },
    });
    const forged = keyAttestation(challenge, 'forged', impostor);
    const honest = keyAttestation(challenge, 'forged', key);
    const attestation = JSON.parse(
      Buffer.from(forged.credentialInfo.attestationData, 'base64url').toString(),
    );
    attestation.publicKey = key.publicKey.export({ type: 'spki', format: 'pem' });
    honest.credentialInfo.attestationData = base64url(JSON.stringify(attestation));
    const body = {
      ...honest,
      credentialName: 'forged',
      challengeIdentifier: challenge.challengeIdentifier,
    };

    await assertDfnsError(admin.client.auth.createCredential({ body }), 401, 'invalid signature');
    // The attempt spent the challenge.
    await assertDfnsError(
      admin.client.auth.createCredential({ body: { ...body, ...keyAttestation(challenge, 'x', key) } }),
      400,
      'challenge is not valid',
    );
  });

  it('issues a passkey challenge in the shape navigator.credentials.create takes', async () => {
    const challenge = await admin.client.auth.createCredentialChallenge({
      body: { kind: 'Fido2' },
    });
    assert.equal(challenge.kind, 'Fido2');
    assert.deepEqual(challenge.rp, { id: 'localhost', name: 'orgusers' });
    assert.equal(challenge.user.id, server.admin.userId);
    assert.equal(challenge.authenticatorSelection.userVerification, 'required');
    assert.deepEqual(
      challenge.pubKeyCredParams.map((p) => p.alg),
      [-7, -8, -257],
    );
    assert.deepEqual(challenge.excludeCredentials, []);

    // Login challenges name the relying party a WebAuthn signer passes on.
    const login = await admin.client.auth.createUserActionChallenge({
      body: { userActionPayload: '{}', userActionHttpMethod: 'POST', userActionHttpPath: '/x' },
    });
    assert.deepEqual(login.rp, { id: 'localhost', name: 'orgusers' });
    assert.deepEqual(
      login.supportedCredentialKinds.map((k) => k.kind),
      ['Key', 'Fido2'],
    );
  });
});
