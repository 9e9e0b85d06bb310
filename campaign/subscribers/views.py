"""Supporters' pages: subscribe, confirm, preferences, one-click unsubscribe.

Every answer about an address is the same whatever the address's state; every link in mail
opens a page with a button, and only the POST changes anything (mail scanners fetch links).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice

from campaign.addresses import AddressError, fold, normalise
from campaign.admin.nav import NavItem
from campaign.admin.permissions import Permission
from campaign.extensions import blind_index, csrf, db, limiter, rate_key
from campaign.i18n import is_enabled
from campaign.public import register_lang_prefix
from campaign.security import TokenError, read_link
from campaign.subscribers import admin_views, queries
from campaign.subscribers import services as subs
from campaign.subscribers.forms import (
    ActionForm,
    ConfirmForm,
    EmailOnlyForm,
    EraseForm,
    PreferencesForm,
    SubscribeForm,
)
from campaign.subscribers.models import Status, Subscriber

ERRORS = {
    "name_long": _l("The name is too long (200 characters at most)."),
    "token_used": _l("This confirmation link has already been used or replaced by a newer one."),
    "address_taken": _l("This address is already subscribed."),
}


def case_choices(locale: str) -> list[SelectChoice]:
    """Published cases a supporter may follow, named in the page's language."""
    return [SelectChoice(case_id, label)
            for case_id, label in queries.followable_cases(db.session, locale)]


def _token_subscriber(token: str, purpose: str, max_age: int | None = None
                      ) -> tuple[Subscriber | None, dict[str, Any], int]:
    """The subscriber a signed link names, or (None, {}, status) with 400/410."""
    try:
        data = read_link(token, purpose, max_age=max_age)
    except TokenError as exc:
        return None, {}, 410 if exc.expired else 400
    if not isinstance(data, dict) or not isinstance(data.get("s"), str):
        return None, {}, 400
    subscriber = subs.find_by_public_id(db.session, data["s"])
    if subscriber is None:
        return None, {}, 410
    if "v" in data and data["v"] != subscriber.link_version:
        return None, {}, 410
    return subscriber, data, 200


def invalid_link(status: int) -> tuple[str, int]:
    return render_template("subscribers/invalid_link.html", expired=status == 410), status


def address_rate_key() -> str:
    """The per-address limit against subscription bombing: keyed on a keyed hash of the
    folded address (no +tag, no dots at Gmail), so one person is protected whatever variant
    is typed and from however many addresses, and the limiter's store holds no address. A
    field that is no address falls back to the client's key."""
    try:
        address = normalise(request.form.get("email", ""))
    except AddressError:
        return rate_key()
    return "address:" + blind_index().digest(fold(address), purpose="rate-address").hex()[:32]


def create_public_blueprint() -> Blueprint:
    bp = Blueprint("subscribers", __name__, url_prefix="/<lang>")
    register_lang_prefix(bp)

    @bp.route("/subscribe", methods=["GET", "POST"])
    @limiter.limit("10/hour;30/day", methods=["POST"])
    @limiter.limit("5/hour;10/day", methods=["POST"], key_func=address_rate_key)
    def subscribe() -> Any:
        form = SubscribeForm(language=request.args.get("language") or g.lang)
        form.cases.choices = case_choices(g.lang)
        if request.method == "GET":
            # The embeddable snippet opens this page prefilled; it never changes state.
            if request.args.get("email"):
                form.email.data = request.args.get("email", "")[:254]
            if request.args.get("case"):
                wanted = {c.value for c in form.cases.choices if str(c.value)
                          in request.args.getlist("case")}
                if wanted:
                    form.scope.data, form.cases.data = "cases", sorted(wanted)
            return render_template("subscribers/subscribe.html", form=form)
        if not form.validate_on_submit():
            return render_template("subscribers/subscribe.html", form=form), 400
        if form.website.data:
            # A bot filled the honeypot: the same answer, nothing stored, nothing sent.
            return redirect(url_for("subscribers.check_inbox"))
        language = form.language.data if is_enabled(form.language.data) else g.lang
        try:
            subs.subscribe(db.session, subs.SignupRequest(
                email=form.email.data or "", name=form.name.data, locale=language,
                all_alerts=form.scope.data == "all", case_ids=tuple(form.cases.data or ())))
        except (AddressError, subs.SubscriberError):
            db.session.rollback()
            form.email.errors = [_("This does not look like an email address. Please check it.")]
            return render_template("subscribers/subscribe.html", form=form), 400
        db.session.commit()
        return redirect(url_for("subscribers.check_inbox"))

    @bp.route("/subscribe/check-your-inbox")
    def check_inbox() -> Any:
        return render_template("subscribers/check_inbox.html")

    @bp.route("/subscribe/embed")
    def embed() -> Any:
        """A snippet other sites can paste: a plain link or GET form that opens our page."""
        base = current_app.extensions["campaign.config"].base_url
        return render_template("subscribers/embed.html", base=base)

    @bp.route("/confirm/<token>", methods=["GET", "POST"])
    @limiter.limit("30/hour", methods=["POST"])
    def confirm(token: str) -> Any:
        subscriber, data, status = _token_subscriber(token, "confirm", subs.CONFIRM_MAX_AGE)
        if subscriber is None:
            return invalid_link(status)
        form = ConfirmForm()
        if request.method == "POST":
            if not form.validate_on_submit():
                abort(400)
            try:
                subs.confirm(db.session, subscriber, str(data.get("n") or ""))
            except subs.SubscriberError as exc:
                db.session.rollback()
                return render_template("subscribers/invalid_link.html", expired=False,
                                       message=ERRORS[exc.code]), 400
            db.session.commit()
            return render_template("subscribers/confirmed.html",
                                   prefs_token=subs.preferences_token(subscriber))
        if subscriber.confirm_nonce != data.get("n"):
            return render_template("subscribers/invalid_link.html", expired=False,
                                   message=ERRORS["token_used"]), 400
        return render_template("subscribers/confirm.html", form=form)

    @bp.route("/preferences", methods=["GET", "POST"])
    @limiter.limit("10/hour", methods=["POST"])
    def email_my_link() -> Any:
        form = EmailOnlyForm()
        if form.validate_on_submit():
            subs.email_my_link(db.session, form.email.data or "")
            db.session.commit()
            return render_template("subscribers/link_sent.html")
        status = 400 if request.method == "POST" else 200
        return render_template("subscribers/email_my_link.html", form=form), status

    @bp.route("/preferences/<token>", methods=["GET", "POST"])
    def preferences(token: str) -> Any:
        subscriber, _data, status = _token_subscriber(token, "prefs")
        if subscriber is None:
            return invalid_link(status)
        form = PreferencesForm(obj=None) if request.method == "POST" else PreferencesForm(
            name=subs.name_of(subscriber), language=subscriber.locale,
            scope="all" if subscriber.all_alerts else "cases",
            cases=sorted(subscriber.followed_case_ids),
            paused=subscriber.status == Status.PAUSED.value, discreet=subscriber.discreet)
        form.cases.choices = case_choices(g.lang)
        if request.method == "POST":
            if not form.validate_on_submit():
                return _preferences_page(subscriber, token, form), 400
            try:
                subs.update_preferences(db.session, subscriber, subs.Preferences(
                    locale=form.language.data if is_enabled(form.language.data) else g.lang,
                    name=form.name.data, all_alerts=form.scope.data == "all",
                    case_ids=tuple(form.cases.data or ()), paused=bool(form.paused.data),
                    discreet=bool(form.discreet.data)))
            except subs.SubscriberError as exc:
                db.session.rollback()
                form.name.errors = [str(ERRORS[exc.code])]
                return _preferences_page(subscriber, token, form), 400
            db.session.commit()
            flash(_("Your preferences have been saved."), "info")
            return redirect(url_for("subscribers.preferences", lang=subscriber.locale,
                                    token=token))
        return _preferences_page(subscriber, token, form)

    @bp.route("/preferences/<token>/address", methods=["POST"])
    @limiter.limit("5/hour")
    def change_address(token: str) -> Any:
        subscriber, _data, status = _token_subscriber(token, "prefs")
        if subscriber is None:
            return invalid_link(status)
        form = EmailOnlyForm(prefix="change")
        if not form.validate_on_submit():
            return _preferences_page(subscriber, token, address_form=form), 400
        subs.request_address_change(db.session, subscriber, form.email.data or "")
        db.session.commit()
        flash(_("If the new address can receive mail, we have sent it a confirmation link. "
                "Your old address stays in use until you confirm."), "info")
        return redirect(url_for("subscribers.preferences", token=token))

    @bp.route("/preferences/<token>/unsubscribe", methods=["POST"])
    def unsubscribe(token: str) -> Any:
        subscriber, _data, status = _token_subscriber(token, "prefs")
        if subscriber is None:
            return invalid_link(status)
        if not ActionForm().validate_on_submit():
            abort(400)
        if subs.unsubscribe(db.session, subscriber, "preferences"):
            subs.send_goodbye(db.session, subscriber)
        db.session.commit()
        return render_template("subscribers/unsubscribed.html", token=token)

    @bp.route("/preferences/<token>/export", methods=["POST"])
    @limiter.limit("10/hour")
    def export(token: str) -> Any:
        subscriber, _data, status = _token_subscriber(token, "prefs")
        if subscriber is None:
            return invalid_link(status)
        if not ActionForm().validate_on_submit():
            abort(400)
        response = make_response(subs.export_json(db.session, subscriber))
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.route("/preferences/<token>/erase", methods=["POST"])
    def erase(token: str) -> Any:
        subscriber, _data, status = _token_subscriber(token, "prefs")
        if subscriber is None:
            return invalid_link(status)
        form = EraseForm(prefix="erase")
        if not form.validate_on_submit():
            return _preferences_page(subscriber, token, erase_form=form), 400
        subs.erase(db.session, subscriber)
        db.session.commit()
        return render_template("subscribers/erased.html")

    return bp


def _preferences_page(subscriber: Subscriber, token: str, form: PreferencesForm | None = None,
                      address_form: EmailOnlyForm | None = None,
                      erase_form: EraseForm | None = None) -> str:
    if form is None:
        form = PreferencesForm(
            name=subs.name_of(subscriber), language=subscriber.locale,
            scope="all" if subscriber.all_alerts else "cases",
            cases=sorted(subscriber.followed_case_ids),
            paused=subscriber.status == Status.PAUSED.value, discreet=subscriber.discreet)
        form.cases.choices = case_choices(g.lang)
    return render_template(
        "subscribers/preferences.html", form=form, token=token, subscriber=subscriber,
        address_form=address_form or EmailOnlyForm(prefix="change"),
        erase_form=erase_form or EraseForm(prefix="erase"), action_form=ActionForm(),
        active=subscriber.status in (Status.ACTIVE.value, Status.PAUSED.value),
    )


def create_unsubscribe_blueprint() -> Blueprint:
    """RFC 8058: ``POST /u/<token>`` with ``List-Unsubscribe=One-Click`` unsubscribes, with no
    cookie and no CSRF token, answers 200 without a redirect, and is idempotent. A GET only
    shows a page with a button."""
    bp = Blueprint("unsubscribe", __name__)

    @bp.route("/u/<token>", methods=["GET", "POST"])
    @csrf.exempt
    @limiter.limit("60/minute", methods=["POST"])
    def one_click(token: str) -> Any:
        subscriber, _data, status = _token_subscriber(token, "unsub")
        if subscriber is None:
            if request.method == "POST" and status == 410:
                # The person was erased or the link replaced: nothing left to unsubscribe.
                return _plain(_("You are not subscribed."))
            return invalid_link(status)
        g.lang = subscriber.locale
        if request.method == "GET":
            return render_template("subscribers/one_click.html", token=token,
                                   subscribed=subscriber.status != Status.UNSUBSCRIBED.value)
        if request.form.get("List-Unsubscribe") != "One-Click":
            abort(400)
        if subs.unsubscribe(db.session, subscriber, "one-click"):
            subs.send_goodbye(db.session, subscriber)
        db.session.commit()
        if request.headers.get("Accept", "").startswith("text/html") and request.form.get(
            "from_page"
        ):
            return render_template("subscribers/unsubscribed.html",
                                   token=subs.preferences_token(subscriber))
        return _plain(_("You have been unsubscribed."))

    return bp


def _plain(text: str) -> Response:
    response = make_response(text + "\n", 200)
    response.headers["Content-Type"] = "text/plain; charset=utf-8"
    return response


def create_blueprints() -> list[Blueprint]:
    admin = admin_views.create_blueprint()

    @admin.record_once
    def add_nav(state: Any) -> None:
        from campaign.admin import nav

        nav.add(state.app, NavItem("admin_subscribers.index", _l("Subscribers"),
                                   Permission.VIEW, order=20))

    return [create_public_blueprint(), create_unsubscribe_blueprint(), admin]
