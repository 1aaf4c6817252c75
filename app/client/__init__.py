"""The Textual-free client layer: the data source (in-process or over HTTP), records, formatting."""
