"""Refresh the price book from the AWS Pricing API (on-demand, per region and instance type)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tap_optimizer.analysis.aws import Aws
from tap_optimizer.analysis.pricing import PriceBook

PRICING_REGION = "us-east-1"
LOCATIONS = {
    "us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)", "eu-west-1": "EU (Ireland)", "eu-west-2": "EU (London)",
    "eu-central-1": "EU (Frankfurt)", "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)", "ap-northeast-1": "Asia Pacific (Tokyo)",
}
# What identifies an on-demand, shared-tenancy, Linux / Redis / Aurora MySQL hour, per service.
FILTERS = {
    "ec2": ("AmazonEC2", {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
                          "capacitystatus": "Used"}),
    "elasticache": ("AmazonElastiCache", {"cacheEngine": "Redis"}),
    "rds": ("AmazonRDS", {"databaseEngine": "Aurora MySQL", "deploymentOption": "Single-AZ"}),
}


def hourly_price(price_list_item: str) -> float | None:
    """The USD hourly price of a Pricing API product (a JSON string), if it has one."""
    product = json.loads(price_list_item)
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None and dimension.get("unit", "Hrs").lower().startswith("hr"):
                return float(usd)
    return None


def _price(client: Any, service: str, region: str, type_name: str) -> float | None:
    code, fixed = FILTERS[service]
    filters = [{"Type": "TERM_MATCH", "Field": k, "Value": v}
               for k, v in {**fixed, "instanceType": type_name, "location": LOCATIONS[region]}.items()]
    for item in client.get_products(ServiceCode=code, Filters=filters, MaxResults=10).get("PriceList", []):
        price = hourly_price(item)
        if price:
            return price
    return None


def refresh(aws: Aws, book: PriceBook, wanted: dict[str, set[str]], regions: list[str],
            today: dt.date) -> tuple[PriceBook, list[str]]:
    """The price book with current prices for `wanted` ({service: types}) in `regions`, and what
    the Pricing API had no price for (those keep their pinned price)."""
    client = aws.client("pricing", PRICING_REGION)
    unknown = []
    source = f"AWS Pricing API (on-demand), fetched {today.isoformat()}"
    for region in regions:
        if region not in LOCATIONS:
            unknown.append(f"{region}: no Pricing API location known")
            continue
        for service, types in sorted(wanted.items()):
            found = {t: p for t in sorted(types) if (p := _price(client, service, region, t)) is not None}
            unknown.extend(f"{service} {t} in {region}" for t in sorted(types) if t not in found)
            if found:
                book = book.with_prices(region, service, found, source, today.isoformat())
    return book, unknown
