//! The body of `POST /orders` as it arrives, and its conversion into the domain's
//! [`OrderRequest`]. Every field is read loosely first, so that each bad one is named in the
//! problem, not only the first serde would stop at.

use serde::Deserialize;
use serde_json::Value;
use shop::http::FieldError;
use shop::kernel::{Currency, CustomerId, ProductId, Quantity};
use shop::ordering::pricing::DiscountCode;
use shop::ordering::{LinesError, OrderLines, OrderRequest, RequestedLine};
use std::collections::HashMap;

/// `POST /orders`'s body. `customer_id` is optional: naming someone else is refused.
#[derive(Debug, Default, Deserialize)]
pub struct PlaceOrderBody {
    #[serde(default)]
    customer_id: Value,
    #[serde(default)]
    currency: Value,
    #[serde(default)]
    items: Value,
    #[serde(default)]
    discount_code: Value,
}

/// Why a place-order body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestRejected {
    /// 422: these fields are wrong.
    Invalid(Vec<FieldError>),
    /// 403: the body names another customer than the caller.
    NotTheCustomer,
}

/// The body placed by `customer` (the token's subject).
pub struct Placed<'a> {
    pub body: PlaceOrderBody,
    pub customer: &'a CustomerId,
}

impl TryFrom<Placed<'_>> for OrderRequest {
    type Error = RequestRejected;

    fn try_from(Placed { body, customer }: Placed<'_>) -> Result<Self, Self::Error> {
        match &body.customer_id {
            Value::Null => {}
            Value::String(named) if named == customer.as_str() => {}
            _ => return Err(RequestRejected::NotTheCustomer),
        }
        let mut errors = Vec::new();
        let currency = field(&mut errors, "currency", currency(&body.currency));
        let discount_code = field(&mut errors, "discount_code", discount(&body.discount_code));
        let lines = lines(&body.items, &mut errors);
        match (currency, discount_code, lines) {
            (Some(currency), Some(discount_code), Some(lines)) if errors.is_empty() => Ok(Self {
                customer_id: customer.clone(),
                currency,
                lines,
                discount_code,
            }),
            _ => Err(RequestRejected::Invalid(errors)),
        }
    }
}

/// The value, or its error noted under `name`.
fn field<T>(errors: &mut Vec<FieldError>, name: &str, parsed: Result<T, String>) -> Option<T> {
    parsed
        .map_err(|detail| errors.push(FieldError::new(name, detail)))
        .ok()
}

fn currency(value: &Value) -> Result<Currency, String> {
    match value {
        Value::String(code) => Currency::parse(code).map_err(|e| e.to_string()),
        Value::Null => Err("is required".into()),
        _ => Err("must be a string such as \"EUR\"".into()),
    }
}

fn discount(value: &Value) -> Result<Option<DiscountCode>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(code) => DiscountCode::parse(code)
            .map(Some)
            .map_err(|_| "is not a known code".into()),
        _ => Err("must be a string".into()),
    }
}

fn lines(items: &Value, errors: &mut Vec<FieldError>) -> Option<OrderLines> {
    let items = match items {
        Value::Array(items) if (1..=OrderLines::MAX).contains(&items.len()) => Ok(items),
        Value::Array(_) => Err(LinesError::Count.to_string()),
        Value::Null => Err("is required".to_owned()),
        _ => Err("must be an array".to_owned()),
    }
    .map_err(|detail| errors.push(FieldError::new("items", detail)))
    .ok()?;
    let before = errors.len();
    let mut first_line_of: HashMap<ProductId, usize> = HashMap::new();
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (product_id, quantity) = line(i, item, errors);
        // Named here, beside the line's other errors: `OrderLines` would only name the first.
        if let Some(first) = product_id
            .as_ref()
            .and_then(|id| first_line_of.insert(id.clone(), i))
        {
            errors.push(FieldError::new(
                format!("items[{i}].product_id"),
                format!("repeats items[{first}]: put the whole quantity on one line"),
            ));
        }
        if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
            lines.push(RequestedLine {
                product_id,
                quantity,
            });
        }
    }
    if errors.len() != before {
        return None;
    }
    field(
        errors,
        "items",
        OrderLines::new(lines).map_err(|e| e.to_string()),
    )
}

fn line(
    i: usize,
    item: &Value,
    errors: &mut Vec<FieldError>,
) -> (Option<ProductId>, Option<Quantity>) {
    let product_id = match item.get("product_id") {
        Some(Value::String(id)) => ProductId::parse(id.as_str()).map_err(|e| e.0),
        _ => Err("is required and must be a string".into()),
    };
    let quantity = match item.get("quantity").and_then(Value::as_i64) {
        Some(q) => Quantity::new(q).map_err(|e| e.0),
        None => Err("is required and must be an integer".into()),
    };
    (
        field(errors, &format!("items[{i}].product_id"), product_id),
        field(errors, &format!("items[{i}].quantity"), quantity),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<OrderRequest, RequestRejected> {
        let body: PlaceOrderBody = serde_json::from_value(body).unwrap();
        let customer = CustomerId::parse("c-1").unwrap();
        OrderRequest::try_from(Placed {
            body,
            customer: &customer,
        })
    }

    fn invalid_fields(body: Value) -> Vec<String> {
        match parse(body) {
            Err(RequestRejected::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected invalid fields, got {other:?}"),
        }
    }

    #[test]
    fn validation_names_every_bad_field() {
        let fields = invalid_fields(json!({
            "currency": "XXX",
            "discount_code": "FREE",
            "items": [
                {"product_id": "p 1", "quantity": 0},
                {"product_id": "p-2"},
                {"product_id": "p-2", "quantity": 1}
            ]
        }));
        assert_eq!(
            fields,
            [
                "currency",
                "discount_code",
                "items[0].product_id",
                "items[0].quantity",
                "items[1].quantity",
                "items[2].product_id"
            ]
        );
        let line = |i: usize| json!({"product_id": format!("p-{i}"), "quantity": 1});
        let too_many: Vec<Value> = (0..51).map(line).collect();
        assert_eq!(
            invalid_fields(json!({"currency": "EUR", "items": too_many}))[0],
            "items"
        );
        let twice =
            json!([{"product_id": "p-1", "quantity": 1}, {"product_id": "p-1", "quantity": 2}]);
        assert_eq!(
            invalid_fields(json!({"currency": "EUR", "items": twice})),
            ["items[1].product_id"]
        );
    }

    #[test]
    fn the_customer_is_the_caller_and_a_body_naming_another_is_refused() {
        let items = json!([{"product_id": "p-1", "quantity": 1}]);
        for named in [json!({"customer_id": "c-1"}), json!({})] {
            let mut body = json!({"currency": "EUR", "items": items});
            body.as_object_mut()
                .unwrap()
                .extend(named.as_object().unwrap().clone());
            assert_eq!(parse(body).unwrap().customer_id.as_str(), "c-1");
        }
        for other in [json!("c-2"), json!(""), json!(7)] {
            let body = json!({"customer_id": other, "currency": "XXX", "items": items});
            assert_eq!(parse(body).unwrap_err(), RequestRejected::NotTheCustomer);
        }
    }

    #[test]
    fn a_known_discount_code_is_kept_whatever_its_case() {
        let body = json!({"currency": "eur", "discount_code": "welcome10",
            "items": [{"product_id": "p-1", "quantity": 2}]});
        let request = parse(body).unwrap();
        assert_eq!(request.discount_code, Some(DiscountCode::Welcome10));
        assert_eq!(request.currency, Currency::Eur);
    }
}
