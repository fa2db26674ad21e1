//! The catalog servers' shared store (REMOTE.md `--store URL`): facts, reports, pending
//! certificate requests, signed certificates and used one-time tokens. One API over two
//! backends: SQLite (`sqlite:PATH`, WAL mode, for one server) and PostgreSQL
//! (`postgres://…`, for several). The schema is created on start.
//!
//! A store that cannot be reached is a [`StoreError`], never a panic: the server answers 503.
//! The PostgreSQL connection is made again on the next call after it failed.

use std::sync::Mutex;
use std::time::Duration;

/// A store operation that failed (unreachable, or a SQL error), with the reason.
#[derive(Debug)]
pub(crate) struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError(format!("sqlite: {e}"))
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError(format!("postgres: {e}"))
    }
}

/// One node of the inventory (`GET /v1/nodes`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NodeRow {
    pub name: String,
    /// The facts JSON it last posted.
    pub facts: String,
    /// The version of the catalog it was last given.
    pub catalog_version: String,
    /// When it last asked for its catalog (Unix seconds).
    pub seen: i64,
    /// Its last report's status (`changed`, `failed`, `unchanged`) and time, if any.
    pub last_report: Option<(String, i64)>,
}

/// One stored report (`GET /v1/reports`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReportRow {
    pub node: String,
    /// When the server received it (Unix seconds).
    pub time: i64,
    pub status: String,
    /// The Report JSON as the agent sent it.
    pub body: String,
}

/// What `GET /v1/reports` selects.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReportFilter {
    pub node: Option<String>,
    pub status: Option<String>,
    /// Only reports received at or after this time (Unix seconds).
    pub since: Option<i64>,
}

/// The store: one of the two backends.
pub(crate) struct Store {
    backend: Backend,
}

enum Backend {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres {
        url: String,
        client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
    },
}

/// The tables, in SQL both backends accept (`ID` is each backend's auto-increment key).
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS fleet_nodes (name TEXT PRIMARY KEY, facts TEXT NOT NULL, \
     catalog_version TEXT NOT NULL, seen BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS fleet_reports (id ID, node TEXT NOT NULL, time BIGINT NOT NULL, \
     status TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS fleet_reports_node ON fleet_reports (node, time)",
    "CREATE TABLE IF NOT EXISTS fleet_csrs (node TEXT PRIMARY KEY, csr TEXT NOT NULL, \
     received BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS fleet_certs (node TEXT PRIMARY KEY, cert TEXT NOT NULL, \
     signed BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS fleet_tokens (token TEXT PRIMARY KEY, used BIGINT NOT NULL)",
];

/// How long a PostgreSQL connection attempt may take before the request gets a 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens the store of `url` (`sqlite:PATH` or `postgres://…`) and creates its schema.
    pub(crate) async fn open(url: &str) -> Result<Store, StoreError> {
        let backend = if let Some(path) = url.strip_prefix("sqlite:") {
            Backend::Sqlite(Mutex::new(open_sqlite(path)?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres {
                url: url.to_string(),
                client: tokio::sync::Mutex::new(None),
            }
        } else {
            return Err(StoreError(format!(
                "`{url}` is not a store URL (sqlite:PATH or postgres://…)"
            )));
        };
        let store = Store { backend };
        store.create_schema().await?;
        Ok(store)
    }

    /// Creates the tables that are missing.
    async fn create_schema(&self) -> Result<(), StoreError> {
        for stmt in SCHEMA {
            match &self.backend {
                Backend::Sqlite(_) => {
                    let sql = stmt.replace(" ID,", " INTEGER PRIMARY KEY AUTOINCREMENT,");
                    self.sqlite(|c| c.execute_batch(&sql).map_err(Into::into))?;
                }
                Backend::Postgres { .. } => {
                    let sql = stmt.replace(" ID,", " BIGSERIAL PRIMARY KEY,");
                    self.pg(&sql, &[]).await?;
                }
            }
        }
        Ok(())
    }

    /// Runs `f` on the SQLite connection.
    fn sqlite<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Backend::Sqlite(conn) = &self.backend else {
            return Err(StoreError("not a SQLite store".into()));
        };
        let conn = conn
            .lock()
            .map_err(|_| StoreError("lock poisoned".into()))?;
        f(&conn)
    }

    /// Runs one PostgreSQL statement, connecting first when there is no live connection;
    /// a failure drops the connection so that the next call makes a new one.
    async fn pg(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let Backend::Postgres { url, client } = &self.backend else {
            return Err(StoreError("not a PostgreSQL store".into()));
        };
        let mut guard = client.lock().await;
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            *guard = Some(connect_pg(url).await?);
        }
        let Some(c) = guard.as_ref() else {
            return Err(StoreError("no connection".into()));
        };
        match c.query(sql, params).await {
            Ok(rows) => Ok(rows),
            Err(e) => {
                if c.is_closed() {
                    *guard = None;
                }
                Err(e.into())
            }
        }
    }

    /// Records the facts a node posted and the catalog version it was given.
    pub(crate) async fn put_facts(
        &self,
        node: &str,
        facts: &str,
        version: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => self.sqlite(|c| {
                c.execute(
                    "INSERT INTO fleet_nodes (name, facts, catalog_version, seen) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (name) DO UPDATE SET facts = ?2, catalog_version = ?3, seen = ?4",
                    rusqlite::params![node, facts, version, now],
                )?;
                Ok(())
            }),
            Backend::Postgres { .. } => self
                .pg(
                    "INSERT INTO fleet_nodes (name, facts, catalog_version, seen) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO UPDATE SET facts = $2, catalog_version = $3, seen = $4",
                    &[&node, &facts, &version, &now],
                )
                .await
                .map(drop),
        }
    }

    /// The facts JSON a node last posted.
    pub(crate) async fn facts(&self, node: &str) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => self.sqlite(|c| {
                use rusqlite::OptionalExtension;
                Ok(c.query_row(
                    "SELECT facts FROM fleet_nodes WHERE name = ?1",
                    [node],
                    |r| r.get(0),
                )
                .optional()?)
            }),
            Backend::Postgres { .. } => Ok(self
                .pg("SELECT facts FROM fleet_nodes WHERE name = $1", &[&node])
                .await?
                .first()
                .map(|r| r.get(0))),
        }
    }

    /// Stores a report.
    pub(crate) async fn put_report(&self, row: &ReportRow) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => self.sqlite(|c| {
                c.execute(
                    "INSERT INTO fleet_reports (node, time, status, body) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![row.node, row.time, row.status, row.body],
                )?;
                Ok(())
            }),
            Backend::Postgres { .. } => self
                .pg(
                    "INSERT INTO fleet_reports (node, time, status, body) VALUES ($1, $2, $3, $4)",
                    &[&row.node, &row.time, &row.status, &row.body],
                )
                .await
                .map(drop),
        }
    }

    /// The reports `filter` selects, oldest first.
    pub(crate) async fn reports(
        &self,
        filter: &ReportFilter,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let node = filter.node.clone().unwrap_or_default();
        let status = filter.status.clone().unwrap_or_default();
        let since = filter.since.unwrap_or(i64::MIN);
        let q = "SELECT node, time, status, body FROM fleet_reports WHERE (@1 = '' OR node = @1) \
                 AND (@2 = '' OR status = @2) AND time >= @3 ORDER BY time, id";
        match &self.backend {
            Backend::Sqlite(_) => self.sqlite(|c| {
                let sql = q.replace('@', "?");
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map(rusqlite::params![node, status, since], |r| {
                    Ok(ReportRow {
                        node: r.get(0)?,
                        time: r.get(1)?,
                        status: r.get(2)?,
                        body: r.get(3)?,
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            }),
            Backend::Postgres { .. } => {
                let sql = q.replace('@', "$");
                Ok(self
                    .pg(&sql, &[&node, &status, &since])
                    .await?
                    .iter()
                    .map(|r| ReportRow {
                        node: r.get(0),
                        time: r.get(1),
                        status: r.get(2),
                        body: r.get(3),
                    })
                    .collect())
            }
        }
    }

    /// The inventory: every node that asked for its catalog, by name.
    pub(crate) async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        let q = "SELECT n.name, n.facts, n.catalog_version, n.seen, \
                 (SELECT r.status FROM fleet_reports r WHERE r.node = n.name ORDER BY r.time DESC, r.id DESC LIMIT 1), \
                 (SELECT r.time FROM fleet_reports r WHERE r.node = n.name ORDER BY r.time DESC, r.id DESC LIMIT 1) \
                 FROM fleet_nodes n ORDER BY n.name";
        let row =
            |name, facts, catalog_version, seen, status: Option<String>, time: Option<i64>| {
                NodeRow {
                    name,
                    facts,
                    catalog_version,
                    seen,
                    last_report: status.zip(time),
                }
            };
        match &self.backend {
            Backend::Sqlite(_) => self.sqlite(|c| {
                let mut stmt = c.prepare(q)?;
                let rows = stmt.query_map([], |r| {
                    Ok(row(
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            }),
            Backend::Postgres { .. } => Ok(self
                .pg(q, &[])
                .await?
                .iter()
                .map(|r| row(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
                .collect()),
        }
    }

    /// Queues a certificate request (replacing an earlier one for the same node).
    pub(crate) async fn put_csr(&self, node: &str, csr: &str, now: i64) -> Result<(), StoreError> {
        self.upsert("fleet_csrs", "csr", "received", node, csr, now)
            .await
    }

    /// The pending certificate requests, by node name: (node, PEM, received, Unix time).
    pub(crate) async fn pending_csrs(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.rows("SELECT node, csr, received FROM fleet_csrs ORDER BY node")
            .await
    }

    /// The certificates signed into the store (by `fleet ca sign` or a server's autosign):
    /// (node, PEM, signed, Unix time).
    pub(crate) async fn signed_certs(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.rows("SELECT node, cert, signed FROM fleet_certs ORDER BY node")
            .await
    }

    /// Drops the node's signed certificate and pending request, so that it can enrol again
    /// (after `fleet ca revoke`).
    pub(crate) async fn forget_node_certs(&self, node: &str) -> Result<(), StoreError> {
        for table in ["fleet_certs", "fleet_csrs"] {
            let q = format!("DELETE FROM {table} WHERE node = @1");
            match &self.backend {
                Backend::Sqlite(_) => self.sqlite(|c| {
                    c.execute(&q.replace('@', "?"), [node])?;
                    Ok(())
                })?,
                Backend::Postgres { .. } => {
                    self.pg(&q.replace('@', "$"), &[&node]).await?;
                }
            }
        }
        Ok(())
    }

    /// Rows of (text, text, integer).
    async fn rows(&self, q: &str) -> Result<Vec<(String, String, i64)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => self.sqlite(|c| {
                let mut stmt = c.prepare(q)?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            }),
            Backend::Postgres { .. } => Ok(self
                .pg(q, &[])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect()),
        }
    }

    /// Stores a signed certificate and drops the node's pending request.
    pub(crate) async fn put_cert(
        &self,
        node: &str,
        cert: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.upsert("fleet_certs", "cert", "signed", node, cert, now)
            .await?;
        match &self.backend {
            Backend::Sqlite(_) => self.sqlite(|c| {
                c.execute("DELETE FROM fleet_csrs WHERE node = ?1", [node])?;
                Ok(())
            }),
            Backend::Postgres { .. } => self
                .pg("DELETE FROM fleet_csrs WHERE node = $1", &[&node])
                .await
                .map(drop),
        }
    }

    /// A node's signed certificate (PEM), if there is one.
    pub(crate) async fn cert(&self, node: &str) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => self.sqlite(|c| {
                use rusqlite::OptionalExtension;
                Ok(c.query_row(
                    "SELECT cert FROM fleet_certs WHERE node = ?1",
                    [node],
                    |r| r.get(0),
                )
                .optional()?)
            }),
            Backend::Postgres { .. } => Ok(self
                .pg("SELECT cert FROM fleet_certs WHERE node = $1", &[&node])
                .await?
                .first()
                .map(|r| r.get(0))),
        }
    }

    /// Marks a one-time token used; `false` when it had been used already (by any server
    /// sharing the store: the insert is the check).
    pub(crate) async fn use_token(&self, token: &str, now: i64) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => self.sqlite(|c| {
                let n = c.execute(
                    "INSERT INTO fleet_tokens (token, used) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    rusqlite::params![token, now],
                )?;
                Ok(n == 1)
            }),
            Backend::Postgres { .. } => Ok(!self
                .pg(
                    "INSERT INTO fleet_tokens (token, used) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING token",
                    &[&token, &now],
                )
                .await?
                .is_empty()),
        }
    }

    /// `INSERT … ON CONFLICT (node) DO UPDATE` of a (node, text, time) table.
    async fn upsert(
        &self,
        table: &str,
        text_col: &str,
        time_col: &str,
        node: &str,
        text: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let q = format!(
            "INSERT INTO {table} (node, {text_col}, {time_col}) VALUES (@1, @2, @3) \
             ON CONFLICT (node) DO UPDATE SET {text_col} = @2, {time_col} = @3"
        );
        match &self.backend {
            Backend::Sqlite(_) => self.sqlite(|c| {
                c.execute(&q.replace('@', "?"), rusqlite::params![node, text, now])?;
                Ok(())
            }),
            Backend::Postgres { .. } => self
                .pg(&q.replace('@', "$"), &[&node, &text, &now])
                .await
                .map(drop),
        }
    }
}

/// Opens (creating) a SQLite database in WAL mode, waiting up to 5 s for a busy lock.
fn open_sqlite(path: &str) -> Result<rusqlite::Connection, StoreError> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            return Err(StoreError(format!(
                "sqlite:{path}: the directory {} does not exist",
                dir.display()
            )));
        }
    }
    let conn =
        rusqlite::Connection::open(path).map_err(|e| StoreError(format!("sqlite:{path}: {e}")))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Connects to PostgreSQL (no TLS: the store is reached on a trusted network or loopback),
/// running the connection on its own task.
async fn connect_pg(url: &str) -> Result<tokio_postgres::Client, StoreError> {
    let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| StoreError("postgres: connection timed out".into()))??;
    tokio::spawn(async move {
        // Ends when the connection breaks; the next call sees `is_closed` and reconnects.
        let _ = connection.await;
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_store_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", tmp.path().join("s.db").display());
        let store = Store::open(&url).await.unwrap();
        store
            .put_facts("web01", "{}", "sha256:a", 10)
            .await
            .unwrap();
        store
            .put_facts("web01", "{\"x\":1}", "sha256:b", 11)
            .await
            .unwrap();
        assert_eq!(
            store.facts("web01").await.unwrap().as_deref(),
            Some("{\"x\":1}")
        );
        assert_eq!(store.facts("db01").await.unwrap(), None);
        let report = |t, s: &str| ReportRow {
            node: "web01".into(),
            time: t,
            status: s.into(),
            body: "{}".into(),
        };
        store.put_report(&report(20, "changed")).await.unwrap();
        store.put_report(&report(30, "failed")).await.unwrap();
        let nodes = store.nodes().await.unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].catalog_version, "sha256:b");
        assert_eq!(nodes[0].last_report, Some(("failed".into(), 30)));
        let failed = ReportFilter {
            status: Some("failed".into()),
            ..Default::default()
        };
        assert_eq!(
            store.reports(&failed).await.unwrap(),
            [report(30, "failed")]
        );
        let since = ReportFilter {
            since: Some(25),
            node: Some("web01".into()),
            ..Default::default()
        };
        assert_eq!(store.reports(&since).await.unwrap().len(), 1);
        store.put_csr("n1", "CSR", 1).await.unwrap();
        assert_eq!(
            store.pending_csrs().await.unwrap(),
            [("n1".into(), "CSR".into(), 1)]
        );
        assert_eq!(store.cert("n1").await.unwrap(), None);
        store.put_cert("n1", "CERT", 2).await.unwrap();
        assert_eq!(store.cert("n1").await.unwrap().as_deref(), Some("CERT"));
        assert!(store.pending_csrs().await.unwrap().is_empty());
        assert_eq!(
            store.signed_certs().await.unwrap(),
            [("n1".into(), "CERT".into(), 2)]
        );
        store.put_csr("n1", "CSR2", 3).await.unwrap();
        store.forget_node_certs("n1").await.unwrap();
        assert_eq!(store.cert("n1").await.unwrap(), None);
        assert!(store.pending_csrs().await.unwrap().is_empty());
        assert!(store.use_token("t", 1).await.unwrap());
        assert!(!store.use_token("t", 2).await.unwrap());
        // Opened again: the data is there (schema creation is idempotent).
        drop(store);
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.nodes().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn bad_urls_are_clear_errors() {
        assert!(Store::open("mysql://x").await.is_err());
        let e = Store::open("sqlite:/nonexistent-dir/x.db")
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
