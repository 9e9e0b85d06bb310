"""Forms of the targets admin pages. Labels are lazy: translated when rendered."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from campaign.targets import labels
from campaign.targets.spec import MAX_VALUE


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token (mark verified)."""


class FailingForm(FlaskForm):
    reason = StringField(
        _l("Why is this channel failing?"),
        validators=[DataRequired(message=_l("Please say why the channel is failing.")),
                    Length(max=MAX_VALUE)],
    )


class ChannelForm(FlaskForm):
    type = SelectField(
        _l("Type"),
        choices=[SelectChoice(code, text) for code, text in labels.CHANNEL_TYPES.items()],
        validators=[DataRequired(message=_l("Please choose a channel type."))],
    )
    value = StringField(
        _l("Address, link or postal address"),
        validators=[DataRequired(message=_l("Please enter the channel.")), Length(max=MAX_VALUE)],
    )
    source = StringField(
        _l("Source: the official page that shows it"),
        validators=[DataRequired(message=_l("Please enter the page where you found it.")),
                    Length(max=MAX_VALUE)],
        render_kw={"inputmode": "url", "placeholder": "https://"},
    )
    source_quality = SelectField(
        _l("How was it found?"),
        choices=[SelectChoice(code, text) for code, text in labels.SOURCE_QUALITIES.items()],
        validators=[DataRequired(message=_l("Please choose how the source was found."))],
    )
