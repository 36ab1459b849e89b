"""Validate a constellr-sync mirror's STAC catalog with stac-validator, recursively and offline.

stac-validator fetches the JSON schemas from the web (schemas.stacspec.org, geojson.org,
json-schema.org). Here every schema it needs comes from a package installed in the venv, through its
schema map (the CLI's --schema-map): the STAC 1.1.0 core schemas and the GeoJSON schemas that pystac
ships under pystac/validation/jsonschemas, and the JSON Schema draft-07 metaschema that
jsonschema-specifications ships. The network is switched off in this process (socket connect and DNS
raise), and every attempt is reported, so a fetch can never pass unnoticed.

Extensions are NOT validated: no package in the venv ships the schema of the file extension
(https://stac-extensions.github.io/file/v2.1.0/schema.json) that every mirrored item lists (the
pystac-ext-* packages carry Python code only, and stac_valid's wheel ships no local_schemas). So each
document is validated in stac-validator's core mode (the CLI's --core). Its --recursive mode always
validates extensions too and cannot be combined with --core, so the recursion is done here, the way
stac-validator's own does it: follow every "child" and "item" link, relative to the document.

usage: stac_validator_check.py <catalog.json> [--no-schema-map]
Prints one JSON document: {"valid", "files": [{"path", "type", "valid", "error"}], "network": [...],
"schemaMap": {url: local path}}.
"""
import json
import os
import socket
import sys
from importlib import resources

NETWORK = []


def _refuse_connect(self, address, *args, **kwargs):
    NETWORK.append(f"connect {address!r}")
    raise OSError("network disabled by stac_validator_check.py")


def _refuse_dns(host, *args, **kwargs):
    NETWORK.append(f"resolve {host!r}")
    raise socket.gaierror("network disabled by stac_validator_check.py")


# Before stac_validator (requests, urllib3) is imported, so nothing holds the originals.
socket.socket.connect = _refuse_connect
socket.socket.connect_ex = _refuse_connect
socket.getaddrinfo = _refuse_dns
socket.create_connection = lambda address, *a, **k: _refuse_connect(None, address)

from stac_validator.validate import StacValidate  # noqa: E402

STAC = "https://schemas.stacspec.org/v1.1.0"


def schema_map():
    """Every schema URL the core 1.1.0 schemas reach, mapped to a file some installed package ships."""
    pystac_schemas = resources.files("pystac.validation.jsonschemas")
    spec = pystac_schemas / "stac-spec" / "v1.1.0"
    m = {
        f"{STAC}/catalog-spec/json-schema/catalog.json": spec / "catalog.json",
        f"{STAC}/collection-spec/json-schema/collection.json": spec / "collection.json",
        "https://geojson.org/schema/Feature.json": pystac_schemas / "geojson" / "Feature.json",
        "https://geojson.org/schema/Geometry.json": pystac_schemas / "geojson" / "Geometry.json",
        "http://json-schema.org/draft-07/schema": resources.files("jsonschema_specifications") / "schemas" / "draft7" / "metaschema.json",
    }
    for name in ("item", "bands", "basics", "common", "data-values", "datetime", "instrument", "licensing", "provider"):
        m[f"{STAC}/item-spec/json-schema/{name}.json"] = spec / f"{name}.json"
    out = {}
    for url, path in m.items():
        p = str(path)
        if not os.path.isfile(p):
            raise SystemExit(f"{p} is missing: the installed package no longer ships the schema of {url}")
        out[url] = p
    return out


def walk(catalog, smap):
    """Validate every document reachable by child and item links from the root, each once."""
    files = []
    seen = set()
    todo = [os.path.abspath(catalog)]
    while todo:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        v = StacValidate(stac_file=path, core=True, schema_map=smap or None)
        ok = bool(v.run())
        msg = v.message[-1] if v.message else {}
        files.append(
            {
                "path": path,
                "type": msg.get("asset_type"),
                "version": msg.get("version"),
                "valid": ok and bool(msg.get("valid_stac")),
                "error": msg.get("error_message") or msg.get("error_type"),
                "schema": msg.get("schema"),
            }
        )
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            files[-1].update({"valid": False, "error": f"unreadable: {e}"})
            continue
        for link in doc.get("links", []):
            if link.get("rel") in ("child", "item"):
                href = link.get("href", "")
                if "://" in href or href.startswith("/"):
                    files.append({"path": href, "type": None, "version": None, "valid": False, "error": f"{path}: {link['rel']} link is not relative", "schema": None})
                    continue
                todo.append(os.path.normpath(os.path.join(os.path.dirname(path), href)))
    return files


def main() -> int:
    catalog = sys.argv[1]
    smap = {} if "--no-schema-map" in sys.argv[2:] else schema_map()
    files = walk(catalog, smap)
    valid = all(f["valid"] for f in files)
    json.dump({"valid": valid, "files": files, "network": NETWORK, "schemaMap": smap}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
