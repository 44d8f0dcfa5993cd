//! `Secret<T>`: a value that prints as `***` and is zeroized on drop.
