// Archiving a user, driven end to end by the official TypeScript SDK
// (`@dfns/sdk` and `@dfns/sdk-keysigner`) against a real orgusers server:
// login, user action signing, the archive itself, and what the archived
// user can no longer do.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { DfnsApiClient, DfnsAuthenticator } from '@dfns/sdk';

import { assertDfnsError, challengeKeySigner, keySigner } from './sdk.mjs';
import { startServer } from './server.mjs';

// The shape our server generates; Dfns's own ids may end in 14 or 15.
const USER_ID = /^us-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{16}$/;
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

describe('archiving a user through the official TypeScript SDK', () => {
  let server;
  let client;
  let email;
  let userKey;
  let user;
  let userToken;

  before(async () => {
    server = await startServer();
  });

  after(async () => {
    await server?.stop();
  });

  it('logs the bootstrapped admin in with its key', async () => {
    const { orgId, username, credId, privateKey } = server.admin;
    const signer = keySigner(credId, privateKey);
    const authenticator = new DfnsAuthenticator({
      baseUrl: server.baseUrl,
      signer,
    });

    const { token } = await authenticator.login({ username, orgId });

    assert.match(token, JWT);
    client = new DfnsApiClient({
      baseUrl: server.baseUrl,
      orgId,
      authToken: token,
      signer,
    });
  });

  it('creates a user with a key credential', async () => {
    email = `interop-${randomBytes(6).toString('hex')}@example.com`;
    userKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicKey = userKey.publicKey.export({ type: 'spki', format: 'pem' });

    user = await client.auth.createUser({
      body: { email, kind: 'CustomerEmployee', publicKey },
    });

    assert.match(user.userId, USER_ID);
    assert.equal(user.username, email);
    assert.equal(user.kind, 'CustomerEmployee');
    assert.equal(user.orgId, server.admin.orgId);
    assert.equal(user.isActive, true);
    assert.equal(user.isRegistered, true);
  });

  it('reads the user back', async () => {
    const fetched = await client.auth.getUser({ userId: user.userId });

    assert.deepEqual(fetched, user);
  });

  it('lets the new user log in with its own key', async () => {
    const authenticator = new DfnsAuthenticator({
      baseUrl: server.baseUrl,
      signer: challengeKeySigner(userKey.privateKey),
    });

    ({ token: userToken } = await authenticator.login({
      username: email,
      orgId: server.admin.orgId,
    }));

    // Any authenticated user may open a user action challenge.
    await userClient().auth.createUserActionChallenge({ body: actionInit() });
  });

  it('gives the user a permission to hold', async () => {
    const permission = await client.permissions.createPermission({
      body: { name: `readers-${randomBytes(4).toString('hex')}`, operations: ['Auth:Users:Read'] },
    });
    await client.permissions.createAssignment({
      permissionId: permission.id,
      body: { identityId: user.userId },
    });

    const fetched = await client.auth.getUser({ userId: user.userId });
    assert.deepEqual(
      fetched.permissionAssignments.map((a) => a.permissionName),
      [permission.name],
    );
  });

  it('archives the user: inactive, without permissions', async () => {
    const archived = await client.auth.archiveUser({ userId: user.userId });

    assert.equal(archived.userId, user.userId);
    assert.equal(archived.isActive, false);
    assert.deepEqual(archived.permissionAssignments, []);
  });

  it('answers 404 for the archived user', async () => {
    await assertDfnsError(
      client.auth.getUser({ userId: user.userId }),
      404,
      'user not found',
    );
  });

  it('refuses the token the user got before it was archived', async () => {
    await assertDfnsError(
      userClient().auth.createUserActionChallenge({ body: actionInit() }),
      401,
    );
  });

  it("refuses the archived user's key at login", async () => {
    const authenticator = new DfnsAuthenticator({
      baseUrl: server.baseUrl,
      signer: challengeKeySigner(userKey.privateKey),
    });

    await assertDfnsError(
      authenticator.login({ username: email, orgId: server.admin.orgId }),
      401,
    );
  });

  function userClient() {
    return new DfnsApiClient({
      baseUrl: server.baseUrl,
      orgId: server.admin.orgId,
      authToken: userToken,
    });
  }

  function actionInit() {
    return {
      userActionPayload: '{}',
      userActionHttpMethod: 'POST',
      userActionHttpPath: '/auth/users',
    };
  }
});
