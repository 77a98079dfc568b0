"""Load N synthetic Vietnamese Patients through the real write path, for the benchmarks.

Every Patient goes through ``ehr.storage.write.write_resource`` in-process (validation,
stamping, history row, search index rows, the write participants, reference check), inside
``ehr.db.unit_of_work.unit_of_work`` batches, with a ``RequestContext`` built the way
``ehr/api/fhir_routes.py`` builds it and ``ctx.finish()`` at the end of each unit. The write
participants run as in production, so each Patient is linked to a golden person (the master
patient index: a ``person_national_id`` row for its CCCD, a ``person_link`` row and its
history, and a golden ``Patient`` that carries the same CCCD). The writer is the exchange
itself (an ``AccessPolicy`` without a principal, as seeding uses): the Patients have no
owning facility and their creates write no AuditEvent, where a facility pushing them over
``POST /fhir/Patient`` would leave one per create.

Each Patient has a Vietnamese name, gender, birth date, a 12-digit CCCD (province code,
gender/century digit, two-digit birth year, six random digits; unique) under
``http://fhir.hl7.org.vn/core/sid/cccd``, a mobile phone and an address. The generator is
seeded, so the same ``--seed`` gives the same people (ids are random UUIDs, as the server
assigns them). The ids and CCCDs are written to ``--out`` as ``id<TAB>cccd`` lines for
``read_search.py``.

    .venv/bin/python scripts/bench/load_patients.py --count 100000 \\
        --database-url sqlite:////tmp/ehr_bench.db --out /tmp/ehr_bench_sqlite.tsv
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from ehr.access.policy import AccessPolicy
from ehr.api.app import build_services
from ehr.config import Settings
from ehr.context import RequestContext
from ehr.db.unit_of_work import unit_of_work
from ehr.storage.write import new_id, write_resource

CCCD_SYSTEM = "http://fhir.hl7.org.vn/core/sid/cccd"
BASE_URL = "http://127.0.0.1:8000/fhir"


def _words(text: str) -> list[str]:
    return text.split()


# Family names with their approximate share of the population (percent).
FAMILY_NAMES = [
    ("Nguyễn", 38),
    ("Trần", 11),
    ("Lê", 9.5),
    ("Phạm", 7),
    ("Hoàng", 3),
    ("Huỳnh", 2),
    ("Phan", 4.5),
    ("Vũ", 2),
    ("Võ", 2),
    ("Đặng", 2.1),
    ("Bùi", 2),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1),
    ("Lý", 0.5),
    ("Đinh", 0.5),
    ("Trương", 0.5),
    ("Mai", 0.4),
    ("Cao", 0.4),
]
MIDDLE_NAMES = {
    "male": ["Văn", "Hữu", "Đức", "Minh", "Quang", "Công", "Thành", "Xuân", "Ngọc", "Gia"],
    "female": ["Thị", "Ngọc", "Thu", "Thanh", "Kim", "Hồng", "Phương", "Mỹ", "Bảo", "Khánh"],
}
GIVEN_NAMES = {
    "male": _words("""
        An Anh Bảo Bình Cường Dũng Duy Đạt Hải Hiếu Hoàng Hùng Huy Khang Khánh Khoa Long Lộc
        Minh Nam Nghĩa Phong Phúc Quân Quang Sơn Tài Thắng Thành Thịnh Trí Trung Tuấn Tùng
        Việt Vinh
    """),
    "female": _words("""
        An Anh Chi Dung Diệp Giang Hà Hạnh Hằng Hiền Hoa Hồng Hương Huyền Lan Liên Linh Loan
        Mai My Nga Ngân Ngọc Nhung Oanh Phương Quỳnh Tâm Thảo Thủy Trang Trinh Tuyết Uyên
        Vân Vy Yến
    """),
}
# CCCD province code, province name, some of its districts (quận/huyện/thị xã), weight.
PROVINCES = [
    ("001", "Hà Nội", ["Ba Đình", "Hoàn Kiếm", "Đống Đa", "Cầu Giấy", "Hà Đông", "Sóc Sơn"], 12),
    ("079", "Hồ Chí Minh", ["Quận 1", "Quận 3", "Bình Thạnh", "Gò Vấp", "Tân Bình", "Thủ Đức"], 14),
    ("031", "Hải Phòng", ["Hồng Bàng", "Lê Chân", "Ngô Quyền", "Thủy Nguyên"], 3),
    ("048", "Đà Nẵng", ["Hải Châu", "Thanh Khê", "Sơn Trà", "Liên Chiểu"], 2),
    ("092", "Cần Thơ", ["Ninh Kiều", "Cái Răng", "Bình Thủy"], 2),
    ("038", "Thanh Hóa", ["TP Thanh Hóa", "Sầm Sơn", "Tĩnh Gia", "Hoằng Hóa"], 4),
    ("040", "Nghệ An", ["TP Vinh", "Cửa Lò", "Diễn Châu", "Quỳnh Lưu"], 4),
    ("034", "Thái Bình", ["TP Thái Bình", "Quỳnh Phụ", "Hưng Hà"], 2),
    ("036", "Nam Định", ["TP Nam Định", "Hải Hậu", "Giao Thủy"], 2),
    ("075", "Đồng Nai", ["Biên Hòa", "Long Khánh", "Nhơn Trạch"], 3),
    ("074", "Bình Dương", ["Thủ Dầu Một", "Dĩ An", "Thuận An"], 3),
    ("046", "Thừa Thiên Huế", ["TP Huế", "Hương Thủy", "Phú Vang"], 1),
    ("030", "Hải Dương", ["TP Hải Dương", "Chí Linh", "Kinh Môn"], 2),
    ("027", "Bắc Ninh", ["TP Bắc Ninh", "Từ Sơn", "Quế Võ"], 1.5),
    ("089", "An Giang", ["Long Xuyên", "Châu Đốc", "Tân Châu"], 2),
    ("052", "Bình Định", ["Quy Nhơn", "An Nhơn", "Hoài Nhơn"], 1.5),
]
STREETS = [
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Nguyễn Huệ",
    "Hai Bà Trưng",
    "Lý Thường Kiệt",
    "Quang Trung",
    "Nguyễn Trãi",
    "Lê Duẩn",
    "Phan Chu Trinh",
    "Điện Biên Phủ",
    "Võ Văn Tần",
    "Hùng Vương",
    "Bà Triệu",
    "Nguyễn Du",
    "Trần Phú",
    "Lạc Long Quân",
]
MOBILE_PREFIXES = _words("""
    032 033 034 035 036 037 038 039 070 076 077 078 079 081 082 083 084 085 086 088 089
    090 091 093 094 096 097 098
""")


class PatientFactory:
    """Seeded synthetic Patients with unique CCCDs."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seen_cccd: set[str] = set()
        self._families = [name for name, _ in FAMILY_NAMES]
        self._family_weights = [weight for _, weight in FAMILY_NAMES]
        self._province_weights = [p[3] for p in PROVINCES]
        self._today = date(2026, 11, 23)

    def cccd(self, province: str, gender: str, born: date) -> str:
        century = 0 if born.year < 2000 else 2
        digit = century + (1 if gender == "female" else 0)
        while True:
            value = f"{province}{digit}{born.year % 100:02d}{self.rng.randrange(1_000_000):06d}"
            if value not in self.seen_cccd:
                self.seen_cccd.add(value)
                return value

    def patient(self) -> dict[str, Any]:
        rng = self.rng
        gender = "female" if rng.random() < 0.505 else "male"
        family = rng.choices(self._families, self._family_weights)[0]
        middle = rng.choice(MIDDLE_NAMES[gender])
        given = rng.choice(GIVEN_NAMES[gender])
        born = self._today - timedelta(days=rng.randrange(0, 90 * 365))
        code, province, districts, _ = rng.choices(PROVINCES, self._province_weights)[0]
        phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10_000_000):07d}"
        return {
            "resourceType": "Patient",
            "identifier": [
                {
                    "use": "official",
                    "type": {"text": "Căn cước công dân"},
                    "system": CCCD_SYSTEM,
                    "value": self.cccd(code, gender, born),
                }
            ],
            "active": True,
            "name": [
                {
                    "use": "official",
                    "text": f"{family} {middle} {given}",
                    "family": family,
                    "given": [middle, given],
                }
            ],
            "telecom": [{"system": "phone", "value": phone, "use": "mobile"}],
            "gender": gender,
            "birthDate": born.isoformat(),
            "address": [
                {
                    "use": "home",
                    "line": [f"{rng.randrange(1, 400)} {rng.choice(STREETS)}"],
                    "district": rng.choice(districts),
                    "city": province,
                    "country": "VN",
                }
            ],
        }


def analyze(settings: Settings) -> float:
    """Bring a bulk-loaded database to the state a production one settles in; the seconds.

    SQLite: ``ANALYZE`` (planner statistics), which it never runs by itself; without them
    it may pick a poor plan (see ``docs/benchmarks.md``). PostgreSQL: ``VACUUM (ANALYZE)``,
    what autovacuum does after a bulk load; the vacuum sets the visibility map, without
    which every index-only question (the count of a ``$match`` block, say) also reads the
    heap pages. This machine's PostgreSQL has autovacuum off (a CI setting,
    ``/etc/postgresql/*/main/conf.d/90-ci.conf``), so nothing else would run it.
    """
    return analyze_url(settings.resolved_database_url())


def analyze_url(url: str) -> float:
    """``analyze`` for a database URL."""
    engine = create_engine(url)
    started = time.perf_counter()
    statement = "VACUUM (ANALYZE)" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(statement)
    engine.dispose()
    return time.perf_counter() - started


def load(settings: Settings, count: int, batch: int, seed: int, out: Path) -> float:
    """Write ``count`` Patients in units of ``batch``; return Patients per second."""
    services = build_services(settings)
    # The exchange's own writes (no principal): what seeding and the MPI's rewrites use.
    policy = AccessPolicy(None, services.compartment.person_types, services.settings.cccd_system)
    factory = PatientFactory(seed)
    started = time.perf_counter()
    done = 0
    with out.open("w", encoding="utf-8") as ids:
        while done < count:
            size = min(batch, count - done)
            written: list[tuple[str, str]] = []
            with unit_of_work(services.engine) as session:
                ctx = RequestContext(services, session, BASE_URL, policy)
                for _ in range(size):
                    body = factory.patient()
                    res_id = new_id()
                    write_resource(ctx, method="POST", res_type="Patient", res_id=res_id, body=body)
                    written.append((res_id, body["identifier"][0]["value"]))
                ctx.finish()
            # Only what was committed goes to the file.
            ids.writelines(f"{res_id}\t{cccd}\n" for res_id, cccd in written)
            done += size
            elapsed = time.perf_counter() - started
            if done % (batch * 20) == 0 or done == count:
                print(
                    f"{done:>9,} Patients  {elapsed:7.1f} s  {done / elapsed:7.0f}/s",
                    file=sys.stderr,
                    flush=True,
                )
    services.engine.dispose()
    return count / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="Patients per unit of work")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--database-url", default="", help="default: EHR_DATABASE_URL, else the SQLite default"
    )
    parser.add_argument("--out", type=Path, required=True, help="id<TAB>cccd file to write")
    parser.add_argument(
        "--analyze", action="store_true", help="settle the database after loading (analyze)"
    )
    args = parser.parse_args(argv)
    settings = Settings(database_url=args.database_url) if args.database_url else Settings()
    url = settings.resolved_database_url()
    print(f"loading {args.count:,} Patients into {url}", file=sys.stderr)
    rate = load(settings, args.count, args.batch, args.seed, args.out)
    print(f"loaded {args.count:,} Patients at {rate:,.0f}/s; ids in {args.out}")
    if args.analyze:
        print(f"(VACUUM) ANALYZE took {analyze(settings):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
