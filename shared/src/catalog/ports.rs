//! What the catalog needs from storage. Narrow traits: the product API only reads.

use super::{Category, Product};
use crate::kernel::{InfraError, ProductId};
use async_trait::async_trait;
use std::collections::HashMap;

#[async_trait]
pub trait ProductLookup: Send + Sync {
    /// The products that exist among `ids` (unknown ids are simply absent).
    async fn products(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Product>, InfraError>;

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, InfraError> {
        Ok(self.products(std::slice::from_ref(id)).await?.remove(id))
    }
}

/// One page of a listing. A listing keeps one order from page to page (product id order
/// within a category), so following the cursors visits every product once.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// The last product id when more may follow.
    pub more_after: Option<ProductId>,
}

impl ProductPage {
    /// A page from up to `limit + 1` products read in listing order: the extra one, if any,
    /// only says that another page follows, so the last page never hands out a cursor to an
    /// empty page.
    pub fn from_overfetch(mut items: Vec<Product>, limit: u16) -> Self {
        let limit = usize::from(limit);
        let more_after = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map(|p| p.product_id.clone())
        });
        Self {
            items,
            more_after: more_after.flatten(),
        }
    }
}

#[async_trait]
pub trait ProductListing: Send + Sync {
    /// Up to `limit` products after `after`, all of them or one category's (read through an
    /// index, never a filtered scan).
    async fn page(
        &self,
        category: Option<&Category>,
        after: Option<&ProductId>,
        limit: u16,
    ) -> Result<ProductPage, InfraError>;
}
