//! [`PermissionRepository`] on PostgreSQL: permissions, their version and
//! the org guard, and the questions asked across users.

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use domain::{Assignment, AuditEvent, Operation, OrgId, Permission, PermissionId, UserId};
use ports::{
    AssignersSnapshot, Basis, InsertPermissionError, OrgGuard, PermissionPage,
    PermissionRepository, StoreError, UpdatePermissionError,
};
use tokio_postgres::types::ToSql;

use crate::PostgresStore;
use crate::decode::{self, PERMISSION_COLUMNS};
use crate::sql::{self, RaceAsConflict};
use crate::write::{self, LIVE_PERMISSION_NAME_INDEX};

/// Occurs when the assigners of an org that does not exist are asked for.
#[derive(Debug, thiserror::Error)]
#[error("org {0} is not stored")]
struct UnknownOrg(OrgId);

#[async_trait]
impl PermissionRepository for PostgresStore {
    async fn insert_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertPermissionError> {
        self.insert_permission_once(permission, event, basis)
            .await
            .map_err(RaceAsConflict::race_as_conflict)
    }

    async fn find_permission(&self, id: &PermissionId) -> Result<Option<Permission>, StoreError> {
        let conn = self.connection().await?;
        let sql = format!("SELECT {PERMISSION_COLUMNS} FROM permissions WHERE id = $1");
        let row = sql::query_opt(&conn, &sql, &[&id.as_str()]).await.map_err(StoreError::new)?;
        row.as_ref().map(decode::permission).transpose()
    }

    async fn list_permissions(
        &self,
        org: &OrgId,
        after: Option<PermissionId>,
        limit: usize,
    ) -> Result<PermissionPage, StoreError> {
        let org = org.as_str();
        let after = after.as_ref().map(PermissionId::as_str);
        // One row more than asked tells whether another page follows.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);

        let mut sql = format!("SELECT {PERMISSION_COLUMNS} FROM permissions WHERE org_id = $1");
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&org];
        if let Some(after) = &after {
            params.push(after);
            sql.push_str(&format!(" AND id > ${}", params.len()));
        }
        params.push(&fetch);
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", params.len()));
        let conn = self.connection().await?;
        let rows = sql::query(&conn, &sql, &params).await.map_err(StoreError::new)?;

        let has_more = rows.len() > limit;
        let permissions =
            rows.iter().take(limit).map(decode::permission).collect::<Result<_, _>>()?;
        Ok(PermissionPage { permissions, has_more })
    }

    async fn update_permission(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdatePermissionError> {
        self.update_permission_once(permission, event, basis)
            .await
            .map_err(RaceAsConflict::race_as_conflict)
    }

    async fn list_assignments(
        &self,
        permission: &PermissionId,
    ) -> Result<Vec<Assignment>, StoreError> {
        let conn = self.connection().await?;
        let rows = sql::query(
            &conn,
            "SELECT id, permission_id, user_id, org_id, created_at, ended_at \
             FROM permission_assignments \
             WHERE permission_id = $1 AND ended_at IS NULL ORDER BY created_at, seq",
            &[&permission.as_str()],
        )
        .await
        .map_err(StoreError::new)?;
        rows.iter().map(decode::assignment).collect()
    }

    async fn assigners(&self, org: &OrgId) -> Result<AssignersSnapshot, StoreError> {
        // One statement sees one snapshot: the guard version and the users
        // are read together, so no guarded change can fall between them.
        let conn = self.connection().await?;
        let row = sql::query_opt(
            &conn,
            ASSIGNERS,
            &[&org.as_str(), &Operation::AssignPermission.as_str()],
        )
        .await
        .map_err(StoreError::new)?;

        let Some(row) = row else {
            return Err(StoreError::new(UnknownOrg(org.clone())));
        };
        let version = decode::version(&row, "guard_version")?;
        let ids: Vec<String> = decode::get(&row, "assigners")?;
        let assigners = ids
            .iter()
            .map(|id| UserId::parse(id).map_err(|error| decode::corrupt("users.id", error)))
            .collect::<Result<_, _>>()?;
        Ok(AssignersSnapshot { guard: OrgGuard { org_id: org.clone(), version }, assigners })
    }
}

/// The guard version of the org `$1` and its active users who hold a live
/// permission that grants the operation `$2`, in id order.
///
/// It costs what the org's assigners cost, not what the org costs: the
/// org's live permissions that grant `$2`, then the live assignments of
/// each through `permission_assignments_by_permission`, one at a time
/// (`walk`), then each holder by primary key. The shape leaves the planner
/// no other way. A join, even written from the permissions' side, is
/// planned with the statistics of `permission_assignments.permission_id`,
/// and in an org whose users all hold one permission those say that any
/// permission is held by nearly every assignment; the planner then reads
/// every live assignment of the org (joined to `users` by hash or merge,
/// or scanned once per permission when the join is a `LATERAL`), 0.6 to
/// 1 s at a million users. Here each step asks for the next assignment of one permission
/// in `seq` order with `LIMIT 1`, which only that index answers without
/// reading and sorting every row, whatever the statistics say; and the
/// holder's state is a scalar subquery on the primary key, run per row.
const ASSIGNERS: &str = "\
    WITH RECURSIVE granting AS MATERIALIZED ( \
        SELECT p.id FROM permissions AS p \
        WHERE p.org_id = $1 AND NOT p.is_archived AND $2 = ANY (p.operations) \
    ), walk AS ( \
        SELECT first.permission_id, first.seq, first.user_id \
        FROM granting AS g CROSS JOIN LATERAL ( \
            SELECT a.permission_id, a.seq, a.user_id FROM permission_assignments AS a \
            WHERE a.permission_id = g.id AND a.ended_at IS NULL \
            ORDER BY a.seq LIMIT 1 \
        ) AS first \
        UNION ALL \
        SELECT next.permission_id, next.seq, next.user_id \
        FROM walk AS w CROSS JOIN LATERAL ( \
            SELECT a.permission_id, a.seq, a.user_id FROM permission_assignments AS a \
            WHERE a.permission_id = w.permission_id AND a.ended_at IS NULL \
                AND a.seq > w.seq \
            ORDER BY a.seq LIMIT 1 \
        ) AS next \
    ) \
    SELECT o.guard_version, ARRAY( \
        SELECT DISTINCT w.user_id FROM walk AS w \
        WHERE (SELECT u.state FROM users AS u WHERE u.id = w.user_id) = 'Active' \
        ORDER BY w.user_id \
    ) AS assigners \
    FROM orgs AS o WHERE o.id = $1";

/// The transactions of the writes that can lose a race with another
/// transaction; the trait's methods answer a lost race as a conflict.
impl PostgresStore {
    async fn insert_permission_once(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), InsertPermissionError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(StoreError::new)?;

        if !write::hold_actor(&tx, basis).await? {
            tx.rollback().await.map_err(StoreError::new)?;
            return Err(InsertPermissionError::Conflict);
        }
        write::insert_permission(&tx, permission).await?;
        write::insert_event(&tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }

    async fn update_permission_once(
        &self,
        permission: &Permission,
        event: &AuditEvent,
        basis: &Basis,
    ) -> Result<(), UpdatePermissionError> {
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(StoreError::new)?;

        // The guard goes first, as in `update_user`: guarded changes lock
        // their org's row before any other.
        if let Some(guard) = &basis.guard {
            if !write::take_guard(&tx, guard, &permission.org_id).await? {
                return conflict(tx).await;
            }
        }

        // The stored permission, read as the change was decided on. A
        // permission moves to no other org, so the org is part of the
        // match, as the version is: a change that names another org's
        // permission is a conflict. What it granted decides whether its
        // holders' versions move.
        let Some(stored) = stored_permission(&tx, permission, "").await? else {
            return conflict(tx).await;
        };
        let moves_holders = changes_grants(&stored, permission);
        let holders =
            if moves_holders { live_holders(&tx, &permission.id).await? } else { Vec::new() };

        // Users before permissions: the caller and the holders whose
        // versions move, in id order, held until the commit; then the
        // permission, locked.
        let written: Vec<&str> = holders.iter().map(String::as_str).collect();
        if !write::lock_users(&tx, basis, &written).await? {
            return conflict(tx).await;
        }
        if stored_permission(&tx, permission, "FOR UPDATE").await?.is_none() {
            return conflict(tx).await;
        }

        let updated = sql::execute(
            &tx,
            "UPDATE permissions SET name = $1, operations = $2, is_immutable = $3, \
             is_archived = $4, updated_at = $5, version = version + 1 \
             WHERE id = $6 AND org_id = $7 AND version = $8",
            &[
                &permission.name.as_str(),
                &decode::operation_names(&permission.operations),
                &permission.is_immutable,
                &permission.is_archived,
                &permission.updated_at.unix_millis(),
                &permission.id.as_str(),
                &permission.org_id.as_str(),
                &decode::version_column(permission.version)?,
            ],
        )
        .await;
        match updated {
            Err(error) if sql::violates(&error, LIVE_PERMISSION_NAME_INDEX) => {
                tx.rollback().await.map_err(StoreError::new)?;
                return Err(UpdatePermissionError::NameTaken);
            }
            Err(error) => return Err(StoreError::new(error).into()),
            Ok(_) => {}
        }

        // Before the assignments end: the holders are those who held it. A
        // new assignment of the permission locks its row in share mode, so
        // none can be committed from the lock above on; one committed
        // between the first read of the holders and that lock names a
        // holder whose row this change did not lock, and the change
        // conflicts, to be decided again.
        if moves_holders {
            let now = live_holders(&tx, &permission.id).await?;
            if now.iter().any(|holder| !holders.contains(holder)) {
                return conflict(tx).await;
            }
            sql::execute(
                &tx,
                "UPDATE users SET version = version + 1 WHERE id = ANY ($1)",
                &[&written],
            )
            .await
            .map_err(StoreError::new)?;
        }
        if permission.is_archived {
            sql::execute(
                &tx,
                "UPDATE permission_assignments SET ended_at = $1 \
                 WHERE permission_id = $2 AND ended_at IS NULL",
                &[&event.at.unix_millis(), &permission.id.as_str()],
            )
            .await
            .map_err(StoreError::new)?;
        }
        write::insert_event(&tx, event).await?;

        tx.commit().await.map_err(StoreError::new)?;
        Ok(())
    }
}

/// The stored row of `permission` at its id, org and version, read with
/// `lock` (`""` or a locking clause); none when it moved or is unknown.
async fn stored_permission(
    tx: &impl GenericClient,
    permission: &Permission,
    lock: &str,
) -> Result<Option<Permission>, StoreError> {
    let sql = format!(
        "SELECT {PERMISSION_COLUMNS} FROM permissions \
         WHERE id = $1 AND org_id = $2 AND version = $3 {lock}"
    );
    let row = sql::query_opt(
        tx,
        &sql,
        &[
            &permission.id.as_str(),
            &permission.org_id.as_str(),
            &decode::version_column(permission.version)?,
        ],
    )
    .await
    .map_err(StoreError::new)?;
    row.as_ref().map(decode::permission).transpose()
}

/// The users who hold a live assignment of `permission`, in id order.
async fn live_holders(
    tx: &impl GenericClient,
    permission: &PermissionId,
) -> Result<Vec<String>, StoreError> {
    let rows = sql::query(
        tx,
        "SELECT DISTINCT user_id FROM permission_assignments \
         WHERE permission_id = $1 AND ended_at IS NULL ORDER BY user_id",
        &[&permission.as_str()],
    )
    .await
    .map_err(StoreError::new)?;
    rows.iter().map(|row| decode::get::<String>(row, "user_id")).collect()
}

/// Whether storing `updated` over `stored` changes what the permission's
/// holders may do: it is archived, or its operations differ as a set.
fn changes_grants(stored: &Permission, updated: &Permission) -> bool {
    let sorted = |permission: &Permission| {
        let mut operations = permission.operations.clone();
        operations.sort();
        operations.dedup();
        operations
    };
    updated.is_archived || sorted(stored) != sorted(updated)
}

/// Rolls `tx` back and answers [`UpdatePermissionError::Conflict`].
async fn conflict(tx: Transaction<'_>) -> Result<(), UpdatePermissionError> {
    tx.rollback().await.map_err(StoreError::new)?;
    Err(UpdatePermissionError::Conflict)
}

#[cfg(test)]
mod tests {
    //! The plan of [`ASSIGNERS`] where the statistics mislead: an org whose
    //! users all hold one permission that does not grant the operation.

    use serde_json::Value;
    use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

    use super::ASSIGNERS;
    use crate::PostgresStore;

    /// The users who hold the permission everybody holds.
    const USERS: usize = 5_000;

    /// Runs `sql` and answers its column `index` of every row, as text.
    async fn column(client: &Client, sql: &str, index: usize) -> Vec<String> {
        let messages = client.simple_query(sql).await.expect("the statement runs");
        messages
            .iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => row.get(index).map(str::to_owned),
                _ => None,
            })
            .collect()
    }

    /// Every scan of a table in a JSON plan, as `(table, node type, index)`.
    fn scans(plan: &Value, found: &mut Vec<(String, String, String)>) {
        let text = |key: &str| plan.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
        if let Some(table) = plan.get("Relation Name").and_then(Value::as_str) {
            found.push((table.to_owned(), text("Node Type"), text("Index Name")));
        }
        for child in plan.get("Plans").and_then(Value::as_array).into_iter().flatten() {
            scans(child, found);
        }
    }

    /// Populates the store's schema, analyses it, and answers the scans of
    /// the generic and the custom plan of [`ASSIGNERS`] and what it finds.
    async fn plans_and_assigners(
        url: &str,
    ) -> (Vec<(String, String, String)>, Vec<(String, String, String)>, Vec<String>) {
        let store = PostgresStore::connect(url).await.expect("the store connects and migrates");
        let conn = store.connection().await.expect("a connection");
        conn.batch_execute(&format!(
            "INSERT INTO orgs (id, name, created_at) VALUES ('or-plan', 'Plan', 0); \
             INSERT INTO users (id, org_id, kind, username, username_key, is_registered, \
                 is_service_account, is_sso_required, state, created_at, version) \
             SELECT 'us-' || lpad(n::text, 6, '0'), 'or-plan', 'EndUser', n || '@x', \
                 n || '@x', false, false, false, \
                 CASE WHEN n = 3 THEN 'Inactive' ELSE 'Active' END, 0, 0 \
             FROM generate_series(1, {USERS}) AS n; \
             INSERT INTO permissions (id, org_id, name, operations, is_immutable, \
                 is_archived, created_at, updated_at, version) VALUES \
             ('pm-readers', 'or-plan', 'Readers', ARRAY['Auth:Users:Read'], false, false, 0, 0, 0), \
             ('pm-assigners', 'or-plan', 'Assigners', \
                 ARRAY['Auth:Users:Read', 'Permissions:Assign'], false, false, 0, 0, 0); \
             INSERT INTO permission_assignments (id, permission_id, user_id, org_id, created_at) \
             SELECT 'pa-' || n, 'pm-readers', 'us-' || lpad(n::text, 6, '0'), 'or-plan', 0 \
             FROM generate_series(1, {USERS}) AS n; \
             INSERT INTO permission_assignments \
                 (id, permission_id, user_id, org_id, created_at, ended_at) VALUES \
             ('pa-a1', 'pm-assigners', 'us-000002', 'or-plan', 0, NULL), \
             ('pa-a2', 'pm-assigners', 'us-004000', 'or-plan', 0, NULL), \
             ('pa-a3', 'pm-assigners', 'us-000003', 'or-plan', 0, NULL), \
             ('pa-a4', 'pm-assigners', 'us-000004', 'or-plan', 0, 1); \
             ANALYZE orgs, users, permissions, permission_assignments; \
             PREPARE assigners (text, text) AS {ASSIGNERS};"
        ))
        .await
        .expect("the population is written");

        let execute = "EXECUTE assigners('or-plan', 'Permissions:Assign')";
        let mut plans = Vec::new();
        for mode in ["force_generic_plan", "force_custom_plan"] {
            conn.batch_execute(&format!("SET plan_cache_mode = {mode}")).await.unwrap();
            let json = column(&conn, &format!("EXPLAIN (FORMAT JSON) {execute}"), 0).await;
            let plan: Value = serde_json::from_str(&json[0]).expect("a JSON plan");
            let mut found = Vec::new();
            scans(&plan[0]["Plan"], &mut found);
            plans.push(found);
        }
        let assigners = column(&conn, execute, 1).await;
        conn.batch_execute("DEALLOCATE assigners; RESET plan_cache_mode").await.unwrap();
        drop(conn);
        store.close();
        let custom = plans.pop().unwrap();
        let generic = plans.pop().unwrap();
        (generic, custom, assigners)
    }

    #[tokio::test]
    async fn the_assigners_are_read_through_indexes_when_everybody_holds_one_permission() {
        let Ok(server) = std::env::var("ORGUSERS_TEST_POSTGRES_URL") else {
            eprintln!("skipped: set ORGUSERS_TEST_POSTGRES_URL to a PostgreSQL URL to run it");
            return;
        };
        let (admin, connection) = tokio_postgres::connect(&server, NoTls).await.unwrap();
        tokio::spawn(connection);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!("t_plan_{}_{nanos}", std::process::id());
        admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-c%20search_path%3D{schema}");

        // Run apart, so that the schema is dropped whatever happens.
        let outcome = tokio::spawn(async move { plans_and_assigners(&url).await }).await;
        admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
        let (generic, custom, assigners) = outcome.expect("the plans were read");

        for scans in [&generic, &custom] {
            for (table, node, index) in scans {
                let through_index = node == "Index Scan" || node == "Index Only Scan";
                match table.as_str() {
                    "permission_assignments" => assert!(
                        through_index && index == "permission_assignments_by_permission",
                        "{scans:?}"
                    ),
                    "users" => assert!(through_index, "{scans:?}"),
                    _ => {}
                }
            }
            assert!(scans.iter().any(|(table, ..)| table == "users"), "{scans:?}");
        }
        assert_eq!(assigners, ["{us-000002,us-004000}"]);
    }
}
