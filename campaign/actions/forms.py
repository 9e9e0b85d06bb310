"""Forms of the volunteer's pages. Labels are lazy: translated when rendered.

The letter bodies and the variant shown are one field per language; which of them a page
uses depends on the action, and the service refuses what the page did not offer.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from campaign.actions.models import BODY_MAX
from campaign.actions.signing import NAME_MAX, PLACE_MAX
from campaign.subscribers.forms import no_control_characters, valid_address

TOO_LONG = _l("This is too long: at most %(max)d characters.")


class MailtoForm(FlaskForm):
    """What the volunteer's own mail program needs: nothing is stored."""

    name = StringField(_l("Your name"),
                       validators=[DataRequired(message=_l("Please enter your name.")),
                                   Length(max=NAME_MAX, message=TOO_LONG),
                                   no_control_characters],
                       render_kw={"autocomplete": "name"})
    city = StringField(_l("City (optional)"),
                       validators=[Optional(), Length(max=PLACE_MAX, message=TOO_LONG),
                                   no_control_characters],
                       render_kw={"autocomplete": "address-level2"})
    country = StringField(_l("Country (optional)"),
                          validators=[Optional(), Length(max=PLACE_MAX, message=TOO_LONG),
                                      no_control_characters],
                          render_kw={"autocomplete": "country-name"})
    # One editable body per letter language; the limits are checked by the service too.
    body_en = TextAreaField(_l("Your letter"), validators=[Optional()],
                            render_kw={"rows": 16, "maxlength": BODY_MAX})
    body_ru = TextAreaField(_l("Your letter"), validators=[Optional()],
                            render_kw={"rows": 16, "maxlength": BODY_MAX})
    body_tg = TextAreaField(_l("Your letter"), validators=[Optional()],
                            render_kw={"rows": 16, "maxlength": BODY_MAX})
    variant_en = HiddenField()
    variant_ru = HiddenField()
    variant_tg = HiddenField()

    def bodies(self, locales: list[str]) -> dict[str, str]:
        return {code: getattr(self, f"body_{code}").data or "" for code in locales
                if getattr(self, f"body_{code}", None) is not None}

    def variants(self, locales: list[str]) -> dict[str, int] | None:
        """The variant shown per language, or None when the form was tampered with."""
        result = {}
        for code in locales:
            field = getattr(self, f"variant_{code}", None)
            raw = (field.data or "") if field is not None else ""
            if not raw.isdigit() or len(raw) > 2:
                return None
            result[code] = int(raw)
        return result


class SignForm(MailtoForm):
    email = EmailField(_l("Your email address"),
                       validators=[DataRequired(message=_l("Please enter your email address.")),
                                   Length(max=254), valid_address],
                       render_kw={"autocomplete": "email", "spellcheck": "false"})
    alerts = BooleanField(_l("Also send me the campaign's email alerts (you will get a "
                             "separate message to confirm that)"))
    reply = BooleanField(_l("Let the institution reply to me: my email address is given to it "
                            "as the reply address"))
    # A honeypot: hidden from people (and from screen readers); bots fill it in.
    website = StringField(_l("Leave this field empty"),
                          render_kw={"tabindex": "-1", "autocomplete": "off"})


class ConfirmForm(FlaskForm):
    """Only a button: the POST confirms, so link scanners confirm nothing."""
