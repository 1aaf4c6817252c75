"""The Textual App: wires the client layer to the screens, drains proxy events once per frame."""
