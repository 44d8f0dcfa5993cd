//! Records on PostgreSQL: a small pool of connections; each write one transaction.

use std::error::Error as StdError;
use std::sync::Mutex;

use bytes::BytesMut;
use std::collections::HashMap;
use tokio::sync::Semaphore;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, Statement};

use super::{schema, DbError, Expect, Row, Stmt, StmtResult, Val};
use crate::postgres::{connect, db_err};
use crate::StoreError;

/// Connections per process. Every node of a cluster has its own pool, so this times the
/// number of nodes must stay under the server's `max_connections`.
const POOL_SIZE: usize = 8;

/// Key for the advisory lock that serializes record migrations across nodes.
const MIGRATION_LOCK: i64 = 0x7075_7273_6572_0002;

pub(super) struct PgDb {
    url: String,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
    pub(super) nonces: super::nonces::NonceBatcher,
}

/// A pooled connection and the statements it has prepared: each SQL text is prepared once per
/// connection, so a one-statement write costs BEGIN, EXECUTE and COMMIT, not a PREPARE too.
struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
}

/// Prepared statements kept per connection; beyond this the cache starts over (the set of
/// statements is fixed and small, so this is only a guard).
const MAX_PREPARED: usize = 512;

impl Conn {
    async fn prepare(&mut self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        if self.prepared.len() >= MAX_PREPARED {
            self.prepared.clear();
        }
        self.prepared.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

fn classify(e: tokio_postgres::Error) -> DbError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let what = e
            .as_db_error()
            .and_then(|d| d.constraint().map(str::to_string))
            .unwrap_or_default();
        return DbError::Conflict(what);
    }
    DbError::Store(db_err(e))
}

impl PgDb {
    pub(super) async fn open(url: &str) -> Result<PgDb, StoreError> {
        let mut client = connect(url).await?;
        migrate(&mut client).await?;
        Ok(PgDb {
            url: url.to_string(),
            idle: Mutex::new(vec![Conn {
                client,
                prepared: HashMap::new(),
            }]),
            permits: Semaphore::new(POOL_SIZE),
            nonces: super::nonces::NonceBatcher::start(url.to_string()),
        })
    }

    async fn client(&self) -> Result<Conn, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        match pooled {
            Some(c) if !c.client.is_closed() => Ok(c),
            _ => Ok(Conn {
                client: connect(&self.url).await?,
                prepared: HashMap::new(),
            }),
        }
    }

    fn give_back(&self, client: Conn) {
        if client.client.is_closed() {
            return;
        }
        if let Ok(mut v) = self.idle.lock() {
            if v.len() < POOL_SIZE {
                v.push(client);
            }
        }
    }

    pub(super) async fn write(&self, stmts: Vec<Stmt>) -> Result<Vec<StmtResult>, DbError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| DbError::Store(StoreError::Closed))?;
        let mut client = self.client().await?;
        let result = run_write(&mut client, &stmts).await;
        self.give_back(client);
        result
    }

    pub(super) async fn query(&self, sql: &str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let mut conn = self.client().await?;
        let result = async {
            let stmt = conn.prepare(sql).await.map_err(db_err)?;
            let rows = conn
                .client
                .query(&stmt, &refs(&params))
                .await
                .map_err(db_err)?;
            rows.iter().map(read_row).collect()
        }
        .await;
        self.give_back(conn);
        result
    }
}

async fn run_write(conn: &mut Conn, stmts: &[Stmt]) -> Result<Vec<StmtResult>, DbError> {
    // Prepare first (outside the transaction; prepared statements belong to the connection).
    let mut prepared = Vec::with_capacity(stmts.len());
    for s in stmts {
        prepared.push(conn.prepare(s.sql).await.map_err(classify)?);
    }
    // One statement that expects nothing is atomic on its own: no BEGIN/COMMIT round trips.
    if let [s] = stmts {
        if s.expect == Expect::Any {
            let refs = refs(&s.params);
            return Ok(vec![run_one(&conn.client, s, &prepared[0], &refs).await?]);
        }
    }
    let tx = conn.client.transaction().await.map_err(classify)?;
    let mut out = Vec::with_capacity(stmts.len());
    for (s, p) in stmts.iter().zip(&prepared) {
        let refs = refs(&s.params);
        let result = run_one(&tx, s, p, &refs).await?;
        if !s.expect.holds(result.changed) {
            // Dropping the transaction rolls it back.
            return Err(DbError::Precondition(s.label));
        }
        out.push(result);
    }
    tx.commit().await.map_err(classify)?;
    Ok(out)
}

fn refs(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

async fn run_one<C: tokio_postgres::GenericClient>(
    c: &C,
    s: &Stmt,
    prepared: &Statement,
    refs: &[&(dyn ToSql + Sync)],
) -> Result<StmtResult, DbError> {
    Ok(if s.returns_rows {
        let rows = c.query(prepared, refs).await.map_err(classify)?;
        let rows = rows.iter().map(read_row).collect::<Result<Vec<_>, _>>()?;
        StmtResult {
            changed: rows.len() as u64,
            rows,
        }
    } else {
        StmtResult {
            changed: c.execute(prepared, refs).await.map_err(classify)?,
            rows: Vec::new(),
        }
    })
}

fn read_row(r: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let bad = |e: tokio_postgres::Error| StoreError::Corrupt(format!("unreadable column: {e}"));
    let mut cols = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let t = c.type_();
        let v = if *t == Type::INT8 {
            r.try_get::<_, Option<i64>>(i).map_err(bad)?.map(Val::Int)
        } else if *t == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)
                .map_err(bad)?
                .map(|v| Val::Int(i64::from(v)))
        } else if *t == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)
                .map_err(bad)?
                .map(|v| Val::Int(i64::from(v)))
        } else if *t == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)
                .map_err(bad)?
                .map(|v| Val::Int(i64::from(v)))
        } else if *t == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)
                .map_err(bad)?
                .map(Val::Bytes)
        } else {
            r.try_get::<_, Option<String>>(i)
                .map_err(bad)?
                .map(Val::Text)
        };
        cols.push(v.unwrap_or(Val::Null));
    }
    Ok(Row(cols))
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) => {
                if *ty == Type::INT4 {
                    i32::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*v != 0).to_sql(ty, out)
                } else {
                    v.to_sql(ty, out)
                }
            }
            Val::Text(v) => v.as_str().to_sql(ty, out),
            Val::Bytes(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(db_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS records_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await
    .map_err(db_err)?;
    // Each version not applied yet, in order (see the SQLite store).
    let done: Vec<i64> = tx
        .query("SELECT version FROM records_migrations", &[])
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (version, sql) in schema::MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Config(format!("records migration {version} failed: {e}")))?;
        tx.execute(
            "INSERT INTO records_migrations (version, applied_at) VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT)",
            &[version],
        )
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}
