"""Kazakh and Russian names for synthetic children and staff.

Common given names and surnames of both languages as they are written in Kazakhstan's civil
records (Cyrillic). About seven in ten people in the synthetic country get a Kazakh name, the rest
a Russian one, roughly the shares of the 2021 census.
"""
from __future__ import annotations

KAZAKH_SHARE = 0.7

KAZAKH_MALE = (
    "Нұрсұлтан", "Алихан", "Ерлан", "Айдос", "Дәулет", "Арман", "Ержан", "Бауыржан", "Диас",
    "Әлихан", "Нұрлан", "Санжар", "Темірлан", "Ислам", "Мирас", "Алдияр", "Ернұр", "Асылжан",
    "Мұхаммед", "Айбек", "Дамир", "Тимур", "Аслан", "Әли", "Жандос", "Мақсат", "Олжас", "Ерасыл",
    "Нұрислам", "Абылай", "Қайрат", "Серік", "Бекзат", "Руслан", "Ілияс", "Азамат",
)
KAZAKH_FEMALE = (
    "Айгерім", "Аружан", "Аяжан", "Жансая", "Мадина", "Дана", "Әсел", "Гүлназ", "Томирис", "Айдана",
    "Інжу", "Амина", "Сафия", "Айша", "Жанель", "Аяулым", "Назерке", "Балнұр", "Дильназ", "Камила",
    "Ажар", "Ақбота", "Жібек", "Арайлым", "Нұрай", "Мөлдір", "Сабина", "Дариға", "Гүлнұр", "Әйгерім",
)
# Kazakh surnames in their masculine form; the feminine adds "а".
KAZAKH_SURNAMES = (
    "Нұрланов", "Серіков", "Ахметов", "Жұмабаев", "Қасымов", "Омаров", "Төлеуов", "Сейітов",
    "Әбдірахманов", "Мұқанов", "Байжанов", "Оспанов", "Ибрагимов", "Жақыпов", "Сәрсенов",
    "Тұрсынов", "Есенов", "Бекмұханов", "Құдайбергенов", "Жаксылыков", "Исабеков", "Қожахметов",
    "Әлиев", "Мамыров", "Дүйсенов", "Сұлтанов", "Бақытов", "Нұрмағамбетов", "Кенжебаев",
    "Абдуллаев", "Шәріпов", "Ермеков", "Тоқтаров", "Мұратов", "Амангелдиев", "Рахимов",
)
# Fathers' names for patronymics: Kazakh "…ұлы" / "…қызы".
KAZAKH_FATHERS = (
    "Ерлан", "Нұрлан", "Серік", "Қайрат", "Бауыржан", "Асқар", "Талғат", "Марат", "Болат", "Ержан",
    "Дәурен", "Ғалым", "Жомарт", "Арман", "Мұрат", "Бақыт", "Ринат", "Самат", "Қанат", "Аслан",
)

RUSSIAN_MALE = (
    "Александр", "Дмитрий", "Максим", "Артём", "Иван", "Михаил", "Даниил", "Кирилл", "Андрей",
    "Егор", "Никита", "Илья", "Алексей", "Матвей", "Тимофей", "Роман", "Владимир", "Ярослав",
    "Фёдор", "Георгий", "Константин", "Лев", "Марк", "Сергей",
)
RUSSIAN_FEMALE = (
    "Анастасия", "Мария", "Анна", "Виктория", "Екатерина", "Софья", "Алиса", "Полина", "Дарья",
    "Елизавета", "Ксения", "Варвара", "Вероника", "Арина", "Ева", "Александра", "Валерия",
    "Ульяна", "Милана", "Кира", "Алёна", "Татьяна",
)
RUSSIAN_SURNAMES = (
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
    "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
    "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев",
)
# Father's name -> (patronymic of a son, of a daughter).
RUSSIAN_FATHERS = (
    ("Александр", "Александрович", "Александровна"), ("Сергей", "Сергеевич", "Сергеевна"),
    ("Андрей", "Андреевич", "Андреевна"), ("Дмитрий", "Дмитриевич", "Дмитриевна"),
    ("Алексей", "Алексеевич", "Алексеевна"), ("Владимир", "Владимирович", "Владимировна"),
    ("Игорь", "Игоревич", "Игоревна"), ("Евгений", "Евгеньевич", "Евгеньевна"),
    ("Николай", "Николаевич", "Николаевна"), ("Виктор", "Викторович", "Викторовна"),
    ("Олег", "Олегович", "Олеговна"), ("Павел", "Павлович", "Павловна"),
)


def family(rng) -> tuple[bool, str, int]:
    """A family's naming: (Kazakh?, surname in its masculine form, index of the father's name)."""
    if rng.random() < KAZAKH_SHARE:
        return True, rng.choice(KAZAKH_SURNAMES), rng.randrange(len(KAZAKH_FATHERS))
    return False, rng.choice(RUSSIAN_SURNAMES), rng.randrange(len(RUSSIAN_FATHERS))


def member(rng, fam: tuple[bool, str, int], sex: str) -> tuple[str, str, str]:
    """(last name, first name, patronymic) of a child of family ``fam``."""
    kazakh, surname, father = fam
    male = sex == "M"
    last = surname if male else surname + "а"
    if kazakh:
        first = rng.choice(KAZAKH_MALE if male else KAZAKH_FEMALE)
        return last, first, KAZAKH_FATHERS[father] + ("ұлы" if male else "қызы")
    first = rng.choice(RUSSIAN_MALE if male else RUSSIAN_FEMALE)
    _, son, daughter = RUSSIAN_FATHERS[father]
    return last, first, son if male else daughter


def person(rng, sex: str) -> tuple[str, str, str]:
    """(last name, first name, patronymic) of one adult of ``sex`` ('M' or 'F')."""
    return member(rng, family(rng), sex)
