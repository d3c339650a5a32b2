//! The connection pool (deadpool-postgres over tokio-postgres) and its
//! metrics: connections in use and the pool's size, read when Prometheus
//! scrapes, and the time requests wait for a connection.

use std::time::{Duration, Instant};

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType,
};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts, IntGauge, Registry};
use tokio_postgres::NoTls;

use super::url::PgUrl;
use crate::serve::config::StoreConfig;
use crate::serve::store::StoreError;

/// Buckets of the connection wait: most waits are nothing.
const WAIT_BUCKETS: &[f64] = &[
    0.00001, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The pool and its wait histogram.
#[derive(Clone)]
pub struct Connections {
    pool: Pool,
    wait: Histogram,
    timeout: Duration,
}

impl Connections {
    /// Builds the pool (connecting lazily) and registers its metrics.
    pub fn new(
        url: &PgUrl,
        config: &StoreConfig,
        registry: &Registry,
    ) -> Result<Connections, StoreError> {
        let mut pg = url.config().clone();
        // Every session: a 201 only after the commit is flushed to disk
        // (whatever the server's default), and no statement runs forever.
        let mut options = pg.get_options().unwrap_or_default().to_owned();
        options.push_str(&format!(
            " -c synchronous_commit=on -c statement_timeout={}",
            config.statement_timeout.as_millis()
        ));
        pg.options(options.trim_start())
            .application_name("srelab")
            .connect_timeout(config.statement_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .wait_timeout(Some(config.statement_timeout))
            .create_timeout(Some(config.statement_timeout))
            .recycle_timeout(Some(config.statement_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Postgres(format!("cannot build the pool: {e}")))?;
        let wait = Histogram::with_opts(
            HistogramOpts::new(
                "srelab_db_pool_wait_seconds",
                "Time a database operation waited for a pooled connection (PostgreSQL).",
            )
            .buckets(WAIT_BUCKETS.to_vec()),
        )
        .map_err(metrics_error)?;
        registry
            .register(Box::new(wait.clone()))
            .map_err(metrics_error)?;
        registry
            .register(Box::new(
                PoolGauges::new(pool.clone()).map_err(metrics_error)?,
            ))
            .map_err(metrics_error)?;
        Ok(Connections {
            pool,
            wait,
            timeout: config.statement_timeout,
        })
    }

    /// A connection: an idle one, a new one, or the next one released.
    pub async fn get(&self) -> Result<Object, StoreError> {
        let start = Instant::now();
        let result = self.pool.get().await;
        self.wait.observe(start.elapsed().as_secs_f64());
        result.map_err(|e| pool_error(e, self.timeout))
    }

    /// Closes every connection; later `get`s fail.
    pub fn close(&self) {
        self.pool.close();
    }
}

fn pool_error(err: PoolError, timeout: Duration) -> StoreError {
    match err {
        PoolError::Timeout(TimeoutType::Wait) => StoreError::Timeout(timeout),
        PoolError::Backend(e) => super::db_error(&e),
        PoolError::Closed => StoreError::Closed,
        other => StoreError::Postgres(other.to_string()),
    }
}

fn metrics_error(e: prometheus::Error) -> StoreError {
    StoreError::Postgres(format!("cannot register the pool metrics: {e}"))
}

/// `srelab_db_pool_connections_in_use` and `_max`, read from the pool's
/// status at each scrape (no work per request).
struct PoolGauges {
    pool: Pool,
    in_use: IntGauge,
    max: IntGauge,
    descs: Vec<Desc>,
}

impl PoolGauges {
    fn new(pool: Pool) -> prometheus::Result<PoolGauges> {
        let in_use = IntGauge::new(
            "srelab_db_pool_connections_in_use",
            "PostgreSQL connections lent out to operations now.",
        )?;
        let max = IntGauge::new(
            "srelab_db_pool_connections_max",
            "Most PostgreSQL connections this instance opens (--db-pool-size).",
        )?;
        let descs = in_use
            .desc()
            .into_iter()
            .chain(max.desc())
            .cloned()
            .collect();
        Ok(PoolGauges {
            pool,
            in_use,
            max,
            descs,
        })
    }
}

impl Collector for PoolGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let status = self.pool.status();
        self.in_use
            .set(status.size.saturating_sub(status.available) as i64);
        self.max.set(status.max_size as i64);
        self.in_use
            .collect()
            .into_iter()
            .chain(self.max.collect())
            .collect()
    }
}
