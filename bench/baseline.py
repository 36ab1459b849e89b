#!/usr/bin/env python3
"""Python baseline for `npm run bench`: the documented sample approach of the Constellr API docs
("Download Assets in Parallel": requests + ThreadPoolExecutor + response.content), and with
--sequential its "Download Assets sequentially" sibling.

Deviations from the sample, each needed to download the same assets as the other tools:
  * the listing follows continuation tokens with limit=1000 (the sample reads one page of 10);
  * keys are written under --out, creating parent directories (keys contain '/');
  * key path segments are percent-encoded in the URL (as every other tool does);
  * errors raise (raise_for_status), so a failed download fails the run instead of writing an
    error body; the per-file print is kept off by default (--verbose) so the terminal is not timed.
Everything else is the sample: a plain requests.get per asset (no Session, no streaming),
response.content held in memory, one open/write per file, no fsync.
"""
import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import requests


def get_token(base, username, password):
    response = requests.post(f"{base}/token", json={"username": username, "password": password})
    response.raise_for_status()
    return response.json().get("access_token")


def get_assets(base, token):
    headers = {"Authorization": f"Bearer {token}"}
    assets, params = [], {"limit": 1000}
    while True:
        response = requests.get(f"{base}/assets", headers=headers, params=params)
        response.raise_for_status()
        body = response.json()
        assets.extend(body.get("Contents", []))
        nxt = body.get("NextContinuationToken")
        if not body.get("IsTruncated") or not nxt:
            return assets
        params = {"limit": 1000, "continuation_token": nxt}


def download_asset(base, out, token, asset, verbose):
    url = f"{base}/assets/{quote(asset['Key'], safe='/')}"
    headers = {"Authorization": f"Bearer {token}"}
    response = requests.get(url, headers=headers)
    response.raise_for_status()
    path = os.path.join(out, asset["Key"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as file:
        file.write(response.content)
    if verbose:
        print(f"Downloaded: {asset['Key']}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api-url", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=None, help="ThreadPoolExecutor max_workers (default: its own default)")
    p.add_argument("--sequential", action="store_true")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args()
    username = os.environ["CONSTELLR_USERNAME"]
    password = os.environ["CONSTELLR_PASSWORD"]
    base = a.api_url.rstrip("/")
    token = get_token(base, username, password)
    assets = get_assets(base, token)
    if a.sequential:
        for asset in assets:
            download_asset(base, a.out, token, asset, a.verbose)
    else:
        with ThreadPoolExecutor(max_workers=a.workers) as executor:
            # list() so an exception in any download propagates (the sample drops them silently)
            list(executor.map(lambda asset: download_asset(base, a.out, token, asset, a.verbose), assets))
    print(f"{len(assets)} assets", file=sys.stderr)


if __name__ == "__main__":
    main()
