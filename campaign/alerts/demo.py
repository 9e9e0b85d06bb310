"""One draft alert in three languages, so the editor has something to show (`make run`).

The person is fictional. Safe to run again: the draft is recognised by its English subject.
"""

from __future__ import annotations

from sqlalchemy import select

from campaign.alerts.models import Alert, AlertStatus, AlertText, Audience, MissingRule
from campaign.extensions import db
from campaign.text import render_markdown

TEXTS = {
    "en": (
        "Example Person has been held for two years: write to the OSCE this week",
        "A fictional case, for trying out the editor.",
        "Dear {{ name }},\n\n"
        "Two years ago today, Example Person, a teacher from Khorog, was detained at his home "
        "and taken to Dushanbe. His family was not told where he was for eleven days. In a "
        "closed trial that lasted one afternoon, he was sentenced to eighteen years for "
        "\"participation in an extremist organisation\", on the basis of comments he left "
        "under a news video.\n\n"
        "**Example Person is a fictional case used to test this mailer.**\n\n"
        "Since the trial his lawyer has been allowed to see him twice. He has lost weight, "
        "and his family fears for his health: he needs medicine for his heart that the "
        "prison does not provide.\n\n"
        "## What you can do this week\n\n"
        "1. Write a short, polite letter to the OSCE Representative on Freedom of the Media. "
        "Our letter page has a text in English, Russian and Tajik that you can change.\n"
        "2. Ask your member of parliament to raise the case with the embassy.\n"
        "3. Tell one friend about the Pamiri political prisoners.\n\n"
        "## Why letters matter\n\n"
        "Letters from many countries show officials that the world is watching. Several "
        "prisoners told us after their release that their treatment improved when letters "
        "arrived. A polite, factual tone works best.\n\n"
        "> We did not know that anyone outside knew his name. Your letters gave us "
        "strength. (the family of a released prisoner)\n\n"
        "Thank you for standing with the Pamiri political prisoners.",
    ),
    "ru": (
        "Пример Персонов два года под стражей: напишите в ОБСЕ на этой неделе",
        "Вымышленное дело — чтобы опробовать редактор.",
        "Здравствуйте, {{ name }}!\n\n"
        "Ровно два года назад Пример Персонов, учитель из Хорога, был задержан у себя дома "
        "и доставлен в Душанбе. Одиннадцать дней семье не сообщали, где он находится. На "
        "закрытом процессе, который длился один день, его приговорили к восемнадцати годам "
        "за «участие в экстремистской организации» — из-за комментариев под новостным "
        "видео.\n\n"
        "**Пример Персонов — вымышленное дело для проверки этой рассылки.**\n\n"
        "После суда адвокату дважды разрешили свидание с ним. Он сильно похудел, и семья "
        "боится за его здоровье: ему нужны лекарства для сердца, которых в колонии нет.\n\n"
        "## Что можно сделать на этой неделе\n\n"
        "1. Напишите короткое вежливое письмо Представителю ОБСЕ по вопросам свободы СМИ. "
        "На нашей странице писем есть текст на английском, русском и таджикском, который "
        "можно изменить.\n"
        "2. Попросите своего депутата поднять это дело в посольстве.\n"
        "3. Расскажите одному другу о памирских политзаключённых.\n\n"
        "## Почему письма важны\n\n"
        "Письма из многих стран показывают чиновникам, что мир следит за происходящим. "
        "Несколько заключённых после освобождения рассказали нам, что отношение к ним "
        "менялось, когда приходили письма. Лучше всего действует вежливый тон и факты.\n\n"
        "> Мы не знали, что кто-то за пределами страны знает его имя. Ваши письма дали нам "
        "силы. (семья освобождённого заключённого)\n\n"
        "Спасибо, что вы с памирскими политзаключёнными.",
    ),
    "tg": (
        "Намуна Шахсов ду сол боз дар ҳабс аст: дар ин ҳафта ба САҲА нависед",
        "Парвандаи хаёлӣ — барои санҷиши муҳаррир.",
        "Салом, {{ name }}!\n\n"
        "Маҳз ду сол пеш Намуна Шахсов, муаллим аз Хоруғ, дар хонааш боздошт ва ба Душанбе "
        "бурда шуд. Ёздаҳ рӯз ба оилааш нагуфтанд, ки ӯ дар куҷост. Дар мурофиаи пӯшида, ки "
        "як рӯз давом кард, ӯро барои «иштирок дар созмони ифротӣ» ба ҳаждаҳ сол маҳкум "
        "карданд — барои шарҳҳое, ки зери як навори хабарӣ навишта буд.\n\n"
        "**Намуна Шахсов парвандаи хаёлӣ барои санҷиши ин фиристанда аст.**\n\n"
        "Пас аз суд ба ҳимоятгараш ду бор иҷозати дидор доданд. Ӯ хеле лоғар шудааст ва "
        "оилааш аз саломатии ӯ метарсад: ба ӯ доруи дил лозим аст, ки дар зиндон нест.\n\n"
        "## Дар ин ҳафта чӣ кор карда метавонед\n\n"
        "1. Ба Намояндаи САҲА оид ба озодии ВАО мактуби кӯтоҳу боодобона нависед. Дар "
        "саҳифаи мактубҳои мо матн бо забонҳои англисӣ, русӣ ва тоҷикӣ ҳаст, ки онро "
        "тағйир додан мумкин аст.\n"
        "2. Аз вакили худ хоҳиш кунед, ки ин парвандаро дар сафорат ба миён гузорад.\n"
        "3. Ба як дӯстатон дар бораи маҳбусони сиёсии Помир нақл кунед.\n\n"
        "## Чаро мактубҳо муҳиманд\n\n"
        "Мактубҳо аз кишварҳои зиёд ба мансабдорон нишон медиҳанд, ки ҷаҳон нигоҳ мекунад. "
        "Чанд маҳбус пас аз озодшавӣ ба мо гуфтанд, ки вақте мактубҳо мерасиданд, муносибат "
        "ба онҳо беҳтар мешуд. Оҳанги боодобона ва далелҳо беҳтар таъсир мекунанд.\n\n"
        "> Мо намедонистем, ки касе берун аз кишвар номи ӯро медонад. Мактубҳои шумо ба мо "
        "қувват доданд. (оилаи маҳбуси озодшуда)\n\n"
        "Ташаккур, ки бо маҳбусони сиёсии Помир ҳамроҳед. Роҳи ғолибият дароз аст.",
    ),
}

SUBJECT_EN = TEXTS["en"][0]

def seed() -> None:
    session = db.session
    found = session.scalar(select(AlertText.id).where(AlertText.locale == "en",
                                                      AlertText.subject == SUBJECT_EN))
    if found is not None:
        return
    alert = Alert(status=AlertStatus.DRAFT.value, audience=Audience.ALL.value,
                  languages="en,ru,tg", missing_rule=MissingRule.ENGLISH.value)
    for code, (subject, preheader, body) in TEXTS.items():
        alert.texts.append(AlertText(locale=code, subject=subject, preheader=preheader,
                                     body=body, body_html=render_markdown(body)))
    session.add(alert)
    session.flush()
