"""product-reads' GET /products/{product_id}, written as a user would write it in Python:
Powertools for AWS Lambda (event handler, logger) and boto3, clients made at import time.

`cargo dev bench` runs it beside our Rust function as `python -m awslambdaric
app.lambda_handler`, through the same Runtime API host and emulator (infra/dev/src/bench/peer.rs).
It answers the same JSON fields; no ETag or Cache-Control, and no check of the id's form.
"""

import json
import os

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from boto3.dynamodb.types import TypeDeserializer

LOW_STOCK_THRESHOLD = 5

logger = Logger(service="product-reads")
app = APIGatewayHttpResolver()
dynamodb = boto3.client("dynamodb")
table = os.environ["PRODUCTS_TABLE"]
deserializer = TypeDeserializer()


@app.get("/products/<product_id>")
def get_product(product_id: str):
    found = dynamodb.get_item(TableName=table, Key={"product_id": {"S": product_id}})
    if "Item" not in found:
        logger.info("no such product", extra={"product_id": product_id})
        return Response(
            status_code=404,
            content_type="application/problem+json",
            body=json.dumps(
                {
                    "type": "https://shop.example/problems/not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": f"no product {product_id}",
                }
            ),
        )
    item = {key: deserializer.deserialize(value) for key, value in found["Item"].items()}
    stock = max(int(item["stock"]), 0)
    if stock == 0:
        status = "out_of_stock"
    elif stock <= LOW_STOCK_THRESHOLD:
        status = "low_stock"
    else:
        status = "in_stock"
    logger.info("product read", extra={"product_id": product_id})
    return {
        "product_id": item["product_id"],
        "sku": item["sku"],
        "name": item["name"],
        "description": item["description"],
        "category": item["category"],
        "price": {"amount": int(item["price"]["amount"]), "currency": item["price"]["currency"]},
        "availability": {"status": status, "quantity": stock},
        "updated_at": item["updated_at"],
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event, context):
    return app.resolve(event, context)
