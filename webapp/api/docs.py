"""Swagger UI's assets, served from the swagger-ui-bundle wheel instead of a CDN."""
from flask import Blueprint
from swagger_ui_bundle import swagger_ui_path

blp = Blueprint("docs_assets", __name__, static_folder=str(swagger_ui_path),
                static_url_path="/docs/assets")
