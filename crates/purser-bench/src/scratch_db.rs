//! A PostgreSQL database made for one bench run and dropped after it: a run's wallet records
//! are sealed with that run's vault key, which no later run has.

/// A database created for one bench run and dropped after it.
pub struct ScratchDb {
    admin: String,
    name: String,
    pub url: String,
}

impl ScratchDb {
    pub async fn create(admin: &str) -> Result<ScratchDb, String> {
        let name = format!("purser_bench_{}", crate::run_id());
        // postgres://user[:pw]@host[:port]/db[?params] → same with /<name>.
        let (base, params) = admin.split_once('?').map_or((admin, ""), |(b, p)| (b, p));
        let Some((prefix, _db)) = base
            .rsplit_once('/')
            .filter(|(p, _)| p.contains("://") && !p.ends_with('/'))
        else {
            return Err("--database-url must be a URL like postgres://user@host:5432/db to benchmark PostgreSQL".into());
        };
        let url = if params.is_empty() {
            format!("{prefix}/{name}")
        } else {
            format!("{prefix}/{name}?{params}")
        };
        let client = admin_client(admin).await?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| format!("cannot create a scratch database for the bench: {e}"))?;
        Ok(ScratchDb {
            admin: admin.to_string(),
            name,
            url,
        })
    }

    pub async fn drop_it(self) {
        if let Ok(c) = admin_client(&self.admin).await {
            let _ = c
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

async fn admin_client(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", purser_store::redact_url(url)))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}
