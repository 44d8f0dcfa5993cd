//! `Secret<T>`: a value that prints as `***` and is zeroized on drop.
//!
//! Card numbers, CVVs and vault keys travel through code that logs, formats errors and derives
//! `Debug` everywhere. Wrapping them in [`Secret`] makes the safe thing the default: formatting
//! can never show the value, and reading it takes a call to [`Secret::expose`] that stands out
//! in review. There is deliberately no `Serialize` impl, so a secret cannot slip into a JSON
//! response or a log line by being a field of something that is serialised.
//!
//! ```compile_fail
//! // A secret cannot be serialised by accident.
//! fn needs_serialize<T: serde::Serialize>() {}
//! needs_serialize::<purser_core::secret::SecretString>();
//! ```
//!
//! Zeroizing on drop limits how long the value stays in memory; it cannot undo copies the
//! compiler made while moving the value (a `Secret<[u8; 32]>` is memcpy'd on every move), so
//! keep secrets behind references or in heap types (`String`, `Vec`) where moves copy only a
//! pointer.

use std::fmt;
use zeroize::Zeroize;

/// A value that must not be printed, logged or serialised. See the module docs.
pub struct Secret<T: Zeroize>(T);

/// A secret text, e.g. a card number's digits or a key file.
pub type SecretString = Secret<String>;

/// Secret bytes, e.g. a decrypted vault record.
pub type SecretBytes = Secret<Vec<u8>>;

impl<T: Zeroize> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// Read the value. Every call site is a place where the secret leaves the wrapper, so keep
    /// them few and keep the result out of `format!`, logs and errors.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The same as [`Secret::expose`]; the longer name reads better at some call sites.
    pub fn expose_secret(&self) -> &T {
        &self.0
    }

    /// Mutable access, for filling a secret buffer in place without an unzeroized copy.
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Secret<T> {
        Secret(value)
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Secret<T> {
        Secret(self.0.clone())
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_the_value() {
        let s = SecretString::new("4242424242424242".to_owned());
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s:#?}"), "***");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            pan: SecretString,
        }
        let h = Holder { pan: s.clone() };
        assert!(!format!("{h:?}").contains("4242"));
        assert_eq!(s.expose(), "4242424242424242");
        assert_eq!(s.expose_secret(), "4242424242424242");
    }

    #[test]
    fn drop_zeroizes_the_value() {
        use std::cell::Cell;
        use std::rc::Rc;
        // A value that records being zeroized, so the test sees `Drop` do it.
        struct Probe(Rc<Cell<bool>>);
        impl Zeroize for Probe {
            fn zeroize(&mut self) {
                self.0.set(true);
            }
        }
        let zeroized = Rc::new(Cell::new(false));
        let secret = Secret::new(Probe(Rc::clone(&zeroized)));
        assert!(!zeroized.get());
        drop(secret);
        assert!(zeroized.get());

        let mut key = Secret::new([7u8; 32]);
        key.expose_mut()[0] = 1;
        assert_eq!(key.expose()[..2], [1, 7]);
    }
}
