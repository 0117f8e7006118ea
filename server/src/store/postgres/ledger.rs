//! The ledger on PostgreSQL: the read model each instance follows, and the
//! ledger's reads. (Being ported from `sqlite/ledger.rs`.)

use std::sync::Arc;

use super::store::PgStore;
use crate::store::graph::LedgerGraph;
use crate::store::StoreError;

impl PgStore {
    /// The read model caught up with every committed entry: what traces,
    /// recalls, holds and the public pages read.
    pub(super) async fn followed_graph(&self) -> Result<Arc<LedgerGraph>, StoreError> {
        Err(StoreError::Backend(
            "not yet on PostgreSQL: followed_graph".into(),
        ))
    }
}
