"""Translators and viewers, walking every admin page they can reach with demo data, supporters
and volunteers present, never see a person's address. (The directory of institutions shows the
institutions' own contact addresses: those are not personal data.)"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from campaign.admin.models import Role
from campaign.cli import demo_seeders
from campaign.extensions import db
from tests.admin_support import make_account, signed_in
from tests.test_alerts_support import add_subscribers

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Institutions' contact addresses and the campaign's own sender are not personal data.
NOT_PERSONAL = re.compile(
    r"@(?:un\.org|ohchr\.org|osce\.org|europarl\.europa\.eu)$|^demo-committee@"
    r"|@campaign\.example\.org$"
)
START = ("/admin/", "/admin/cases/", "/admin/targets/", "/admin/subscribers/", "/admin/alerts/",
         "/admin/actions/", "/admin/account")


@pytest.mark.parametrize("role", [Role.TRANSLATOR, Role.VIEWER], ids=lambda r: r.value)
def test_no_personal_address_on_any_page_a_translator_or_viewer_reaches(
    app: Flask, role: Role
) -> None:
    with app.app_context():
        for seed in demo_seeders():
            seed()
            db.session.commit()
    people = [address for address, _locale in add_subscribers(app, 6)]
    make_account(app, "colleague.admin@example.org", Role.ADMIN)
    client = signed_in(app, make_account(app, f"{role.value}.person@example.org", role))
    seen, queue, leaks = set(), list(START), {}
    while queue and len(seen) < 300:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        html = response.get_data(as_text=True)
        found = [a.rstrip(".") for a in EMAIL.findall(html)]
        personal = [a for a in found if not NOT_PERSONAL.search(a)]
        if personal:
            leaks[path] = personal
        if response.status_code == 200:
            queue.extend(h for h in re.findall(r'href="(/admin/[^"#?]*)"', html)
                         if h not in seen and "/logout" not in h)
    assert len(seen) > 15
    assert leaks == {}
    assert people  # the subscribers existed while the walk ran
