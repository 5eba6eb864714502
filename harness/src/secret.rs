//! Secret values that cannot leak by accident: `Debug` and `Display` print `***`.
//!
//! Generated passwords travel through the harness only as [`Secret`]; the one way to the
//! value is [`Secret::expose`], which is grep-able.

use std::fmt;

use rand::{Rng, distr::Alphanumeric};
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// A random alphanumeric secret of `len` characters.
    pub fn generate(len: usize) -> Self {
        Secret(rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::generate(24);
        assert_eq!(s.expose().len(), 24);
        assert!(!format!("{s} {s:?} {s:#?}").contains(s.expose()));
    }
}
