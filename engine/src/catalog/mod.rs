//! The SQLite catalog: the single source of truth for keys, volumes, snapshots, images and
//! instances, and the lock between processes (the CLI, running mounts).
//!
//! Records are typed Rust structs stored as JSON documents, one table per kind, keyed by id and
//! indexed by region. Every operation runs in one transaction; writers take SQLite's write lock
//! up front (`BEGIN IMMEDIATE`) so read-check-write sequences cannot interleave across processes.

use crate::error::{Code, Error, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

/// A kind of record stored in its own table.
pub(crate) trait Record: Serialize + DeserializeOwned {
    /// The table's name.
    const TABLE: &'static str;
    /// The record's primary key.
    fn key(&self) -> String;
    /// The region the record belongs to ("" for global records).
    fn region(&self) -> &str;
}

/// Schema migrations, numbered by position; each runs once, in order, inside a transaction.
const MIGRATIONS: &[&str] = &[
    // 1: document tables and settings.
    "CREATE TABLE kms_keys (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE kms_aliases (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE kms_grants (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE volumes (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE snapshots (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE images (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE instances (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE import_tasks (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE INDEX kms_keys_region ON kms_keys(region);
     CREATE INDEX kms_aliases_region ON kms_aliases(region);
     CREATE INDEX kms_grants_region ON kms_grants(region);
     CREATE INDEX volumes_region ON volumes(region);
     CREATE INDEX snapshots_region ON snapshots(region);
     CREATE INDEX images_region ON images(region);
     CREATE INDEX instances_region ON instances(region);",
    // 2: API access keys (global, region '').
    "CREATE TABLE access_keys (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);",
    // 3: jobs, the data work of admitted operations.
    "CREATE TABLE jobs (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);",
    // 4: tags, one row per tagged EC2 resource (`tags`) and per tagged KMS key (`kms_tags`).
    "CREATE TABLE tags (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     CREATE TABLE kms_tags (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     CREATE INDEX tags_region ON tags(region);
     CREATE INDEX kms_tags_region ON kms_tags(region);",
    // 5: several accounts in a home. The accounts table; a home's existing account becomes its
    // first row; volumes record their owner; the per-region EC2 settings (encryption by
    // default, the default key, client tokens) gain the account: `NAME/ACCOUNT/REGION…`.
    "CREATE TABLE accounts (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);
     INSERT INTO accounts (id, region, body)
       SELECT value, '', json_object('id', value) FROM settings WHERE key = 'account-id';
     UPDATE volumes SET body = json_set(body, '$.owner_id',
       (SELECT value FROM settings WHERE key = 'account-id'))
       WHERE EXISTS (SELECT 1 FROM settings WHERE key = 'account-id');
     UPDATE settings SET key = 'ebs-encryption-by-default/'
       || (SELECT value FROM settings WHERE key = 'account-id') || '/' || substr(key, 27)
       WHERE key LIKE 'ebs-encryption-by-default/%';
     UPDATE settings SET key = 'ebs-default-kms-key-id/'
       || (SELECT value FROM settings WHERE key = 'account-id') || '/' || substr(key, 24)
       WHERE key LIKE 'ebs-default-kms-key-id/%';
     UPDATE settings SET key = 'client-token/'
       || (SELECT value FROM settings WHERE key = 'account-id') || '/' || substr(key, 14)
       WHERE key LIKE 'client-token/%';",
    // 6: IAM users and their inline policies (global, region '').
    "CREATE TABLE iam_users (id TEXT PRIMARY KEY, region TEXT NOT NULL, body TEXT NOT NULL);",
];

/// An open catalog: a pool of connections to one database file, so that threads of one process
/// run transactions side by side (WAL lets readers proceed while one writer commits).
pub(crate) struct Catalog {
    path: std::path::PathBuf,
    /// Idle connections; a transaction takes one and puts it back.
    pool: std::sync::Mutex<Vec<Connection>>,
}

/// Idle connections kept for reuse; more may be open while busy.
const POOL_KEEP: usize = 16;

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    // Turning a brand-new database to WAL takes an exclusive lock and SQLite answers BUSY at
    // once, without its busy handler, when another process is doing the same: retry.
    let started = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < std::time::Duration::from_secs(60) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => break other?,
        }
    }
    // Keep the WAL and its index when the last connection closes: a home whose disk is full
    // still opens for reads (recreating them would need space).
    conn.file_control(
        Some(rusqlite::MAIN_DB),
        rusqlite::FileControl::PersistWal(&mut 1),
    )?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path` and brings its schema up to date.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let mut conn = connect(path)?;
        Self::migrate(&mut conn)?;
        Ok(Catalog {
            path: path.to_owned(),
            pool: std::sync::Mutex::new(vec![conn]),
        })
    }

    fn migrate(conn: &mut Connection) -> Result<()> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version as usize > MIGRATIONS.len() {
            return Err(Error::new(
                Code::CORRUPT_FILE,
                format!(
                    "the catalog has schema version {version}, newer than this blockseal knows \
                     ({}); upgrade blockseal",
                    MIGRATIONS.len()
                ),
            ));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`), committing if it returns `Ok`; then
    /// runs the hooks `f` registered with [`Tx::after_commit`], in order. A failed `f` or commit
    /// rolls back and drops the hooks unrun.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.with_conn(|conn| {
            let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
            let t = Tx::new(&tx);
            let out = f(&t)?;
            let hooks = t.hooks.into_inner();
            // A failure before the commit rolls back; one after it reports an error although
            // the rows are durable, and drops the hooks (what they clean up, start-up finishes).
            crate::fail::point("catalog.commit.before").map_err(commit_failed)?;
            tx.commit()?;
            crate::fail::point("catalog.commit.after").map_err(commit_failed)?;
            hooks.into_iter().for_each(|h| h());
            Ok(out)
        })
    }

    /// Runs `f` in a read transaction: one consistent view, taken without the write lock.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.with_conn(|conn| {
            let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
            let out = f(&Tx::new(&tx))?;
            tx.finish()?;
            Ok(out)
        })
    }

    /// Runs `f`, which normally only reads, in a read transaction; should it need to write (e.g.
    /// `alias/aws/ebs` made on first use) and meet another writer's newer snapshot, runs it again
    /// in a write transaction.
    pub(crate) fn read_mostly<T>(&self, f: impl Fn(&Tx<'_>) -> Result<T>) -> Result<T> {
        match self.with_conn(|conn| {
            let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
            let t = Tx::new(&tx);
            let out = f(&t)?;
            let hooks = t.hooks.into_inner();
            tx.commit()?;
            hooks.into_iter().for_each(|h| h());
            Ok(out)
        }) {
            Err(e) if is_busy(&e) => self.write(f),
            other => other,
        }
    }

    /// Lends `f` an idle connection (opening one if none is idle) and takes it back afterwards.
    /// A connection whose transaction failed half-way is dropped rather than reused.
    fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let out = f(&conn);
        if conn.is_autocommit() {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL_KEEP {
                pool.push(conn);
            }
        }
        out
    }
}

/// The error of a commit that failed at a failpoint, as SQLite's own I/O failure would read.
fn commit_failed(e: std::io::Error) -> Error {
    Error::io("commit the catalog transaction", e)
}

/// Whether `e` is SQLite's "busy": a read transaction that tried to write after another writer
/// committed.
fn is_busy(e: &Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(rusqlite::Error::SqliteFailure(f, _)) = s.downcast_ref::<rusqlite::Error>() {
            return matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            );
        }
        src = s.source();
    }
    false
}

/// Work to do once a transaction has committed (and never if it rolls back).
pub(crate) type AfterCommit = Box<dyn FnOnce() + 'static>;

/// A transaction over the catalog.
pub(crate) struct Tx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    /// Registered by [`Tx::after_commit`]; run by `Catalog::write` after a successful commit.
    hooks: std::cell::RefCell<Vec<AfterCommit>>,
}

fn decode<R: Record>(body: &str) -> Result<R> {
    serde_json::from_str(body).map_err(|e| {
        Error::new(
            Code::CORRUPT_FILE,
            format!("catalog row in {} does not parse: {e}", R::TABLE),
        )
    })
}

impl<'a> Tx<'a> {
    fn new(tx: &'a rusqlite::Transaction<'a>) -> Tx<'a> {
        Tx {
            tx,
            hooks: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Runs `hook` once this transaction has committed; if it rolls back (its closure fails, or
    /// the commit does), `hook` is dropped unrun. For clean-up that is only safe once the rows
    /// are durable, such as removing a data file's commit marker. Hooks of a read transaction
    /// never run.
    pub(crate) fn after_commit(&self, hook: AfterCommit) {
        self.hooks.borrow_mut().push(hook);
    }

    /// The record with primary key `key`, if any.
    pub(crate) fn get<R: Record>(&self, key: &str) -> Result<Option<R>> {
        let sql = format!("SELECT body FROM {} WHERE id = ?1", R::TABLE);
        let body: Option<String> = self
            .tx
            .query_row(&sql, params![key], |r| r.get(0))
            .optional()?;
        body.map(|b| decode(&b)).transpose()
    }

    /// Inserts or replaces `rec`.
    pub(crate) fn put<R: Record>(&self, rec: &R) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} (id, region, body) VALUES (?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET region = excluded.region, body = excluded.body",
            R::TABLE
        );
        let body = serde_json::to_string(rec).expect("records serialize");
        self.tx
            .execute(&sql, params![rec.key(), rec.region(), body])?;
        Ok(())
    }

    /// Removes the record with primary key `key`; returns whether it existed.
    pub(crate) fn delete<R: Record>(&self, key: &str) -> Result<bool> {
        let sql = format!("DELETE FROM {} WHERE id = ?1", R::TABLE);
        Ok(self.tx.execute(&sql, params![key])? > 0)
    }

    /// Every record of region `region`, in key order.
    pub(crate) fn list<R: Record>(&self, region: &str) -> Result<Vec<R>> {
        let sql = format!(
            "SELECT body FROM {} WHERE region = ?1 ORDER BY id",
            R::TABLE
        );
        self.collect(&sql, params![region])
    }

    /// Every record of every region, in key order.
    pub(crate) fn list_all<R: Record>(&self) -> Result<Vec<R>> {
        let sql = format!("SELECT body FROM {} ORDER BY id", R::TABLE);
        self.collect(&sql, params![])
    }

    fn collect<R: Record>(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<R>> {
        let mut stmt = self.tx.prepare(sql)?;
        let rows = stmt.query_map(p, |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(decode(&body?)?);
        }
        Ok(out)
    }

    /// A setting's value.
    pub(crate) fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Sets a setting.
    pub(crate) fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Thing {
        id: String,
        region: String,
        n: u32,
    }
    impl Record for Thing {
        const TABLE: &'static str = "volumes";
        fn key(&self) -> String {
            self.id.clone()
        }
        fn region(&self) -> &str {
            &self.region
        }
    }

    #[test]
    fn put_get_list_delete_and_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(&dir.path().join("c.db")).unwrap();
        let t = |id: &str, r: &str, n| Thing {
            id: id.into(),
            region: r.into(),
            n,
        };
        c.write(|tx| {
            tx.put(&t("a", "r1", 1))?;
            tx.put(&t("b", "r2", 2))?;
            tx.put(&t("a", "r1", 3))
        })
        .unwrap();
        let err: Result<()> = c.write(|tx| {
            tx.put(&t("c", "r1", 9))?;
            Err(Error::new(Code::INTERNAL_ERROR, "abort"))
        });
        assert!(err.is_err());
        c.read(|tx| {
            assert_eq!(tx.get::<Thing>("a")?.unwrap().n, 3);
            assert!(
                tx.get::<Thing>("c")?.is_none(),
                "a failed transaction leaves nothing"
            );
            assert_eq!(tx.list::<Thing>("r1")?.len(), 1);
            assert_eq!(tx.list_all::<Thing>()?.len(), 2);
            Ok(())
        })
        .unwrap();
        c.write(|tx| {
            assert!(tx.delete::<Thing>("a")?);
            tx.set_setting("k", "v")
        })
        .unwrap();
        // Reopening runs no migration twice and keeps the data.
        drop(c);
        let c = Catalog::open(&dir.path().join("c.db")).unwrap();
        c.read(|tx| {
            assert_eq!(tx.setting("k")?.as_deref(), Some("v"));
            assert!(tx.get::<Thing>("a")?.is_none());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn after_commit_hooks_run_only_after_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(&dir.path().join("c.db")).unwrap();
        let ran = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let log = |s: &'static str| {
            let ran = ran.clone();
            Box::new(move || ran.borrow_mut().push(s)) as AfterCommit
        };
        c.write(|tx| {
            tx.after_commit(log("first"));
            tx.set_setting("k", "v")?;
            tx.after_commit(log("second"));
            // Not yet: the rows are not durable.
            assert!(ran.borrow().is_empty());
            Ok(())
        })
        .unwrap();
        assert_eq!(*ran.borrow(), ["first", "second"]);
        let err: Result<()> = c.write(|tx| {
            tx.after_commit(log("rolled back"));
            Err(Error::new(Code::INTERNAL_ERROR, "abort"))
        });
        assert!(err.is_err());
        assert_eq!(
            *ran.borrow(),
            ["first", "second"],
            "a rollback runs no hook"
        );
    }
}
