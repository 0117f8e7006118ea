//! Placeholders of the sub-traits whose port is in progress (issue 15):
//! each method answers `Backend("not yet on PostgreSQL: …")`. Each port
//! removes its trait from here as it lands.

use super::store::PgStore;
use super::txn::PgTxn;
use crate::store::StoreError;
#[allow(unused_imports)]
use crate::store::*;

mod feedbackstore_pending {
    use super::*;
    #[allow(unused_imports)]
    use crate::store::feedback::*;
    #[allow(unused_imports)]
    use chrono::{DateTime, NaiveDate, Utc};

    impl FeedbackStore for PgStore {
        fn add_rating(&self, _rating: NewRating) -> StoreFuture<'_, ()> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: add_rating".into(),
                ))
            })
        }
        fn rating_summary(
            &self,
            _merchant_id: String,
            _since: NaiveDate,
        ) -> StoreFuture<'_, RatingSummary> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: rating_summary".into(),
                ))
            })
        }
        fn add_complaint(&self, _complaint: NewComplaint) -> StoreFuture<'_, ()> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: add_complaint".into(),
                ))
            })
        }
        fn complaint(&self, _id: String) -> StoreFuture<'_, Option<StoredComplaint>> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: complaint".into(),
                ))
            })
        }
        fn list_complaints(
            &self,
            _filter: ComplaintFilter,
        ) -> StoreFuture<'_, Page<StoredComplaint>> {
            Box::pin(async {
                Err(StoreError::Backend(
                    "not yet on PostgreSQL: list_complaints".into(),
                ))
            })
        }
    }
}

mod feedbacktx_pending {
    use super::*;
    #[allow(unused_imports)]
    use crate::store::feedback::*;
    #[allow(unused_imports)]
    use chrono::{DateTime, NaiveDate, Utc};

    impl FeedbackTx for PgTxn<'_, '_> {
        fn complaint_for_op(&self, _id: &str) -> Result<Option<StoredComplaint>, StoreError> {
            Err(StoreError::Backend(
                "not yet on PostgreSQL: complaint_for_op".into(),
            ))
        }
        fn persist_feedback(&mut self, _writes: &[FeedbackWrite]) -> Result<(), StoreError> {
            Err(StoreError::Backend(
                "not yet on PostgreSQL: persist_feedback".into(),
            ))
        }
    }
}
