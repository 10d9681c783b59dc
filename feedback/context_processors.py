def floor_links(request):
    """Names of higher floors' pages that lower floors' templates link to.

    accounts' settings page shows the wall's address and the survey's thank-you page links to
    the customer's status page, but a lower floor never names a higher floor's URL: this top
    floor, which wires the apps together, hands them the names (``{% url wall_url_name … %}``).
    Plain constants, so every page pays nothing for them.
    """
    return {
        "wall_url_name": "feedback:wall",
        "status_url_name": "actions:status",
        # The API's generated schema (feedback.api), which the surveys page points to.
        "api_schema_url_name": "api:openapi-json",
    }
