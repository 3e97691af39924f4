"""One module per schema revision, oldest first (``0001_initial`` creates every table of ``storage.schema``)."""
