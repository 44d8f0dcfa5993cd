//! Payment cards: numbers (Luhn, brand), expiry, CVV, masked display and fingerprints.
