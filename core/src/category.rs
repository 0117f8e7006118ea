//! Food categories and the certificates that go with them (索证索票).

use serde::{Deserialize, Serialize};

/// The food categories of the ledger (DESIGN.md). The certificate each needs
/// is data, in [`crate::rules::LedgerRules`], because provinces differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    LivestockMeat,
    Poultry,
    Aquatic,
    Vegetable,
    Fruit,
    Egg,
    Frozen,
    ImportedColdChain,
    Prepackaged,
    Dairy,
    GrainOil,
    Other,
}

impl Category {
    pub const ALL: [Category; 12] = [
        Category::LivestockMeat,
        Category::Poultry,
        Category::Aquatic,
        Category::Vegetable,
        Category::Fruit,
        Category::Egg,
        Category::Frozen,
        Category::ImportedColdChain,
        Category::Prepackaged,
        Category::Dairy,
        Category::GrainOil,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::LivestockMeat => "livestock_meat",
            Category::Poultry => "poultry",
            Category::Aquatic => "aquatic",
            Category::Vegetable => "vegetable",
            Category::Fruit => "fruit",
            Category::Egg => "egg",
            Category::Frozen => "frozen",
            Category::ImportedColdChain => "imported_cold_chain",
            Category::Prepackaged => "prepackaged",
            Category::Dairy => "dairy",
            Category::GrainOil => "grain_oil",
            Category::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            Category::LivestockMeat => "畜肉",
            Category::Poultry => "禽肉",
            Category::Aquatic => "水产品",
            Category::Vegetable => "蔬菜",
            Category::Fruit => "水果",
            Category::Egg => "鲜蛋",
            Category::Frozen => "速冻/冷冻食品",
            Category::ImportedColdChain => "进口冷链食品",
            Category::Prepackaged => "预包装食品",
            Category::Dairy => "乳制品",
            Category::GrainOil => "粮油",
            Category::Other => "其他",
        }
    }
}

/// Kinds of purchase certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateKind {
    /// 动物检疫合格证明
    Quarantine,
    /// 产地证明
    Origin,
    /// 承诺达标合格证
    Commitment,
    /// 入境货物检验检疫证明
    ImportInspection,
    /// 检测报告
    TestReport,
}

impl CertificateKind {
    pub const ALL: [CertificateKind; 5] = [
        CertificateKind::Quarantine,
        CertificateKind::Origin,
        CertificateKind::Commitment,
        CertificateKind::ImportInspection,
        CertificateKind::TestReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateKind::Quarantine => "quarantine",
            CertificateKind::Origin => "origin",
            CertificateKind::Commitment => "commitment",
            CertificateKind::ImportInspection => "import_inspection",
            CertificateKind::TestReport => "test_report",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            CertificateKind::Quarantine => "动物检疫合格证明",
            CertificateKind::Origin => "产地证明",
            CertificateKind::Commitment => "承诺达标合格证",
            CertificateKind::ImportInspection => "入境货物检验检疫证明",
            CertificateKind::TestReport => "检测报告",
        }
    }
}

/// A certificate recorded with a purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub kind: CertificateKind,
    pub number: String,
}
