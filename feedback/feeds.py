"""The wall as an Atom feed: the newest published entries of one business, in its default
language (or the one ``?lang=`` asks for), which the feed declares in ``xml:lang``."""

from django.contrib.syndication.views import Feed
from django.http import Http404
from django.urls import reverse
from django.utils import translation
from django.utils.feedgenerator import Atom1Feed
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.translation import gettext

from accounts.models import Organisation
from surveys import languages

from . import queries

FEED_ITEMS = 20


class WallFeed(Feed):
    feed_type = Atom1Feed

    def __init__(self):
        super().__init__()
        self.shown: list = []
        self.org = None

    def get_object(self, request, slug):
        org = Organisation.objects.filter(slug=slug, wall_enabled=True).first()
        if org is None:
            raise Http404("This business has no public wall.")
        return org

    def get_feed(self, obj, request):
        language = languages.chosen(request) or obj.language_for("")
        with translation.override(language):
            return super().get_feed(obj, request)

    def title(self, org):
        return gettext("You said, we did: %(name)s") % {"name": org.name}

    def subtitle(self, org):
        return gettext("What %(name)s's customers told them, and what they did about it.") % {
            "name": org.name
        }

    def link(self, org):
        return reverse("feedback:wall", args=[org.slug])

    def items(self, org):
        self.org = org
        self.shown = list(queries.live_entries(org)[:FEED_ITEMS])
        return self.shown

    def item_title(self, entry):
        month = date_format(entry.month, "YEAR_MONTH_FORMAT")
        return f"{entry.attribution}, {entry.touchpoint_name}, {month}"

    def item_description(self, entry):
        # Atom1Feed always writes <summary type="html">: a reader renders the decoded text as
        # HTML, so the customer's words are escaped to arrive as words, not markup.
        what_we_did = gettext("What we did: %(text)s") % {"text": entry.what_we_did}
        return escape(f"\u201c{entry.quote}\u201d \u2014 {what_we_did}")

    def item_link(self, entry):
        return reverse("feedback:wall", args=[self.org.slug]) + f"#entry-{entry.code}"

    def item_guid(self, entry):
        return f"urn:uuid:{entry.code}"

    item_guid_is_permalink = False

    def item_pubdate(self, entry):
        return entry.published_at

    def item_updateddate(self, entry):
        return entry.published_at
