"""CrossBoard's Streamlit pages and the helpers they share.

The page scripts (``*_page.py``) are run by ``st.navigation`` from ``app.py``; they only call
``automl`` and ``storage`` functions and hold no training or SQL logic."""
