"""The synthetic country: regions, districts, agencies and their staff, sized from the number of
children so that a national run (1 M children) has about 200 districts, 10 k agencies and 50 k
users, and a tiny test run still has at least one agency of every kind in every district.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bench import names

# Kazakhstan's first-level units: 17 regions and 3 cities of republican significance, with their
# population in millions (2024, rounded) as the weight children are spread by.
REGIONS = (
    ("abai", "Абайская область", 0.61), ("akmola", "Акмолинская область", 0.79),
    ("aktobe", "Актюбинская область", 0.93), ("almaty-region", "Алматинская область", 1.51),
    ("atyrau", "Атырауская область", 0.70), ("east-kazakhstan", "Восточно-Казахстанская область", 0.73),
    ("jambyl", "Жамбылская область", 1.22), ("jetisu", "Жетысуская область", 0.70),
    ("west-kazakhstan", "Западно-Казахстанская область", 0.69), ("karaganda", "Карагандинская область", 1.13),
    ("kostanay", "Костанайская область", 0.83), ("kyzylorda", "Кызылординская область", 0.83),
    ("mangystau", "Мангистауская область", 0.78), ("pavlodar", "Павлодарская область", 0.75),
    ("north-kazakhstan", "Северо-Казахстанская область", 0.53), ("turkistan", "Туркестанская область", 2.14),
    ("ulytau", "Улытауская область", 0.22), ("astana", "город Астана", 1.42),
    ("almaty", "город Алматы", 2.23), ("shymkent", "город Шымкент", 1.22),
)
DISTRICT_STEMS = (
    "Байтерек", "Жаңаарқа", "Бейнеу", "Қарасай", "Еңбекшіқазақ", "Талғар", "Сарыарқа", "Есіл",
    "Алмалы", "Медеу", "Әуезов", "Бостандық", "Жетісу", "Наурызбай", "Түрксіб", "Абай",
    "Ақсу", "Бурабай", "Зеренді", "Мұғалжар", "Қобда", "Исатай", "Махамбет", "Қарабалық",
    "Ұлан", "Шемонаиха", "Байзақ", "Жуалы", "Қордай", "Сарқан", "Бөрлі", "Теректі",
)
CHILDREN_PER_SCHOOL = 120  # children known to the system per school, at national scale

# Staff per agency kind at national scale: (caseworkers, supervisors); scaled down with the
# number of children, never below one of each.
STAFF = {
    "school": (2, 1), "social_services": (30, 4), "police": (10, 2), "health": (5, 1),
    "psychology": (8, 2), "ngo": (3, 1),
}
KIND_PREFIX = {"school": "sch", "social_services": "ss", "police": "pol", "health": "hlt",
               "psychology": "psy", "prosecutor": "pro", "ngo": "ngo"}


@dataclass
class World:
    """Ids of everything the data set hangs off; ids are 1-based and index the lists (slot 0 unused)."""

    regions: list[tuple] = field(default_factory=list)       # (id, code, name)
    districts: list[tuple] = field(default_factory=list)     # (id, region_id, code, name)
    agencies: list[tuple] = field(default_factory=list)      # (id, code, name, kind, region_id, district_id)
    users: list[tuple] = field(default_factory=list)         # (id, agency_id, username, full_name, email, lang)
    roles: list[tuple] = field(default_factory=list)         # (user_id, role)
    district_weight: list[float] = field(default_factory=list)  # by district id
    region_of_district: list[int] = field(default_factory=lambda: [0])
    schools: list[list[int]] = field(default_factory=lambda: [[]])       # by district id
    single: dict[str, list[int]] = field(default_factory=dict)           # kind -> agency by district id
    region_of_agency: list[int] = field(default_factory=lambda: [0])
    kind_of_agency: list[str] = field(default_factory=lambda: [""])
    caseworkers: list[list[int]] = field(default_factory=lambda: [[]])   # by agency id
    supervisors: list[list[int]] = field(default_factory=lambda: [[]])   # by agency id
    oversight: list[list[int]] = field(default_factory=lambda: [[]])     # by region id
    prosecutor_of_region: list[int] = field(default_factory=lambda: [0])
    ngos: list[list[int]] = field(default_factory=lambda: [[]])          # by region id

    def agency_of_user(self, user_id: int) -> int:
        return self.users[user_id - 1][1]


def build(rng, children: int) -> World:
    """The world for a data set of ``children`` children."""
    scale = children / 1_000_000
    w = World()
    total_weight = sum(r[2] for r in REGIONS)
    target_districts = min(210, max(len(REGIONS), round(200 * scale)))
    for kind in ("social_services", "police", "health", "psychology"):
        w.single[kind] = [0]
    for code, name, weight in REGIONS:
        region_id = len(w.regions) + 1
        w.regions.append((region_id, code, name))
        w.oversight.append([])
        w.ngos.append([])
        n_districts = max(1, round(target_districts * weight / total_weight))
        for k in range(n_districts):
            district_id = len(w.districts) + 1
            stem = DISTRICT_STEMS[(region_id * 7 + k) % len(DISTRICT_STEMS)]
            w.districts.append((district_id, region_id, f"{code}-{k + 1:02d}", f"{stem} ауданы №{k + 1}"))
            w.region_of_district.append(region_id)
            w.district_weight.append(weight / n_districts)
    for district_id, region_id, dcode, dname in w.districts:
        share = w.district_weight[district_id - 1] / total_weight
        n_schools = max(1, round(children * share / CHILDREN_PER_SCHOOL))
        w.schools.append([_agency(w, rng, "school", region_id, district_id, dcode, dname, n, scale)
                          for n in range(1, n_schools + 1)])
        for kind in ("social_services", "police", "health", "psychology"):
            w.single[kind].append(_agency(w, rng, kind, region_id, district_id, dcode, dname, 1, scale))
    for region_id, code, name in w.regions:
        w.prosecutor_of_region.append(_agency(w, rng, "prosecutor", region_id, None, code, name, 1, scale))
        for n in range(1, max(1, round(10 * scale)) + 1):
            w.ngos[region_id].append(_agency(w, rng, "ngo", region_id, None, code, name, n, scale))
    return w


_NAMES = {
    "school": "Школа №{n}, {place}", "social_services": "Отдел опеки и попечительства, {place}",
    "police": "Ювенальная полиция, {place}", "health": "Поликлиника, {place}",
    "psychology": "Центр психологической поддержки, {place}",
    "prosecutor": "Прокуратура, {place}", "ngo": "Общественный фонд «Қорғау-{n}», {place}",
}


def _agency(w: World, rng, kind, region_id, district_id, place_code, place, n, scale) -> int:
    agency_id = len(w.agencies) + 1
    code = f"{KIND_PREFIX[kind]}-{place_code}-{n}"
    w.agencies.append((agency_id, code, _NAMES[kind].format(n=n, place=place), kind, region_id, district_id))
    w.region_of_agency.append(region_id)
    w.kind_of_agency.append(kind)
    workers, bosses = [], []
    if kind == "prosecutor":
        for _ in range(max(1, round(20 * scale))):
            w.oversight[region_id].append(_user(w, rng, agency_id, ("oversight",)))
        _user(w, rng, agency_id, ("council",))
        if region_id == 1:
            _user(w, rng, agency_id, ("system_admin",))
    else:
        cw, sup = STAFF[kind]
        if kind != "school":
            cw, sup = max(1, round(cw * scale)), max(1, round(sup * scale))
        workers = [_user(w, rng, agency_id, ("caseworker",)) for _ in range(cw)]
        bosses = [_user(w, rng, agency_id, ("supervisor",)) for _ in range(sup)]
        _user(w, rng, agency_id, ("agency_admin",))
    w.caseworkers.append(workers)
    w.supervisors.append(bosses)
    return agency_id


def _user(w: World, rng, agency_id: int, roles: tuple[str, ...]) -> int:
    user_id = len(w.users) + 1
    sex = "F" if rng.random() < 0.7 else "M"  # most child-protection staff are women
    last, first, patronymic = names.person(rng, sex)
    lang = "kk" if rng.random() < 0.55 else "ru"
    w.users.append((user_id, agency_id, f"u{user_id:06d}", f"{last} {first} {patronymic}",
                    f"u{user_id:06d}@qorgau.invalid", lang))
    for role in roles:
        w.roles.append((user_id, role))
    return user_id
