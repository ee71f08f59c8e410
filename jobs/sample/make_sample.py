#!/usr/bin/env python3
"""Writes the bundled sample data: a province's 40 project owners, their 2025 and 2026 capital
plans (million đồng, Vietnamese number format) and a year of payments (đồng, dd/mm/yyyy).

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


def cumulative_share(day: dt.date) -> float:
    """A typical seasonal curve (share of the year's payments made by `day`)."""
    points = [(dt.date(2026, 1, 1), 0.0), (dt.date(2026, 3, 31), 0.12), (dt.date(2026, 5, 31), 0.26),
              (dt.date(2026, 6, 30), 0.45), (dt.date(2026, 9, 30), 0.62), (dt.date(2026, 10, 31), 0.72),
              (dt.date(2026, 12, 31), 0.96), (dt.date(2027, 1, 31), 1.0)]
    for (d0, s0), (d1, s1) in zip(points, points[1:]):
        if day <= d1:
            return s0 + (s1 - s0) * (day - d0).days / (d1 - d0).days
    return 1.0


def main() -> None:
    with open(HERE / "don_vi.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Mã ĐV", "Tên đơn vị", "Email"])
        for uid, name, slug in OWNERS:
            email = "" if uid in NO_EMAIL else f"{slug}@sonla.example.gov.vn"
            if uid in TWO_EMAILS:
                email += f"; vanthu.{slug}@sonla.example.gov.vn"
            w.writerow([uid, name, email])

    plans = {}
    with open(HERE / "ke_hoach.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Mã ĐV", "Năm", "Kế hoạch vốn (triệu đồng)"])
        for uid, _, _ in OWNERS:
            for year in (2025, 2026):
                if year == 2026 and uid in NO_PLAN:
                    continue
                big = uid.startswith("BQL") or uid in {"SXD", "SNNMT"}
                million = rng.uniform(300_000, 900_000) if big else rng.uniform(8_000, 120_000)
                million = round(million, 1 if rng.random() < 0.5 else 0)
                if year == 2026:
                    plans[uid] = million
                w.writerow([uid, year, vi_number(million, 1 if million % 1 else 0)])

    rows = []
    end = dt.date(2026, 11, 20)
    for uid, _, _ in OWNERS:
        if uid not in plans:
            continue
        plan_dong = int(round(plans[uid] * 1_000_000))
        # How far this owner is along the typical curve at 31/10.
        target = SPECIAL_RATE.get(uid, rng.choice([0.35, 0.45, 0.52, 0.6, 0.68, 0.74, 0.8, 0.9]) * rng.uniform(0.9, 1.1))
        paid_total = plan_dong * target / cumulative_share(dt.date(2026, 10, 31))
        if target == 0:
            continue
        day = dt.date(2026, 1, 5)
        paid = 0
        while day <= end:
            due = int(paid_total * cumulative_share(day))
            if due - paid > 0 and rng.random() < 0.8:
                amount = due - paid
                rows.append((day, uid, amount))
                paid = due
            day += dt.timedelta(days=rng.choice([2, 3, 4, 7]))
    rows.sort()
    with open(HERE / "giai_ngan.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Ngày", "Mã ĐV", "Số tiền (đồng)"])
        for day, uid, amount in rows:
            w.writerow([day.strftime("%d/%m/%Y"), uid, vi_number(amount, 0)])


if __name__ == "__main__":
    main()
