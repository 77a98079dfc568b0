"""Vietnamese personal names with realistic frequencies, for the synthetic population.

Family names follow the commonly cited national shares (Nguyễn about 38%, Trần 12%, Lê 9.5%
...; Hoàng/Huỳnh and Vũ/Võ are northern/southern spellings counted together in surveys and
split here); the long tail is spread over less common names. Middle names carry sex (Văn
for men, Thị for women, both far less universal than they were) and given names are listed
most popular first and drawn with a Zipf-like weight, because the matcher's hardest cases
are strangers who share a common name and a birth year.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ehr.text import normalize


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FAMILY_NAMES: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 38.4),
    ("Trần", 12.1),
    ("Lê", 9.5),
    ("Phạm", 7.0),
    ("Hoàng", 2.9),
    ("Huỳnh", 2.2),
    ("Phan", 4.5),
    ("Vũ", 2.0),
    ("Võ", 1.9),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Lý", 0.5),
    *(
        (name, 0.55)
        for name in _words(
            "Trương Đinh Lâm Mai Trịnh Đào Cao Lương Hà Tô Tạ Lưu Châu Quách Thái Kiều"
        )
    ),
)
"""(family name, percent of the population); the tail adds up to about 9%."""

MIDDLE_MALE: tuple[tuple[str, float], ...] = (
    ("Văn", 30),
    ("Minh", 12),
    ("Đức", 9),
    ("Quốc", 6),
    ("Quang", 6),
    ("Hữu", 6),
    ("Thanh", 5),
    ("Gia", 5),
    ("Công", 4),
    ("Hoàng", 4),
    ("Trung", 3),
    ("Bảo", 3),
    ("Xuân", 3),
    ("Ngọc", 2),
    ("Tuấn", 2),
)
MIDDLE_FEMALE: tuple[tuple[str, float], ...] = (
    ("Thị", 40),
    ("Ngọc", 10),
    ("Thu", 7),
    ("Minh", 6),
    ("Thanh", 5),
    ("Kim", 4),
    ("Hồng", 4),
    ("Bảo", 4),
    ("Phương", 3),
    ("Khánh", 3),
    ("Mai", 3),
    ("Thùy", 3),
    ("Hoài", 2),
    ("Diệu", 2),
    ("Tường", 2),
)
SECOND_MIDDLE_FEMALE = ("Thu", "Ngọc", "Thanh", "Kim", "Hồng", "Minh", "Phương", "Thùy")
"""A woman named Thị often carries a second middle name: Nguyễn Thị Thu Hà."""

GIVEN_MALE = _words(
    """Anh Hùng Dũng Tuấn Minh Huy Nam Long Đức Hải Thắng Phong Sơn Quân Khoa Cường Bình
    Trung Thành Hiếu Hoàng Việt Tùng Đạt Phúc Lộc Hưng Khang Nghĩa Duy Kiên Tâm Vinh Toàn
    Trí Thịnh Tài Nhân Khánh Phát Hòa An Bảo Luân Hiệp Quý Lâm Thái Tú Vũ"""
)
GIVEN_FEMALE = _words(
    """Linh Trang Hương Anh Hà Ngọc Thảo Huyền Phương Mai Lan Thủy Hằng Nhung Hạnh Yến
    Dung Giang Hoa Vân Nga Quỳnh Thư Hiền Loan Nhi Vy My Trâm Uyên Ánh Châu Chi Diệp Duyên
    Liên Ly Ngân Oanh Quyên Tuyết Huệ Thơ Hồng Tâm Thanh Xuân Hảo Nguyệt Tiên"""
)


def _zipf(names: Sequence[str]) -> list[float]:
    """Weights falling with popularity rank, as given-name counts do (about 1/(rank+3))."""
    return [1.0 / (rank + 3) for rank in range(len(names))]


def family_name(rng: random.Random) -> str:
    names, weights = zip(*FAMILY_NAMES, strict=True)
    return rng.choices(names, weights)[0]


def middle_names(rng: random.Random, sex: str) -> tuple[str, ...]:
    table = MIDDLE_MALE if sex == "male" else MIDDLE_FEMALE
    names, weights = zip(*table, strict=True)
    first = rng.choices(names, weights)[0]
    if sex == "female" and first == "Thị" and rng.random() < 0.2:
        return (first, rng.choice(SECOND_MIDDLE_FEMALE))
    return (first,)


def given_name(rng: random.Random, sex: str, avoid: Sequence[str] = ()) -> str:
    """A given name for ``sex``; never one of ``avoid`` even without diacritics (twins)."""
    names = GIVEN_MALE if sex == "male" else GIVEN_FEMALE
    taken = {normalize(name) for name in avoid}
    while True:
        name = rng.choices(names, _zipf(names))[0]
        if normalize(name) not in taken:
            return name
