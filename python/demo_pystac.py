# The end of `constellr-sync demo --source stac` (src/cli/commands/demo-pystac.ts): open the mirror's
# catalog with pystac and print its type, collections and item counts.
# Usage: python demo_pystac.py <catalog.json>
import sys

import pystac

cat = pystac.Catalog.from_file(sys.argv[1])
print("pystac " + pystac.__version__ + ": catalog type " + str(pystac.CatalogType.determine_type(cat.to_dict(include_self_link=False)).value))
for c in cat.get_children():
    items = list(c.get_items())
    n = sum(len(i.assets) for i in items)
    print(f"  {c.id}: {len(items)} items, {n} assets")
