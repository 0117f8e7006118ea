//! Placeholders of the sub-traits whose port is in progress (issue 15):
//! each method answers `Backend("not yet on PostgreSQL: …")`. Each port
//! removes its trait from here as it lands.

use super::store::PgStore;
use crate::store::StoreError;
#[allow(unused_imports)]
use crate::store::*;

mod reportstore_pending {
    use super::*;
    #[allow(unused_imports)]
    use crate::store::reports::*;
    #[allow(unused_imports)]
    use chrono::{DateTime, NaiveDate, Utc};

    impl ReportStore for PgStore {
        fn create_report(&self, _report: NewReport) -> StoreFuture<'_, ()> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: create_report".into(),
                ))
            })
        }
        fn report_by_receipt(
            &self,
            _receipt_hash: Vec<u8>,
        ) -> StoreFuture<'_, Option<StoredReport>> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: report_by_receipt".into(),
                ))
            })
        }
        fn report(&self, _id: String) -> StoreFuture<'_, Option<StoredReport>> {
            Box::pin(async { Err(StoreError::Backend("not yet on PostgreSQL: report".into())) })
        }
        fn add_reporter_message(
            &self,
            _receipt_hash: Vec<u8>,
            _body: String,
            _on: NaiveDate,
        ) -> StoreFuture<'_, Option<bool>> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: add_reporter_message".into(),
                ))
            })
        }
        fn add_report_photo(
            &self,
            _receipt_hash: Vec<u8>,
            _photo: NewReportPhoto,
            _on: NaiveDate,
            _max: u32,
        ) -> StoreFuture<'_, Option<bool>> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: add_report_photo".into(),
                ))
            })
        }
        fn report_photo(&self, _report_id: String, _seq: i64) -> StoreFuture<'_, Option<Vec<u8>>> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: report_photo".into(),
                ))
            })
        }
        fn list_reports(&self, _filter: ReportFilter) -> StoreFuture<'_, (Vec<StoredReport>, u64)> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: list_reports".into(),
                ))
            })
        }
        fn act_on_report(
            &self,
            _report_id: String,
            _action: ReportAction,
            _by: String,
            _on: NaiveDate,
        ) -> StoreFuture<'_, Result<StoredReport, ActionRefused>> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: act_on_report".into(),
                ))
            })
        }
    }
}

mod publicstore_pending {
    use super::*;
    #[allow(unused_imports)]
    use crate::store::public::*;
    #[allow(unused_imports)]
    use chrono::{DateTime, NaiveDate, Utc};

    impl PublicStore for PgStore {
        fn batch_details(&self, _trace_code: String) -> StoreFuture<'_, Option<BatchDetails>> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: batch_details".into(),
                ))
            })
        }
        fn batches_by_gtin(
            &self,
            _gtins: Vec<String>,
            _lot: Option<String>,
            _limit: u32,
        ) -> StoreFuture<'_, Vec<GtinBatch>> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: batches_by_gtin".into(),
                ))
            })
        }
        fn voucher_seller(&self, _voucher_code: String) -> StoreFuture<'_, Option<String>> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: voucher_seller".into(),
                ))
            })
        }
    }
}
