//! The place-order request: the body of `POST /orders`, parsed into domain types, with every
//! bad field named.

use super::RequestedLine;
use super::pricing::Discount;
use crate::kernel::{Currency, CustomerId, ProductId, Quantity};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub const MAX_LINES: usize = 50;

/// One thing wrong with a request, named by its path in the body (`items[2].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

impl FieldError {
    fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// Why a place-order body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestRejected {
    /// 422: these fields are wrong.
    Invalid(Vec<FieldError>),
    /// 403: the body names another customer than the caller.
    NotTheCustomer,
}

/// A valid place-order request, before the shop gives it an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub lines: Vec<RequestedLine>,
    pub discount_code: Option<String>,
}

impl OrderRequest {
    /// Checks the body of `POST /orders` placed by `customer` (the token's subject) and names
    /// every bad field, not only the first. A body `customer_id` is optional; naming someone
    /// else is refused before anything else.
    pub fn validate(body: &Value, customer: &CustomerId) -> Result<Self, RequestRejected> {
        let mut errors = Vec::new();
        let Some(body) = body.as_object() else {
            return Err(RequestRejected::Invalid(vec![FieldError::new(
                "",
                "the body must be a JSON object",
            )]));
        };
        match body.get("customer_id") {
            None | Some(Value::Null) => {}
            Some(Value::String(named)) if named == customer.as_str() => {}
            Some(_) => return Err(RequestRejected::NotTheCustomer),
        }
        let currency = match body.get("currency") {
            Some(Value::String(s)) => Currency::parse(s)
                .map_err(|e| errors.push(FieldError::new("currency", e.to_string())))
                .ok(),
            Some(_) => {
                errors.push(FieldError::new(
                    "currency",
                    "must be a string such as \"EUR\"",
                ));
                None
            }
            None => {
                errors.push(FieldError::new("currency", "is required"));
                None
            }
        };
        let discount_code = match body.get("discount_code") {
            None | Some(Value::Null) => None,
            Some(Value::String(code)) if Discount::from_code(code).is_some() => {
                Some(code.to_ascii_uppercase())
            }
            Some(Value::String(_)) => {
                errors.push(FieldError::new("discount_code", "is not a known code"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new("discount_code", "must be a string"));
                None
            }
        };
        let lines = validate_lines(body.get("items"), &mut errors);
        match (currency, lines) {
            (Some(currency), Some(lines)) if errors.is_empty() => Ok(Self {
                customer_id: customer.clone(),
                currency,
                lines,
                discount_code,
            }),
            _ => Err(RequestRejected::Invalid(errors)),
        }
    }

    /// A fingerprint of the request, to tell a retry from a different order under the same
    /// `Idempotency-Key`.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::json!({
            "customer_id": self.customer_id,
            "currency": self.currency,
            "lines": self.lines,
            "discount_code": self.discount_code,
        });
        hex::encode(Sha256::digest(canonical.to_string()))
    }
}

fn validate_lines(
    items: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<RequestedLine>> {
    let items = match items {
        Some(Value::Array(items)) => items,
        Some(_) => {
            errors.push(FieldError::new("items", "must be an array"));
            return None;
        }
        None => {
            errors.push(FieldError::new("items", "is required"));
            return None;
        }
    };
    if items.is_empty() || items.len() > MAX_LINES {
        errors.push(FieldError::new(
            "items",
            format!("must hold 1 to {MAX_LINES} lines"),
        ));
        return None;
    }
    let before = errors.len();
    let mut seen: HashMap<ProductId, usize> = HashMap::new();
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let product_id = match item.get("product_id") {
            Some(Value::String(s)) => ProductId::parse(s.clone())
                .map_err(|e| errors.push(FieldError::new(format!("items[{i}].product_id"), e.0)))
                .ok(),
            _ => {
                errors.push(FieldError::new(
                    format!("items[{i}].product_id"),
                    "is required and must be a string",
                ));
                None
            }
        };
        let quantity = match item.get("quantity").and_then(Value::as_i64) {
            Some(q) => Quantity::new(q)
                .map_err(|e| errors.push(FieldError::new(format!("items[{i}].quantity"), e.0)))
                .ok(),
            None => {
                errors.push(FieldError::new(
                    format!("items[{i}].quantity"),
                    "is required and must be an integer",
                ));
                None
            }
        };
        if let Some(id) = &product_id {
            // One line per product: a stock reservation touches each product once.
            if let Some(first) = seen.insert(id.clone(), i) {
                errors.push(FieldError::new(
                    format!("items[{i}].product_id"),
                    format!("repeats items[{first}]: put the whole quantity on one line"),
                ));
            }
        }
        if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
            lines.push(RequestedLine {
                product_id,
                quantity,
            });
        }
    }
    (errors.len() == before).then_some(lines)
}
