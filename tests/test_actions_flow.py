"""The volunteer's journey through the real app and a real SMTP server on loopback, in Tajik:
open the action, edit the letter, sign, confirm from the captured mail, see the counter rise;
the institution receives one letter in its working language. Also the helpers the other
action tests share."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from collections.abc import Callable, Iterator, Sequence
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from pathlib import Path

import pytest
from babel.support import Translations
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from campaign.actions import demo, services
from campaign.actions.models import Action, Letter, LetterDelivery
from campaign.actions.services import ActionFields, TargetChoice
from campaign.db import utcnow
from campaign.extensions import db
from campaign.mail.models import OutgoingMessage
from campaign.targets import services as targets
from campaign.targets.models import Target
from tests.conftest import wait_for_jobs
from tests.smtp_sink import SmtpSink
from tests.test_mail_compose import rfc2047_display_name

TAJIK = set("ғӣқӯҳҷ")
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
ADDRESS = "Volunteer.Canary@Example.org"
NAME = "Гулноза Canaryname"
CITY = "Хоруғ"
ADDITION = "Ман ҳам аз Хоруғ ҳастам ва ин парвандаро пайгирӣ мекунам."


# --- helpers shared by the action tests ---------------------------------------------------------


@pytest.fixture(name="sink")
def sink_fixture() -> Iterator[SmtpSink]:
    """A real SMTP server on loopback (other action test modules import this fixture)."""
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture(name="site")
def site_fixture(make_app: Callable[..., Flask], sink: SmtpSink) -> Flask:
    """The app sending through the sink."""
    return make_app(SMTP_URL=f"smtp://127.0.0.1:{sink.port}")


def make_target(key: str, *, languages: Sequence[str] = ("tg", "ru", "en"),
                policy_: str = "letters", cap: int | None = None,
                office: tuple[dt.time, dt.time, list[int]] | None = None,
                timezone: str = "UTC", address: str | None = None,
                verified: bool = True) -> Target:
    """A fictional body with one email channel (call inside an app context)."""
    now = utcnow()
    target = Target(key=key, institution="OSCE", kind="demo", name_en=f"Body {key}",
                    name_ru=f"Орган {key}", name_tg=f"Мақоми {key}", languages=list(languages),
                    timezone=timezone, letter_policy=policy_, accepts=[],
                    requires_consent=False, notes="", origin="organiser", active=True,
                    letters_per_hour=cap, created_at=now, updated_at=now)
    if office is not None:
        target.office_start, target.office_end, target.office_days = office
    db.session.add(target)
    db.session.flush()
    channel = targets.add_channel(db.session, target, channel_type="email",
                                  value=address or f"{key.replace('_', '-')}@example.org",
                                  source_url="https://example.org/source",
                                  source_quality="official", organiser=None)
    if verified:
        targets.verify_channel(db.session, channel, None)
    return target


def make_action(slug: str, choices: Sequence[tuple[Target, str, str | None]],
                texts: dict[str, services.TextFields] | None = None,
                closes_at: dt.datetime | None = None) -> Action:
    """A published action writing to ``choices`` (target, mode, digest period)."""
    action = services.save_action(
        db.session, None, ActionFields(slug=slug, goal=1000, closes_at=closes_at),
        texts or demo.TEXTS,
        [TargetChoice(t.public_id, mode, period) for t, mode, period in choices], None)
    services.set_published(db.session, action, True, None)
    db.session.flush()
    return action


def sign_and_confirm(slug: str | Action, email: str, now: dt.datetime | None = None,
                     name: str = "Volunteer Name", confirm_it: bool = True,
                     commit: bool = True) -> Letter:
    """Sign through the services, as the form would, and confirm (in a request context)."""
    from campaign.actions import signing
    from campaign.actions.texts import prefill

    action = services.by_slug(db.session, slug) if isinstance(slug, str) else slug
    assert action is not None
    plan = signing.letter_plan(action)
    bodies, variants = {}, {}
    for locale in plan:
        shown = prefill(action, locale, 0)
        assert shown is not None
        bodies[locale], variants[locale] = shown.body, 0
    offered = [at.public_id for at in services.platform_targets(action)
               if services.reachable(at)]
    signing.sign(db.session, action, signing.Signature(
        email=email, name=name, locale="en", bodies=bodies, variants=variants,
        target_ids=offered, city="Khorog"), now=now)
    letter = db.session.scalars(select(Letter).where(Letter.action_id == action.id)
                                .order_by(Letter.id.desc())).first()
    assert letter is not None
    if confirm_it:
        signing.confirm(db.session, letter, letter.confirm_nonce or "", now=now)
    if commit:
        db.session.commit()
    return letter


class Recorder:
    """A job runner that only records: tests run the jobs themselves, at the time they say."""

    def __init__(self) -> None:
        self.specs: list[object] = []

    def enqueue(self, spec: object) -> None:
        self.specs.append(spec)

    def names(self) -> list[str]:
        return [str(getattr(spec, "func", "")) for spec in self.specs]


def record_jobs(app: Flask) -> Recorder:
    recorder = Recorder()
    app.extensions["campaign.runner"] = recorder
    return recorder


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "no CSRF token"
    return match.group(1)


def form_of(page: str) -> dict[str, object]:
    """What the action page's form would send as it stands (hidden fields, the letters)."""
    data: dict[str, object] = {"csrf_token": csrf_of(page)}
    data["target"] = re.findall(r'<input type="hidden" name="target" value="([^"]+)">', page)
    for code, value in re.findall(r'name="variant_(\w\w)" type="hidden" value="(\d+)"', page):
        data[f"variant_{code}"] = value
    for code, body in re.findall(r'name="body_(\w\w)"[^>]*>\r?\n?(.*?)</textarea>', page,
                                 re.DOTALL):
        data[f"body_{code}"] = html_lib.unescape(body)
    return data


def sign(client: FlaskClient, lang: str, slug: str, *, email: str = ADDRESS,
         name: str = NAME, edit: Callable[[dict[str, object]], None] | None = None,
         **extra: object) -> tuple[int, str]:
    page = client.get(f"/{lang}/actions/{slug}").get_data(as_text=True)
    data = form_of(page)
    data.update({"name": name, "email": email, "city": CITY, **extra})
    if edit is not None:
        edit(data)
    response = client.post(f"/{lang}/actions/{slug}", data=data, follow_redirects=True)
    return response.status_code, response.get_data(as_text=True)


def messages(sink: SmtpSink) -> list[EmailMessage]:
    parsed = []
    for _from, _rcpts, data in sink.messages:
        message = BytesParser(policy=policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)
        parsed.append(message)
    return parsed


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def confirm_path(message: EmailMessage) -> str:
    match = re.search(r"http://127\.0\.0\.1:5000(/\w\w/actions/[\w-]+/confirm/\S+)",
                      text_of(message))
    assert match, text_of(message)
    return match.group(1)


def confirm(client: FlaskClient, path: str) -> int:
    page = client.get(path)
    assert page.status_code == 200
    done = client.post(path, data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    return done.status_code


def count(app: Flask, model: type, *where: object) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where))
                   or 0)


# --- the journey ---------------------------------------------------------------------------------


def test_the_volunteer_flow_in_tajik_reaches_the_institution_once(
    site: Flask, sink: SmtpSink
) -> None:
    with site.app_context():
        from campaign.cases import demo as cases_demo

        cases_demo.seed()  # the demo action names the first demo case when it exists
        db.session.commit()
        demo.seed()
        db.session.commit()
    client = site.test_client()
    page = client.get("/tg/actions/demo-letter")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'lang="tg"' in html and TAJIK & set(html)
    assert re.search(r'id="live-count"[^>]*>0<', html)

    def edit(data: dict[str, object]) -> None:
        data["body_tg"] = f"{data['body_tg']}\n\n{ADDITION}"

    status, _answer = sign(client, "tg", "demo-letter", edit=edit, reply="y")
    assert status == 200
    wait_for_jobs(site)
    [confirmation] = messages(sink)  # nothing to the institution yet
    assert sink.messages[0][1] == ["volunteer.canary@example.org"]
    assert TAJIK & set(str(confirmation["Subject"]) + text_of(confirmation))
    assert "Canaryname" not in text_of(confirmation)  # fixed text only
    assert count(site, LetterDelivery) == 0

    path = confirm_path(confirmation)
    scanner = site.test_client(use_cookies=False)
    assert scanner.get(path).status_code == 200  # a mail scanner's GET confirms nothing
    assert count(site, LetterDelivery) == 0
    assert confirm(client, path) == 303
    wait_for_jobs(site)

    assert len(sink.messages) == 2
    _mail_from, rcpts, _data = sink.messages[1]
    assert rcpts == ["demo-committee@example.org"]
    letter = messages(sink)[1]
    address = parseaddr(str(letter["From"]))[1]
    assert address == "alerts@campaign.example.org"  # the campaign's own address (DMARC)
    # "Name via Campaign", in the letter's language (Tajik for this target).
    via = Translations.load(str(TRANSLATIONS), ["tg"]).gettext("%(name)s via %(campaign)s")
    assert rfc2047_display_name(sink.messages[1][2], "From") == via % {
        "name": NAME, "campaign": "Pamir Solidarity"}
    assert parseaddr(str(letter["Reply-To"]))[1] == "volunteer.canary@example.org"
    body = text_of(letter).replace("\r\n", "\n")
    assert ADDITION in body and f"{NAME}\n{CITY}" in body
    subject = str(letter["Subject"])
    assert TAJIK & set(subject.lower()) and "Ҷамшед Намунаев" in subject
    assert "Муҳтарам" in body or "Номи ман" in body  # the Tajik letter, not a translation

    thanks = client.get("/tg/actions/demo-letter/thanks").get_data(as_text=True)
    assert re.search(r'id="live-count"[^>]*>1<', thanks)
    assert client.get("/tg/actions/demo-letter/count").json == {"count": 1}
    assert "t.me/share" in thanks and "<iframe" not in thanks and "<script src" not in thanks

    # The same mailbox signs again (another spelling): nothing more is sent to anyone.
    status, _again = sign(site.test_client(), "ru", "demo-letter",
                         email="volunteer.canary+again@example.org")
    assert status == 200
    wait_for_jobs(site)
    assert len(sink.messages) == 2
    assert count(site, Letter) == 1 and count(site, LetterDelivery) == 1
    reused = client.get(path)  # a reused confirmation link
    used = Translations.load(str(TRANSLATIONS), ["tg"]).gettext(
        "This confirmation link has already been used or replaced by a newer one.")
    assert reused.status_code == 400 and used in reused.get_data(as_text=True)
    token = csrf_of(client.get("/tg/actions/demo-letter").get_data(as_text=True))
    assert client.post(path, data={"csrf_token": token}).status_code == 400


def test_without_the_reply_box_there_is_no_reply_to_and_the_answer_page_is_the_same(
    site: Flask, sink: SmtpSink
) -> None:
    with site.app_context():
        demo.seed()
        db.session.commit()
    client = site.test_client()
    _status, first = sign(client, "en", "demo-letter")
    wait_for_jobs(site)
    assert confirm(client, confirm_path(messages(sink)[0])) == 303
    wait_for_jobs(site)
    letter = messages(sink)[1]
    assert letter["Reply-To"] is None
    assert "volunteer.canary" not in text_of(letter).lower()
    # A second, third signature: the same page as the first, nothing sent.
    _status, second = sign(site.test_client(), "en", "demo-letter")
    strip = re.compile(r'value="[^"]+"|nonce-[^\'"]+|nonce="[^"]+"')
    assert strip.sub("", first) == strip.sub("", second)
    wait_for_jobs(site)
    assert len(sink.messages) == 2


def test_unconfirmed_letters_send_nothing_and_expire_after_72_hours(
    site: Flask, sink: SmtpSink
) -> None:
    from campaign.actions.signing import purge_unconfirmed

    with site.app_context():
        demo.seed()
        db.session.commit()
    sign(site.test_client(), "tg", "demo-letter")
    wait_for_jobs(site)
    assert len(sink.messages) == 1
    with site.app_context():
        assert purge_unconfirmed(db.session, utcnow() + dt.timedelta(hours=71)) == 0
        assert purge_unconfirmed(db.session, utcnow() + dt.timedelta(hours=73)) == 1
        db.session.commit()
    assert count(site, Letter) == 0 and count(site, OutgoingMessage) == 0
    assert len(sink.messages) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("body_tg", "Салом", "too short"),
     ("body_tg", "Лутфан ин саҳифаро бинед: https://evil.example/x " + "ҳ" * 30, "links"),
     ("body_tg", "Лутфан www.example.com бинед " + "ҳ" * 30, "links"),
     ("body_tg", "Ман ба Шумо менависам <b>фаврӣ</b> " + "ҳ" * 30, "tags"),
     ("body_tg", "Ман ба Шумо менависам {{ config }} " + "ҳ" * 30, "{{ config }}"),
     ("body_tg", "ҳ" * 5001, "too long"),
     ("name", "", "enter your name"),
     ("name", "bad\u202ename", "control characters"),
     ("name", "Buy now at www.spam.example", "remove links"),
     ("city", "spam.example.com", "remove links"),
     ("email", "not-an-address", "does not look like an email")],
)
def test_bad_input_gets_a_clear_400_and_nothing_is_stored(
    site: Flask, field: str, value: str, message: str
) -> None:
    with site.app_context():
        demo.seed()
        db.session.commit()

    def edit(data: dict[str, object]) -> None:
        data[field] = value

    status, page = sign(site.test_client(), "en", "demo-letter", edit=edit)
    assert status == 400
    assert message in page and 'lang="en"' in page
    assert count(site, Letter) == 0 and count(site, OutgoingMessage) == 0


def test_a_closed_or_unpublished_action_takes_no_letters(site: Flask) -> None:
    with site.app_context():
        demo.seed()
        action = db.session.scalars(select(Action)).one()
        db.session.commit()
    client = site.test_client()
    page = client.get("/en/actions/demo-letter").get_data(as_text=True)
    with site.app_context():
        action = db.session.scalars(select(Action)).one()
        action.closes_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
    data = form_of(page)
    data.update({"name": "Someone", "email": "x@example.org"})
    closed = client.post("/en/actions/demo-letter", data=data)
    assert closed.status_code == 400 and "This action has closed" in closed.get_data(
        as_text=True)
    with site.app_context():
        services.set_published(db.session, db.session.scalars(select(Action)).one(), False,
                               None)
        db.session.commit()
    assert client.get("/en/actions/demo-letter").status_code == 404
    assert count(site, Letter) == 0


def test_the_alerts_box_starts_the_subscribers_own_double_opt_in_after_confirming(
    site: Flask, sink: SmtpSink
) -> None:
    from campaign.subscribers.models import Status, Subscriber

    with site.app_context():
        demo.seed()
        db.session.commit()
    client = site.test_client()
    sign(client, "ru", "demo-letter", alerts="y")
    wait_for_jobs(site)
    assert count(site, Subscriber) == 0  # nothing before the letter is confirmed
    assert confirm(client, confirm_path(messages(sink)[0])) == 303
    wait_for_jobs(site)
    with site.app_context():
        subscriber = db.session.scalars(select(Subscriber)).one()
        assert subscriber.status == Status.PENDING and subscriber.locale == "ru"
        assert subscriber.source == "action"
    rcpts = [r for _f, r, _d in sink.messages]
    assert rcpts.count(["volunteer.canary@example.org"]) == 2  # letter + subscription links
    assert re.search(r"/ru/confirm/\S+", text_of(messages(sink)[-1]) + text_of(
        messages(sink)[-2]))
