//! Loading a catalog into `ProductsTable`.
//!
//! Takes products that are already parsed: the sample catalog (`infra/catalog/demo.json`)
//! here, a validated import file later. Every field is written except live stock, which
//! only a new product gets (`if_not_exists`), so loading again never undoes sales.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

/// `{"amount": <integer minor units>, "currency": "EUR"}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

/// A product as the catalog file and `ProductsTable` hold it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: Money,
    pub stock: u32,
    /// RFC 3339.
    pub updated_at: String,
}

/// The sample catalog, `infra/catalog/demo.json`.
pub fn demo_catalog(repo_root: &Path) -> Result<Vec<Product>> {
    let path = repo_root.join("infra/catalog/demo.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a list of products", path.display()))
}

/// Writes `products` into `table`, keeping the stock of products already there.
pub async fn load(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    products: &[Product],
) -> Result<usize> {
    for product in products {
        let names = HashMap::from(
            [
                "sku",
                "name",
                "description",
                "category",
                "price",
                "stock",
                "updated_at",
            ]
            .map(|field| (format!("#{field}"), field.to_owned())),
        );
        let price = AttributeValue::M(HashMap::from([
            (
                "amount".to_owned(),
                AttributeValue::N(product.price.amount.to_string()),
            ),
            (
                "currency".to_owned(),
                AttributeValue::S(product.price.currency.clone()),
            ),
        ]));
        let values = HashMap::from([
            (":sku".to_owned(), AttributeValue::S(product.sku.clone())),
            (":name".to_owned(), AttributeValue::S(product.name.clone())),
            (
                ":description".to_owned(),
                AttributeValue::S(product.description.clone()),
            ),
            (
                ":category".to_owned(),
                AttributeValue::S(product.category.clone()),
            ),
            (":price".to_owned(), price),
            (
                ":stock".to_owned(),
                AttributeValue::N(product.stock.to_string()),
            ),
            (
                ":updated_at".to_owned(),
                AttributeValue::S(product.updated_at.clone()),
            ),
        ]);
        client
            .update_item()
            .table_name(table)
            .key("product_id", AttributeValue::S(product.product_id.clone()))
            .update_expression(
                "SET #sku = :sku, #name = :name, #description = :description, \
                 #category = :category, #price = :price, #updated_at = :updated_at, \
                 #stock = if_not_exists(#stock, :stock)",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(crate::aws::aws_error)
            .with_context(|| format!("cannot write product {} to {table}", product.product_id))?;
    }
    Ok(products.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_is_well_formed() {
        let products = demo_catalog(&crate::repo::repo_root().unwrap()).unwrap();
        assert!(products.len() >= 20, "{}", products.len());
        let categories: std::collections::BTreeSet<_> =
            products.iter().map(|p| p.category.as_str()).collect();
        assert_eq!(categories.len(), 4, "{categories:?}");
        assert!(products.iter().filter(|p| p.stock == 0).count() >= 2);
        assert!(
            products
                .iter()
                .filter(|p| (1..=3).contains(&p.stock))
                .count()
                >= 2
        );
        let ids: std::collections::BTreeSet<_> =
            products.iter().map(|p| p.product_id.as_str()).collect();
        assert_eq!(ids.len(), products.len(), "product ids are unique");
        for product in &products {
            assert_eq!(product.price.currency, "EUR");
            assert!(product.price.amount > 0);
            time::OffsetDateTime::parse(
                &product.updated_at,
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
        }
    }
}
