#!/usr/bin/env python3
"""thin_drop.py SRC DST N: writes into DST the part of the landing-zone drop
SRC (a dt= folder) that concerns one order in N (chosen by a hash of the
order id): the rows of those orders in every file keyed by order (orders,
items, payments, reviews), the customers they name, and the products and
sellers their items name. Customers,
products and sellers that no order or item of the drop names are kept one in
N. Used by bench/incremental.sh to apply a drop of a scale-1 size to a lake
of scale N: what grows with the lake, not with the drop."""
import csv
import hashlib
import os
import sys

csv.field_size_limit(1 << 30)


def one_in(value, n):
    return int(hashlib.md5(value.encode()).hexdigest()[:8], 16) % n == 0


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main():
    src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.makedirs(dst, exist_ok=True)
    files = {name: read(os.path.join(src, name)) for name in os.listdir(src) if name.endswith(".csv")}

    orders = "olist_orders_dataset.csv"
    named = {"customer_id": set(), "product_id": set(), "seller_id": set()}
    all_named = {"customer_id": set(), "product_id": set(), "seller_id": set()}
    out = {}
    for name in (orders, "olist_order_items_dataset.csv", "olist_order_payments_dataset.csv", "olist_order_reviews_dataset.csv"):
        if name not in files:
            continue
        header, rows = files[name]
        i = header.index("order_id")
        keep = [r for r in rows if len(r) > i and one_in(r[i], n)]
        out[name] = (header, keep)
        for key in named:
            if key in header:
                j = header.index(key)
                named[key].update(r[j] for r in keep if len(r) > j)
                all_named[key].update(r[j] for r in rows if len(r) > j)
    for name, key in (("olist_customers_dataset.csv", "customer_id"), ("olist_products_dataset.csv", "product_id"),
                      ("olist_sellers_dataset.csv", "seller_id")):
        if name not in files:
            continue
        header, rows = files[name]
        j = header.index(key)
        out[name] = (header, [r for r in rows if len(r) > j and (r[j] in named[key] or (r[j] not in all_named[key] and one_in(r[j], n)))])
    for name, (header, rows) in files.items():
        if name not in out:
            out[name] = (header, rows)
    for name, (header, rows) in out.items():
        write(os.path.join(dst, name), header, rows)
        print(f"{name}: {len(rows)} of {len(files[name][1])} rows")


if __name__ == "__main__":
    main()
