// The user lifecycle through the official TypeScript SDK: every key kind a
// `Key` credential can have, listing through every page, deactivation and
// activation, and requests shaped like the Python and Go SDKs'.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  KEY_KINDS,
  adminSession,
  assertDfnsError,
  createUserSession,
  login,
} from './sdk.mjs';
import { startServer } from './server.mjs';

describe('the user lifecycle through the official TypeScript SDK', () => {
  let server;
  let admin;

  before(async () => {
    server = await startServer();
    admin = await adminSession(server);
  });

  after(async () => {
    await server?.stop();
  });

  for (const kind of Object.keys(KEY_KINDS)) {
    it(`logs in a user whose key is ${kind}`, async () => {
      const session = await createUserSession(server, admin.client, kind);

      // Any authenticated user may open a user action challenge.
      const challenge = await session.client.auth.createUserActionChallenge({
        body: {
          userActionPayload: '{}',
          userActionHttpMethod: 'POST',
          userActionHttpPath: '/auth/users',
        },
      });
      assert.ok(challenge.challenge.length >= 43);
    });
  }

  it('lists every user once, page by page', async () => {
    const created = [];
    for (let i = 0; i < 5; i += 1) {
      created.push((await createUserSession(server, admin.client)).user.userId);
    }

    const seen = [];
    let paginationToken;
    do {
      const page = await admin.client.auth.listUsers({
        query: { limit: 2, paginationToken },
      });
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((u) => u.userId));
      paginationToken = page.nextPageToken;
    } while (paginationToken);

    assert.equal(new Set(seen).size, seen.length, 'a user was listed twice');
    for (const userId of [server.admin.userId, ...created]) {
      assert.ok(seen.includes(userId), `${userId} was not listed`);
    }
  });

  it('deactivates a user, who then cannot log in, and activates it again', async () => {
    const session = await createUserSession(server, admin.client);
    const credentials = {
      username: session.email,
      orgId: server.admin.orgId,
      signer: session.signer,
    };

    const deactivated = await admin.client.auth.deactivateUser({ userId: session.user.userId });
    assert.equal(deactivated.isActive, false);
    await assertDfnsError(login(server, credentials), 401, 'user not found');
    await assertDfnsError(session.client.auth.listUsers({}), 401);

    const activated = await admin.client.auth.activateUser({ userId: session.user.userId });
    assert.equal(activated.isActive, true);
    assert.ok(await login(server, credentials));
  });

  it('archives with no body and a signed empty payload, as the Python and Go SDKs do', async () => {
    const { user } = await createUserSession(server, admin.client);
    const path = `/auth/users/${user.userId}`;

    const userAction = await rawUserAction(admin, 'DELETE', path, '');
    const response = await fetch(new URL(path, server.baseUrl), {
      method: 'DELETE',
      headers: { authorization: `Bearer ${admin.token}`, 'x-dfns-useraction': userAction },
    });

    assert.equal(response.status, 200);
    const archived = await response.json();
    assert.equal(archived.isActive, false);
    await assertDfnsError(admin.client.auth.getUser({ userId: user.userId }), 404);
  });

  it('refuses a body that differs from the signed payload', async () => {
    const { user } = await createUserSession(server, admin.client);
    const path = `/auth/users/${user.userId}`;

    const userAction = await rawUserAction(admin, 'DELETE', path, '');
    const response = await fetch(new URL(path, server.baseUrl), {
      method: 'DELETE',
      headers: {
        authorization: `Bearer ${admin.token}`,
        'x-dfns-useraction': userAction,
        'content-type': 'application/json',
      },
      body: '{}',
    });

    assert.equal(response.status, 403);
    assert.deepEqual(await response.json(), {
      error: { status: 403, message: 'user action signature is missing or invalid' },
    });
    const still = await admin.client.auth.getUser({ userId: user.userId });
    assert.equal(still.isActive, true);
  });

  // The user action flow with plain HTTP, as SDKs without a body on DELETE
  // run it: init with the exact payload, sign, exchange for a token.
  async function rawUserAction(session, method, path, payload) {
    const post = async (route, body) => {
      const response = await fetch(new URL(route, server.baseUrl), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${session.token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 200, `${route}: ${await response.clone().text()}`);
      return response.json();
    };
    const challenge = await post('/auth/action/init', {
      userActionPayload: payload,
      userActionHttpMethod: method,
      userActionHttpPath: path,
      userActionServerKind: 'Api',
    });
    const firstFactor = await session.signer.sign(challenge);
    const { userAction } = await post('/auth/action', {
      challengeIdentifier: challenge.challengeIdentifier,
      firstFactor,
    });
    return userAction;
  }
});
