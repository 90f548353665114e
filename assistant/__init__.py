"""memchat's core: model backends, configuration, sessions and the chat loop.

The TUI (``tui``) and the CLI (``assistant.cli``) are thin layers over this API::

    from assistant.app import open_assistant

    with open_assistant() as app:
        session = app.sessions.create()
        for chunk in app.chat.send(session.id, "Hello!"):
            print(chunk, end="")
"""
