// Permissions through the official TypeScript SDK: create one, assign it,
// use it, revoke it, and see the right go at once.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { adminSession, assertDfnsError, createUserSession } from './sdk.mjs';
import { startServer } from './server.mjs';

describe('permissions through the official TypeScript SDK', () => {
  let server;
  let admin;
  let reader;
  let permission;
  let assignment;

  before(async () => {
    server = await startServer();
    admin = await adminSession(server);
    reader = await createUserSession(server, admin.client);
  });

  after(async () => {
    await server?.stop();
  });

  it('shows the bootstrapped admin holding the immutable OrgAdmin', async () => {
    const me = await admin.client.auth.getUser({ userId: server.admin.userId });
    const [orgAdmin] = me.permissionAssignments;

    assert.equal(orgAdmin.permissionName, 'OrgAdmin');
    const stored = await admin.client.permissions.getPermission({
      permissionId: orgAdmin.permissionId,
    });
    assert.equal(stored.isImmutable, true);
    assert.ok(stored.operations.includes('Permissions:Assign'));
  });

  it('refuses a user without permissions', async () => {
    await assertDfnsError(
      reader.client.auth.listUsers({}),
      403,
      `CustomerEmployee ${reader.user.userId} is not authorized to perform operation (Auth:Users:Read)`,
    );
  });

  it('creates a permission', async () => {
    const name = `readers-${randomBytes(4).toString('hex')}`;

    permission = await admin.client.permissions.createPermission({
      body: { name, operations: ['Auth:Users:Read'] },
    });

    assert.match(permission.id, /^pm-/);
    assert.equal(permission.name, name);
    assert.deepEqual(permission.operations, ['Auth:Users:Read']);
    assert.equal(permission.isImmutable, false);
    assert.equal(permission.isArchived, false);
    assert.ok(!Number.isNaN(Date.parse(permission.dateCreated)));
  });

  it('assigns it, and the user may use it on its next request', async () => {
    assignment = await admin.client.permissions.createAssignment({
      permissionId: permission.id,
      body: { identityId: reader.user.userId },
    });

    assert.match(assignment.id, /^as-/);
    assert.equal(assignment.identityId, reader.user.userId);
    const page = await reader.client.auth.listUsers({});
    assert.ok(page.items.some((u) => u.userId === reader.user.userId));
    const { items } = await admin.client.permissions.listAssignments({
      permissionId: permission.id,
    });
    assert.deepEqual(items.map((a) => a.id), [assignment.id]);
  });

  it('refuses to assign it twice', async () => {
    await assertDfnsError(
      admin.client.permissions.createAssignment({
        permissionId: permission.id,
        body: { identityId: reader.user.userId },
      }),
      400,
      'permission already assigned',
    );
  });

  it('revokes it, and the right is gone on the next request', async () => {
    await admin.client.permissions.deleteAssignment({
      permissionId: permission.id,
      assignmentId: assignment.id,
    });

    await assertDfnsError(reader.client.auth.listUsers({}), 403);
  });

  it('refuses to archive the immutable OrgAdmin', async () => {
    const me = await admin.client.auth.getUser({ userId: server.admin.userId });

    await assertDfnsError(
      admin.client.permissions.archivePermission({
        permissionId: me.permissionAssignments[0].permissionId,
        body: { isArchived: true },
      }),
      400,
      'permission is immutable',
    );
  });

  it('refuses to revoke the last assigner', async () => {
    const me = await admin.client.auth.getUser({ userId: server.admin.userId });
    const [orgAdmin] = me.permissionAssignments;

    await assertDfnsError(
      admin.client.permissions.deleteAssignment({
        permissionId: orgAdmin.permissionId,
        assignmentId: orgAdmin.assignmentId,
      }),
      400,
      'the org would lose its last user who can assign permissions',
    );
  });
});
