-- Permissions managed through their own API: versions for their
-- compare-and-set updates, the org guard, and audit events that name a
-- permission. The conventions of 0001 hold.

-- The org guard: every change that can take the power to assign
-- permissions from someone compares and bumps it, so two such changes
-- never both pass on the same picture of the org. 0 when the org is made.
ALTER TABLE orgs
    ADD COLUMN guard_version INTEGER NOT NULL DEFAULT 0
        CHECK (guard_version >= 0);

-- Bumped by every change of a permission; writers compare and set it.
ALTER TABLE permissions
    ADD COLUMN version INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0);

-- The permission an event is about (created, updated, archived, assigned,
-- revoked); NULL for changes of a user alone. No foreign key, as for the
-- other columns of the log.
ALTER TABLE audit_events ADD COLUMN permission_id TEXT;

-- Listing walks an org's permissions in id order.
CREATE INDEX permissions_by_org ON permissions (org_id, id);

-- Finding who can assign permissions walks the org's live assignments.
CREATE INDEX permission_assignments_live_by_org
    ON permission_assignments (org_id)
    WHERE ended_at IS NULL;

-- The unique index on the names of an org's live permissions,
-- `permissions_live_name`, exists since 0001.
