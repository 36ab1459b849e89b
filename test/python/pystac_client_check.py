"""Drive the simulator's STAC API with pystac-client, a real third-party STAC client.

Usage: pystac_client_check.py <stac-root-url> <json-options>
The API key comes from the STAC_API_KEY environment variable (never from argv).
Options: {"collections": [...], "filter": {...} or "cql2 text", "filter_lang": "cql2-json"|"cql2-text",
          "sortby": [...] or "-datetime", "limit": N, "method": "POST"|"GET", "datetime": "a/b"}
Prints one JSON document: conformance checks, pages seen, numberMatched, and per item the id,
collection and every asset href, in the order pystac-client yielded them.
"""

import json
import os
import sys

from pystac_client import Client
from pystac_client.conformance import ConformanceClasses


def main() -> int:
    url = sys.argv[1]
    opts = json.loads(sys.argv[2])
    headers = {"X-Api-Key": os.environ["STAC_API_KEY"]}
    client = Client.open(url, headers=headers)
    conformance = {
        name: client.conforms_to(getattr(ConformanceClasses, name))
        for name in ("CORE", "ITEM_SEARCH", "FILTER", "SORT", "COLLECTIONS", "FEATURES")
    }
    search = client.search(
        collections=opts.get("collections"),
        filter=opts.get("filter"),
        filter_lang=opts.get("filter_lang"),
        sortby=opts.get("sortby"),
        limit=opts.get("limit"),
        method=opts.get("method", "POST"),
        datetime=opts.get("datetime"),
    )
    pages = 0
    matched = None
    items = []
    for page in search.pages_as_dicts():
        pages += 1
        if matched is None:
            matched = page.get("numberMatched")
        for feature in page["features"]:
            items.append(
                {
                    "id": feature["id"],
                    "collection": feature.get("collection"),
                    "assets": {k: a["href"] for k, a in feature["assets"].items()},
                    "checksums": {k: a.get("file:checksum") for k, a in feature["assets"].items()},
                }
            )
    collections = sorted(c.id for c in client.get_collections())
    json.dump(
        {
            "conformance": conformance,
            "collections": collections,
            "pages": pages,
            "matched": matched,
            "items": items,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
