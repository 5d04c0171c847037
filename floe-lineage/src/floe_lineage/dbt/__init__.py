"""Facts dbt gives about a project and an invocation: structured log events, the manifest,
``run_results.json``, the active profile target and where the project lives in git."""
