"""Open a constellr-sync mirror as a STAC catalog with real tools and print what they saw (JSON).

pystac opens <mirror>/catalog.json, walks every collection and item, and resolves every asset href to a
file that must exist with the recorded file:size and file:checksum (sha2-256 multihash). stac-pydantic
validates every JSON file of the catalog offline. Every structural link must be relative, with no
self link (a self-contained catalog). Problems are listed, not raised, so the caller sees them all.

usage: stac_catalog_check.py <mirror dir>
"""
import hashlib
import json
import os
import sys

import pystac
from stac_pydantic import Catalog, Collection, Item

STRUCTURAL = {"self", "root", "parent", "child", "item", "collection"}


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_links(doc, where, problems, root):
    for link in doc.get("links", []):
        rel, href = link.get("rel"), link.get("href", "")
        if rel == "self":
            problems.append(f"{where}: has a self link")
        if rel in STRUCTURAL:
            if "://" in href or href.startswith("/"):
                problems.append(f"{where}: {rel} link is not relative: {href}")
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(where), href))
            if not target.startswith(root + os.sep) and target != root:
                problems.append(f"{where}: {rel} link leaves the mirror: {href}")
            elif not os.path.isfile(target):
                problems.append(f"{where}: {rel} link does not resolve: {href}")


def main():
    root = os.path.realpath(sys.argv[1])
    problems = []
    cat_path = os.path.join(root, "catalog.json")
    cat = pystac.Catalog.from_file(cat_path)
    cat_type = pystac.CatalogType.determine_type(cat.to_dict(include_self_link=False))
    seen_files = [cat_path]
    out = {"catalogType": str(cat_type.value) if cat_type else None, "collections": {}, "items": []}
    for coll in cat.get_children():
        coll_path = coll.get_self_href()
        seen_files.append(coll_path)
        items = list(coll.get_items())
        out["collections"][coll.id] = {"items": len(items), "extent": coll.extent.to_dict()}
        for item in items:
            item_path = item.get_self_href()
            seen_files.append(item_path)
            rec = {"collection": item.collection_id, "id": item.id, "geometry": item.geometry, "bbox": item.bbox,
                   "properties": item.properties, "assets": {}, "canonical": None, "path": os.path.relpath(item_path, root)}
            for link in item.links:
                if link.rel == "canonical":
                    rec["canonical"] = link.href
            for key, asset in item.assets.items():
                path = asset.get_absolute_href()
                size = asset.extra_fields.get("file:size")
                checksum = asset.extra_fields.get("file:checksum")
                rec["assets"][key] = {"path": os.path.relpath(path, root), "size": size, "checksum": checksum}
                if not os.path.isfile(path):
                    problems.append(f"{item.id}/{key}: href does not resolve: {asset.href}")
                    continue
                if os.path.getsize(path) != size:
                    problems.append(f"{item.id}/{key}: size {os.path.getsize(path)} != file:size {size}")
                if checksum != "1220" + sha256_of(path):
                    problems.append(f"{item.id}/{key}: file:checksum does not match the bytes")
            out["items"].append(rec)
    # Offline structure checks of every JSON file, and the links as written on disk.
    for path in seen_files:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        model = {"Catalog": Catalog, "Collection": Collection, "Feature": Item}.get(doc.get("type"))
        if model is None:
            problems.append(f"{path}: unknown type {doc.get('type')!r}")
            continue
        try:
            model.model_validate(doc)
        except Exception as e:  # pydantic.ValidationError; reported, not raised
            problems.append(f"{os.path.relpath(path, root)}: stac-pydantic: {str(e)[:500]}")
        check_links(doc, path, problems, root)
    out["problems"] = problems
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
