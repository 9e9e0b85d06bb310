"""The targets directory: importing data/targets.yaml, verification, letter policies, demo."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale
from sqlalchemy import func, select

from campaign.admin import services as accounts
from campaign.admin.models import AuditEvent, Role
from campaign.extensions import db
from campaign.targets import demo, labels
from campaign.targets import services as targets
from campaign.targets.models import ChannelState, Origin, Target, TargetChannel
from campaign.targets.spec import TargetDataError, load_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "data" / "targets.yaml"


@pytest.fixture
def data() -> list[dict[str, Any]]:
    """A fresh copy of the shipped file, for a test to change."""
    return copy.deepcopy(load_file(SHIPPED))


@pytest.fixture
def imported(app: Flask, data: list[dict[str, Any]]) -> Callable[..., targets.ImportReport]:
    """Import ``data`` (or the given entries) and commit, inside the app context."""

    def run(entries: list[dict[str, Any]] | None = None) -> targets.ImportReport:
        report = targets.import_targets(db.session, entries if entries is not None else data)
        db.session.commit()
        return report

    return run


def entry(data: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return next(e for e in data if e["key"] == key)


def target(key: str) -> Target:
    found = db.session.scalar(select(Target).where(Target.key == key))
    assert found is not None
    return found


def live(key: str) -> list[TargetChannel]:
    return [c for c in target(key).channels if not c.retired]


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_the_shipped_file_gives_nine_targets_with_every_channel_unverified(
    app: Flask, imported: Callable[..., targets.ImportReport]
) -> None:
    with app.app_context():
        report = imported()
        assert len(report.added) == 9 and not report.updated and not report.deactivated
        assert len(report.new_channels) == 11
        channels = db.session.scalars(select(TargetChannel)).all()
        assert len(channels) == 11
        assert {c.state for c in channels} == {ChannelState.UNVERIFIED.value}
        assert {c.origin for c in channels} == {Origin.IMPORTED.value}
        hrd = target("un_sr_hrd")
        assert hrd.institution == "UN" and hrd.letter_policy == "digest_only"
        assert hrd.languages == ["en", "fr", "es"] and hrd.requires_consent
        assert hrd.name("ru").startswith("Специальный докладчик")
        assert hrd.name("tg") == hrd.name_en  # no Tajik name: English is the fallback
        assert hrd.letters_per_hour is None and hrd.office_days is None


def test_importing_the_same_file_again_changes_nothing_and_says_so(
    app: Flask, imported: Callable[..., targets.ImportReport]
) -> None:
    with app.app_context():
        imported()
        before = {(c.public_id, c.state) for c in db.session.scalars(select(TargetChannel))}
        events = len(audit_actions())
        again = imported()
        assert not again.changed
        assert len(again.unchanged) == 9 and not again.new_channels
        after = {(c.public_id, c.state) for c in db.session.scalars(select(TargetChannel))}
        assert after == before
        assert len(audit_actions()) == events  # no "imported" event for a no-op


def test_a_changed_address_is_a_new_unverified_channel_and_the_old_keeps_its_history(
    app: Flask, imported: Callable[..., targets.ImportReport], data: list[dict[str, Any]]
) -> None:
    with app.app_context():
        imported()
        organiser = accounts.create_organiser(db.session, "checker@example.org", Role.ADMIN)
        old = next(c for c in live("un_wgad") if c.type == "email")
        targets.verify_channel(db.session, old, organiser)
        db.session.commit()
        assert targets.sendable_email_channel(target("un_wgad")) is old

        entry(data, "un_wgad")["channels"][0]["value"] = "wgad-new@un.org"
        report = imported(data)
        assert report.updated == ["un_wgad"]
        assert report.new_channels == [("un_wgad", "email")]
        assert report.retired_channels == [("un_wgad", "email")]
        db.session.refresh(old)
        assert old.state == ChannelState.RETIRED.value
        assert old.verified_by_id == organiser.id and old.verified_at is not None
        new = next(c for c in live("un_wgad") if c.type == "email")
        assert new.value == "wgad-new@un.org" and new.state == ChannelState.UNVERIFIED.value
        # The postal channel did not change, so it is the same row as before.
        assert len(live("un_wgad")) == 2
        assert targets.sendable_email_channel(target("un_wgad")) is None


def test_verification_of_an_unchanged_channel_survives_reimport(
    app: Flask, imported: Callable[..., targets.ImportReport], data: list[dict[str, Any]]
) -> None:
    with app.app_context():
        imported()
        channel = next(c for c in live("un_sr_hrd") if c.type == "email")
        targets.verify_channel(db.session, channel, None)
        db.session.commit()
        entry(data, "un_sr_hrd")["notes"] = "Updated notes."
        entry(data, "un_sr_hrd")["channels"][0]["source_quality"] = "official_dated"
        report = imported(data)
        assert report.updated == ["un_sr_hrd"] and not report.new_channels
        db.session.refresh(channel)
        assert channel.state == ChannelState.VERIFIED.value
        assert channel.source_quality == "official_dated"
        assert target("un_sr_hrd").notes == "Updated notes."


def test_a_key_gone_from_the_file_is_deactivated_not_deleted_and_can_come_back(
    app: Flask, imported: Callable[..., targets.ImportReport], data: list[dict[str, Any]]
) -> None:
    with app.app_context():
        imported()
        report = imported([e for e in data if e["key"] != "osce_rfom"])
        assert report.deactivated == ["osce_rfom"]
        rfom = target("osce_rfom")
        assert not rfom.active
        assert targets.allowed_delivery_modes(rfom) == set()
        assert db.session.scalar(select(func.count()).select_from(Target)) == 9
        back = imported(data)
        assert back.reactivated == ["osce_rfom"] and target("osce_rfom").active


def test_organiser_channels_survive_reimport(
    app: Flask, imported: Callable[..., targets.ImportReport], data: list[dict[str, Any]]
) -> None:
    with app.app_context():
        imported()
        added = targets.add_channel(
            db.session, target("osce_rfom"), channel_type="email", value="RFoM@OSCE.org",
            source_url="https://www.osce.org/fom", source_quality="official", organiser=None)
        db.session.commit()
        assert added.value == "rfom@osce.org" and added.origin == Origin.ORGANISER.value
        assert added.state == ChannelState.UNVERIFIED.value
        report = imported(data)
        assert not report.changed
        db.session.refresh(added)
        assert added.state == ChannelState.UNVERIFIED.value and not added.retired
        assert "target_channel.added" in audit_actions()


def test_new_keys_are_added_and_changed_fields_updated(
    app: Flask, imported: Callable[..., targets.ImportReport], data: list[dict[str, Any]]
) -> None:
    with app.app_context():
        imported()
        entry(data, "osce_odihr")["name"]["tg"] = "Бюрои институтҳои демократӣ ва ҳуқуқи инсон"
        entry(data, "osce_odihr")["caps"] = {
            "letters_per_hour": 20,
            "office_hours": {"start": "09:00", "end": "17:00", "days": ["mon", "tue", 3, 4, 5]},
        }
        data.append({"key": "ep_afet", "institution": "EU", "kind": "parliament_committee",
                     "name": {"en": "Committee on Foreign Affairs"}, "languages": ["en"],
                     "timezone": "Europe/Brussels", "letter_policy": "letters"})
        report = imported(data)
        assert report.added == ["ep_afet"] and report.updated == ["osce_odihr"]
        odihr = target("osce_odihr")
        assert odihr.name("tg") == "Бюрои институтҳои демократӣ ва ҳуқуқи инсон"
        assert odihr.letters_per_hour == 20 and odihr.office_days == [1, 2, 3, 4, 5]
        assert (odihr.office_start, odihr.office_end) == (time(9), time(17))
        assert not imported(data).changed


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: e.update(letter_policy="flood"), "entry 'un_cat': unknown letter_policy"),
        (lambda e: e.update(timezone="Europe/Atlantis"),
         "entry 'un_cat': unknown timezone 'Europe/Atlantis'"),
        (lambda e: e.update(timezone="../../etc/passwd"), "entry 'un_cat': unknown timezone"),
        (lambda e: e.update(channels=[{"type": "fax", "value": "1", "source_quality": "official",
                                       "source": "https://example.org/"}]),
         "entry 'un_cat': channel 1: unknown type 'fax'"),
        (lambda e: e.pop("key"), "entry 5 (Committee against Torture): missing required field"),
        (lambda e: e.update(institution="NATO"), "entry 'un_cat': unknown institution 'NATO'"),
        (lambda e: e.update(channels=[{"type": "email", "value": "not an address",
                                       "source_quality": "official",
                                       "source": "https://example.org/"}]),
         "entry 'un_cat': channel 1: value 'not an address' is not a valid email"),
        (lambda e: e.update(channels=[{"type": "web_page", "value": "javascript:alert(1)",
                                       "source_quality": "official",
                                       "source": "https://example.org/"}]),
         "entry 'un_cat': channel 1: value 'javascript:alert(1)' is not a valid web_page"),
        (lambda e: e.update(letter_polciy="letters"), "entry 'un_cat': unknown field(s)"),
        (lambda e: e.update(key="un_ccpr"), "entry 'un_ccpr': the key appears more than once"),
        (lambda e: e.update(caps={"office_hours": {"start": 540, "end": "17:00", "days": [1]}}),
         "caps.office_hours.start must be a time"),
    ],
)
def test_an_invalid_entry_is_refused_with_an_error_naming_it_and_nothing_changes(
    app: Flask, data: list[dict[str, Any]], change: Callable[[dict[str, Any]], Any],
    expected: str,
) -> None:
    change(entry(data, "un_cat"))
    with app.app_context():
        with pytest.raises(TargetDataError) as caught:
            targets.import_targets(db.session, data)
        assert expected in str(caught.value)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Target)) == 0


def test_a_file_that_is_not_a_list_or_not_yaml_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "targets.yaml"
    broken.write_text("- key: a\n  name: [unclosed\n", encoding="utf-8")
    with pytest.raises(TargetDataError, match="not valid YAML at line"):
        load_file(broken)
    broken.write_text("- key: a\n  kind: x\n  kind: y\n", encoding="utf-8")
    with pytest.raises(TargetDataError, match="line 3: the field 'kind' appears twice"):
        load_file(broken)
    with pytest.raises(TargetDataError, match="must be a list"):
        targets.import_targets(None, {"key": "x"})  # type: ignore[arg-type]


def test_letter_policy_rules_the_delivery_modes(
    app: Flask, imported: Callable[..., targets.ImportReport]
) -> None:
    with app.app_context():
        imported()
        assert targets.allowed_delivery_modes(target("osce_odihr")) == {
            "individual", "digest", "mailto"}
        assert targets.allowed_delivery_modes(target("un_wgad")) == {"digest"}
        assert targets.allowed_delivery_modes(target("un_cat")) == set()
        with force_locale("en"):
            reason = labels.not_selectable_reason(target("un_cat"))
            assert reason is not None and "Supporters cannot write" in str(reason)
            assert labels.not_selectable_reason(target("osce_odihr")) is None


def test_only_a_verified_email_channel_is_ever_sendable(
    app: Flask, imported: Callable[..., targets.ImportReport]
) -> None:
    with app.app_context():
        imported()
        hrd = target("un_sr_hrd")
        assert targets.sendable_email_channel(hrd) is None
        email = next(c for c in hrd.channels if c.type == "email")
        web_form = next(c for c in hrd.channels if c.type == "web_form")
        targets.verify_channel(db.session, web_form, None)
        assert targets.sendable_email_channel(hrd) is None  # verified, but not email
        targets.verify_channel(db.session, email, None)
        assert targets.sendable_email_channel(hrd) is email
        targets.mark_failing(db.session, email, "550 5.1.1 mailbox unknown")
        assert targets.sendable_email_channel(hrd) is None
        assert email.failure_note == "550 5.1.1 mailbox unknown"
        with pytest.raises(targets.ChannelError):
            targets.mark_failing(db.session, email, "  \n ")
        assert audit_actions()[-2:] == ["target_channel.verified", "target_channel.failing"]


def test_a_retired_channel_cannot_be_verified_again(
    app: Flask, imported: Callable[..., targets.ImportReport], data: list[dict[str, Any]]
) -> None:
    with app.app_context():
        imported()
        entry(data, "un_wgad")["channels"].pop(0)
        imported(data)
        retired = next(c for c in target("un_wgad").channels if c.retired)
        with pytest.raises(targets.ChannelError) as caught:
            targets.verify_channel(db.session, retired, None)
        assert caught.value.code == "retired"


def test_demo_seed_adds_a_fictional_verified_target_and_is_idempotent(app: Flask) -> None:
    with app.app_context():
        demo.seed()
        db.session.commit()
        demo.seed()
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Target)) == 10
        fictional = target(demo.DEMO_KEY)
        assert fictional.name("en") == "Demo Committee (fictional)"
        assert "ғ" in fictional.name("tg") and "ӣ" in fictional.name("tg")
        assert fictional.name("ru") == "Демонстрационный комитет (вымышленный)"
        channel = targets.sendable_email_channel(fictional)
        assert channel is not None and channel.value == "demo-committee@example.org"
        assert targets.allowed_delivery_modes(fictional) == {"individual", "digest", "mailto"}
        assert fictional.letters_per_hour is None and fictional.office_start is None
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "target_channel.verified"))
        assert event is not None and event.actor_id is None
        assert event.detail["by"] == "system"
        # An import of the file alone never deactivates the demo target.
        assert not targets.import_targets(db.session, load_file(SHIPPED)).changed
        assert target(demo.DEMO_KEY).active


def test_names_sort_in_the_tajik_alphabet_order() -> None:
    names = ["Ҷамшед", "Яхё", "Чорӣ", "Ғафур", "Гулноз", "Abdul"]
    assert sorted(names, key=targets.name_sort_key) == [
        "Abdul", "Гулноз", "Ғафур", "Чорӣ", "Ҷамшед", "Яхё"]
