"""What floe-lineage runs inside the dbt process: ``floe-lineage-dbt``, dbt as the ``dbt``
command runs it, that also reads each finished node's facts through dbt's own adapter
(``reader``) and reports them on stdout among dbt's JSON log lines (``dbt.facts_line``)."""
