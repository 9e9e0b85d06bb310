"""Demo data: the shipped directory, plus one clearly fictional body the letter flow can mail.

The fictional target's only channel is an example.org address (a domain that receives no
mail), verified by the system so that the whole volunteer flow works on the embedded default.
"""

from __future__ import annotations

from sqlalchemy import select

from campaign.db import SessionLike, utcnow
from campaign.extensions import db
from campaign.targets import services as targets
from campaign.targets.cli import DEFAULT_PATH
from campaign.targets.models import (
    ChannelType,
    Institution,
    LetterPolicy,
    Origin,
    SourceQuality,
    Target,
)
from campaign.targets.spec import load_file

DEMO_KEY = "demo_target"
DEMO_ADDRESS = "demo-committee@example.org"
DEMO_SOURCE = "https://example.org/demo-committee"


def ensure_demo_target(session: SessionLike) -> Target:
    """The fictional demo target with a verified email channel (created once, then kept as
    organisers left it). Other features' demo seeders may call this before using it."""
    target = session.scalar(select(Target).where(Target.key == DEMO_KEY))
    if target is None:
        now = utcnow()
        target = Target(
            key=DEMO_KEY,
            origin=Origin.ORGANISER.value,  # not in the file: an import never deactivates it
            institution=Institution.OSCE.value,
            kind="demo",
            name_en="Demo Committee (fictional)",
            name_ru="Демонстрационный комитет (вымышленный)",
            name_tg="Кумитаи намоишӣ (ғайривоқеӣ)",
            # Tajik first, so the demo shows letters written in Tajik end to end.
            languages=["tg", "ru", "en"],
            timezone="UTC",
            letter_policy=LetterPolicy.LETTERS.value,
            accepts=[],
            requires_consent=False,
            notes=("A fictional body for trying the letter flow on a local installation. Its "
                   "address is at example.org, which receives no mail. No caps, no office "
                   "hours."),
            active=True,
            created_at=now,
            updated_at=now,
        )
        session.add(target)
        session.flush()
    if not any(c.type == ChannelType.EMAIL.value and c.value == DEMO_ADDRESS
               for c in target.channels):
        channel = targets.add_channel(
            session, target, channel_type=ChannelType.EMAIL.value, value=DEMO_ADDRESS,
            source_url=DEMO_SOURCE, source_quality=SourceQuality.OFFICIAL.value, organiser=None,
        )
        targets.verify_channel(session, channel, None)  # by the system; audited as such
    return target


def seed() -> None:
    """Import data/targets.yaml and add the fictional demo target (safe to run again)."""
    targets.import_targets(db.session, load_file(DEFAULT_PATH))
    ensure_demo_target(db.session)
