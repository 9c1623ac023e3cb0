"""The Blueprint of every API endpoint: rules that apply to all of them, set once.

Unknown query parameters are refused (422 naming them), so that a misspelt
filter never silently widens a result; webargs would drop them by default.
"""
import flask_smorest
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser


class _Parser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
                                   "query": RAISE, "querystring": RAISE}


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _Parser()
