use super::Category;
use crate::kernel::ProductId;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// Where the next page of a listing starts. Opaque to clients (base64url of a small JSON
/// document); it names the listing it belongs to, so a cursor from another category's listing
/// is refused rather than silently skipping products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "v")]
    version: u8,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// The last product of the previous page.
    #[serde(rename = "a")]
    pub after: ProductId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCursor {
    #[error("cursor is not one this API issued")]
    Malformed,
    #[error("cursor belongs to another listing (category {issued_for:?})")]
    Foreign { issued_for: Option<String> },
}

impl Cursor {
    const VERSION: u8 = 1;

    pub fn new(category: Option<Category>, after: ProductId) -> Self {
        Self {
            version: Self::VERSION,
            category,
            after,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursor serialises"))
    }

    /// Decodes a cursor and checks it belongs to the listing being asked for.
    pub fn decode(text: &str, listing: Option<&Category>) -> Result<Self, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| InvalidCursor::Malformed)?;
        let cursor: Cursor =
            serde_json::from_slice(&bytes).map_err(|_| InvalidCursor::Malformed)?;
        if cursor.version != Self::VERSION {
            return Err(InvalidCursor::Malformed);
        }
        if cursor.category.as_ref() != listing {
            return Err(InvalidCursor::Foreign {
                issued_for: cursor.category.map(String::from),
            });
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_tampering_and_other_listings() {
        let kitchen = Category::parse("kitchen").unwrap();
        let cursor = Cursor::new(Some(kitchen.clone()), ProductId::parse("p-7").unwrap());
        let text = cursor.encode();
        assert_eq!(Cursor::decode(&text, Some(&kitchen)).unwrap(), cursor);
        assert!(matches!(
            Cursor::decode(&text, None),
            Err(InvalidCursor::Foreign { .. })
        ));
        let mut tampered = text.clone();
        tampered.insert(3, '!');
        assert_eq!(
            Cursor::decode(&tampered, Some(&kitchen)),
            Err(InvalidCursor::Malformed)
        );
        let bad_id = URL_SAFE_NO_PAD.encode(br#"{"v":1,"a":"no spaces allowed"}"#);
        assert_eq!(Cursor::decode(&bad_id, None), Err(InvalidCursor::Malformed));
    }
}
