//! The product catalogue: Chinese names, units, wholesale prices and shelf
//! lives, per food category.
//!
//! Prices within one category differ by a factor of three or more (冻牛腱
//! beside 冻猪蹄), as in seed 000's market: a price is far below the market
//! only against its own product's ([`Catalogue::market_price`]), the line
//! smuggled lots and price slips are drawn under.

use crate::category::Category;
use crate::quantity::BaseUnit;

/// One product as the generator trades it.
#[derive(Debug, Clone)]
pub(crate) struct ProductSpec {
    pub name: &'static str,
    pub category: Category,
    pub unit: BaseUnit,
    /// First-hop wholesale price in fen per kg (mass) or per bag / box.
    pub price_fen: i64,
    /// Printed shelf life; `None` for bulk farm produce sold without one.
    pub shelf_days: Option<u32>,
    /// Turns over within hours at wholesale (vegetables, fresh fish).
    pub fresh: bool,
    /// Size of a delivery from outside, in kg or in bags / boxes.
    pub lot: (i64, i64),
    /// How common the product is within its category.
    pub weight: u32,
    /// GTIN-13 of packaged goods, check digit included.
    pub gtin: Option<String>,
}

struct Row {
    name: &'static str,
    category: Category,
    unit: BaseUnit,
    price_fen: i64,
    shelf_days: Option<u32>,
    /// Kept frozen or chilled in cold stores: the goods of seed 000's market.
    cold: bool,
    fresh: bool,
    lot: (i64, i64),
    weight: u32,
    /// The first 12 digits of the GTIN-13 (China's GS1 prefixes are 690–699).
    gtin12: Option<&'static str>,
}

use BaseUnit::{Bag, Box as Bx, Gram as Kg};
use Category::*;

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // 畜肉: chilled pork turns over daily; frozen beef and mutton sit in cold stores.
    Row { name: "冷鲜猪肉（白条）", category: LivestockMeat, unit: Kg, price_fen: 2600, shelf_days: None, cold: false, fresh: true, lot: (800, 6000), weight: 30, gtin12: None },
    Row { name: "猪五花肉", category: LivestockMeat, unit: Kg, price_fen: 3200, shelf_days: None, cold: false, fresh: true, lot: (300, 2000), weight: 15, gtin12: None },
    Row { name: "猪排骨", category: LivestockMeat, unit: Kg, price_fen: 3800, shelf_days: None, cold: false, fresh: true, lot: (300, 1500), weight: 10, gtin12: None },
    Row { name: "冻牛腱", category: LivestockMeat, unit: Kg, price_fen: 6800, shelf_days: Some(365), cold: true, fresh: false, lot: (2000, 20000), weight: 20, gtin12: None },
    Row { name: "冻牛腩", category: LivestockMeat, unit: Kg, price_fen: 5800, shelf_days: Some(365), cold: true, fresh: false, lot: (2000, 20000), weight: 16, gtin12: None },
    Row { name: "冻羊肉卷", category: LivestockMeat, unit: Kg, price_fen: 6200, shelf_days: Some(365), cold: true, fresh: false, lot: (1000, 10000), weight: 10, gtin12: None },
    Row { name: "冻猪蹄", category: LivestockMeat, unit: Kg, price_fen: 3000, shelf_days: Some(365), cold: true, fresh: false, lot: (2000, 15000), weight: 10, gtin12: None },
    Row { name: "冻猪后腿肉", category: LivestockMeat, unit: Kg, price_fen: 2900, shelf_days: Some(365), cold: true, fresh: false, lot: (3000, 25000), weight: 12, gtin12: None },
    // 禽肉
    Row { name: "冻鸡翅中", category: Poultry, unit: Kg, price_fen: 4200, shelf_days: Some(365), cold: true, fresh: false, lot: (2000, 15000), weight: 20, gtin12: None },
    Row { name: "冻鸡腿", category: Poultry, unit: Kg, price_fen: 2000, shelf_days: Some(365), cold: true, fresh: false, lot: (3000, 20000), weight: 25, gtin12: None },
    Row { name: "冻鸡胸肉", category: Poultry, unit: Kg, price_fen: 1700, shelf_days: Some(365), cold: true, fresh: false, lot: (3000, 20000), weight: 15, gtin12: None },
    Row { name: "冻鸭掌", category: Poultry, unit: Kg, price_fen: 3200, shelf_days: Some(365), cold: true, fresh: false, lot: (1000, 8000), weight: 10, gtin12: None },
    Row { name: "冰鲜三黄鸡", category: Poultry, unit: Kg, price_fen: 2400, shelf_days: None, cold: false, fresh: true, lot: (300, 2000), weight: 25, gtin12: None },
    // 水产品 (Xiamen's 海蛎 and 大黄鱼 from 宁德)
    Row { name: "巴沙鱼柳", category: Aquatic, unit: Kg, price_fen: 1800, shelf_days: Some(540), cold: true, fresh: false, lot: (3000, 20000), weight: 20, gtin12: None },
    Row { name: "冻虾仁", category: Aquatic, unit: Kg, price_fen: 6000, shelf_days: Some(365), cold: true, fresh: false, lot: (1000, 8000), weight: 12, gtin12: None },
    Row { name: "冻鱿鱼", category: Aquatic, unit: Kg, price_fen: 2800, shelf_days: Some(365), cold: true, fresh: false, lot: (2000, 12000), weight: 12, gtin12: None },
    Row { name: "鲜带鱼", category: Aquatic, unit: Kg, price_fen: 3600, shelf_days: None, cold: false, fresh: true, lot: (300, 2000), weight: 15, gtin12: None },
    Row { name: "大黄鱼", category: Aquatic, unit: Kg, price_fen: 4200, shelf_days: None, cold: false, fresh: true, lot: (300, 1500), weight: 12, gtin12: None },
    Row { name: "鲜鲈鱼", category: Aquatic, unit: Kg, price_fen: 3200, shelf_days: None, cold: false, fresh: true, lot: (300, 1500), weight: 12, gtin12: None },
    Row { name: "海蛎", category: Aquatic, unit: Kg, price_fen: 2200, shelf_days: None, cold: false, fresh: true, lot: (300, 1500), weight: 15, gtin12: None },
    // 蔬菜
    Row { name: "白菜", category: Vegetable, unit: Kg, price_fen: 300, shelf_days: None, cold: false, fresh: true, lot: (2000, 10000), weight: 20, gtin12: None },
    Row { name: "上海青", category: Vegetable, unit: Kg, price_fen: 500, shelf_days: None, cold: false, fresh: true, lot: (800, 5000), weight: 18, gtin12: None },
    Row { name: "西红柿", category: Vegetable, unit: Kg, price_fen: 600, shelf_days: None, cold: false, fresh: true, lot: (1000, 6000), weight: 16, gtin12: None },
    Row { name: "土豆", category: Vegetable, unit: Kg, price_fen: 350, shelf_days: None, cold: false, fresh: true, lot: (2000, 10000), weight: 16, gtin12: None },
    Row { name: "黄瓜", category: Vegetable, unit: Kg, price_fen: 500, shelf_days: None, cold: false, fresh: true, lot: (800, 5000), weight: 12, gtin12: None },
    Row { name: "芹菜", category: Vegetable, unit: Kg, price_fen: 600, shelf_days: None, cold: false, fresh: true, lot: (500, 3000), weight: 8, gtin12: None },
    Row { name: "西兰花", category: Vegetable, unit: Kg, price_fen: 900, shelf_days: None, cold: false, fresh: true, lot: (500, 3000), weight: 10, gtin12: None },
    // 水果 (平和琯溪蜜柚, 永春芦柑)
    Row { name: "香蕉", category: Fruit, unit: Kg, price_fen: 500, shelf_days: None, cold: false, fresh: true, lot: (1000, 8000), weight: 20, gtin12: None },
    Row { name: "苹果", category: Fruit, unit: Kg, price_fen: 900, shelf_days: None, cold: false, fresh: true, lot: (1000, 8000), weight: 20, gtin12: None },
    Row { name: "芦柑", category: Fruit, unit: Kg, price_fen: 700, shelf_days: None, cold: false, fresh: true, lot: (1000, 6000), weight: 15, gtin12: None },
    Row { name: "琯溪蜜柚", category: Fruit, unit: Kg, price_fen: 600, shelf_days: None, cold: false, fresh: true, lot: (2000, 10000), weight: 12, gtin12: None },
    Row { name: "龙眼", category: Fruit, unit: Kg, price_fen: 1400, shelf_days: None, cold: false, fresh: true, lot: (500, 3000), weight: 8, gtin12: None },
    // 鲜蛋
    Row { name: "鲜鸡蛋", category: Egg, unit: Kg, price_fen: 1100, shelf_days: Some(45), cold: false, fresh: false, lot: (1000, 5000), weight: 40, gtin12: None },
    Row { name: "鲜鸭蛋", category: Egg, unit: Kg, price_fen: 1400, shelf_days: Some(45), cold: false, fresh: false, lot: (500, 2000), weight: 15, gtin12: None },
    Row { name: "鹌鹑蛋", category: Egg, unit: Kg, price_fen: 1600, shelf_days: Some(30), cold: false, fresh: false, lot: (200, 1000), weight: 8, gtin12: None },
    Row { name: "鲜鸡蛋（360枚整箱）", category: Egg, unit: Bx, price_fen: 16500, shelf_days: Some(45), cold: false, fresh: false, lot: (100, 600), weight: 20, gtin12: None },
    // 速冻食品
    Row { name: "速冻水饺", category: Frozen, unit: Bag, price_fen: 1800, shelf_days: Some(365), cold: true, fresh: false, lot: (1000, 6000), weight: 20, gtin12: Some("692000100001") },
    Row { name: "速冻汤圆", category: Frozen, unit: Bag, price_fen: 1300, shelf_days: Some(365), cold: true, fresh: false, lot: (1000, 5000), weight: 12, gtin12: Some("692000100002") },
    Row { name: "福州鱼丸", category: Frozen, unit: Kg, price_fen: 2000, shelf_days: Some(365), cold: true, fresh: false, lot: (1000, 6000), weight: 15, gtin12: None },
    Row { name: "冻鸡排", category: Frozen, unit: Kg, price_fen: 2400, shelf_days: Some(365), cold: true, fresh: false, lot: (1000, 8000), weight: 12, gtin12: None },
    Row { name: "冷冻薯条", category: Frozen, unit: Kg, price_fen: 1500, shelf_days: Some(540), cold: true, fresh: false, lot: (2000, 10000), weight: 10, gtin12: None },
    // 进口冷链食品: 进口冻牛肉 is what seed 000's smugglers pass off.
    Row { name: "进口冻猪肉", category: ImportedColdChain, unit: Kg, price_fen: 2300, shelf_days: Some(730), cold: true, fresh: false, lot: (5000, 26000), weight: 22, gtin12: None },
    Row { name: "进口冻牛肉（巴西）", category: ImportedColdChain, unit: Kg, price_fen: 4600, shelf_days: Some(730), cold: true, fresh: false, lot: (5000, 26000), weight: 24, gtin12: None },
    Row { name: "进口冻牛腩（阿根廷）", category: ImportedColdChain, unit: Kg, price_fen: 4300, shelf_days: Some(730), cold: true, fresh: false, lot: (5000, 26000), weight: 14, gtin12: None },
    Row { name: "进口冻白虾（厄瓜多尔）", category: ImportedColdChain, unit: Kg, price_fen: 5000, shelf_days: Some(730), cold: true, fresh: false, lot: (3000, 20000), weight: 12, gtin12: None },
    Row { name: "进口冻三文鱼（挪威）", category: ImportedColdChain, unit: Kg, price_fen: 8800, shelf_days: Some(365), cold: true, fresh: false, lot: (1000, 8000), weight: 6, gtin12: None },
    Row { name: "进口冻鸡爪（美国）", category: ImportedColdChain, unit: Kg, price_fen: 2700, shelf_days: Some(730), cold: true, fresh: false, lot: (5000, 26000), weight: 14, gtin12: None },
    // 预包装食品 (seed 002's 固体饮料)
    Row { name: "方便面（整箱）", category: Prepackaged, unit: Bx, price_fen: 4800, shelf_days: Some(180), cold: false, fresh: false, lot: (200, 1500), weight: 20, gtin12: Some("692000200001") },
    Row { name: "苏打饼干（整箱）", category: Prepackaged, unit: Bx, price_fen: 6000, shelf_days: Some(270), cold: false, fresh: false, lot: (200, 1200), weight: 14, gtin12: Some("692000200002") },
    Row { name: "固体饮料（整箱）", category: Prepackaged, unit: Bx, price_fen: 5600, shelf_days: Some(540), cold: false, fresh: false, lot: (200, 1200), weight: 12, gtin12: Some("692000200003") },
    Row { name: "酱油（整箱）", category: Prepackaged, unit: Bx, price_fen: 7200, shelf_days: Some(540), cold: false, fresh: false, lot: (200, 1000), weight: 14, gtin12: Some("692000200004") },
    Row { name: "肉松（整箱）", category: Prepackaged, unit: Bx, price_fen: 9000, shelf_days: Some(270), cold: false, fresh: false, lot: (100, 600), weight: 8, gtin12: Some("692000200005") },
    // 乳制品 (seed 002: 4,890 bags of a relabelled cheese)
    Row { name: "马苏里拉奶酪", category: Dairy, unit: Bag, price_fen: 5200, shelf_days: Some(180), cold: true, fresh: false, lot: (500, 5000), weight: 14, gtin12: Some("692000300001") },
    Row { name: "切达奶酪片", category: Dairy, unit: Bag, price_fen: 3800, shelf_days: Some(270), cold: true, fresh: false, lot: (500, 5000), weight: 10, gtin12: Some("692000300002") },
    Row { name: "纯牛奶（整箱）", category: Dairy, unit: Bx, price_fen: 6000, shelf_days: Some(180), cold: false, fresh: false, lot: (300, 2000), weight: 24, gtin12: Some("692000300003") },
    Row { name: "酸奶（整箱）", category: Dairy, unit: Bx, price_fen: 5200, shelf_days: Some(21), cold: true, fresh: false, lot: (200, 1000), weight: 14, gtin12: Some("692000300004") },
    // 粮油
    Row { name: "东北大米（10kg袋）", category: GrainOil, unit: Bag, price_fen: 6200, shelf_days: Some(365), cold: false, fresh: false, lot: (300, 2000), weight: 24, gtin12: Some("692000400001") },
    Row { name: "面粉（10kg袋）", category: GrainOil, unit: Bag, price_fen: 4600, shelf_days: Some(365), cold: false, fresh: false, lot: (300, 2000), weight: 12, gtin12: Some("692000400002") },
    Row { name: "糯米（10kg袋）", category: GrainOil, unit: Bag, price_fen: 7400, shelf_days: Some(365), cold: false, fresh: false, lot: (200, 1000), weight: 6, gtin12: Some("692000400003") },
    Row { name: "花生油（5L×4整箱）", category: GrainOil, unit: Bx, price_fen: 26000, shelf_days: Some(540), cold: false, fresh: false, lot: (100, 800), weight: 12, gtin12: Some("692000400004") },
    Row { name: "调和油（5L×4整箱）", category: GrainOil, unit: Bx, price_fen: 21000, shelf_days: Some(540), cold: false, fresh: false, lot: (100, 800), weight: 10, gtin12: Some("692000400005") },
    // 其他 (莆田兴化米粉)
    Row { name: "豆腐", category: Other, unit: Kg, price_fen: 900, shelf_days: None, cold: false, fresh: true, lot: (200, 1000), weight: 20, gtin12: None },
    Row { name: "兴化米粉", category: Other, unit: Kg, price_fen: 1600, shelf_days: Some(365), cold: false, fresh: false, lot: (500, 3000), weight: 14, gtin12: None },
    Row { name: "腐竹", category: Other, unit: Kg, price_fen: 2400, shelf_days: Some(365), cold: false, fresh: false, lot: (300, 2000), weight: 10, gtin12: None },
];

/// Where outside suppliers of a category sit: GB/T 2260 code and place name.
pub(crate) fn origins(category: Category) -> &'static [(&'static str, &'static str)] {
    match category {
        LivestockMeat => &[
            ("350600", "漳州市"),
            ("350800", "龙岩市"),
            ("411100", "漯河市"),
            ("150500", "通辽市"),
            ("152500", "锡林郭勒盟"),
        ],
        Poultry => &[
            ("350723", "光泽县"),
            ("350700", "南平市"),
            ("370600", "烟台市"),
            ("350500", "泉州市"),
        ],
        Aquatic => &[
            ("350900", "宁德市"),
            ("350122", "连江县"),
            ("350626", "东山县"),
            ("350100", "福州市"),
        ],
        Vegetable => &[
            ("350600", "漳州市"),
            ("370783", "寿光市"),
            ("350500", "泉州市"),
            ("350212", "厦门市同安区"),
        ],
        Fruit => &[
            ("350628", "平和县"),
            ("350525", "永春县"),
            ("460100", "海口市"),
            ("450100", "南宁市"),
        ],
        Egg => &[
            ("350500", "泉州市"),
            ("130100", "石家庄市"),
            ("350400", "三明市"),
        ],
        Frozen => &[
            ("350100", "福州市"),
            ("410100", "郑州市"),
            ("350206", "厦门市湖里区"),
        ],
        ImportedColdChain => &[
            ("350206", "厦门市湖里区"),
            ("310115", "上海市浦东新区"),
            ("120116", "天津市滨海新区"),
            ("370202", "青岛市市南区"),
        ],
        Prepackaged => &[
            ("350203", "厦门市思明区"),
            ("350500", "泉州市"),
            ("440100", "广州市"),
        ],
        Dairy => &[
            ("150100", "呼和浩特市"),
            ("310115", "上海市浦东新区"),
            ("350206", "厦门市湖里区"),
        ],
        GrainOil => &[
            ("230100", "哈尔滨市"),
            ("370100", "济南市"),
            ("350206", "厦门市湖里区"),
        ],
        Other => &[
            ("350300", "莆田市"),
            ("350500", "泉州市"),
            ("350212", "厦门市同安区"),
        ],
    }
}

/// The products a scale trades, indexed by category.
#[derive(Debug, Clone)]
pub(crate) struct Catalogue {
    pub products: Vec<ProductSpec>,
    /// Product indexes per category (`Category as usize`).
    pub by_category: Vec<Vec<u16>>,
}

impl Catalogue {
    /// Every product, or only cold-chain goods (the frozen market of seed 000).
    pub fn new(cold_chain_only: bool) -> Self {
        let products: Vec<ProductSpec> = ROWS
            .iter()
            .filter(|r| r.cold || !cold_chain_only)
            .map(|r| ProductSpec {
                name: r.name,
                category: r.category,
                unit: r.unit,
                price_fen: r.price_fen,
                shelf_days: r.shelf_days,
                fresh: r.fresh,
                lot: r.lot,
                weight: r.weight,
                gtin: r.gtin12.map(gtin13),
            })
            .collect();
        let mut by_category = vec![Vec::new(); Category::ALL.len()];
        for (i, p) in products.iter().enumerate() {
            by_category[p.category as usize].push(i as u16);
        }
        Self {
            products,
            by_category,
        }
    }

    /// A product's typical market price: its first-hop price marked up to
    /// the mid-chain (prices are recorded at every hop, each marking up).
    pub fn market_price(&self, product: u16) -> i64 {
        self.products
            .get(usize::from(product))
            .map_or(0, |p| p.price_fen * 115 / 100)
    }
}

/// Appends the GS1 mod-10 check digit to 12 digits.
fn gtin13(first12: &str) -> String {
    let sum: u32 = first12
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d.wrapping_sub(b'0')) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{first12}{}", (10 - sum % 10) % 10)
}
