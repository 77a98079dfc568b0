"""Facility names for the synthetic registry: real central hospitals, plausible everything else.

The central hospitals are real and sit in their real provinces (with the old province
prefix their insurance code would carry), because demos and tests talk about "Bạch Mai" and
"Chợ Rẫy". Big-city hospitals of Hà Nội and Hồ Chí Minh are real names too. Everything else
is made from the patterns Vietnamese facilities are named by ("Bệnh viện Đa khoa tỉnh …",
"Trung tâm Y tế khu vực …", "Trạm Y tế xã …", "Phòng khám Đa khoa …") and from place-name
syllables, so it reads naturally without claiming to be a particular real facility.
"""

from __future__ import annotations

import random
from itertools import product


def _words(text: str, separator: str | None = None) -> tuple[str, ...]:
    """The words (or ``separator``-separated phrases) of a wrapped literal, trimmed."""
    return tuple(word.strip() for word in text.split(separator) if word.strip())


CENTRAL_HOSPITALS: tuple[tuple[str, str, str], ...] = (
    # (name, 2025 province code, old province prefix of the insurance code)
    ("Bệnh viện Bạch Mai", "01", "01"),
    ("Bệnh viện Hữu nghị Việt Đức", "01", "01"),
    ("Bệnh viện Hữu Nghị", "01", "01"),
    ("Bệnh viện E", "01", "01"),
    ("Bệnh viện K", "01", "01"),
    ("Bệnh viện Nhi Trung ương", "01", "01"),
    ("Bệnh viện Phụ sản Trung ương", "01", "01"),
    ("Bệnh viện Mắt Trung ương", "01", "01"),
    ("Bệnh viện Răng Hàm Mặt Trung ương Hà Nội", "01", "01"),
    ("Bệnh viện Tai Mũi Họng Trung ương", "01", "01"),
    ("Bệnh viện Da liễu Trung ương", "01", "01"),
    ("Bệnh viện Nội tiết Trung ương", "01", "01"),
    ("Bệnh viện Lão khoa Trung ương", "01", "01"),
    ("Bệnh viện Bệnh Nhiệt đới Trung ương", "01", "01"),
    ("Bệnh viện Phổi Trung ương", "01", "01"),
    ("Bệnh viện Y học cổ truyền Trung ương", "01", "01"),
    ("Bệnh viện Châm cứu Trung ương", "01", "01"),
    ("Bệnh viện Tâm thần Trung ương 1", "01", "01"),
    ("Viện Huyết học - Truyền máu Trung ương", "01", "01"),
    ("Bệnh viện Đại học Y Hà Nội", "01", "01"),
    ("Bệnh viện Trung ương Quân đội 108", "01", "01"),
    ("Bệnh viện Quân y 103", "01", "01"),
    ("Bệnh viện 19-8", "01", "01"),
    ("Bệnh viện Giao thông vận tải", "01", "01"),
    ("Bệnh viện Bưu điện", "01", "01"),
    ("Bệnh viện Bỏng Quốc gia Lê Hữu Trác", "01", "01"),
    ("Viện Y học cổ truyền Quân đội", "01", "01"),
    ("Bệnh viện Chợ Rẫy", "79", "79"),
    ("Bệnh viện Thống Nhất", "79", "79"),
    ("Bệnh viện Răng Hàm Mặt Trung ương Thành phố Hồ Chí Minh", "79", "79"),
    ("Bệnh viện Đại học Y Dược Thành phố Hồ Chí Minh", "79", "79"),
    ("Bệnh viện Quân y 175", "79", "79"),
    ("Bệnh viện 30-4", "79", "79"),
    ("Bệnh viện Quân y 7A", "79", "79"),
    ("Bệnh viện Trung ương Huế", "46", "46"),
    ("Bệnh viện Trường Đại học Y - Dược Huế", "46", "46"),
    ("Bệnh viện C Đà Nẵng", "48", "48"),
    ("Bệnh viện Quân y 17", "48", "48"),
    ("Bệnh viện Đa khoa Trung ương Quảng Nam", "48", "49"),
    ("Bệnh viện Đa khoa Trung ương Cần Thơ", "92", "92"),
    ("Bệnh viện Trường Đại học Y Dược Cần Thơ", "92", "92"),
    ("Bệnh viện Quân y 121", "92", "92"),
    ("Bệnh viện Trung ương Thái Nguyên", "19", "19"),
    ("Bệnh viện Việt Nam - Thụy Điển Uông Bí", "22", "22"),
    ("Bệnh viện 71 Trung ương", "38", "38"),
    ("Bệnh viện Điều dưỡng - Phục hồi chức năng Trung ương", "38", "38"),
    ("Bệnh viện 74 Trung ương", "25", "26"),
    ("Bệnh viện Phong - Da liễu Trung ương Quỳnh Lập", "40", "40"),
    ("Bệnh viện Quân y 4", "40", "40"),
    ("Bệnh viện Phong - Da liễu Trung ương Quy Hòa", "52", "52"),
    ("Bệnh viện Quân y 211", "52", "64"),
    ("Bệnh viện Tâm thần Trung ương 2", "75", "75"),
    ("Bệnh viện Quân y 110", "24", "27"),
)

CITY_HOSPITALS: dict[str, tuple[str, ...]] = {
    # Provincial-level hospitals of the two largest cities, by old province prefix.
    "01": (
        "Bệnh viện Đa khoa Xanh Pôn",
        "Bệnh viện Thanh Nhàn",
        "Bệnh viện Đống Đa",
        "Bệnh viện Đa khoa Đức Giang",
        "Bệnh viện Đa khoa Hà Đông",
        "Bệnh viện Tim Hà Nội",
        "Bệnh viện Ung bướu Hà Nội",
        "Bệnh viện Phụ sản Hà Nội",
        "Bệnh viện Nhi Hà Nội",
        "Bệnh viện Thận Hà Nội",
        "Bệnh viện Mắt Hà Nội",
        "Bệnh viện Tâm thần Hà Nội",
        "Bệnh viện Phổi Hà Nội",
        "Bệnh viện Bắc Thăng Long",
        "Bệnh viện Đa khoa Y học cổ truyền Hà Nội",
        "Bệnh viện Hữu nghị Việt Nam - Cu Ba Hà Nội",
        "Bệnh viện Da liễu Hà Nội",
        "Bệnh viện Đa khoa Sơn Tây",
        "Bệnh viện Đa khoa Hòe Nhai",
    ),
    "79": (
        "Bệnh viện Nhân dân 115",
        "Bệnh viện Nhân dân Gia Định",
        "Bệnh viện Nguyễn Tri Phương",
        "Bệnh viện Trưng Vương",
        "Bệnh viện Nguyễn Trãi",
        "Bệnh viện An Bình",
        "Bệnh viện Nhi đồng 1",
        "Bệnh viện Nhi đồng 2",
        "Bệnh viện Nhi đồng Thành phố",
        "Bệnh viện Từ Dũ",
        "Bệnh viện Hùng Vương",
        "Bệnh viện Ung bướu Thành phố Hồ Chí Minh",
        "Bệnh viện Bệnh Nhiệt đới Thành phố Hồ Chí Minh",
        "Bệnh viện Phạm Ngọc Thạch",
        "Bệnh viện Chấn thương Chỉnh hình",
        "Bệnh viện Bình Dân",
        "Bệnh viện Mắt Thành phố Hồ Chí Minh",
        "Bệnh viện Da liễu Thành phố Hồ Chí Minh",
        "Bệnh viện Tâm thần Thành phố Hồ Chí Minh",
        "Bệnh viện Truyền máu Huyết học",
        "Bệnh viện Tai Mũi Họng Thành phố Hồ Chí Minh",
        "Bệnh viện Y học cổ truyền Thành phố Hồ Chí Minh",
        "Bệnh viện Lê Văn Thịnh",
    ),
}

SPECIALTIES = (
    "Sản - Nhi",
    "Y học cổ truyền",
    "Phổi",
    "Tâm thần",
    "Mắt",
    "Phục hồi chức năng",
    "Nội tiết",
    "Da liễu",
    "Ung bướu",
    "Nhi",
    "Phụ sản",
    "Tim mạch",
    "Răng Hàm Mặt",
    "Tai Mũi Họng",
    "Chấn thương Chỉnh hình",
    "Bệnh Nhiệt đới",
    "Lão khoa",
    "Điều dưỡng - Phục hồi chức năng",
)
"""Provincial specialty hospitals, most common first."""

PRIVATE_SPECIALTIES = ("Đa khoa", "Đa khoa Quốc tế", "Phụ sản", "Mắt", "Nhi", "Răng Hàm Mặt")

BRANDS = _words(
    """Hồng Phúc|An Phước|Thiện Tâm|Minh An|Tâm Đức|Phúc Thịnh|Hưng Thịnh|Thái An|Việt Mỹ|
    Việt Pháp|Việt Hàn|Quốc Ánh|Đức Minh|Hoàng Long|Thành Công|Tân Hưng|Phương Nam|Đông Á|
    Bảo An|Gia An|Trường An|Vạn Phúc|Hồng Hà|Nam Việt|Bắc Hà|An Khang|Bình An|Phúc An|
    Hạnh Phúc|Minh Tâm|Tâm Phúc|Sao Mai|Bình Minh|Ánh Dương|Hải Âu|Kim Cương|Thiên Đức|
    Hợp Lực|Nhân Ái|Tâm An|Hòa An|Mỹ Đức|Phúc Lâm|Hoàng Gia|Đại Phước|Ngọc Minh""",
    separator="|",
)
"""Words private facilities are named by: wishes of luck, peace and virtue."""

_FIRST = _words(
    """An Bình Tân Phú Hòa Long Phước Vĩnh Đông Tây Nam Bắc Trung Hưng Thuận Quang Minh Thanh
    Kim Ngọc Xuân Hải Sơn Lạc Yên Gia Đại Mỹ Cẩm Hồng Định Hiệp Phong Thọ Tiến Đức Nghĩa
    Khánh Phúc Thái Quảng Cao Vạn Thịnh Tường Liên Hương Thạch"""
)
_SECOND = _words(
    """An Bình Phú Hòa Long Thạnh Phước Lợi Hưng Thuận Lộc Thành Tiến Lâm Sơn Hải Đông Tây
    Trung Mỹ Khánh Hiệp Thắng Phong Thọ Xuân Nghĩa Đức Minh Quang Hà Giang Yên Ninh Định Tân
    Vinh Tường Điền Cường Thịnh Trạch Hội Thủy Lạc Phát"""
)
PLACE_NAMES: tuple[str, ...] = tuple(
    f"{first} {second}" for first, second in product(_FIRST, _SECOND) if first != second
)
"""Two-syllable place names of the kind most communes carry ("Tân Phú", "Hòa Bình")."""


def with_division(old_name: str) -> str:
    """``Tỉnh Hà Giang`` -> ``tỉnh Hà Giang``, as it reads inside a facility name."""
    return old_name[:1].lower() + old_name[1:]


class NameBook:
    """Unique facility names within one province, drawn from a seeded random generator.

    Real registries repeat place names across provinces but not within one, which is also
    what makes a name useful for a person looking a facility up.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()
        self._places: dict[str, list[str]] = {}

    def take(self, name: str) -> str | None:
        """``name`` if still free (and now taken), else ``None``."""
        if name in self._used:
            return None
        self._used.add(name)
        return name

    def unique(self, name: str) -> str:
        """``name``, or ``name cơ sở 2``/``3``… if taken (branches are named that way)."""
        if self.take(name):
            return name
        branch = 2
        while not self.take(f"{name} cơ sở {branch}"):
            branch += 1
        return f"{name} cơ sở {branch}"

    def place(self, pattern: str, pool: str | None = None) -> str:
        """``pattern`` (with ``{}``) filled with a place name not yet drawn from ``pool``.

        Patterns sharing a pool never share a place: "xã Tân Phú" and "phường Tân Phú"
        would be two stations of one commune.
        """
        key = pool or pattern
        places = self._places.get(key)
        if places is None:
            places = list(PLACE_NAMES)
            self._rng.shuffle(places)
            self._places[key] = places
        while places:
            name = self.take(pattern.format(places.pop()))
            if name:
                return name
        return self.unique(pattern.format(self._rng.choice(PLACE_NAMES)))

    def brand(self, pattern: str) -> str:
        """``pattern`` filled with a brand, or with a place name once the brands run out."""
        for candidate in self._rng.sample(BRANDS, len(BRANDS)):
            name = self.take(pattern.format(candidate))
            if name:
                return name
        return self.place(pattern)
