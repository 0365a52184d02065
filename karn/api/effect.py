"""REST API: the effect of every follow-up and campaign against its control
group, with the verdict in plain words."""

from flask import current_app, g, jsonify, request
from flask_babel import force_locale

from karn.api import auth
from karn.api.views import _error, bp
from karn.followups import effect


@bp.route("/effect", methods=["GET"])
@auth.api_key_required
def get_effect():
    """Follow-ups and campaigns, newest first, each measured up to today.

    Texts in ``lang`` (nl or en), else the language of the key's creator.
    """
    creator = g.api_key.created_by
    lang = request.args.get("lang") or (
        creator.language.value
        if creator is not None
        else current_app.config["DEFAULT_LANGUAGE"]
    )
    if lang not in ("nl", "en"):
        return _error(400, "invalid_filter", "lang must be nl or en.", parameter="lang")
    with force_locale(lang):
        results = [effect.measure(e, lang) for e in effect.experiments()]
        return jsonify(experiments=[effect.as_json(r) for r in results])
