//! Exact quantities. Mass is kept in whole grams and counts in whole pieces,
//! bags or boxes, as integers: a mass balance over thousands of partial sales
//! must add up to the gram, which floating point cannot promise. Count units
//! are never converted to mass (a box of frozen beef has no fixed weight).

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// The unit a batch is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseUnit {
    Gram,
    Piece,
    Bag,
    Box,
}

impl BaseUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            BaseUnit::Gram => "g",
            BaseUnit::Piece => "piece",
            BaseUnit::Bag => "bag",
            BaseUnit::Box => "box",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "g" => Some(BaseUnit::Gram),
            "piece" => Some(BaseUnit::Piece),
            "bag" => Some(BaseUnit::Bag),
            "box" => Some(BaseUnit::Box),
            _ => None,
        }
    }

    /// Chinese name for screens.
    pub fn zh(self) -> &'static str {
        match self {
            BaseUnit::Gram => "克",
            BaseUnit::Piece => "件",
            BaseUnit::Bag => "袋",
            BaseUnit::Box => "箱",
        }
    }
}

/// An exact quantity in its base unit. `amount` is signed only for stock
/// corrections; purchases, sales and disposals are positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quantity {
    pub amount: i64,
    pub unit: BaseUnit,
}

/// The largest quantity one entry may carry: 100,000 t, or 10⁹ pieces. More is
/// a typo (or an attack), never a real stall's delivery.
pub const MAX_GRAMS: i64 = 100_000_000_000;
pub const MAX_COUNT: i64 = 1_000_000_000;

/// A wire unit: how many base units one of it is.
fn unit_factor(unit: &str) -> Option<(BaseUnit, i64)> {
    Some(match unit {
        "g" => (BaseUnit::Gram, 1),
        "kg" => (BaseUnit::Gram, 1_000),
        "jin" => (BaseUnit::Gram, 500), // 市斤
        "t" => (BaseUnit::Gram, 1_000_000),
        "piece" => (BaseUnit::Piece, 1),
        "bag" => (BaseUnit::Bag, 1),
        "box" => (BaseUnit::Box, 1),
        _ => return None,
    })
}

/// Whether a quantity must be positive or may be a signed correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Positive,
    NonZeroSigned,
}

impl Quantity {
    pub fn new(amount: i64, unit: BaseUnit) -> Self {
        Self { amount, unit }
    }

    /// Parses `{value: "12.5", unit: "kg"}` exactly. `field` is the path of the
    /// quantity object, for the error.
    pub fn parse(value: &str, unit: &str, sign: Sign, field: &str) -> Result<Self, FieldError> {
        let (base, factor) = unit_factor(unit).ok_or_else(|| {
            FieldError::new(
                format!("{field}.unit"),
                "unknown_unit",
                format!("未知单位 '{unit}'，可用: g、kg、jin、t、piece、bag、box"),
            )
        })?;
        let vfield = format!("{field}.value");
        let value = crate::codes::fold_width(value);
        let (negative, digits) = match value.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, value.strip_prefix('+').unwrap_or(value.as_str())),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        let well_formed = !(int_part.is_empty() && frac_part.is_empty())
            && int_part.bytes().all(|c| c.is_ascii_digit())
            && frac_part.bytes().all(|c| c.is_ascii_digit())
            && !(digits.contains('.') && frac_part.is_empty());
        if !well_formed {
            return Err(FieldError::new(
                &vfield,
                "invalid_number",
                "数量应为十进制数字字符串，如 \"12.5\" (a decimal string)",
            ));
        }
        let frac_trimmed = frac_part.trim_end_matches('0');
        // factor is a power of ten times 1 or 5; scale exactly via a rational:
        // amount = (int.frac) * factor must be an integer.
        let scale = 10i128.pow(frac_trimmed.len() as u32);
        let mantissa: i128 = format!("{}{}", int_part.trim_start_matches('0'), frac_trimmed)
            .parse::<i128>()
            .or_else(|_| {
                if int_part.trim_start_matches('0').is_empty() && frac_trimmed.is_empty() {
                    Ok(0)
                } else {
                    Err(())
                }
            })
            .map_err(|_| {
                FieldError::new(&vfield, "absurd_quantity", "数量过大 (quantity too large)")
            })?;
        let scaled = mantissa
            .checked_mul(i128::from(factor))
            .ok_or_else(|| FieldError::new(&vfield, "absurd_quantity", "数量过大"))?;
        if scaled % scale != 0 {
            let finest = if base == BaseUnit::Gram {
                "1 克"
            } else {
                "1 件/袋/箱"
            };
            return Err(FieldError::new(
                &vfield,
                "too_precise",
                format!("数量精度不能细于 {finest} (finer than the base unit)"),
            ));
        }
        let amount = scaled / scale;
        let max = if base == BaseUnit::Gram {
            MAX_GRAMS
        } else {
            MAX_COUNT
        };
        if amount > i128::from(max) {
            return Err(FieldError::new(
                &vfield,
                "absurd_quantity",
                "数量超出合理范围 (absurd quantity)",
            ));
        }
        // Safe: bounded by MAX_GRAMS above.
        let amount = amount as i64;
        if amount == 0 {
            return Err(FieldError::new(
                &vfield,
                "zero_quantity",
                "数量不能为零 (quantity must not be zero)",
            ));
        }
        if negative && sign == Sign::Positive {
            return Err(FieldError::new(
                &vfield,
                "negative_quantity",
                "数量必须为正数 (quantity must be positive)",
            ));
        }
        Ok(Self {
            amount: if negative { -amount } else { amount },
            unit: base,
        })
    }

    /// The wire form: grams as kg with up to three decimals, counts as integers.
    pub fn to_wire(self) -> serde_json::Value {
        serde_json::json!({ "value": self.value_string(), "unit": self.wire_unit() })
    }

    pub fn wire_unit(self) -> &'static str {
        match self.unit {
            BaseUnit::Gram => "kg",
            other => other.as_str(),
        }
    }

    /// The value in the wire unit as an exact decimal string.
    pub fn value_string(self) -> String {
        match self.unit {
            BaseUnit::Gram => {
                let sign = if self.amount < 0 { "-" } else { "" };
                let a = self.amount.unsigned_abs();
                let (kg, g) = (a / 1000, a % 1000);
                if g == 0 {
                    format!("{sign}{kg}")
                } else {
                    format!("{sign}{kg}.{}", format!("{g:03}").trim_end_matches('0'))
                }
            }
            _ => self.amount.to_string(),
        }
    }

    /// For people: `12.5 千克`, `30 箱`.
    pub fn display_zh(self) -> String {
        match self.unit {
            BaseUnit::Gram => format!("{} 千克", self.value_string()),
            other => format!("{} {}", self.amount, other.zh()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str, u: &str) -> Result<Quantity, FieldError> {
        Quantity::parse(v, u, Sign::Positive, "quantity")
    }

    #[test]
    fn mass_units_convert_exactly_to_grams() {
        assert_eq!(
            p("12.5", "kg").unwrap(),
            Quantity::new(12_500, BaseUnit::Gram)
        );
        assert_eq!(p("3", "jin").unwrap(), Quantity::new(1_500, BaseUnit::Gram));
        assert_eq!(p("0.5", "jin").unwrap(), Quantity::new(250, BaseUnit::Gram));
        assert_eq!(
            p("1.25", "t").unwrap(),
            Quantity::new(1_250_000, BaseUnit::Gram)
        );
        assert_eq!(p("250", "g").unwrap(), Quantity::new(250, BaseUnit::Gram));
        assert_eq!(p("0.001", "kg").unwrap(), Quantity::new(1, BaseUnit::Gram));
        assert_eq!(
            p("007.500", "kg").unwrap(),
            Quantity::new(7_500, BaseUnit::Gram)
        );
        assert_eq!(
            p("１２.５", "kg").unwrap(),
            Quantity::new(12_500, BaseUnit::Gram),
            "full-width digits fold"
        );
    }

    #[test]
    fn count_units_stay_counts() {
        assert_eq!(p("30", "box").unwrap(), Quantity::new(30, BaseUnit::Box));
        assert_eq!(p("2", "bag").unwrap().unit, BaseUnit::Bag);
        assert_eq!(p("1.5", "piece").unwrap_err().code, "too_precise");
        assert_eq!(p("2.0", "box").unwrap(), Quantity::new(2, BaseUnit::Box));
    }

    #[test]
    fn bad_quantities_are_refused_with_the_field() {
        let e = p("-1", "kg").unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_str()),
            ("negative_quantity", "quantity.value")
        );
        assert_eq!(p("0", "kg").unwrap_err().code, "zero_quantity");
        assert_eq!(p("0.000", "kg").unwrap_err().code, "zero_quantity");
        assert_eq!(p("0.0001", "kg").unwrap_err().code, "too_precise");
        assert_eq!(p("1e3", "kg").unwrap_err().code, "invalid_number");
        assert_eq!(p("", "kg").unwrap_err().code, "invalid_number");
        assert_eq!(p(".", "kg").unwrap_err().code, "invalid_number");
        assert_eq!(p("1.", "kg").unwrap_err().code, "invalid_number");
        assert_eq!(p("NaN", "kg").unwrap_err().code, "invalid_number");
        assert_eq!(p("12,5", "kg").unwrap_err().code, "invalid_number");
        assert_eq!(p("100001", "t").unwrap_err().code, "absurd_quantity");
        assert_eq!(
            p("99999999999999999999999999999999999999999", "g")
                .unwrap_err()
                .code,
            "absurd_quantity"
        );
        assert_eq!(
            p("1000000001", "piece").unwrap_err().code,
            "absurd_quantity"
        );
        let e = p("1", "pound").unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_str()),
            ("unknown_unit", "quantity.unit")
        );
        assert_eq!(p("1", "KG").unwrap_err().code, "unknown_unit");
    }

    #[test]
    fn signed_corrections() {
        let q = Quantity::parse("-1.5", "kg", Sign::NonZeroSigned, "delta").unwrap();
        assert_eq!(q.amount, -1_500);
        assert_eq!(q.value_string(), "-1.5");
        assert_eq!(
            Quantity::parse("0", "kg", Sign::NonZeroSigned, "delta")
                .unwrap_err()
                .code,
            "zero_quantity"
        );
    }

    #[test]
    fn wire_form_round_trips() {
        for (v, u) in [("12.5", "kg"), ("0.001", "kg"), ("3", "kg"), ("7", "box")] {
            let q = p(v, u).unwrap();
            assert_eq!(q.value_string(), v);
            assert_eq!(p(&q.value_string(), q.wire_unit()).unwrap(), q);
        }
    }
}
