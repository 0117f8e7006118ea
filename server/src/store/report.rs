//! Where every backend's ledger graph reports what an operator watches:
//! the server's metrics. The graph takes a [`GraphReport`] from the
//! backend that opens it; both backends give it this one.

use super::graph::GraphReport;

/// The ledger graph's state on the server's metrics.
pub struct MetricsReport;

impl GraphReport for MetricsReport {
    fn graph_failed(&self) {
        crate::metrics::ledger_graph_failed().set(1);
    }

    fn rows_skipped(&self, n: usize) {
        crate::metrics::ledger_rows_skipped().set(n as i64);
    }

    fn followed(&self, position: i64, behind: i64) {
        crate::metrics::ledger_graph_followed(position, behind);
    }
}
