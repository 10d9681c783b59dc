from django.dispatch import Signal

# Sent after the transaction that submitted or changed a response has committed.
# Arguments: sender=Response, response_id (int), changed (bool: an earlier submission was edited).
# The one seam between apps (docs/architecture.md): surveys never imports actions.
response_submitted = Signal()
