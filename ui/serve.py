"""What ``crossboard app`` serves: Streamlit's ASGI app of ``app.py``, behind the sign-in gate
(``ui.gate.SignInGate``) when ``$CROSSBOARD_PASSWORD`` is set. ``streamlit run ui/serve.py`` finds
``app`` and runs it with uvicorn, with the command line's server options."""

from __future__ import annotations

import streamlit as st
from starlette.middleware import Middleware

from automl.cli import APP_SCRIPT, max_upload_mb
from ui.gate import SignInGate, password

app = st.App(str(APP_SCRIPT), middleware=[
    Middleware(SignInGate, password=password(), max_upload_bytes=max_upload_mb() * 2**20)] if password() else [])
