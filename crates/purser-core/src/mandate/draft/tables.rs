//! The fixed vocabularies the drafter knows: spending categories with their merchant category
//! codes, airlines, currency words, countries, number words. Anything not in these tables is
//! reported as not understood rather than guessed.

use crate::mandate::constraints::{Category, Mcc};
use crate::Currency;

/// A spending category people name, and the MCCs (ISO 18245) it stands for.
pub(super) struct CategoryEntry {
    /// Lower-case words that name it (each entry one or two words).
    pub words: &'static [&'static str],
    pub label: &'static str,
    pub mcc: &'static [u16],
    /// What the codes are, for the "understood" line.
    pub mcc_names: &'static str,
}

pub(super) const CATEGORIES: &[CategoryEntry] = &[
    CategoryEntry {
        words: &["coffee", "coffees", "cafe", "cafes", "café"],
        label: "coffee",
        mcc: &[5814],
        mcc_names: "fast food and coffee shops",
    },
    CategoryEntry {
        words: &["groceries", "grocery", "supermarket", "supermarkets"],
        label: "groceries",
        mcc: &[5411],
        mcc_names: "grocery stores and supermarkets",
    },
    CategoryEntry {
        words: &["flights", "airfare", "airline", "airlines"],
        label: "flights",
        mcc: &[4511],
        mcc_names: "airlines",
    },
    CategoryEntry {
        words: &["hotel", "hotels", "lodging"],
        label: "hotels",
        mcc: &[7011],
        mcc_names: "hotels and lodging",
    },
    CategoryEntry {
        words: &["shoes", "boots", "sneakers", "footwear"],
        label: "shoes",
        mcc: &[5661],
        mcc_names: "shoe stores",
    },
    CategoryEntry {
        words: &["electronics", "gadgets"],
        label: "electronics",
        mcc: &[5732],
        mcc_names: "electronics stores",
    },
    CategoryEntry {
        words: &["books", "bookstore", "bookstores"],
        label: "books",
        mcc: &[5942],
        mcc_names: "book stores",
    },
    CategoryEntry {
        words: &["restaurants", "restaurant", "dining", "meals"],
        label: "restaurants",
        mcc: &[5812],
        mcc_names: "eating places and restaurants",
    },
    CategoryEntry {
        words: &["taxi", "taxis", "cabs", "rides"],
        label: "taxis",
        mcc: &[4121],
        mcc_names: "taxicabs and limousines",
    },
    CategoryEntry {
        words: &["model tokens", "ai services", "api credits", "tokens"],
        label: "AI services",
        mcc: &[5734, 7372],
        mcc_names: "computer software stores; computer programming and data processing",
    },
    CategoryEntry {
        words: &["gambling", "betting", "lottery"],
        label: "gambling",
        mcc: &[7995],
        mcc_names: "betting and lottery",
    },
];

impl CategoryEntry {
    pub fn category(&self) -> Category {
        Category {
            label: self.label.to_string(),
            mcc: self.mcc.iter().filter_map(|c| Mcc::new(*c)).collect(),
        }
    }
}

/// An airline people name, with its IATA code and website.
pub(super) struct Airline {
    /// Lower-case words, one or two.
    pub words: &'static [&'static str],
    pub name: &'static str,
    pub iata: &'static str,
    pub website: &'static str,
}

pub(super) const AIRLINES: &[Airline] = &[
    Airline {
        words: &["delta"],
        name: "Delta Air Lines",
        iata: "DL",
        website: "delta.com",
    },
    Airline {
        words: &["united"],
        name: "United Airlines",
        iata: "UA",
        website: "united.com",
    },
    Airline {
        words: &["american"],
        name: "American Airlines",
        iata: "AA",
        website: "aa.com",
    },
    Airline {
        words: &["southwest"],
        name: "Southwest Airlines",
        iata: "WN",
        website: "southwest.com",
    },
    Airline {
        words: &["air china"],
        name: "Air China",
        iata: "CA",
        website: "airchina.com.cn",
    },
    Airline {
        words: &["china eastern"],
        name: "China Eastern Airlines",
        iata: "MU",
        website: "ceair.com",
    },
    Airline {
        words: &["china southern"],
        name: "China Southern Airlines",
        iata: "CZ",
        website: "csair.com",
    },
    Airline {
        words: &["lufthansa"],
        name: "Lufthansa",
        iata: "LH",
        website: "lufthansa.com",
    },
    Airline {
        words: &["british airways"],
        name: "British Airways",
        iata: "BA",
        website: "britishairways.com",
    },
    Airline {
        words: &["air france"],
        name: "Air France",
        iata: "AF",
        website: "airfrance.com",
    },
    Airline {
        words: &["emirates"],
        name: "Emirates",
        iata: "EK",
        website: "emirates.com",
    },
    Airline {
        words: &["cathay", "cathay pacific"],
        name: "Cathay Pacific",
        iata: "CX",
        website: "cathaypacific.com",
    },
    Airline {
        words: &["singapore airlines"],
        name: "Singapore Airlines",
        iata: "SQ",
        website: "singaporeair.com",
    },
    Airline {
        words: &["jal", "japan airlines"],
        name: "Japan Airlines",
        iata: "JL",
        website: "jal.co.jp",
    },
    Airline {
        words: &["ana"],
        name: "All Nippon Airways",
        iata: "NH",
        website: "ana.co.jp",
    },
];

/// Countries by the names people write, to ISO 3166 alpha-2.
pub(super) const COUNTRIES: &[(&str, &str)] = &[
    ("china", "CN"),
    ("the us", "US"),
    ("the usa", "US"),
    ("the united states", "US"),
    ("us", "US"),
    ("usa", "US"),
    ("japan", "JP"),
    ("the uk", "GB"),
    ("uk", "GB"),
    ("germany", "DE"),
    ("france", "FR"),
    ("hong kong", "HK"),
    ("singapore", "SG"),
    ("canada", "CA"),
];

/// Currency words after a number: "800 yuan", "500 dollars". The word "yen" always means the
/// Japanese yen (it is the English name); only the ¥ sign is ambiguous (see
/// `DraftContext::yen_means`). "Dollars" alone means US dollars, and the drafter says so.
pub(super) fn currency_word(w: &str) -> Option<Currency> {
    match w {
        "yuan" | "rmb" | "renminbi" | "kuai" | "元" | "块" => Some(Currency::CNY),
        "dollar" | "dollars" | "bucks" => Some(Currency::USD),
        "euro" | "euros" => Some(Currency::EUR),
        "pound" | "pounds" | "quid" => Some(Currency::GBP),
        "yen" => Some(Currency::JPY),
        _ if w.len() == 3 && w.bytes().all(|b| b.is_ascii_lowercase()) => Currency::from_code(w),
        _ => None,
    }
}

/// Small counts written as words.
pub(super) fn number_word(w: &str) -> Option<u32> {
    Some(match w {
        "a" | "an" | "one" | "single" => 1,
        "two" | "couple" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" | "dozen" => 12,
        _ => return None,
    })
}

pub(super) const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

pub(super) const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Words that carry no constraint ("help me", "please"). They are consumed silently; every
/// other word is either understood or reported.
pub(super) const FILLER: &[&str] = &[
    "help", "me", "please", "i", "i'd", "i'm", "want", "wanna", "to", "would", "like", "could",
    "can", "you", "the", "my", "just", "go", "ahead", "and", "then", "also", "let", "let's",
    "need", "we", "us", "our", "it", "spend", "ok", "okay", "hey", "kindly", "for", "on", "of",
    "a", "an", "some", "new", "should", "will", "be", "is", "are", "that",
];

/// Purchase verbs, which introduce the item.
pub(super) const VERBS: &[&str] = &[
    "buy",
    "purchase",
    "order",
    "get",
    "book",
    "reserve",
    "pay",
    "subscribe",
    "renew",
];

/// Units people count in: "a pair of boots".
pub(super) const UNITS: &[(&str, &str)] = &[
    ("pair", "pair"),
    ("pairs", "pair"),
    ("box", "box"),
    ("boxes", "box"),
    ("pack", "pack"),
    ("packs", "pack"),
    ("bottle", "bottle"),
    ("bottles", "bottle"),
    ("bag", "bag"),
    ("bags", "bag"),
    ("set", "set"),
    ("sets", "set"),
    ("ticket", "ticket"),
    ("tickets", "ticket"),
    ("cup", "cup"),
    ("cups", "cup"),
];

/// Words that end an item name besides prepositions: time and amount words.
pub(super) const ITEM_STOP_EXTRA: &[&str] = &[
    "automatically",
    "daily",
    "weekly",
    "monthly",
    "yearly",
    "annually",
    "today",
    "tomorrow",
    "once",
    "twice",
    "please",
    "anything",
];
