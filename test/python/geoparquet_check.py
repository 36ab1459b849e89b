"""Read a constellr-sync mirror's GeoParquet index with real tools and compare it with the catalog (JSON).

- pyarrow: the `geo` metadata (GeoParquet 1.1, WKB, OGC:CRS84, primary column, bbox covering), the
  `stac-geoparquet` metadata (version, collections), the column types of the spec.
- stac-geoparquet: every row back to a STAC item, compared with the item JSON the catalog holds
  (walked from catalog.json): same ids, geometry, bbox, datetime, properties, and asset hrefs that
  name the same files with the same file:size and file:checksum.
- GeoPandas (CRS and geometries), DuckDB (its built-in Parquet reader: no extension download).
- With a README: each ```python block of its "Query the mirror" section is run in the mirror folder;
  each leaves `hits`, whose item ids are reported in order, for the caller to compare.

Problems are listed, not raised. usage: geoparquet_check.py <mirror> <parquet file> [README.md]
"""
import contextlib
import json
import os
import re
import sys
from datetime import datetime

import duckdb
import geopandas
import pyarrow as pa
import pyarrow.parquet as pq
import shapely.geometry
from pyproj import CRS
from stac_geoparquet.arrow import stac_table_to_items

TIMESTAMPS = {"datetime", "start_datetime", "end_datetime", "created", "updated", "expires", "published", "unpublished"}


def ts(v):
    return None if v is None else datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()


def catalog_items(mirror):
    """(collection, id) -> (item JSON path, item) for every item the catalog links."""
    out = {}
    root = os.path.join(mirror, "catalog.json")
    with open(root) as f:
        cat = json.load(f)
    for child in [l for l in cat["links"] if l["rel"] == "child"]:
        cpath = os.path.normpath(os.path.join(mirror, child["href"]))
        with open(cpath) as f:
            coll = json.load(f)
        for link in [l for l in coll["links"] if l["rel"] == "item"]:
            ipath = os.path.normpath(os.path.join(os.path.dirname(cpath), link["href"]))
            with open(ipath) as f:
                item = json.load(f)
            out[(item["collection"], item["id"])] = (ipath, item)
    return out


def check_metadata(path, problems):
    schema = pq.read_schema(path)
    meta = schema.metadata or {}
    if b"geo" not in meta:
        problems.append("no geo metadata")
        return schema
    geo = json.loads(meta[b"geo"])
    col = geo.get("columns", {}).get("geometry", {})
    if geo.get("version") != "1.1.0" or geo.get("primary_column") != "geometry" or col.get("encoding") != "WKB":
        problems.append(f"geo metadata: {json.dumps(geo)[:300]}")
    if "crs" in col and CRS.from_json_dict(col["crs"]) != CRS.from_user_input("OGC:CRS84"):
        problems.append(f"geo crs is not OGC:CRS84: {col['crs']}")
    if col.get("covering", {}).get("bbox", {}).get("xmin") != ["bbox", "xmin"]:
        problems.append("no bbox covering")
    sg = json.loads(meta.get(b"stac-geoparquet", b"{}"))
    if sg.get("version") != "1.0.0" or not isinstance(sg.get("collections"), dict):
        problems.append(f"stac-geoparquet metadata: {json.dumps(sg)[:300]}")
    for cid, c in (sg.get("collections") or {}).items():
        if c.get("id") != cid or c.get("type") != "Collection":
            problems.append(f"collection {cid} in the metadata is not its collection")
    want = {
        "id": pa.types.is_string,
        "geometry": pa.types.is_binary,
        "bbox": lambda t: pa.types.is_struct(t) and [t.field(i).name for i in range(t.num_fields)][:2] == ["xmin", "ymin"] and all(pa.types.is_float64(t.field(i).type) for i in range(t.num_fields)),
        "datetime": lambda t: pa.types.is_timestamp(t) and t.unit == "us" and t.tz in ("UTC", "+00:00"),
        "stac_extensions": lambda t: pa.types.is_list(t) and pa.types.is_string(t.value_type),
        "links": lambda t: pa.types.is_list(t) and pa.types.is_struct(t.value_type),
        "assets": pa.types.is_struct,
        "collection": pa.types.is_string,
        "stac_version": pa.types.is_string,
    }
    for name, ok in want.items():
        if name not in schema.names:
            problems.append(f"no column {name}")
        elif not ok(schema.field(name).type):
            problems.append(f"column {name} is {schema.field(name).type}")
    for name in TIMESTAMPS & set(schema.names):
        if not pa.types.is_timestamp(schema.field(name).type):
            problems.append(f"column {name} is {schema.field(name).type}, not a timestamp")
    return schema


def compare(mirror, rows, cat, problems):
    seen = set()
    for row in rows:
        key = (row.get("collection"), row["id"])
        seen.add(key)
        if key not in cat:
            problems.append(f"index has {key}, the catalog does not")
            continue
        ipath, item = cat[key]
        if shapely.geometry.shape(row["geometry"]).wkb != shapely.geometry.shape(item["geometry"]).wkb:
            problems.append(f"geometry of {key}")
        if [float(x) for x in row["bbox"]] != [float(x) for x in item["bbox"]]:
            problems.append(f"bbox of {key}: {row['bbox']} != {item['bbox']}")
        rp, ip = row["properties"], item["properties"]
        for k in set(rp) | set(ip):
            a, b = rp.get(k), ip.get(k)
            if k in TIMESTAMPS:
                a, b = ts(a), ts(b)
            if a != b:
                problems.append(f"property {k} of {key}: {rp.get(k)!r} != {ip.get(k)!r}")
        ra, ia = row["assets"], item["assets"]
        if sorted(ra) != sorted(ia):
            problems.append(f"asset keys of {key}: {sorted(ra)} != {sorted(ia)}")
            continue
        for k, a in ra.items():
            want = os.path.normpath(os.path.join(os.path.dirname(ipath), ia[k]["href"]))
            got = os.path.normpath(os.path.join(mirror, a["href"]))
            if got != want or not os.path.isfile(got):
                problems.append(f"asset {k} of {key}: {a['href']} is not {want}")
            for f in ("file:size", "file:checksum", "type", "roles"):
                if a.get(f) != ia[k].get(f):
                    problems.append(f"asset {k} of {key}: {f} {a.get(f)!r} != {ia[k].get(f)!r}")
        for link in row["links"]:
            if link["rel"] in ("self", "root", "parent", "collection") or "@" in link["href"].split("/")[2 if "://" in link["href"] else 0]:
                problems.append(f"link of {key}: {link}")
    for key in set(cat) - seen:
        problems.append(f"catalog has {key}, the index does not")


def readme_queries(readme, mirror):
    text = open(readme).read()
    section = text.split("\n## Query the mirror", 1)[1].split("\n## ", 1)[0]
    out = {}
    here = os.getcwd()
    os.chdir(mirror)
    try:
        for block in re.findall(r"```python\n(.*?)```", section, re.S):
            name = block.split("\n", 1)[0].lstrip("# ").split(":")[0].strip()
            ns = {}
            # what the block prints goes to stderr: stdout is this script's JSON
            with contextlib.redirect_stdout(sys.stderr):
                exec(compile(block, f"README {name}", "exec"), ns)
            hits = ns["hits"]
            if isinstance(hits, pa.Table):
                ids = hits.column("id").to_pylist()
            elif isinstance(hits, list):
                ids = [r[0] for r in hits]
            else:
                ids = hits["id"].tolist()
            out[name] = ids
    finally:
        os.chdir(here)
    return out


def main():
    mirror, path = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    problems = []
    check_metadata(path, problems)
    table = pq.read_table(path)
    rows = list(stac_table_to_items(table))
    cat = catalog_items(mirror)
    compare(mirror, rows, cat, problems)
    gdf = geopandas.read_parquet(path)
    if gdf.crs is None or not gdf.crs.equals(CRS.from_user_input("OGC:CRS84")):
        problems.append(f"GeoPandas reads the CRS as {gdf.crs}")
    for (c, i), geom in zip(zip(gdf["collection"], gdf["id"]), gdf.geometry):
        if (c, i) in cat and not geom.equals(shapely.geometry.shape(cat[(c, i)][1]["geometry"])):
            problems.append(f"GeoPandas geometry of {(c, i)}")
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0]
    if n != len(rows):
        problems.append(f"DuckDB counts {n} rows, pyarrow {len(rows)}")
    if rows:
        # DuckDB takes the geo metadata for a geometry column in its CRS (no spatial extension needed)
        t = duckdb.sql(f"SELECT typeof(geometry) FROM read_parquet('{path}') LIMIT 1").fetchall()[0][0]
        if t != "GEOMETRY('OGC:CRS84')":
            problems.append(f"DuckDB reads geometry as {t}")
    result = {"rows": len(rows), "catalog": len(cat), "problems": problems}
    if len(sys.argv) > 3:
        result["readme"] = readme_queries(os.path.abspath(sys.argv[3]), mirror)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
