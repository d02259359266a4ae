use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A string id that can only be built through its `parse`, so code past the boundary never
/// re-checks it.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, $crate::kernel::InvalidValue> {
                let value = value.into();
                let check: fn(&str) -> Result<(), String> = $check;
                check(&value).map_err($crate::kernel::InvalidValue)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::kernel::InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use string_id;

fn token(value: &str, what: &str, max: usize) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} must be 1 to {max} characters of letters, digits, '-' or '_'"
        ))
    }
}

string_id!(
    /// A catalog product id, such as `p-0001`.
    ProductId,
    |v| token(v, "product_id", 64)
);

string_id!(
    /// A stock keeping unit, such as `MUG-BLU-350`.
    Sku,
    |v| token(v, "sku", 64)
);

string_id!(
    /// The customer placing an order; opaque to the shop.
    CustomerId,
    |v| {
        if v.is_empty() || v.chars().count() > 128 || v.chars().any(char::is_control) {
            Err("customer_id must be 1 to 128 printable characters".into())
        } else {
            Ok(())
        }
    }
);

string_id!(
    /// An order id: a ULID, so ids sort by creation time.
    OrderId,
    |v| ulid::Ulid::from_string(v)
        .map(|_| ())
        .map_err(|_| "order_id must be a ULID (26 characters, Crockford base 32)".into())
);

impl OrderId {
    pub fn generate() -> Self {
        Self(ulid::Ulid::new().to_string())
    }
}

/// Printable ASCII, 1 to `max` bytes: what travels in headers and keys DynamoDB items.
fn printable(value: &str, what: &str, max: usize) -> Result<(), String> {
    if (1..=max).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(format!(
            "{what} must be 1 to {max} printable ASCII characters"
        ))
    }
}

string_id!(
    /// Follows one order through the API, the queue, the event store and every published
    /// event: the caller's `X-Correlation-Id`, or a new ULID.
    CorrelationId,
    |v| printable(v, "correlation id", 128)
);

impl CorrelationId {
    pub fn generate() -> Self {
        Self(ulid::Ulid::new().to_string())
    }
}

string_id!(
    /// The payment provider's id of a payment (`pi_...`).
    PaymentIntentId,
    |v| printable(v, "payment intent id", 255)
);

/// How many units of a product a line asks for: 1 to 1,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 1_000;

    pub fn new(value: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(value) {
            Ok(v) if (1..=Self::MAX).contains(&v) => Ok(Self(v)),
            _ => Err(InvalidValue(format!(
                "quantity must be between 1 and {}",
                Self::MAX
            ))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = InvalidValue;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_what_they_cannot_hold() {
        assert!(ProductId::parse("p-0001").is_ok());
        assert!(ProductId::parse("").is_err());
        assert!(ProductId::parse("a b").is_err());
        assert!(ProductId::parse("x".repeat(65)).is_err());
        assert!(OrderId::parse("nope").is_err());
        assert!(OrderId::parse(OrderId::generate().to_string()).is_ok());
        assert!(CustomerId::parse("c\u{0}").is_err());
        assert!(serde_json::from_str::<ProductId>(r#""bad id""#).is_err());
    }

    #[test]
    fn quantity_is_one_to_a_thousand() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(1001).is_err());
        assert!(Quantity::new(-3).is_err());
        assert_eq!(Quantity::new(1000).unwrap().get(), 1000);
    }
}
