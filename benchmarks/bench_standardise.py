"""Benchmark of the standardise stage (issue 3): persons, enterprises, address accuracy.

    python benchmarks/bench_standardise.py --n 1000000
    python benchmarks/bench_standardise.py --n 2000 --address-n 400      # CI smoke size

Generates its own data with NumPy (fixed seed): names and addresses drawn from pools of a
few thousand (``--pool``) with a Zipf-like distribution (real columns repeat), one distinct identity
number / credit code per record with the departmental noise of DOMAIN.md (15-digit and
legacy numbers, full width, spaces, typos, masked, placeholders). Times ``standardise()``
over whole RecordTables: persons (name, id_number, phone, address, birth_date) and
enterprises (name, credit_code, address, legal_rep). Then builds a labelled address set
from the division table in four styles (full, abbreviated, district-only, historic) and
measures province + county exact accuracy; "ambiguous" answers count as not right.
``--compare-cnloc K`` also runs ``cnloc.getlocation`` on K labelled addresses.

Last line: ``persons_s=<seconds> enterprises_s=<seconds> address_accuracy=<fraction>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections import Counter

import numpy as np
import opencc
import pyarrow as pa

from linkage.standardisers import standardise
from linkage.standardisers.address import _HEADS, parse_address
from linkage.standardisers.checksums import (
    USCC_ALPHABET,
    id_check_chars,
    org_check_chars,
    regno_check_digits,
    uscc_check_chars,
)
from linkage.standardisers.divisions import COUNTY, DivisionTable, load_divisions

SURNAMES = [
    *"王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段"
    "雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单区仇查解朴乐盖缪翟",
    "欧阳", "司马", "上官", "诸葛",
]
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国志"
             "红梅新民海波宇浩然子涵欣怡梓轩雨桐佳琪思远文博嘉俊晨阳")
MINORITY = ["买买提·艾力", "阿依古丽·吐尔逊", "热依拉·买买提", "古丽娜尔·艾山", "艾尔肯·吐拉克"]
TRADE = ["腾讯", "华为", "联想", "百度", "海尔", "格力", "美的", "万科", "长虹", "恒通", "鑫源",
         "宏达", "金辉", "瑞丰", "汇通", "天成", "佳禾", "阿里巴巴", "中兴", "顺达", "永盛", "博雅"]
INDUSTRY = ["科技", "信息技术", "贸易", "建筑工程", "餐饮管理", "物流", "电子", "医药", "文化传媒",
            "机械制造", "房地产开发", "咨询服务"]
ROADS = ["人民路", "解放路", "中山路", "建设路", "新华街", "文化路", "胜利街", "东风路", "青年路",
         "学府路"]


def zipf_choice(rng: np.random.Generator, pool: int, n: int, s: float = 1.05) -> np.ndarray:
    """Indices into a pool of ``pool`` items, rank r drawn with weight 1 / (r + 1) ** s."""
    weights = 1.0 / np.arange(1, pool + 1) ** s
    return rng.choice(pool, size=n, p=weights / weights.sum())


def person_names(rng: np.random.Generator, size: int) -> list[str]:
    cc = opencc.OpenCC("s2t")
    names: list[str] = []
    for i in range(size):
        if i % 50 == 0:
            names.append(MINORITY[i % len(MINORITY)].replace("·", ".·•・ "[i % 5]))
            continue
        name = SURNAMES[rng.integers(len(SURNAMES))] + "".join(
            GIVEN[j] for j in rng.integers(len(GIVEN), size=int(rng.integers(1, 3))))
        if i % 40 == 1:
            name = cc.convert(name)
        elif i % 60 == 2:
            name = name[0] + " " + name[1:]
        elif i % 45 == 3:
            name = name[0] + "?" + name[2:]
        names.append(name)
    return names


def address_pool(rng: np.random.Generator, table: DivisionTable, size: int) -> list[str]:
    counties = sorted(c for c, d in table.divisions.items() if d.level == COUNTY)
    out: list[str] = []
    for i in range(size):
        d = table.divisions[counties[rng.integers(len(counties))]]
        prov = table.divisions[d.province]
        city = table.divisions.get(d.city) if d.city else None
        city_name = city.name if city else ""
        road = f"{ROADS[rng.integers(len(ROADS))]}{rng.integers(1, 300)}号"
        style = i % 4
        if style == 0:
            out.append(prov.name + city_name + d.name + road)
        elif style == 1:
            out.append(city_name + d.name + road)
        elif style == 2:
            out.append(prov.short + (city.short if city else "") + d.name + road)
        else:
            out.append(prov.name + " " + city_name + " " + d.name + " " + road)
    return out


def person_table(n: int, seed: int, pool: int = 5000) -> pa.Table:
    rng = np.random.default_rng(seed)
    table = load_divisions()
    names = person_names(rng, pool)
    addresses = address_pool(rng, table, pool)
    # identity numbers: one per record, valid, with departmental noise
    divisions = np.array(sorted(c for c, d in table.divisions.items() if d.level == COUNTY))
    div = divisions[rng.integers(len(divisions), size=n)]
    birth = np.datetime64("1940-01-01") + rng.integers(0, 365 * 65, size=n).astype("timedelta64[D]")
    seq = rng.integers(0, 1000, size=n)
    born = birth.astype("datetime64[D]").astype(str)
    bodies = [f"{d}{b.replace('-', '')}{s:03d}" for d, b, s in zip(div, born, seq, strict=True)]
    digits = np.frombuffer("".join(bodies).encode(), dtype=np.uint8).reshape(n, 17) - 48
    checks = id_check_chars(digits)
    ids: list[str | None] = [b + c for b, c in zip(bodies, checks, strict=True)]
    noise = rng.random(n)
    full_width = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
    for i in np.flatnonzero(noise < 0.03).tolist():
        r, v = noise[i], str(ids[i])
        if r < 0.01:
            ids[i] = v[:6] + v[8:17]  # 15-digit
        elif r < 0.015:
            ids[i] = v.translate(full_width)
        elif r < 0.02:
            ids[i] = v[:6] + " " + v[6:14] + " " + v[14:]
        elif r < 0.023:
            ids[i] = v[:10] + str((int(v[10]) + 1) % 10) + v[11:]  # one-digit typo
        elif r < 0.026:
            ids[i] = v[:6] + "********" + v[14:]
        elif r < 0.028:
            ids[i] = "000000000000000000"
        else:
            ids[i] = None
    mobiles = 13_000_000_000 + rng.integers(0, 7_000_000_000, size=n)
    phones = [str(m) for m in mobiles]
    for i in np.flatnonzero(noise > 0.97).tolist():
        p = phones[i]
        phones[i] = ("+86 " + p, p[:3] + "-" + p[3:7] + "-" + p[7:], "0755-8" + p[4:11],
                     "")[i % 4]
    date_styles = ["{y}-{m:02d}-{d:02d}", "{y}{m:02d}{d:02d}", "{y}/{m}/{d}", "{y}年{m}月{d}日"]
    date_pool = []
    for k in range(20000):
        day = dt.date(1940, 1, 1) + dt.timedelta(days=int(k * 1.19))
        date_pool.append(date_styles[k % 4].format(y=day.year, m=day.month, d=day.day))
    return _records(n, "person", {
        "name": pa.array(names).take(pa.array(zipf_choice(rng, len(names), n))),
        "id_number": pa.array(ids, pa.string()),
        "phone": pa.array(phones),
        "address": pa.array(addresses).take(pa.array(zipf_choice(rng, len(addresses), n))),
        "birth_date": pa.array(date_pool).take(pa.array(rng.integers(0, len(date_pool), n))),
    })


def enterprise_table(n: int, seed: int, pool: int = 5000) -> pa.Table:
    rng = np.random.default_rng(seed + 1)
    table = load_divisions()
    cities = sorted(c for c, d in table.divisions.items() if d.level == 2)
    names: list[str] = []
    forms = ["有限公司", "有限责任公司", "股份有限公司", "股份公司"]
    for i in range(pool + pool // 5):
        city = table.divisions[cities[rng.integers(len(cities))]]
        trade = TRADE[rng.integers(len(TRADE))] + GIVEN[rng.integers(len(GIVEN))]
        industry = INDUSTRY[rng.integers(len(INDUSTRY))]
        form = forms[i % 4]
        style = i % 5
        if style == 0:
            names.append(city.name + trade + industry + form)
        elif style == 1:
            names.append(trade + industry + "（" + city.short + "）" + form)
        elif style == 2:
            names.append(trade + industry + form + city.short + "分公司")
        elif style == 3:
            names.append(trade + "集团" + form)
        else:
            names.append(city.short + trade + industry + form)
    addresses = address_pool(rng, table, pool)
    reps = person_names(rng, pool)
    # credit codes: 91 + division + org code (valid) + check; 7% legacy 15-digit numbers
    divisions = np.array(sorted(c for c, d in table.divisions.items() if d.level == COUNTY))
    div_digits = np.frombuffer("".join(divisions[rng.integers(len(divisions), size=n)]).encode(),
                               dtype=np.uint8).reshape(n, 6) - 48
    org_body = rng.integers(0, 10, size=(n, 8)).astype(np.uint8)
    org_check = org_check_chars(org_body)
    value = {c: i for i, c in enumerate(USCC_ALPHABET)}
    org_check_vals = np.array([value[c] for c in org_check], dtype=np.uint8)
    body = np.column_stack([np.full(n, 9), np.full(n, 1), div_digits, org_body,
                            org_check_vals]).astype(np.uint8)
    check = uscc_check_chars(body)
    alphabet = np.array(list(USCC_ALPHABET))
    chars = alphabet[body]
    codes = ["".join(row) + c for row, c in zip(chars.tolist(), check, strict=True)]
    noise = rng.random(n)
    legacy = np.flatnonzero(noise < 0.07)
    reg_body = rng.integers(0, 10, size=(len(legacy), 14)).astype(np.uint8)
    reg_check = regno_check_digits(reg_body)
    for k, i in enumerate(legacy.tolist()):
        codes[i] = "".join(map(str, reg_body[k])) + reg_check[k]
    for i in np.flatnonzero((noise > 0.07) & (noise < 0.09)).tolist():
        codes[i] = codes[i][8:16] + "-" + codes[i][16]  # organisation code only
    for i in np.flatnonzero(noise > 0.99).tolist():
        codes[i] = codes[i].lower() if i % 2 else ""
    return _records(n, "enterprise", {
        "name": pa.array(names).take(pa.array(zipf_choice(rng, len(names), n))),
        "credit_code": pa.array(codes),
        "address": pa.array(addresses).take(pa.array(zipf_choice(rng, len(addresses), n))),
        "legal_rep": pa.array(reps).take(pa.array(zipf_choice(rng, len(reps), n))),
    })


def _records(n: int, entity: str, fields: dict[str, pa.Array]) -> pa.Table:
    base = {
        "record_id": pa.array(np.arange(n, dtype=np.int64)),
        "source": pa.array(["bench"] * n if n < 1000 else np.full(n, "bench", dtype=object)),
        "source_key": pa.array(np.arange(n).astype(str)),
        "entity_type": pa.array(np.full(n, entity, dtype=object), pa.string()),
        "source_row": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "updated_at": pa.nulls(n, pa.date32()),
    }
    return pa.table({**base, **fields})


def labelled_addresses(table: DivisionTable, n: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(address, style, province code, county code) in four styles, from the table."""
    rng = np.random.default_rng(seed + 2)
    counties = sorted(c for c, d in table.divisions.items() if d.level == COUNTY)
    historic: dict[str, list[str]] = {}
    for name, codes in table.full_names.get(COUNTY, {}).items():
        for code, is_historic in codes.items():
            if is_historic and len(codes) == 1:
                historic.setdefault(code, []).append(name)
    historic_city: dict[str, list[str]] = {}
    for name, codes in table.full_names.get(2, {}).items():
        for code, is_historic in codes.items():
            if is_historic and len(codes) == 1:
                historic_city.setdefault(code, []).append(name)
    with_history = sorted(set(historic) | {c for c in counties
                                           if table.divisions[c].city in historic_city})
    out: list[tuple[str, str, str, str]] = []
    for i in range(n):
        style = ("full", "abbreviated", "district_only", "historic")[i % 4]
        pool = with_history if style == "historic" else counties
        d = table.divisions[pool[rng.integers(len(pool))]]
        prov = table.divisions[d.province]
        city = table.divisions.get(d.city) if d.city else None
        road = f"{ROADS[rng.integers(len(ROADS))]}{rng.integers(1, 300)}号"
        if style == "full":
            text = prov.name + (city.name if city else "") + d.name + road
        elif style == "abbreviated":
            text = prov.short + (city.short if city else "") + d.name + road
        elif style == "district_only":
            text = d.name + road
        else:
            county_name = sorted(historic.get(d.code, [d.name]))[0]
            city_name = (sorted(historic_city[city.code])[0] if city and city.code in historic_city
                         else (city.name if city else ""))
            text = prov.name + city_name + county_name + road
        out.append((text, style, d.province, d.code))
    return out


def address_accuracy(
    table: DivisionTable, items: list[tuple[str, str, str, str]]
) -> tuple[float, float, Counter[str]]:
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    outcome: Counter[str] = Counter()
    rows = []
    _HEADS.clear()
    start = time.perf_counter()
    for text, style, prov, county in items:
        row = parse_address(text)
        rows.append(row)
        total[style] += 1
        outcome[row[1]] += 1
        if row[1] != "ambiguous" and row[5] == prov and row[7] == county:
            right[style] += 1
    seconds = time.perf_counter() - start
    # an "ambiguous" answer is justified when another current county has the same name
    names = Counter(d.name for d in table.divisions.values() if d.level == COUNTY)
    ambiguous = [(item, row) for item, row in zip(items, rows, strict=True)
                 if row[1] == "ambiguous"]
    justified = sum(names[table.divisions[item[3]].name] > 1 for item, _row in ambiguous)
    print(f"  address ambiguous answers: {len(ambiguous)}, of which the county name is shared "
          f"by another current county: {justified}")
    for style in total:
        print(f"  address {style:14s} {right[style] / total[style]:.4f} ({total[style]} items)")
    print(f"  address outcomes {dict(sorted(outcome.items()))}; "
          f"{len(items) / seconds:,.0f} addresses/s (parse cache cold at the start)")
    return sum(right.values()) / len(items), seconds, outcome


def compare_cnloc(items: list[tuple[str, str, str, str]]) -> None:
    import cnloc  # type: ignore[import-untyped]  # optional: pulls in pandas

    start = time.perf_counter()
    result = cnloc.getlocation([t for t, *_ in items], county_short=False)
    seconds = time.perf_counter() - start
    right = sum(
        str(p) == prov and str(c) == county
        for (_t, _s, prov, county), p, c in zip(
            items, result["province_adcode"], result["county_adcode"], strict=True)
    )
    print(f"  cnloc.getlocation: accuracy {right / len(items):.4f} on {len(items)} items, "
          f"{len(items) / seconds:,.0f} addresses/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="records of each kind")
    parser.add_argument("--address-n", type=int, default=8000, help="labelled addresses")
    parser.add_argument("--seed", type=int, default=20240301)
    parser.add_argument("--pool", type=int, default=5000,
                        help="distinct names / addresses each column is drawn from")
    parser.add_argument("--compare-cnloc", type=int, default=0, metavar="K",
                        help="also run cnloc's own parser on K labelled addresses")
    args = parser.parse_args()

    start = time.perf_counter()
    table = load_divisions()
    print(f"division table loaded in {time.perf_counter() - start:.2f}s (year {table.year})")
    persons = person_table(args.n, args.seed, args.pool)
    enterprises = enterprise_table(args.n, args.seed, args.pool)

    start = time.perf_counter()
    person_out = standardise(persons, {"name": "person_name", "id_number": "id_number",
                                       "phone": "phone", "address": "address",
                                       "birth_date": "date"})
    persons_s = time.perf_counter() - start
    print(f"persons: {args.n:,} records in {persons_s:.2f}s "
          f"= {args.n / persons_s:,.0f} records/s")
    start = time.perf_counter()
    enterprise_out = standardise(enterprises, {"name": "enterprise_name",
                                               "credit_code": "credit_code",
                                               "address": "address",
                                               "legal_rep": "person_name"})
    enterprises_s = time.perf_counter() - start
    print(f"enterprises: {args.n:,} records in {enterprises_s:.2f}s "
          f"= {args.n / enterprises_s:,.0f} records/s")
    for label, out, fields in (("persons", person_out, ("id_number", "phone", "address")),
                               ("enterprises", enterprise_out, ("credit_code", "address"))):
        for field in fields:
            counts = Counter(out.column(f"{field}__status").to_pylist())
            print(f"  {label} {field} statuses: {dict(sorted(counts.items()))}")

    items = labelled_addresses(table, args.address_n, args.seed)
    accuracy, _seconds, _outcome = address_accuracy(table, items)
    if args.compare_cnloc:
        compare_cnloc(items[: args.compare_cnloc])
    print(f"persons_s={persons_s:.2f} enterprises_s={enterprises_s:.2f} "
          f"address_accuracy={accuracy:.4f}")


if __name__ == "__main__":
    main()
