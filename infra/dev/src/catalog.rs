//! Catalog files: reading and validating them (`cargo dev import FILE`), generating a large
//! one for load runs (`cargo dev generate-catalog`), and loading products into
//! `ProductsTable`.
//!
//! A file is JSON (an array of products, as `infra/catalog/demo.json`), JSON Lines (one
//! product per line) or CSV (`product_id,sku,name,description,category,price_amount,
//! price_currency,stock[,updated_at]`). Every row is checked with the domain's own types;
//! a bad row is named by its line and skipped, the good ones are loaded. Loading writes
//! every field except live stock, which only a new product gets (`if_not_exists`), so
//! importing again never undoes sales.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use shop::catalog::{Category, Price, Product, ProductName, Stock};
use shop::kernel::{ProductId, Sku};

/// A row of a catalog file as written; `updated_at` defaults to the time of the import.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    product_id: ProductId,
    sku: Sku,
    name: String,
    #[serde(default)]
    description: String,
    category: Category,
    price: Price,
    stock: Stock,
    #[serde(default, with = "time::serde::rfc3339::option")]
    updated_at: Option<time::OffsetDateTime>,
}

/// A row that could not be imported: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// The products of a file, and the rows that were refused.
#[derive(Debug, Default)]
pub struct Parsed {
    pub products: Vec<Product>,
    pub rejected: Vec<Rejected>,
}

fn product(row: Value, now: time::OffsetDateTime) -> Result<Product, String> {
    let row: Row = serde_json::from_value(row).map_err(|e| e.to_string())?;
    // The product's own types refuse a bad price or stock as the row is read.
    let name = ProductName::parse(row.name.trim()).map_err(|e| e.0)?;
    Ok(Product {
        product_id: row.product_id,
        sku: row.sku,
        name,
        description: row.description,
        category: row.category,
        price: row.price,
        stock: row.stock,
        updated_at: row.updated_at.unwrap_or(now),
    })
}

/// Reads and validates a catalog file (by extension: .json, .jsonl/.ndjson, .csv).
pub fn parse_file(path: &Path) -> Result<Parsed> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let rows = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => json_rows(&text)?,
        Some("jsonl" | "ndjson") => json_lines(&text),
        Some("csv") => csv_rows(&text)?,
        _ => bail!("{}: use a .json, .jsonl or .csv file", path.display()),
    };
    Ok(validate(rows))
}

fn validate(rows: Vec<(usize, Result<Value, String>)>) -> Parsed {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut parsed = Parsed::default();
    let mut seen: HashMap<ProductId, usize> = HashMap::new();
    for (line, row) in rows {
        match row.and_then(|row| product(row, now)) {
            Ok(p) => match seen.insert(p.product_id.clone(), line) {
                Some(first) => parsed.rejected.push(Rejected {
                    line,
                    reason: format!("product_id {} repeats line {first}", p.product_id),
                }),
                None => parsed.products.push(p),
            },
            Err(reason) => parsed.rejected.push(Rejected { line, reason }),
        }
    }
    parsed
}

/// The elements of a JSON array with the line each starts on.
fn json_rows(text: &str) -> Result<Vec<(usize, Result<Value, String>)>> {
    let items: Vec<Value> = serde_json::from_str(text).context("the file is not a JSON array")?;
    let lines = element_lines(text);
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| (lines.get(i).copied().unwrap_or(0), Ok(item)))
        .collect())
}

/// Where each top-level element of a JSON array starts. serde_json does not report positions
/// of values, and this is the only position an import error needs.
fn element_lines(text: &str) -> Vec<usize> {
    let (mut line, mut depth, mut in_string, mut escaped) = (1, 0usize, false, false);
    let mut starts = Vec::new();
    let mut expecting = false;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if depth == 1 && expecting && !c.is_whitespace() && c != ']' {
            starts.push(line);
            expecting = false;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    expecting = true;
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    starts
}

fn json_lines(text: &str) -> Vec<(usize, Result<Value, String>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            (
                i + 1,
                serde_json::from_str(l).map_err(|e| format!("not JSON: {e}")),
            )
        })
        .collect()
}

fn csv_rows(text: &str) -> Result<Vec<(usize, Result<Value, String>)>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .context("the CSV file has no header row")?
        .clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let row = match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                let field = |name: &str| {
                    headers
                        .iter()
                        .position(|h| h == name)
                        .and_then(|i| record.get(i))
                };
                let number = |name: &str| -> Result<Value, String> {
                    let raw = field(name).ok_or_else(|| format!("missing column {name}"))?;
                    raw.trim()
                        .parse::<i64>()
                        .map(Value::from)
                        .map_err(|_| format!("{name} must be a whole number, not {raw:?}"))
                };
                let value = (|| {
                    let mut row = json!({
                        "product_id": field("product_id").ok_or("missing column product_id")?,
                        "sku": field("sku").ok_or("missing column sku")?,
                        "name": field("name").ok_or("missing column name")?,
                        "description": field("description").unwrap_or_default(),
                        "category": field("category").ok_or("missing column category")?,
                        "price": {"amount": number("price_amount")?, "currency": field("price_currency").ok_or("missing column price_currency")?},
                        "stock": number("stock")?,
                    });
                    if let Some(updated_at) = field("updated_at").filter(|v| !v.is_empty()) {
                        row["updated_at"] = Value::from(updated_at);
                    }
                    Ok::<_, String>(row)
                })();
                (line, value)
            }
            Err(e) => (
                e.position().map_or(0, |p| p.line() as usize),
                Err(e.to_string()),
            ),
        };
        rows.push(row);
    }
    Ok(rows)
}

/// The sample catalog, `infra/catalog/demo.json`; any bad row is an error.
pub fn demo_catalog(repo_root: &Path) -> Result<Vec<Product>> {
    let path = repo_root.join("infra/catalog/demo.json");
    let parsed = parse_file(&path)?;
    if let Some(first) = parsed.rejected.first() {
        bail!("{}: {first}", path.display());
    }
    Ok(parsed.products)
}

/// A deterministic catalog of `count` products over eight categories, for load and
/// benchmark runs, as JSON Lines.
pub fn generate(count: usize) -> String {
    const CATEGORIES: [&str; 8] = [
        "coffee",
        "tea",
        "brewing",
        "accessories",
        "mugs",
        "grinders",
        "gifts",
        "snacks",
    ];
    (1..=count)
        .map(|n| {
            let category = CATEGORIES[n % CATEGORIES.len()];
            json!({
                "product_id": format!("g-{n:05}"),
                "sku": format!("GEN-{n:05}"),
                "name": format!("Generated {category} item {n}"),
                "description": "A generated product for load and benchmark runs.",
                "category": category,
                "price": {"amount": 199 + (n * 37 % 9_800) as i64, "currency": "EUR"},
                "stock": 50 + (n * 13 % 950) as i64,
                "updated_at": "2026-01-01T00:00:00Z",
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// Writes `products` into `table`, 16 at a time, keeping the stock of products already
/// there; `progress` hears the count every 100 products.
pub async fn load(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    products: &[Product],
    progress: &(dyn Fn(usize) + Sync),
) -> Result<usize> {
    let written = futures::stream::iter(products)
        .map(|product| write(client, table, product))
        .buffer_unordered(16)
        .try_fold(0usize, |done, ()| async move {
            let done = done + 1;
            if done % 100 == 0 {
                progress(done);
            }
            Ok(done)
        })
        .await?;
    Ok(written)
}

async fn write(client: &aws_sdk_dynamodb::Client, table: &str, product: &Product) -> Result<()> {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(product)?;
    item.remove("product_id");
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut sets = Vec::new();
    for (i, (field, value)) in item.into_iter().enumerate() {
        let expression = if field == "stock" {
            format!("#f{i} = if_not_exists(#f{i}, :v{i})")
        } else {
            format!("#f{i} = :v{i}")
        };
        sets.push(expression);
        names.insert(format!("#f{i}"), field);
        values.insert(format!(":v{i}"), value);
    }
    client
        .update_item()
        .table_name(table)
        .key(
            "product_id",
            AttributeValue::S(product.product_id.to_string()),
        )
        .update_expression(format!("SET {}", sets.join(", ")))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .send()
        .await
        .map_err(crate::aws::aws_error)
        .with_context(|| format!("cannot write product {} to {table}", product.product_id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> Parsed {
        let dir = std::env::temp_dir().join(format!("catalog-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        parse_file(&path).unwrap()
    }

    #[test]
    fn the_demo_catalog_is_valid_and_varied() {
        let products = demo_catalog(&crate::repo::repo_root().unwrap()).unwrap();
        assert!(products.len() >= 20, "{}", products.len());
        let categories: std::collections::BTreeSet<_> =
            products.iter().map(|p| p.category.as_str()).collect();
        assert_eq!(categories.len(), 4, "{categories:?}");
        assert!(products.iter().filter(|p| p.stock.units() == 0).count() >= 2);
        assert!(
            products
                .iter()
                .filter(|p| (1..=3).contains(&p.stock.units()))
                .count()
                >= 2
        );
    }

    #[test]
    fn bad_rows_are_named_by_line_and_good_ones_kept() {
        let json = r#"[
  {"product_id": "p-1", "sku": "S-1", "name": "One", "category": "tea",
   "price": {"amount": 100, "currency": "EUR"}, "stock": 1},
  {"product_id": "bad id", "sku": "S-2", "name": "Two", "category": "tea",
   "price": {"amount": 100, "currency": "EUR"}, "stock": 1},
  {"product_id": "p-3", "sku": "S-3", "name": "Three", "category": "tea",
   "price": {"amount": 100, "currency": "XXX"}, "stock": 1},
  {"product_id": "p-1", "sku": "S-4", "name": "Again", "category": "tea",
   "price": {"amount": 100, "currency": "EUR"}, "stock": 1}
]"#;
        let parsed = parse("c.json", json);
        assert_eq!(parsed.products.len(), 1);
        let lines: Vec<usize> = parsed.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 6, 8]);
        assert!(
            parsed.rejected[0].reason.contains("product_id"),
            "{:?}",
            parsed.rejected
        );
        assert!(parsed.rejected[2].reason.contains("repeats line 2"));

        let csv = "product_id,sku,name,description,category,price_amount,price_currency,stock\n\
                   p-1,S-1,One,,tea,100,EUR,3\n\
                   p-2,S-2,Two,,tea,-5,EUR,3\n\
                   p-3,S-3,Three,,Tea Leaves,100,EUR,3\n\
                   p-4,S-4,Four,,tea,100,EUR,lots\n";
        let parsed = parse("c.csv", csv);
        assert_eq!(parsed.products.len(), 1);
        let rejected: Vec<String> = parsed.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(rejected.len(), 3, "{rejected:?}");
        assert!(
            rejected[0].starts_with("line 3: price.amount"),
            "{rejected:?}"
        );
        assert!(rejected[1].starts_with("line 4: category"), "{rejected:?}");
        assert!(rejected[2].starts_with("line 5: stock"), "{rejected:?}");

        let lines = parse("c.jsonl", "{\"nope\": 1}\n\nnot json\n");
        assert_eq!(
            lines.rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
            [1, 3]
        );
    }

    #[test]
    fn the_generated_catalog_is_valid_and_spread_over_categories() {
        let parsed = parse("g.jsonl", &generate(1_200));
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected.first());
        assert_eq!(parsed.products.len(), 1_200);
        let categories: std::collections::BTreeSet<_> = parsed
            .products
            .iter()
            .map(|p| p.category.as_str().to_owned())
            .collect();
        assert_eq!(categories.len(), 8);
    }
}
