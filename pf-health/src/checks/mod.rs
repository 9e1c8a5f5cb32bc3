//! Built-in checks, each behind a feature: PostgreSQL through the application's pool
//! (`postgres-sqlx`, `postgres-deadpool`) and Redis through its shared connection (`redis`).
//!
//! None opens a connection of its own per probe: they borrow from the pool or multiplex on
//! the shared connection the application already uses.

#[cfg(any(feature = "postgres-sqlx", feature = "postgres-deadpool"))]
mod postgres;
#[cfg(any(feature = "postgres-sqlx", feature = "postgres-deadpool"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "postgres-sqlx", feature = "postgres-deadpool")))
)]
pub use postgres::*;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisCheck, redis_connect_failure};
