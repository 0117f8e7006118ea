//! The kinds of warning, their wire names and what a warning is about.

use serde::{Deserialize, Serialize};

/// One kind of warning (`kind` on the wire, snake_case). The list is the
/// Fuzhou warning list of seed 004 plus the ledger's own three and the
/// price outlier of seed 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[serde(rename = "licence_expiring_30d")]
    LicenceExpiring30d,
    #[serde(rename = "licence_expiring_7d")]
    LicenceExpiring7d,
    LicenceExpiredTrading,
    SalesBeyondPurchases,
    ExpiredStockOnSale,
    MissingCertificate,
    PriceBelowMarket,
    PassRateAbnormal,
    NotSampled,
    SampledTooOften,
    ComplaintsFrequent,
    ComplaintHotTopic,
    HealthCertExpired,
    HealthCertMissing,
    EntryCheckMissing,
    EntryRefused,
    BatchHeld,
    HeldBatchSold,
    SelfCheckMissed,
    FollowUpOverdue,
}

impl Kind {
    pub const ALL: [Kind; 20] = [
        Kind::LicenceExpiring30d,
        Kind::LicenceExpiring7d,
        Kind::LicenceExpiredTrading,
        Kind::SalesBeyondPurchases,
        Kind::ExpiredStockOnSale,
        Kind::MissingCertificate,
        Kind::PriceBelowMarket,
        Kind::PassRateAbnormal,
        Kind::NotSampled,
        Kind::SampledTooOften,
        Kind::ComplaintsFrequent,
        Kind::ComplaintHotTopic,
        Kind::HealthCertExpired,
        Kind::HealthCertMissing,
        Kind::EntryCheckMissing,
        Kind::EntryRefused,
        Kind::BatchHeld,
        Kind::HeldBatchSold,
        Kind::SelfCheckMissed,
        Kind::FollowUpOverdue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LicenceExpiring30d => "licence_expiring_30d",
            Kind::LicenceExpiring7d => "licence_expiring_7d",
            Kind::LicenceExpiredTrading => "licence_expired_trading",
            Kind::SalesBeyondPurchases => "sales_beyond_purchases",
            Kind::ExpiredStockOnSale => "expired_stock_on_sale",
            Kind::MissingCertificate => "missing_certificate",
            Kind::PriceBelowMarket => "price_below_market",
            Kind::PassRateAbnormal => "pass_rate_abnormal",
            Kind::NotSampled => "not_sampled",
            Kind::SampledTooOften => "sampled_too_often",
            Kind::ComplaintsFrequent => "complaints_frequent",
            Kind::ComplaintHotTopic => "complaint_hot_topic",
            Kind::HealthCertExpired => "health_cert_expired",
            Kind::HealthCertMissing => "health_cert_missing",
            Kind::EntryCheckMissing => "entry_check_missing",
            Kind::EntryRefused => "entry_refused",
            Kind::BatchHeld => "batch_held",
            Kind::HeldBatchSold => "held_batch_sold",
            Kind::SelfCheckMissed => "self_check_missed",
            Kind::FollowUpOverdue => "follow_up_overdue",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The zh-CN name on the console.
    pub fn label_zh(self) -> &'static str {
        match self {
            Kind::LicenceExpiring30d => "许可证30天内到期",
            Kind::LicenceExpiring7d => "许可证7天内到期",
            Kind::LicenceExpiredTrading => "许可证过期仍在经营",
            Kind::SalesBeyondPurchases => "销售超过进货（来源不明）",
            Kind::ExpiredStockOnSale => "销售过期食品",
            Kind::MissingCertificate => "进货索证不全",
            Kind::PriceBelowMarket => "价格远低于市场",
            Kind::PassRateAbnormal => "抽检合格率异常",
            Kind::NotSampled => "多年未抽检",
            Kind::SampledTooOften => "抽检过于频繁",
            Kind::ComplaintsFrequent => "频繁被投诉",
            Kind::ComplaintHotTopic => "热点投诉问题",
            Kind::HealthCertExpired => "从业人员健康证过期",
            Kind::HealthCertMissing => "从业人员健康证缺失",
            Kind::EntryCheckMissing => "进货未经入场查验",
            Kind::EntryRefused => "入场查验拒收",
            Kind::BatchHeld => "市场暂扣",
            Kind::HeldBatchSold => "售出被暂扣的批次",
            Kind::SelfCheckMissed => "市场自查缺失",
            Kind::FollowUpOverdue => "自查问题整改逾期",
        }
    }

    /// Whether this kind's severity is in `warnings-v1.json`. The market
    /// operator's kinds (issue 14) carry their severity and thresholds in
    /// their own versioned configs beside it: `entry-v1.json`,
    /// `holds-v1.json`, `self-checks-v1.json`, `staff-v1.json`.
    pub fn configured_in_warnings_v1(self) -> bool {
        !matches!(
            self,
            Kind::EntryCheckMissing
                | Kind::EntryRefused
                | Kind::HealthCertExpired
                | Kind::HealthCertMissing
                | Kind::BatchHeld
                | Kind::HeldBatchSold
                | Kind::SelfCheckMissed
                | Kind::FollowUpOverdue
        )
    }

    /// Whether an open warning of this kind weighs in its merchant's risk
    /// grade on its own (`risk-v3` `dynamic.open_alert`): the kinds whose
    /// facts no other factor counts. The ledger kinds weigh as rates of
    /// their ledger warnings, complaints one by one; a pass rate found
    /// abnormal says more than its failures one by one do.
    pub fn weighs_in_risk_grade(self) -> bool {
        matches!(
            self,
            Kind::LicenceExpiredTrading | Kind::PriceBelowMarket | Kind::PassRateAbnormal
        )
    }
}

/// How urgent a warning is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Low, Severity::Medium, Severity::High]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    Merchant,
    Market,
    /// A food category code as in [`crate::category::Category`].
    Category,
    /// A product by the name it was booked under.
    Product,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Merchant => "merchant",
            SubjectType::Market => "market",
            SubjectType::Category => "category",
            SubjectType::Product => "product",
        }
    }

    pub fn parse(s: &str) -> Option<SubjectType> {
        [
            SubjectType::Merchant,
            SubjectType::Market,
            SubjectType::Category,
            SubjectType::Product,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// The subject of a warning: `{"type", "id", "market_id", "name"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Subject {
    #[serde(rename = "type")]
    pub kind: SubjectType,
    pub id: String,
    /// The market a merchant trades in (or the market itself); `None` for
    /// categories and products across markets.
    pub market_id: Option<String>,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_contract_s() {
        for k in Kind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
