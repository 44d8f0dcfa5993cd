//! The shop's catalog: a fixed list of products (prices in CNY minor units) and the search over
//! it. Pure: stock levels live in the store and are passed in.

use purser_core::{Currency, Money};
use serde_json::{json, Value};

/// The currency every price is in.
pub const CURRENCY: Currency = Currency::CNY;

/// Most products one search returns (the whole catalog fits; the bound keeps it so).
pub const MAX_SEARCH_RESULTS: usize = 50;

/// Longest search text read. A shopper's query is a few words.
pub const MAX_QUERY_CHARS: usize = 200;

/// Stock at or below this shows `low_stock`.
pub const LOW_STOCK: i64 = 5;

/// One product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Product {
    pub id: &'static str,
    pub name: &'static str,
    pub brand: &'static str,
    /// `hiking_boots`, `socks`, `backpacks`, `tents`, `trekking_poles`.
    pub category: &'static str,
    pub description: &'static str,
    /// Unit price, CNY minor units (fen).
    pub price: i64,
    /// Average review, in tenths of a star (46 = 4.6).
    pub rating_tenths: u8,
    pub reviews: u32,
    /// Stock the shop starts with (the store keeps the live count).
    pub initial_stock: i64,
    /// Most units of this product one order may carry.
    pub max_per_order: i64,
    /// Shown to agents and tested by search.
    pub tags: &'static [&'static str],
}

impl Product {
    pub fn price(&self) -> Money {
        Money::new(self.price, CURRENCY)
    }

    /// `4.6`
    pub fn rating(&self) -> String {
        format!("{}.{}", self.rating_tenths / 10, self.rating_tenths % 10)
    }

    /// The product as the API shows it, with the live stock.
    pub fn to_json(&self, stock: i64, base_url: &str) -> Value {
        let availability = if stock <= 0 {
            "out_of_stock"
        } else if stock <= LOW_STOCK {
            "low_stock"
        } else {
            "in_stock"
        };
        json!({
            "id": self.id,
            "name": self.name,
            "brand": self.brand,
            "category": self.category,
            "description": self.description,
            "price": {"amount": self.price, "currency": CURRENCY.code(), "display": self.price().with_symbol()},
            "rating": self.rating_tenths as f64 / 10.0,
            "review_count": self.reviews,
            "availability": availability,
            "available_quantity": stock.max(0),
            "max_quantity_per_order": self.max_per_order,
            "tags": self.tags,
            "url": format!("{base_url}/products/{}", self.id),
        })
    }

    fn haystack(&self) -> String {
        let mut s = format!(
            "{} {} {} {} {}",
            self.name,
            self.brand,
            self.category.replace('_', " "),
            self.description,
            self.tags.join(" ")
        );
        s.make_ascii_lowercase();
        s
    }
}

/// Every product the shop sells.
pub const PRODUCTS: &[Product] = &[
    Product {
        id: "boot_trailridge_mid",
        name: "TrailRidge Mid Waterproof Hiking Boots",
        brand: "TrailRidge",
        category: "hiking_boots",
        description: "Waterproof membrane, grippy lugged outsole, mid-cut ankle support. A dependable all-rounder for day hikes.",
        price: 69_900,
        rating_tenths: 46,
        reviews: 1_284,
        initial_stock: 40,
        max_per_order: 5,
        tags: &["waterproof", "mid", "boots", "day hiking"],
    },
    Product {
        id: "boot_summit_pro_gtx",
        name: "Summit Pro GTX Hiking Boots",
        brand: "Alpenwerk",
        category: "hiking_boots",
        description: "Full-grain leather, Gore-Tex lining, Vibram sole. Built for multi-day treks with a heavy pack.",
        price: 129_900,
        rating_tenths: 48,
        reviews: 642,
        initial_stock: 25,
        max_per_order: 5,
        tags: &["waterproof", "leather", "boots", "backpacking"],
    },
    Product {
        id: "boot_pathfinder_light",
        name: "Pathfinder Lightweight Hiking Boots",
        brand: "Kestrel",
        category: "hiking_boots",
        description: "Light mesh upper and cushioned midsole for fast hikes on dry trails. Not waterproof.",
        price: 45_900,
        rating_tenths: 41,
        reviews: 903,
        initial_stock: 60,
        max_per_order: 5,
        tags: &["lightweight", "breathable", "boots"],
    },
    Product {
        id: "boot_granite_leather",
        name: "Granite Leather Hiking Boots",
        brand: "Stonefield",
        category: "hiking_boots",
        description: "Nubuck leather with a waterproof lining and a stiff shank for rocky ground.",
        price: 79_900,
        rating_tenths: 44,
        reviews: 377,
        initial_stock: 15,
        max_per_order: 5,
        tags: &["waterproof", "leather", "boots"],
    },
    Product {
        id: "boot_canyon_low",
        name: "Canyon Low Hiking Shoes",
        brand: "Kestrel",
        category: "hiking_boots",
        description: "Low-cut hiking shoes for well-kept trails and travel.",
        price: 38_900,
        rating_tenths: 39,
        reviews: 211,
        initial_stock: 30,
        max_per_order: 5,
        tags: &["low", "shoes", "travel"],
    },
    Product {
        id: "boot_glacier_winter",
        name: "Glacier Insulated Winter Hiking Boots",
        brand: "Alpenwerk",
        category: "hiking_boots",
        description: "200 g insulation and a waterproof shell for snow. Sold out until next season.",
        price: 109_900,
        rating_tenths: 45,
        reviews: 158,
        initial_stock: 0,
        max_per_order: 5,
        tags: &["insulated", "winter", "waterproof", "boots"],
    },
    Product {
        id: "sock_merino_hiker",
        name: "Merino Hiker Crew Socks",
        brand: "TrailRidge",
        category: "socks",
        description: "Cushioned merino wool socks that stay dry and warm.",
        price: 8_900,
        rating_tenths: 47,
        reviews: 2_040,
        initial_stock: 200,
        max_per_order: 20,
        tags: &["merino", "wool", "crew"],
    },
    Product {
        id: "sock_trail_3pack",
        name: "Trail Running Socks (3 pairs)",
        brand: "Kestrel",
        category: "socks",
        description: "Thin synthetic socks, three pairs.",
        price: 5_900,
        rating_tenths: 43,
        reviews: 812,
        initial_stock: 150,
        max_per_order: 20,
        tags: &["synthetic", "running", "pack"],
    },
    Product {
        id: "pack_daytrip_25",
        name: "Daytrip 25 L Backpack",
        brand: "Stonefield",
        category: "backpacks",
        description: "A 25-litre day pack with a rain cover and a hydration sleeve.",
        price: 32_900,
        rating_tenths: 45,
        reviews: 530,
        initial_stock: 35,
        max_per_order: 5,
        tags: &["daypack", "25l", "rain cover"],
    },
    Product {
        id: "pack_summit_45",
        name: "Summit 45 L Trekking Backpack",
        brand: "Alpenwerk",
        category: "backpacks",
        description: "A 45-litre pack with an adjustable back system for multi-day trips.",
        price: 89_900,
        rating_tenths: 46,
        reviews: 288,
        initial_stock: 12,
        max_per_order: 3,
        tags: &["trekking", "45l", "multi-day"],
    },
    Product {
        id: "tent_ridgeline_2p",
        name: "Ridgeline 2-Person Tent",
        brand: "TrailRidge",
        category: "tents",
        description: "A freestanding three-season tent for two, 2.1 kg.",
        price: 159_900,
        rating_tenths: 44,
        reviews: 174,
        initial_stock: 8,
        max_per_order: 2,
        tags: &["2 person", "three season", "freestanding"],
    },
    Product {
        id: "tent_ultralight_1p",
        name: "Featherlite 1-Person Tent",
        brand: "Kestrel",
        category: "tents",
        description: "A single-wall ultralight shelter, 890 g, pitched with trekking poles.",
        price: 219_900,
        rating_tenths: 47,
        reviews: 96,
        initial_stock: 4,
        max_per_order: 2,
        tags: &["1 person", "ultralight"],
    },
    Product {
        id: "poles_carbon_pair",
        name: "Carbon Trekking Poles (pair)",
        brand: "Stonefield",
        category: "trekking_poles",
        description: "Three-section carbon poles with cork grips, 230 g each.",
        price: 39_900,
        rating_tenths: 42,
        reviews: 341,
        initial_stock: 25,
        max_per_order: 4,
        tags: &["carbon", "poles", "pair"],
    },
];

/// The product with this id.
pub fn product(id: &str) -> Option<&'static Product> {
    PRODUCTS.iter().find(|p| p.id == id)
}

/// Every category, in catalog order.
pub fn categories() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for p in PRODUCTS {
        if !out.contains(&p.category) {
            out.push(p.category);
        }
    }
    out
}

/// How search results are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sort {
    /// Catalog order.
    #[default]
    Relevance,
    PriceAsc,
    PriceDesc,
    /// Best rated first.
    Rating,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "relevance" => Some(Sort::Relevance),
            "price" | "price_asc" => Some(Sort::PriceAsc),
            "-price" | "price_desc" => Some(Sort::PriceDesc),
            "rating" | "-rating" => Some(Sort::Rating),
            _ => None,
        }
    }
}

/// A search: every word of `q` must appear in the product's name, brand, category, description
/// or tags (ignoring case); `category` matches exactly; `max_price` is in minor units.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub q: Option<String>,
    pub category: Option<String>,
    pub max_price: Option<i64>,
    pub sort: Sort,
}

/// The products matching `query`, at most [`MAX_SEARCH_RESULTS`].
pub fn search(query: &Query) -> Vec<&'static Product> {
    let words: Vec<String> = query
        .q
        .as_deref()
        .unwrap_or("")
        .to_lowercase()
        .split_whitespace()
        .map(|w| {
            // "boots" also finds "boot": a plural should not hide the singular.
            w.strip_suffix('s')
                .filter(|s| s.len() >= 3)
                .unwrap_or(w)
                .to_string()
        })
        .collect();
    let mut out: Vec<&'static Product> = PRODUCTS
        .iter()
        .filter(|p| query.category.as_deref().is_none_or(|c| p.category == c))
        .filter(|p| query.max_price.is_none_or(|m| p.price <= m))
        .filter(|p| {
            let h = p.haystack();
            words.iter().all(|w| h.contains(w.as_str()))
        })
        .collect();
    match query.sort {
        Sort::Relevance => {}
        Sort::PriceAsc => out.sort_by_key(|p| (p.price, p.id)),
        Sort::PriceDesc => out.sort_by_key(|p| (std::cmp::Reverse(p.price), p.id)),
        Sort::Rating => out.sort_by_key(|p| (std::cmp::Reverse(p.rating_tenths), p.price)),
    }
    out.truncate(MAX_SEARCH_RESULTS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_what_the_demo_needs() {
        assert!(PRODUCTS.len() >= 12);
        assert!(categories().len() >= 4);
        let boots: Vec<_> = PRODUCTS
            .iter()
            .filter(|p| p.category == "hiking_boots")
            .collect();
        assert!(boots.len() >= 4);
        assert!(boots.iter().filter(|p| p.price < 80_000).count() >= 2);
        assert!(boots.iter().any(|p| p.price == 129_900));
        let mut ids: Vec<_> = PRODUCTS.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), PRODUCTS.len(), "ids are unique");
    }

    #[test]
    fn search_filters_and_sorts() {
        let q = Query {
            q: Some("Hiking BOOTS".into()),
            max_price: Some(80_000),
            sort: Sort::Rating,
            ..Query::default()
        };
        let found = search(&q);
        assert!(!found.is_empty());
        assert!(found.iter().all(|p| p.price <= 80_000));
        assert!(found.iter().all(|p| p.category == "hiking_boots"));
        assert_eq!(found[0].id, "boot_trailridge_mid");
        assert!(!found.iter().any(|p| p.id == "boot_summit_pro_gtx"));

        let tents = search(&Query {
            category: Some("tents".into()),
            sort: Sort::PriceAsc,
            ..Query::default()
        });
        assert_eq!(tents.len(), 2);
        assert!(tents[0].price < tents[1].price);
        assert!(search(&Query {
            q: Some("spaceship".into()),
            ..Query::default()
        })
        .is_empty());
    }
}
