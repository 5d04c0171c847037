"""What a user runs on captured events: ``floe-lineage summary | check | report | replay``,
and the checks behind ``check`` and the pytest plugin (``check``, ``validation``)."""
