//! Paging of the list routes (`?limit=&offset=`): one rule for the page
//! size, so every list answers a bad `limit` the same way.

use crate::errors::ApiError;

/// Rows in a page when the caller names no `limit`.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page: enough for a screen or a spreadsheet's worth, small
/// enough that one request cannot make the server read a whole table.
pub const MAX_LIMIT: u32 = 1000;

/// The page size asked for: [`DEFAULT_LIMIT`] when none, else 1 to
/// [`MAX_LIMIT`] (400 `invalid_query` at `limit` otherwise).
pub fn limit(asked: Option<u32>) -> Result<u32, ApiError> {
    let limit = asked.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::invalid(
            "limit",
            "invalid_query",
            "limit 应在 1–1000 之间",
        ));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_size_is_one_to_a_thousand_and_a_hundred_by_default() {
        assert_eq!(limit(None).ok(), Some(100));
        assert_eq!(limit(Some(1)).ok(), Some(1));
        assert_eq!(limit(Some(1000)).ok(), Some(1000));
        for bad in [0, 1001, u32::MAX] {
            let e = limit(Some(bad)).unwrap_err();
            assert_eq!(
                (e.code.as_ref(), e.field.as_deref()),
                ("invalid_query", Some("limit"))
            );
        }
    }
}
