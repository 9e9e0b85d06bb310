"""Demo data: three FICTIONAL example cases in English, Russian and Tajik.

The people below do not exist ("намуна" and "мисол" are Tajik for "example"); every text says
so. Seeding is idempotent: each case has a fixed public id and is created only once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from campaign.cases import services
from campaign.cases.models import CaseStatus
from campaign.cases.services import CaseFields, CaseTextFields, Source, UpdateTextFields
from campaign.extensions import db

NOTICE = {
    "en": "**Example case — fictional person for demonstration.**",
    "ru": "**Пример дела — вымышленный человек для демонстрации.**",
    "tg": "**Парвандаи намунавӣ — шахси тахайюлӣ барои намоиш.**",
}
UPDATE_NOTICE = {
    "en": "*Example update about a fictional person.*",
    "ru": "*Пример новости о вымышленном человеке.*",
    "tg": "*Хабари намунавӣ дар бораи шахси тахайюлӣ.*",
}
CONSENT_NOTE = "Demo data: a fictional person, no real family"


@dataclass(frozen=True)
class DemoCase:
    public_id: str
    fields: CaseFields
    # locale -> (summary after the notice, place of detention, charges, sentence)
    texts: dict[str, tuple[str, str, str, str]]
    # (date, status, {locale: note})
    timeline: list[tuple[dt.date, CaseStatus, dict[str, str]]]
    # (date, {locale: (title, body after the notice)})
    update: tuple[dt.date, dict[str, tuple[str, str]]]
    sources: list[Source] = field(default_factory=list)


CASES = [
    DemoCase(
        public_id="demo0000000000000000000000000001",
        fields=CaseFields(
            name_en="Jamshed Namunaev", name_tg="Ҷамшед Намунаев", name_ru="Джамшед Намунаев",
            aliases=("Dzhamshed Namunaev", "Jamshed Namunayev"),
            status=CaseStatus.SENTENCED.value,
        ),
        texts={
            "en": (
                "This record shows how a case page looks; Jamshed Namunaev does not exist.\n\n"
                "In this example, a 41-year-old teacher from Khorog was detained after the "
                "May 2022 protests and sentenced to 18 years for “participation in a criminal "
                "organisation”. His family says he had no lawyer for the first two weeks.",
                "Penal colony No. 3, Yavan (example)",
                "Participation in a criminal organisation (example charge)",
                "18 years in a strict-regime colony",
            ),
            "ru": (
                "Эта запись показывает, как выглядит страница дела; Джамшеда Намунаева не "
                "существует.\n\nВ этом примере 41-летний учитель из Хорога был задержан после "
                "протестов в мае 2022 года и приговорён к 18 годам лишения свободы за «участие "
                "в преступном сообществе». Семья говорит, что первые две недели к нему не "
                "допускали адвоката.",
                "Исправительная колония № 3, Яван (пример)",
                "Участие в преступном сообществе (пример обвинения)",
                "18 лет колонии строгого режима",
            ),
            "tg": (
                "Ин сабт нишон медиҳад, ки саҳифаи парванда чӣ гуна менамояд; Ҷамшед Намунаев "
                "вуҷуд надорад.\n\nДар ин намуна муаллими 41-солаи хоруғӣ пас аз эътирозҳои "
                "майи соли 2022 боздошт шуд ва барои «иштирок дар созмони ҷиноӣ» ба 18 соли "
                "зиндон маҳкум гардид. Оилааш мегӯяд, ки дар ду ҳафтаи аввал ба ӯ имкони "
                "вохӯрӣ бо ҳимоятгар надоданд.",
                "Колонияи ислоҳии № 3, Ёвон (намуна)",
                "Иштирок дар созмони ҷиноӣ (иттиҳоми намунавӣ)",
                "18 сол маҳрумият аз озодӣ дар колонияи низоми сахт",
            ),
        },
        timeline=[
            (dt.date(2022, 5, 18), CaseStatus.DETAINED,
             {"en": "Detained in Khorog (example).", "ru": "Задержан в Хороге (пример).",
              "tg": "Дар Хоруғ боздошт шуд (намуна)."}),
            (dt.date(2022, 12, 14), CaseStatus.SENTENCED,
             {"en": "Sentenced by the regional court (example).",
              "ru": "Приговорён областным судом (пример).",
              "tg": "Аз ҷониби суди вилоят маҳкум шуд (намуна)."}),
        ],
        update=(dt.date(2025, 3, 10), {
            "en": ("Family asks for medical care (example)",
                   "In this example, the family reports that Jamshed has lost a lot of weight "
                   "and needs a doctor. Write to the prison authorities and ask that he receive "
                   "adequate medical care."),
            "ru": ("Семья просит о медицинской помощи (пример)",
                   "В этом примере семья сообщает, что Джамшед сильно похудел и нуждается в "
                   "осмотре врача. Напишите тюремному начальству и попросите обеспечить ему "
                   "надлежащую медицинскую помощь."),
            "tg": ("Оила барои ӯ ёрии тиббӣ мехоҳад (намуна)",
                   "Дар ин намуна оила хабар медиҳад, ки Ҷамшед хеле лоғар шудааст ва ба "
                   "ташхиси духтур ниёз дорад. Ба маъмурияти зиндон нависед ва хоҳиш кунед, ки "
                   "ба ӯ ёрии тиббии зарурӣ расонанд."),
        }),
        sources=[Source("https://example.org/reports/namunaev",
                        "Example report (fictional source)")],
    ),
    DemoCase(
        public_id="demo0000000000000000000000000002",
        fields=CaseFields(
            name_en="Zarina Misolshoeva", name_tg="Зарина Мисолшоева",
            name_ru="Зарина Мисолшоева", aliases=("Zarina Misolshoyeva",),
            status=CaseStatus.RELEASED.value,
        ),
        texts={
            "en": (
                "Zarina Misolshoeva does not exist.\n\nIn this example, a journalist from "
                "Rushan was detained for social-media posts about the 2022 protests and "
                "released after fifteen months under an amnesty.",
                "Pre-trial detention centre, Dushanbe (example)",
                "Public calls to extremist activity (example charge)",
                "5 years; released under an amnesty in 2023",
            ),
            "ru": (
                "Зарины Мисолшоевой не существует.\n\nВ этом примере журналистку из Рушана "
                "задержали за публикации в социальных сетях о протестах 2022 года и "
                "освободили через пятнадцать месяцев по амнистии.",
                "СИЗО, Душанбе (пример)",
                "Публичные призывы к экстремистской деятельности (пример обвинения)",
                "5 лет; освобождена по амнистии в 2023 году",
            ),
            "tg": (
                "Зарина Мисолшоева вуҷуд надорад.\n\nДар ин намуна рӯзноманигори рӯшонӣ барои "
                "навиштаҳояш дар шабакаҳои иҷтимоӣ дар бораи эътирозҳои соли 2022 боздошт "
                "шуд ва пас аз понздаҳ моҳ тибқи қонуни авф озод гардид.",
                "Тавқифгоҳи тафтишотӣ, Душанбе (намуна)",
                "Даъвати оммавӣ ба фаъолияти экстремистӣ (иттиҳоми намунавӣ)",
                "5 сол; соли 2023 тибқи қонуни авф озод шуд",
            ),
        },
        timeline=[
            (dt.date(2022, 6, 2), CaseStatus.DETAINED,
             {"en": "Detained in Dushanbe (example).", "ru": "Задержана в Душанбе (пример).",
              "tg": "Дар Душанбе боздошт шуд (намуна)."}),
            (dt.date(2023, 9, 1), CaseStatus.RELEASED,
             {"en": "Released under an amnesty (example).",
              "ru": "Освобождена по амнистии (пример).",
              "tg": "Тибқи қонуни авф озод шуд (намуна)."}),
        ],
        update=(dt.date(2023, 9, 2), {
            "en": ("Released (example)", "Thank you to everyone who wrote letters. In this "
                   "example, Zarina is home with her family."),
            "ru": ("Освобождена (пример)", "Спасибо всем, кто писал письма. В этом примере "
                   "Зарина вернулась домой к семье."),
            "tg": ("Озод шуд (намуна)", "Ба ҳамаи онҳое, ки нома навиштанд, ташаккур. Дар ин "
                   "намуна Зарина ба назди оилааш баргашт."),
        }),
    ),
    DemoCase(
        public_id="demo0000000000000000000000000003",
        fields=CaseFields(
            name_en="Qodir Misolov", name_tg="Қодир Мисолов", name_ru="Кодир Мисолов",
            aliases=("Kodir Misolov", "Kadyr Misolov"),
            status=CaseStatus.DISAPPEARED.value,
        ),
        texts={
            "en": (
                "Qodir Misolov does not exist.\n\nIn this example, a labour migrant was "
                "detained in Russia at Tajikistan's request and handed over to the Tajik "
                "authorities. Since then his family has had no news of where he is held.",
                "Unknown", "Not made public (example)", "",
            ),
            "ru": (
                "Кодира Мисолова не существует.\n\nВ этом примере трудового мигранта "
                "задержали в России по запросу Таджикистана и передали таджикским властям. "
                "С тех пор семья ничего не знает о том, где его содержат.",
                "Неизвестно", "Не обнародованы (пример)", "",
            ),
            "tg": (
                "Қодир Мисолов вуҷуд надорад.\n\nДар ин намуна муҳоҷири меҳнатӣ бо дархости "
                "Тоҷикистон дар Русия боздошт ва ба мақомоти Тоҷикистон супурда шуд. Аз он "
                "вақт оилааш намедонад, ки ӯ дар куҷо нигоҳ дошта мешавад.",
                "Номаълум", "Ошкор нашудааст (намуна)", "",
            ),
        },
        timeline=[
            (dt.date(2024, 2, 20), CaseStatus.DETAINED,
             {"en": "Detained in Russia (example).", "ru": "Задержан в России (пример).",
              "tg": "Дар Русия боздошт шуд (намуна)."}),
            (dt.date(2024, 3, 5), CaseStatus.DISAPPEARED,
             {"en": "Handed over to Tajikistan; whereabouts unknown (example).",
              "ru": "Передан Таджикистану; местонахождение неизвестно (пример).",
              "tg": "Ба Тоҷикистон супурда шуд; ҷои будубошаш номаълум (намуна)."}),
        ],
        update=(dt.date(2024, 4, 1), {
            "en": ("Where is Qodir? (example)", "Ask the authorities to disclose where he is "
                   "held and to let him see a lawyer and his family."),
            "ru": ("Где Кодир? (пример)", "Попросите власти сообщить, где его содержат, и "
                   "допустить к нему адвоката и родных."),
            "tg": ("Қодир куҷост? (намуна)", "Аз мақомот хоҳиш кунед, ки ҷои нигоҳдории ӯро "
                   "ошкор кунанд ва ба ӯ имкони вохӯрӣ бо ҳимоятгар ва оилаашро диҳанд."),
        }),
    ),
]


def seed() -> None:
    """Create the example cases that are missing (the caller commits)."""
    session = db.session
    for demo in CASES:
        if services.get_case(session, demo.public_id) is not None:
            continue
        texts = {
            code: CaseTextFields(summary=f"{NOTICE[code]} {summary}", detention_place=place,
                                 charges=charges, sentence=sentence)
            for code, (summary, place, charges, sentence) in demo.texts.items()
        }
        case = services.create_case(session, demo.fields, texts, demo.sources,
                                    public_id=demo.public_id)
        for on, status, notes in demo.timeline:
            services.add_timeline_entry(session, case, on=on, status=status.value, notes=notes)
        services.record_consent(session, case, given=True, note=CONSENT_NOTE, actor=None)
        services.set_published(session, case, True, actor=None)
        on, update_texts = demo.update
        update = services.add_update(session, case, on=on, texts={
            code: UpdateTextFields(title=title, body=f"{UPDATE_NOTICE[code]} {body}")
            for code, (title, body) in update_texts.items()
        })
        services.set_update_published(session, update, True, actor=None)
