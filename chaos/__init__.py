"""Heard's fault rig: real web, worker and beat processes against a throwaway Redis, a
database of its own and an SMTP sink it controls. Run it with ``make chaos`` (everything) or
``make chaos-fast`` (a worker kill during a few hundred sends, and the API fuzz)."""
