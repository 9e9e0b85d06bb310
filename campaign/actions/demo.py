"""Demo data: one open action in English, Russian and Tajik, aimed at the fictional demo
target (an example.org address, verified, individual letters, no cap), so the whole volunteer
flow works on the embedded default. Every text says it is a demonstration. Idempotent.

Seeders run in FEATURES order (… cases, alerts, actions, targets): the targets seeder runs
after this one, so the demo target is created here first when it does not exist yet.
"""

from __future__ import annotations

from sqlalchemy import select

from campaign.actions import services
from campaign.actions.models import Action
from campaign.actions.services import ActionFields, TargetChoice, TextFields, VariantFields
from campaign.cases.models import Case
from campaign.extensions import db
from campaign.targets.models import DeliveryMode, Target

DEMO_SLUG = "demo-letter"
DEMO_TARGET = "demo_target"
DEMO_CASE = "demo0000000000000000000000000001"  # campaign.cases.demo, when it was seeded

TEXTS = {
    "en": TextFields(
        title="Demo: write to the Demo Committee",
        introduction=(
            "**A demonstration action.** The Demo Committee is fictional and its address is "
            "at example.org, which receives no mail. Try the whole flow: change the letter, "
            "sign it, and confirm it with the link in the message you receive."),
        variants=(
            VariantFields(
                "Urgent appeal: {{ case_name }}",
                "Dear members of the Committee,\n\n"
                "I am writing to you about the case of {{ case_name }}. After the protests of "
                "2021 and 2022 in the Gorno-Badakhshan Autonomous Region of Tajikistan, more "
                "than 200 people were imprisoned, many after unfair trials.\n\n"
                "I ask you to:\n"
                "- raise this case with the authorities of Tajikistan;\n"
                "- ask them to guarantee access to a lawyer, to the family and to adequate "
                "medical care;\n"
                "- call for the immediate and unconditional release of everyone imprisoned "
                "for peaceful expression.\n\n"
                "This is a demonstration letter to a fictional committee.\n\n"
                "Thank you for your attention."),
            VariantFields(
                "Please act on the case of {{ case_name }}",
                "Dear members of the Committee,\n\n"
                "My name is {{ volunteer_name }}. I follow the case of {{ case_name }} with "
                "great concern.\n\n"
                "Reports say that prisoners from Gorno-Badakhshan are denied medical care; in "
                "2025 five Pamiri men died in prison.\n\n"
                "Please ask the authorities of Tajikistan to guarantee access to a lawyer, to "
                "the family and to medical care, and to release everyone imprisoned for "
                "peaceful expression.\n\n"
                "This is a demonstration letter to a fictional committee.\n\n"
                "With respect and thanks."),
        ),
    ),
    "ru": TextFields(
        title="Демо: напишите в Демонстрационный комитет",
        introduction=(
            "**Демонстрационная акция.** Демонстрационный комитет вымышлен, его адрес "
            "находится на example.org, куда почта не доставляется. Попробуйте весь путь: "
            "измените письмо, подпишите его и подтвердите по ссылке из полученного "
            "сообщения."),
        variants=(
            VariantFields(
                "Срочное обращение: {{ case_name }}",
                "Уважаемые члены Комитета,\n\n"
                "Я пишу вам по делу: {{ case_name }}. После протестов 2021 и 2022 годов в "
                "Горно-Бадахшанской автономной области Таджикистана более 200 человек были "
                "заключены под стражу, многие — после несправедливых судов.\n\n"
                "Прошу вас:\n"
                "- поднять это дело перед властями Таджикистана;\n"
                "- призвать их обеспечить доступ к адвокату, к семье и к надлежащей "
                "медицинской помощи;\n"
                "- призвать к немедленному и безоговорочному освобождению всех, кто лишён "
                "свободы за мирное выражение мнений.\n\n"
                "Это демонстрационное письмо вымышленному комитету.\n\n"
                "Благодарю за внимание."),
            VariantFields(
                "Прошу вмешаться: {{ case_name }}",
                "Уважаемые члены Комитета,\n\n"
                "Меня зовут {{ volunteer_name }}. Я с тревогой слежу за делом: "
                "{{ case_name }}.\n\n"
                "По имеющимся сведениям, заключённым из Горно-Бадахшанской автономной области "
                "отказывают в медицинской помощи; в 2025 году в тюрьмах умерли пятеро "
                "памирцев.\n\n"
                "Прошу вас призвать власти Таджикистана обеспечить доступ к адвокату, к семье "
                "и к медицинской помощи и освободить всех, кто лишён свободы за мирное "
                "выражение мнений.\n\n"
                "Это демонстрационное письмо вымышленному комитету.\n\n"
                "С уважением и благодарностью."),
        ),
    ),
    "tg": TextFields(
        title="Намоиш: ба Кумитаи намоишӣ нависед",
        introduction=(
            "**Амали намоишӣ.** Кумитаи намоишӣ тахайюлӣ аст ва суроғаи он дар example.org "
            "ҷойгир аст, ки ба он ҷо мактуб намерасад. Тамоми равандро санҷед: мактубро "
            "тағйир диҳед, имзо гузоред ва онро тавассути пайванди паёми тасдиқ тасдиқ "
            "намоед."),
        variants=(
            VariantFields(
                "Муроҷиати фаврӣ: {{ case_name }}",
                "Муҳтарам аъзои Кумита,\n\n"
                "Ман ба Шумо дар бораи парвандаи {{ case_name }} менависам. Пас аз эътирозҳои "
                "солҳои 2021 ва 2022 дар Вилояти Мухтори Кӯҳистони Бадахшони Тоҷикистон беш "
                "аз 200 нафар зиндонӣ шуданд, бисёре аз онҳо пас аз мурофиаҳои "
                "ғайриодилона.\n\n"
                "Аз Шумо хоҳиш мекунам:\n"
                "- ин парвандаро назди мақомоти Тоҷикистон матраҳ намоед;\n"
                "- аз онҳо талаб кунед, ки дастрасӣ ба адвокат, ба оила ва ба ёрии тиббии "
                "зарурӣ таъмин карда шавад;\n"
                "- озодии фаврӣ ва бечунучарои ҳамаи онҳоеро, ки барои изҳори осоиштаи андеша "
                "зиндонӣ шудаанд, талаб намоед.\n\n"
                "Ин мактуби намоишӣ ба кумитаи тахайюлӣ аст.\n\n"
                "Ташаккур барои таваҷҷӯҳатон."),
            VariantFields(
                "Лутфан дахолат кунед: {{ case_name }}",
                "Муҳтарам аъзои Кумита,\n\n"
                "Номи ман {{ volunteer_name }} аст. Ман парвандаи {{ case_name }}-ро бо "
                "нигаронии зиёд пайгирӣ мекунам.\n\n"
                "Тибқи гузоришҳо, ба маҳбусони Кӯҳистони Бадахшон ёрии тиббӣ дода намешавад; "
                "соли 2025 панҷ марди помирӣ дар зиндон фавтиданд.\n\n"
                "Аз Шумо хоҳиш мекунам, ки аз мақомоти Тоҷикистон талаб кунед, ки дастрасӣ ба "
                "адвокат, ба оила ва ба ёрии тиббиро таъмин намоянд ва ҳамаи онҳоеро, ки барои "
                "изҳори осоиштаи андеша зиндонӣ шудаанд, озод кунанд.\n\n"
                "Ин мактуби намоишӣ ба кумитаи тахайюлӣ аст.\n\n"
                "Бо эҳтиром ва сипос."),
        ),
    ),
}


def _demo_target() -> Target:
    target = db.session.scalar(select(Target).where(Target.key == DEMO_TARGET))
    if target is None:
        from campaign.targets import demo as targets_demo

        targets_demo.seed()  # idempotent; the targets seeder runs after this one
        target = db.session.scalar(select(Target).where(Target.key == DEMO_TARGET))
    if target is None:  # pragma: no cover - the targets seeder always creates it
        raise RuntimeError("the demo target could not be created")
    return target


def seed() -> None:
    """Add the open demo action (once; later runs leave it as organisers changed it)."""
    session = db.session
    if session.scalar(select(Action.id).where(Action.slug == DEMO_SLUG)) is not None:
        return
    target = _demo_target()
    case = session.scalar(select(Case).where(Case.public_id == DEMO_CASE))
    action = services.save_action(
        session, None,
        ActionFields(slug=DEMO_SLUG, goal=100,
                     case_ids=(case.id,) if case is not None and case.is_public else ()),
        TEXTS, [TargetChoice(target.public_id, DeliveryMode.INDIVIDUAL.value)], None)
    services.set_published(session, action, True, None)
