//! Serde helpers that put quantities on the wire in the one shape every
//! Shian API uses, `{"value": "12.5", "unit": "kg"}`, rather than the
//! internal `{amount, unit}` of [`Quantity`]'s own derive.

use serde::{Serialize, Serializer};

use crate::quantity::Quantity;

pub(super) fn qty<S: Serializer>(q: &Quantity, s: S) -> Result<S::Ok, S::Error> {
    q.to_wire().serialize(s)
}

pub(super) fn opt_qty<S: Serializer>(q: &Option<Quantity>, s: S) -> Result<S::Ok, S::Error> {
    q.map(Quantity::to_wire).serialize(s)
}
