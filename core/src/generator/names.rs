//! Chinese names: Xiamen's districts and streets, shop names, outside
//! suppliers and off-platform buyers. Names are made of common parts so they
//! read like the registries of seeds 000 and 002 without copying a real firm.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::category::Category;

/// A district of Xiamen (GB/T 2260) with its 街道/镇 and main roads.
pub(crate) struct District {
    pub code: &'static str,
    pub name: &'static str,
    /// Share of the city's food businesses, roughly by population.
    pub weight: u32,
    pub streets: &'static [&'static str],
    pub roads: &'static [&'static str],
}

#[rustfmt::skip]
pub(crate) const XIAMEN: [District; 6] = [
    District { code: "350203", name: "思明区", weight: 25, streets: &["中华", "滨海", "厦港", "鹭江", "开元", "梧村", "筼筜", "莲前", "嘉莲", "鼓浪屿"], roads: &["厦禾路", "湖滨南路", "莲前西路", "思明南路", "禾祥西路", "中山路"] },
    District { code: "350206", name: "湖里区", weight: 25, streets: &["湖里", "殿前", "禾山", "江头", "金山"], roads: &["湖里大道", "枋湖路", "吕岭路", "金尚路", "县后路"] },
    District { code: "350205", name: "海沧区", weight: 10, streets: &["海沧", "新阳", "嵩屿", "东孚"], roads: &["海沧大道", "沧林路", "新阳大道", "港南路"] },
    District { code: "350211", name: "集美区", weight: 15, streets: &["集美", "侨英", "杏林", "杏滨", "灌口", "后溪"], roads: &["集美大道", "杏林湾路", "灌口中路", "后溪路"] },
    District { code: "350212", name: "同安区", weight: 13, streets: &["大同", "祥平", "西柯", "新民", "五显", "洪塘", "汀溪", "莲花"], roads: &["同安大道", "环城南路", "银湖中路", "西柯街"] },
    District { code: "350213", name: "翔安区", weight: 12, streets: &["新店", "马巷", "内厝", "新圩", "大嶝"], roads: &["翔安南路", "新店路", "马巷路", "内厝路"] },
];

const SURNAMES: &[&str] = &[
    "陈", "林", "黄", "张", "李", "王", "吴", "刘", "蔡", "杨", "郑", "许", "洪", "谢", "郭", "曾",
    "苏", "庄", "叶", "周", "邱", "何", "卢", "柯", "江", "施", "徐", "高", "方", "沈",
];
const GIVEN: &[&str] = &[
    "强", "明", "华", "伟", "勇", "辉", "平", "海", "珍", "美", "芳", "兴", "福", "水", "金", "财",
    "坤", "龙",
];
const BRANDS: &[&str] = &[
    "鸿发", "鑫源", "恒丰", "盛达", "永兴", "金港", "裕隆", "宏远", "福鑫", "润泽", "顺发", "隆鑫",
    "佳禾", "万家", "嘉和", "海鑫", "惠民", "鹭岛", "闽南", "百佳", "益民", "兴旺", "合兴", "东升",
    "天福", "丰泰", "瑞丰", "聚源", "德顺", "新海",
];
/// Cities near Xiamen whose traders buy at its markets.
const NEARBY: &[&str] = &["泉州", "漳州", "龙岩", "三明", "莆田", "福州"];

pub(crate) fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items
        .get(rng.random_range(0..items.len().max(1)))
        .copied()
        .unwrap_or("")
}

pub(crate) fn surname(rng: &mut ChaCha8Rng) -> &'static str {
    pick(rng, SURNAMES)
}

/// What a shop of a category calls its trade (冻品, 海鲜 …).
fn trade_word(rng: &mut ChaCha8Rng, category: Category) -> &'static str {
    let words: &[&str] = match category {
        Category::LivestockMeat => &["肉类", "鲜肉", "牛羊肉", "猪肉"],
        Category::Poultry => &["禽类", "鸡鸭", "禽肉"],
        Category::Aquatic => &["海鲜", "水产", "鲜鱼"],
        Category::Vegetable => &["蔬菜", "果蔬", "鲜菜"],
        Category::Fruit => &["水果", "鲜果", "果业"],
        Category::Egg => &["禽蛋", "蛋品", "鲜蛋"],
        Category::Frozen => &["冻品", "冷冻食品", "速冻食品"],
        Category::ImportedColdChain => &["进口冻品", "冷链", "进口肉类"],
        Category::Prepackaged => &["副食品", "食品", "百货"],
        Category::Dairy => &["乳品", "奶制品"],
        Category::GrainOil => &["粮油", "米面"],
        Category::Other => &["干货", "豆制品", "米粉"],
    };
    pick(rng, words)
}

/// A wholesaler's name, e.g. 「老陈冻品行」「鸿发海鲜批发行」.
pub(crate) fn wholesaler(rng: &mut ChaCha8Rng, category: Category) -> String {
    let (s, b, w) = (surname(rng), pick(rng, BRANDS), trade_word(rng, category));
    match rng.random_range(0..5) {
        0 => format!("老{s}{w}行"),
        1 => format!("{b}{w}批发行"),
        2 => format!("{s}记{w}批发部"),
        3 => format!("厦门{b}{w}贸易有限公司"),
        _ => format!("{b}{w}商行"),
    }
}

/// A market stall's name, e.g. 「林记海鲜摊」「阿强蔬菜店」.
pub(crate) fn stall_shop(rng: &mut ChaCha8Rng, category: Category) -> String {
    let (s, g, b, w) = (
        surname(rng),
        pick(rng, GIVEN),
        pick(rng, BRANDS),
        trade_word(rng, category),
    );
    match rng.random_range(0..5) {
        0 => format!("{s}记{w}摊"),
        1 => format!("阿{g}{w}店"),
        2 => format!("老{s}{w}档"),
        3 => format!("{b}{w}铺"),
        _ => format!("{s}家{w}"),
    }
}

pub(crate) fn supermarket(rng: &mut ChaCha8Rng, street: &str) -> String {
    let b = pick(rng, BRANDS);
    match rng.random_range(0..3) {
        0 => format!("{b}超市（{street}店）"),
        1 => format!("{b}生鲜超市（{street}店）"),
        _ => format!("{b}便利店（{street}店）"),
    }
}

pub(crate) fn eatery(rng: &mut ChaCha8Rng, street: &str) -> String {
    let (s, b) = (surname(rng), pick(rng, BRANDS));
    match rng.random_range(0..7) {
        0 => format!("{b}餐厅"),
        1 => format!("{s}记沙茶面"),
        2 => format!("{b}大排档"),
        3 => format!(
            "{street}{}食堂",
            if rng.random_bool(0.5) {
                "小学"
            } else {
                "中学"
            }
        ),
        4 => format!("{s}记海蛎煎"),
        5 => format!("{b}酒楼"),
        _ => format!("{b}快餐店"),
    }
}

/// An outside supplier: 「漳州市鑫源肉类加工有限公司」.
pub(crate) fn supplier(rng: &mut ChaCha8Rng, place: &str, category: Category) -> String {
    let trade = match category {
        Category::LivestockMeat => "肉类加工",
        Category::Poultry => "禽业",
        Category::Aquatic => "水产",
        Category::Vegetable | Category::Fruit => "农产品",
        Category::Egg => "蛋品",
        Category::Frozen => "速冻食品",
        Category::ImportedColdChain => "进出口贸易",
        Category::Prepackaged => "食品",
        Category::Dairy => "乳业",
        Category::GrainOil => "粮油",
        Category::Other => "食品加工",
    };
    format!("{place}{}{trade}有限公司", pick(rng, BRANDS))
}

/// A buyer off the platform: a restaurant, a canteen, a trader from a
/// nearby city (seed 000's "retail buyers" outside the market).
pub(crate) fn outside_buyer(rng: &mut ChaCha8Rng) -> String {
    let (s, b, c) = (surname(rng), pick(rng, BRANDS), pick(rng, NEARBY));
    match rng.random_range(0..4) {
        0 => format!("{b}酒楼"),
        1 => format!("{b}饭店"),
        2 => format!("{c}客户{s}先生"),
        _ => format!("{c}{b}冻品经营部"),
    }
}

/// The supplier a smuggler writes down: a person, no code, no invoice.
pub(crate) fn shadow_supplier(rng: &mut ChaCha8Rng) -> String {
    let s = surname(rng);
    if rng.random_bool(0.5) {
        format!("散户{s}某（无票）")
    } else {
        format!("个人供货{s}某")
    }
}
