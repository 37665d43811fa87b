//! The two backends every conformance test runs on, and `conformance!`, which declares
//! a test once and runs it on each: `sqlite::NAME` on a fresh database file, and
//! `postgres::NAME` on a fresh database in the PostgreSQL at `TY_TEST_DATABASE_URL`
//! (`.ci/postgres start DIR`; CI sets it). Without that variable the PostgreSQL copy
//! skips, saying so.

use trainyard_store::Store;

/// A store on a fresh database, and what keeps that database alive.
pub struct Fresh {
    pub store: Store,
    /// The PostgreSQL database's URL (a second store may open it as another replica).
    pub url: Option<String>,
    _dir: tempfile::TempDir,
}

pub async fn sqlite() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).await.unwrap();
    Fresh { store, url: None, _dir: dir }
}

/// A store on a new, empty database in the test PostgreSQL, or `None` without one.
pub async fn postgres() -> Option<Fresh> {
    let Ok(admin) = std::env::var("TY_TEST_DATABASE_URL") else {
        println!("skipped: no PostgreSQL (TY_TEST_DATABASE_URL; .ci/postgres start DIR)");
        return None;
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut connection: sqlx::PgConnection = sqlx::Connection::connect(&admin).await.unwrap();
    sqlx::Executor::execute(&mut connection, format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    sqlx::Connection::close(connection).await.unwrap();
    let (base, _) = admin.rsplit_once('/').expect("a database URL ends in /NAME");
    let url = format!("{base}/{name}");
    let store = Store::open_postgres(&url).await.unwrap();
    Some(Fresh { store, url: Some(url), _dir: tempfile::tempdir().unwrap() })
}

/// Declares each test once per backend; the body sees the fresh store as `$store`.
macro_rules! conformance {
    ($($(#[$meta:meta])* async fn $name:ident($store:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $($(#[$meta])* #[tokio::test] async fn $name() {
                let fresh = $crate::backends::sqlite().await;
                let $store = fresh.store.clone();
                $body
            })*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $($(#[$meta])* #[tokio::test] async fn $name() {
                let Some(fresh) = $crate::backends::postgres().await else { return };
                let $store = fresh.store.clone();
                $body
            })*
        }
    };
}
pub(crate) use conformance;
