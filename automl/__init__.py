"""CrossBoard's engine, in layers that import only downward (checked by import-linter):
``cli`` → ``reporting`` → ``search`` → ``training`` → ``evaluation`` → ``features`` → ``data``
→ ``errors``. See docs/ARCHITECTURE.md."""
