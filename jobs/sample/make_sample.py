#!/usr/bin/env python3
"""Writes the bundled sample data: a province's 40 project owners, their capital plans for 2023 to
2026 (million đồng, Vietnamese number format) and their payments (đồng, dd/mm/yyyy): three whole
past years, each disbursed until 31 January of the next year, then 2026 so far. The past years
give the year-end projection its seasonal curves and `disbmon backtest` something to replay.

Deterministic (fixed seed): run it again and the files come out the same. The mix is chosen so that
on 31/10/2026 (expected 71.79 % under the Sơn La milestones) some owners are on track, some behind,
some critical, one has nothing paid, one has no plan yet and one has no email address.
"""
import csv
import datetime as dt
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(20261031)
# The past years draw from their own generator, so the 2025 and 2026 figures stay as they were.
past = random.Random(20231231)
PAST_YEARS = (2023, 2024, 2025)

OWNERS = [
    ("SXD", "Sở Xây dựng", "soxaydung"),
    ("SNNMT", "Sở Nông nghiệp và Môi trường", "sonnmt"),
    ("SYT", "Sở Y tế", "soyte"),
    ("SGDDT", "Sở Giáo dục và Đào tạo", "sogddt"),
    ("SVHTTDL", "Sở Văn hóa, Thể thao và Du lịch", "sovhttdl"),
    ("SKHCN", "Sở Khoa học và Công nghệ", "sokhcn"),
    ("STC", "Sở Tài chính", "sotaichinh"),
    ("SNV", "Sở Nội vụ", "sonoivu"),
    ("SCT", "Sở Công Thương", "socongthuong"),
    ("SDTTG", "Sở Dân tộc và Tôn giáo", "sodttg"),
    ("CAT", "Công an tỉnh", "congan"),
    ("BCHQS", "Bộ Chỉ huy Quân sự tỉnh", "bchqs"),
    ("BQLGT", "Ban QLDA đầu tư xây dựng các công trình giao thông", "bqlda.giaothong"),
    ("BQLDD", "Ban QLDA đầu tư xây dựng các công trình dân dụng và công nghiệp", "bqlda.dandung"),
    ("BQLNN", "Ban QLDA đầu tư xây dựng các công trình nông nghiệp và phát triển nông thôn", "bqlda.nongnghiep"),
    ("BQLKCN", "Ban Quản lý các khu công nghiệp tỉnh", "bqlkcn"),
    ("DPTTH", "Đài Phát thanh và Truyền hình tỉnh", "daipttt"),
    ("BVDK", "Bệnh viện Đa khoa tỉnh", "bvdk"),
    ("CDSL", "Trường Cao đẳng Sơn La", "cdsl"),
    ("VPUB", "Văn phòng UBND tỉnh", "vpubnd"),
    ("P-TOHIEU", "UBND phường Tô Hiệu", "tohieu"),
    ("P-CHIENGAN", "UBND phường Chiềng An", "chiengan"),
    ("P-CHIENGCOI", "UBND phường Chiềng Cơi", "chiengcoi"),
    ("P-CHIENGSINH", "UBND phường Chiềng Sinh", "chiengsinh"),
    ("P-MOCCHAU", "UBND phường Mộc Châu", "mocchau"),
    ("X-MUONGLA", "UBND xã Mường La", "muongla"),
    ("X-THUANCHAU", "UBND xã Thuận Châu", "thuanchau"),
    ("X-MAISON", "UBND xã Mai Sơn", "maison"),
    ("X-YENCHAU", "UBND xã Yên Châu", "yenchau"),
    ("X-SONGMA", "UBND xã Sông Mã", "songma"),
    ("X-SOPCOP", "UBND xã Sốp Cộp", "sopcop"),
    ("X-BACYEN", "UBND xã Bắc Yên", "bacyen"),
    ("X-PHUYEN", "UBND xã Phù Yên", "phuyen"),
    ("X-QUYNHNHAI", "UBND xã Quỳnh Nhai", "quynhnhai"),
    ("X-VANHO", "UBND xã Vân Hồ", "vanho"),
    ("X-MUONGBU", "UBND xã Mường Bú", "muongbu"),
    ("X-CHIENGKHOI", "UBND xã Chiềng Khoi", "chiengkhoi"),
    ("X-LONGHE", "UBND xã Long Hẹ", "longhe"),
    ("X-NAMTY", "UBND xã Nậm Ty", "namty"),
    ("X-TANLAP", "UBND xã Tân Lập", "tanlap"),
]

# Share of plan disbursed by 31/10/2026 (expected there: 71.79 %).
SPECIAL_RATE = {"SDTTG": 0.0, "X-NAMTY": 0.08, "BQLKCN": 0.31}
NO_PLAN = {"X-TANLAP"}          # a new commune: no 2026 plan yet
NO_EMAIL = {"X-LONGHE"}         # behind, and no address on file
TWO_EMAILS = {"BQLGT", "SXD"}


def vi_number(value: float, decimals: int) -> str:
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


SHARES = [((1, 1), 0.0), ((3, 31), 0.12), ((5, 31), 0.26), ((6, 30), 0.45), ((9, 30), 0.62),
          ((10, 31), 0.72), ((12, 31), 0.96)]


def cumulative_share(day: dt.date, year: int = 2026, bend=None) -> float:
    """A typical seasonal curve (share of the year's payments made by `day`); `bend` moves each
    point of a past year a little (one list of offsets per year and owner)."""
    points = [(dt.date(year, m, d), min(0.99, max(0.0, s + (bend[i] if bend else 0.0))))
              for i, ((m, d), s) in enumerate(SHARES)]
    points[0] = (points[0][0], 0.0)
    points.append((dt.date(year + 1, 1, 31), 1.0))
    for (d0, s0), (d1, s1) in zip(points, points[1:]):
        if day <= d1:
            return s0 + (s1 - s0) * (day - d0).days / (d1 - d0).days
    return 1.0


# Owners that are slow every year (rate at 31/1 well under 100 %), and owners that finish early.
CHRONIC = {"BQLKCN", "X-NAMTY", "SDTTG", "X-SOPCOP", "BQLNN"}
EARLY = {"SYT", "CAT", "BCHQS", "P-TOHIEU"}


def past_payments(past_plans):
    """Three whole past years: each owner's rate at 31/1 of the next year and its own bend of the
    seasonal curve, a little different every year."""
    rows = []
    for uid, _, _ in OWNERS:
        for year in PAST_YEARS:
            if (uid, year) not in past_plans:
                continue
            plan_dong = int(round(past_plans[(uid, year)] * 1_000_000))
            if uid in CHRONIC:
                final = past.uniform(0.55, 0.78)
            elif uid in EARLY:
                final = past.uniform(0.99, 1.0)
            else:
                final = past.uniform(0.86, 0.995)
            year_bend = past.uniform(-0.04, 0.04)
            bend = [year_bend + past.uniform(-0.03, 0.03) for _ in SHARES]
            if uid in EARLY:
                bend = [b + 0.08 for b in bend]
            total = plan_dong * final
            day, paid = dt.date(year, 1, 5), 0
            while day <= dt.date(year + 1, 1, 31):
                due = int(total * cumulative_share(day, year, bend))
                if due - paid > 0 and past.random() < 0.8:
                    rows.append((day, uid, due - paid, year))
                    paid = due
                day += dt.timedelta(days=past.choice([2, 3, 4, 7]))
            if int(total) - paid > 0:
                rows.append((dt.date(year + 1, 1, 31), uid, int(total) - paid, year))
    return rows


def main() -> None:
    with open(HERE / "don_vi.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Mã ĐV", "Tên đơn vị", "Email"])
        for uid, name, slug in OWNERS:
            email = "" if uid in NO_EMAIL else f"{slug}@sonla.example.gov.vn"
            if uid in TWO_EMAILS:
                email += f"; vanthu.{slug}@sonla.example.gov.vn"
            w.writerow([uid, name, email])

    plans, past_plans = {}, {}
    plan_rows = []
    if True:
        for uid, _, _ in OWNERS:
            big = uid.startswith("BQL") or uid in {"SXD", "SNNMT"}
            for year in (2023, 2024):
                if uid in NO_PLAN:
                    continue
                million = past.uniform(300_000, 900_000) if big else past.uniform(8_000, 120_000)
                million = round(million, 1 if past.random() < 0.5 else 0)
                past_plans[(uid, year)] = million
                plan_rows.append([uid, year, vi_number(million, 1 if million % 1 else 0)])
            for year in (2025, 2026):
                if year == 2026 and uid in NO_PLAN:
                    continue
                big = uid.startswith("BQL") or uid in {"SXD", "SNNMT"}
                million = rng.uniform(300_000, 900_000) if big else rng.uniform(8_000, 120_000)
                million = round(million, 1 if rng.random() < 0.5 else 0)
                if year == 2026:
                    plans[uid] = million
                else:
                    past_plans[(uid, year)] = million
                plan_rows.append([uid, year, vi_number(million, 1 if million % 1 else 0)])

    rows = past_payments(past_plans)
    targets = {}
    end = dt.date(2026, 11, 20)
    for uid, _, _ in OWNERS:
        if uid not in plans:
            continue
        plan_dong = int(round(plans[uid] * 1_000_000))
        # How far this owner is along the typical curve at 31/10.
        target = SPECIAL_RATE.get(uid, rng.choice([0.35, 0.45, 0.52, 0.6, 0.68, 0.74, 0.8, 0.9]) * rng.uniform(0.9, 1.1))
        targets[uid] = target
        paid_total = plan_dong * target / cumulative_share(dt.date(2026, 10, 31))
        if target == 0:
            continue
        day = dt.date(2026, 1, 5)
        paid = 0
        while day <= end:
            due = int(paid_total * cumulative_share(day))
            if due - paid > 0 and rng.random() < 0.8:
                amount = due - paid
                rows.append((day, uid, amount, 2026))
                paid = due
            day += dt.timedelta(days=rng.choice([2, 3, 4, 7]))
    rows.sort()
    # The owners far ahead registered a need (nhu cầu vốn) above their 2026 plan: where capital
    # released by the slow owners could go.
    with open(HERE / "ke_hoach.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Mã ĐV", "Năm", "Kế hoạch vốn (triệu đồng)", "Nhu cầu vốn (triệu đồng)"])
        for uid, year, amount in plan_rows:
            need = ""
            if year == 2026 and targets.get(uid, 0) >= 0.8:
                need = vi_number(round(plans[uid] * 1.3), 0)
            w.writerow([uid, year, amount, need])
    with open(HERE / "giai_ngan.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Ngày", "Mã ĐV", "Số tiền (đồng)", "Năm KH"])
        for day, uid, amount, year in rows:
            w.writerow([day.strftime("%d/%m/%Y"), uid, vi_number(amount, 0), year])


if __name__ == "__main__":
    main()
