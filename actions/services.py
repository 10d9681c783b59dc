def response_route(*, response_id: int, changed: bool = False) -> None:
    """Apply the organisation's routing rules to a submitted response (issue 4 builds this)."""
