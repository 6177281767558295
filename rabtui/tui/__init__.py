"""The terminal UI (Textual). The only package that imports textual; the engine never imports it."""
